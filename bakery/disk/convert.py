"""Disk formats: ``qemu-img convert`` from the raw disk, and ``qemu-img info``/``check``.

qemu-img streams (it never holds the image in memory) and skips the raw disk's holes. qcow2 is
deterministic; vmdk and vhdx embed random identifiers (a CID, GUIDs), so only the raw digest is
reproducible across bakes and each converted file's digest is recorded as made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from bakery import proc

Format = Literal["raw", "qcow2", "vmdk", "vhdx"]
FORMATS: tuple[Format, ...] = ("raw", "qcow2", "vmdk", "vhdx")
#: qemu-img options per format: sparse variants that any hypervisor reads
_OPTIONS: dict[str, tuple[str, ...]] = {
    "qcow2": ("-o", "compat=1.1"),
    "vmdk": ("-o", "subformat=monolithicSparse"),
    "vhdx": ("-o", "subformat=dynamic"),
}


def convert(source: Path, fmt: Format, out: Path, *, source_format: Format = "raw") -> None:
    """Convert the disk ``source`` (raw unless ``source_format``) to ``fmt`` at ``out``."""
    argv = ["qemu-img", "convert", "-f", source_format, "-O", fmt, *_OPTIONS.get(fmt, ())]
    proc.run([*argv, str(source), str(out)])


def info(path: Path, fmt: Format) -> dict[str, Any]:
    """``qemu-img info`` of a disk image, as JSON."""
    done = proc.run(["qemu-img", "info", "--output=json", "-f", fmt, str(path)])
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def check(path: Path, fmt: Format) -> str:
    """``qemu-img check`` of a disk image (raw has no metadata to check: its info must read)."""
    if fmt == "raw":
        info(path, fmt)
        return "raw: no metadata to check"
    return proc.run(["qemu-img", "check", "-f", fmt, str(path)]).stdout.strip()
