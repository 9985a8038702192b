"""A Packer driver: render a Packer 1.6.6 JSON template from a recipe's disk, run
``packer build -machine-readable`` and record the artifacts it reports.

The template uses Packer's qemu builder on the disk Bakery built (``disk_image: true``), booted
from UEFI firmware (OVMF, through ``qemuargs``) under TCG. Its communicator is ``none``: a
Bakery disk has no SSH server nor any credential (it is first-boot safe), so Packer cannot log
in. A ``shell-local`` provisioner instead waits for the expected text on the VM's serial console
and then stops QEMU through its monitor, which Packer takes as the machine shutting down.

Packer's machine-readable stream is ``timestamp,target,type,data...`` with commas in data
written ``%!(PACKER_COMMA)`` and newlines ``\\n``; artifacts are reported as
``artifact,N,builder-id|id|string|files-count|file|end``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakery import proc
from bakery.checks.boot import OVMF_CODE, OVMF_VARS
from bakery.errors import BuildError, ToolError
from bakery.oci.digest import sha256_file

#: Packer must not phone home (no network here) and keeps its cache in the work directory
_ENV = {"PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CHECKPOINT_DISABLE": "1"}

#: run by the shell-local provisioner: wait for a text on the console, then stop QEMU
WAIT_AND_STOP = """\
import socket, sys, time
console, monitor, expect, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        with open(console, errors="replace") as f:
            if expect in f.read():
                break
    except FileNotFoundError:
        pass
    time.sleep(1)
else:
    sys.exit(f"the console did not show {expect!r} within {timeout:g} s")
print(f"console showed {expect!r}: stopping the VM")
with socket.socket(socket.AF_UNIX) as s:
    s.connect(monitor)
    s.settimeout(30)
    banner = b""
    while b"(qemu)" not in banner:  # the monitor takes commands once it has prompted
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the QEMU monitor closed before its prompt")
        banner += chunk
    s.sendall(b"quit\\n")
    while s.recv(4096):  # QEMU closes the monitor as it exits
        pass
"""


@dataclass(frozen=True)
class PackerFile:
    """A file an artifact names, with its digest and size once the build is done."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class PackerArtifact:
    """One artifact of the machine-readable stream."""

    index: int
    build: str
    builder_id: str = ""
    id: str = ""
    description: str = ""
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackerRun:
    """What a ``packer build`` produced: the builder type and its artifacts with file digests."""

    builder_type: str
    artifacts: tuple[PackerArtifact, ...]
    files: tuple[PackerFile, ...]
    template: dict[str, Any] = field(repr=False)


def unescape(value: str) -> str:
    """A machine-readable data field as text."""
    return value.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_machine_readable(text: str) -> tuple[list[PackerArtifact], list[str]]:
    """The artifacts and the error messages in a ``-machine-readable`` stream."""
    artifacts: dict[tuple[str, int], dict[str, Any]] = {}
    errors: list[str] = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < 4:
            continue
        _, target, kind, *data = parts
        if kind == "error" or (kind == "ui" and data[0] == "error"):
            errors.append(unescape(data[-1]).strip())
        if kind != "artifact" or len(data) < 2 or not data[0].isdigit():
            continue
        entry = artifacts.setdefault((target, int(data[0])), {"files": []})
        what, values = data[1], [unescape(v) for v in data[2:]]
        if what == "file" and len(values) >= 2:
            entry["files"].append(",".join(values[1:]))
        elif what in ("builder-id", "id", "string"):
            entry[what] = ",".join(values)
    found = [
        PackerArtifact(
            index=index,
            build=build,
            builder_id=entry.get("builder-id", ""),
            id=entry.get("id", ""),
            description=entry.get("string", ""),
            files=tuple(entry["files"]),
        )
        for (build, index), entry in sorted(artifacts.items())
    ]
    return found, [e for e in errors if e]


