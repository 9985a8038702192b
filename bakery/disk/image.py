"""Build one disk from a finished rootfs: partition, format, fill, install the bootloader, and
convert. Everything is written into one sparse raw file in a work directory; nothing is mounted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bakery import proc
from bakery.disk import bootloader, esp, ext4
from bakery.disk.bootloader import Kernel
from bakery.disk.convert import Format, check, convert
from bakery.disk.firstboot import first_boot_edits
from bakery.disk.geometry import Boot, Geometry, plan
from bakery.oci.digest import sha256_file


@dataclass(frozen=True)
class DiskSpec:
    """What to build: a recipe's ``disk:`` output, with its identity (``name@version``)."""

    identity: str
    size: int
    size_text: str
    format: Format
    boot: Boot | None
    kernel: str | None


@dataclass(frozen=True)
class RawDisk:
    """The raw disk, its digest, and how it is laid out and booted."""

    path: Path
    digest: str
    size: int
    geometry: Geometry
    kernel: Kernel | None
    boot: Boot | None


@dataclass(frozen=True)
class BuiltDisk:
    """A disk in its output format, beside the raw disk it was converted from."""

    raw: RawDisk
    format: Format
    path: Path
    digest: str
    size: int


def build_raw(rootfs: Path, spec: DiskSpec, workdir: Path, *, epoch: int) -> RawDisk:
    """The raw disk of ``rootfs``: GPT, ESP with GRUB (when ``boot``), ext4 root; for ``bios``
    also GRUB's BIOS core in a BIOS boot partition (the disk then boots from either firmware)."""
    geometry = plan(spec.identity, spec.size, spec.boot)
    kernel = bootloader.find_kernel(rootfs, spec.kernel) if spec.boot is not None else None
    ext4.check_fits(rootfs, geometry, spec.size_text)
    workdir.mkdir(parents=True, exist_ok=True)
    raw = workdir / "disk.raw"
    with raw.open("wb") as f:
        f.truncate(spec.size)
    proc.run(
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)],
        input=geometry.sfdisk_script().encode(),
    )
    files = {}
    if kernel is not None:
        efi = workdir / "BOOTX64.EFI"
        config = bootloader.grub_config(geometry, kernel)
        bootloader.grub_efi_image(config, efi, workdir)
        files[bootloader.EFI_BOOT_PATH] = efi
        if spec.boot == "bios":  # a hybrid disk: BIOS and UEFI firmware both boot it
            bootloader.install_bios(raw, geometry, config, workdir)
    esp.make_esp(raw, geometry, files, epoch=epoch)
    edits = first_boot_edits(rootfs, geometry)
    ext4.make_root_fs(raw, geometry, rootfs, edits, epoch=epoch, scratch=workdir)
    os.utime(raw, (epoch, epoch))
    return RawDisk(
        path=raw,
        digest="sha256:" + sha256_file(raw),
        size=spec.size,
        geometry=geometry,
        kernel=kernel,
        boot=spec.boot,
    )


def build_disk(raw: RawDisk, fmt: Format, workdir: Path) -> BuiltDisk:
    """``raw`` converted to ``fmt`` (raw itself for ``raw``)."""
    if fmt == "raw":
        return BuiltDisk(raw=raw, format=fmt, path=raw.path, digest=raw.digest, size=raw.size)
    out = workdir / f"disk.{fmt}"
    convert(raw.path, fmt, out)
    check(out, fmt)  # qemu-img reads back what it wrote: metadata consistent, no leaks
    return BuiltDisk(
        raw=raw,
        format=fmt,
        path=out,
        digest="sha256:" + sha256_file(out),
        size=out.stat().st_size,
    )
