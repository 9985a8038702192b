"""The EFI system partition: FAT32 written into the disk file by ``mkfs.vfat``, filled by mtools.

``mkfs.vfat --invariant`` with a volume id from the recipe makes the empty filesystem
deterministic; mtools stamps directory entries with ``SOURCE_DATE_EPOCH`` and ``mcopy -m`` keeps
each file's mtime, which is set to the epoch first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from bakery import proc
from bakery.disk.geometry import SECTOR, Geometry

_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "MTOOLS_SKIP_CHECK": "1"}


def make_esp(disk: Path, geometry: Geometry, files: Mapping[str, Path], *, epoch: int) -> None:
    """Format the ESP of ``disk`` and copy ``files`` (ESP path → local file) into it."""
    part = geometry.esp
    env = {**_ENV, "SOURCE_DATE_EPOCH": str(epoch), "HOME": "/nonexistent"}
    argv = ["mkfs.vfat", "--invariant", "-i", geometry.esp_volume_id, "-n", "ESP", "-F", "32"]
    argv += ["-s", "1", f"--offset={part.start // SECTOR}", str(disk), str(part.size // 1024)]
    proc.run(argv, env=env)
    image = f"{disk}@@{part.start}"
    directories = sorted({str(p) for dest in files for p in PurePosixPath(dest).parents} - {"/"})
    if directories:
        proc.run(["mmd", "-i", image, *(f"::{d}" for d in directories)], env=env)
    for dest, local in sorted(files.items()):
        os.utime(local, (epoch, epoch))
        proc.run(["mcopy", "-m", "-i", image, str(local), f"::{dest}"], env=env)