def qemu_template(
    disk: Path,
    fmt: str,
    *,
    name: str,
    workdir: Path,
    expect: str,
    timeout: int,
) -> dict[str, Any]:
    """A Packer template: the qemu builder boots ``disk`` from UEFI firmware until ``expect``."""
    output = workdir / "output"
    console, monitor, vars_file = workdir / "console.log", monitor_socket(workdir), workdir / "vars"
    script = workdir / "wait_and_stop.py"
    vm_name = f"{name.replace('/', '-')}.{fmt}"
    wait = [sys.executable, str(script), str(console), str(monitor), expect, str(timeout)]
    return {
        "description": f"bakery: boot {name} from firmware with Packer's qemu builder",
        "builders": [
            {
                "type": "qemu",
                "name": name.replace("/", "-"),
                "disk_image": True,
                "iso_url": str(disk),
                "iso_checksum": "sha256:" + sha256_file(disk),
                "format": fmt,
                "vm_name": vm_name,
                "output_directory": str(output),
                "skip_resize_disk": True,
                "accelerator": "tcg",
                "headless": True,
                "communicator": "none",
                "boot_wait": "1s",
                "memory": 1024,
                "cpus": 2,
                "shutdown_timeout": f"{timeout + 60}s",
                "qemuargs": [
                    ["-machine", "q35,accel=tcg"],
                    ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"],
                    ["-drive", f"if=pflash,format=raw,unit=1,file={vars_file}"],
                    ["-drive", f"file={output / vm_name},if=virtio,format={fmt}"],
                    ["-serial", f"file:{console}"],
                    ["-monitor", f"unix:{monitor},server,nowait"],
                    ["-nic", "none"],
                ],
            }
        ],
        "provisioners": [{"type": "shell-local", "inline": [shlex.join(wait)]}],
    }


def monitor_socket(workdir: Path) -> Path:
    """Where QEMU's monitor listens: a short path (a unix socket path has at most 107 bytes,
    which a deep work directory would exceed), named after the work directory."""
    name = hashlib.sha256(str(workdir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"bakery-qemu-{name}.sock"


def run_packer(template: dict[str, Any], workdir: Path, *, timeout: float) -> PackerRun:
    """Run ``packer build -machine-readable`` on ``template`` in ``workdir``; its artifacts.

    A missing ``packer`` or a failed build is a :class:`ToolError` naming what Packer said.
    """
    proc.which("packer")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "wait_and_stop.py").write_text(WAIT_AND_STOP, encoding="utf-8")
    if OVMF_VARS.is_file():
        (workdir / "vars").write_bytes(OVMF_VARS.read_bytes())
    path = workdir / "template.json"
    path.write_text(json.dumps(template, indent=2, sort_keys=True), encoding="utf-8")
    env = {**_ENV, "PACKER_CACHE_DIR": str(workdir / "cache"), "HOME": str(workdir)}
    argv = ["packer", "build", "-machine-readable", "-color=false", str(path)]
    try:
        done = proc.run(argv, cwd=workdir, env=env, timeout=timeout, check=False)
    finally:
        monitor_socket(workdir).unlink(missing_ok=True)
    artifacts, errors = parse_machine_readable(done.stdout)
    if done.returncode != 0:
        said = "\n".join(errors[-10:]) or proc.tail(done.stdout + done.stderr)
        raise ToolError(f"`packer build` failed with exit code {done.returncode}:\n{said}")
    if not artifacts:
        raise BuildError("`packer build` succeeded but reported no artifact")
    files = []
    for artifact in artifacts:
        for name in artifact.files:
            file = Path(name) if Path(name).is_absolute() else workdir / name
            files.append(PackerFile(name, "sha256:" + sha256_file(file), file.stat().st_size))
    builders = template.get("builders", [{}])
    return PackerRun(
        builder_type=str(builders[0].get("type", "")),
        artifacts=tuple(artifacts),
        files=tuple(files),
        template=template,
    )
