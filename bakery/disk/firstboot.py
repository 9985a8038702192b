"""What a disk must not carry from the bake: per-instance identity, and what it must add (fstab).

A machine booted from a golden disk makes its own SSH host keys, machine-id and random seed on
first boot. The edits are applied to the disk's filesystem only; the rootfs (and the OCI image
made from it) is left as it is.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from bakery.disk.geometry import Geometry
from bakery.oci.securepath import secure_join

#: directories whose matching entries are per-instance identity, and the name prefix that matches
IDENTITY_PREFIXES = (("/etc/ssh", "ssh_host_"), ("/var/lib/dhcp", "dhclient"))
#: single files that are per-instance identity (removed when they are regular files)
IDENTITY_FILES = (
    "/var/lib/systemd/random-seed",
    "/var/lib/systemd/credential.secret",
    "/var/lib/dbus/machine-id",
    "/etc/ssh/ssh_host_keys",
)
#: an empty machine-id makes systemd generate one on first boot (ConditionFirstBoot)
MACHINE_ID = "/etc/machine-id"
HOSTNAME = "/etc/hostname"
FSTAB = "/etc/fstab"


@dataclass(frozen=True)
class NewFile:
    """A regular file the disk gets in place of whatever the rootfs has there."""

    path: str
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Edits:
    """Paths to remove from the disk's root filesystem, and files to (re)write."""

    remove: tuple[str, ...]
    write: tuple[NewFile, ...]


def fstab(geometry: Geometry) -> bytes:
    """The root filesystem by UUID; the ESP is not mounted (nothing in the OS writes to it)."""
    return (
        "# written by bakery: the root filesystem by UUID\n"
        f"UUID={geometry.root_fs_uuid} / ext4 errors=remount-ro 0 1\n"
    ).encode()


def first_boot_edits(rootfs: Path, geometry: Geometry) -> Edits:
    """The edits that make the disk of ``rootfs`` safe to boot as many machines."""
    remove: list[str] = []
    for directory, prefix in IDENTITY_PREFIXES:
        found = secure_join(rootfs, directory)
        if found.is_dir() and not found.is_symlink():
            remove += sorted(
                f"{directory}/{p.name}" for p in found.iterdir() if p.name.startswith(prefix)
            )
    for path in IDENTITY_FILES:
        if _is_regular(rootfs, path) and path not in remove:
            remove.append(path)
    write = [
        NewFile(MACHINE_ID, b"", 0o444),
        NewFile(HOSTNAME, b"localhost\n"),
        NewFile(FSTAB, fstab(geometry)),
    ]
    for new in write:
        if _exists(rootfs, new.path):
            remove.append(new.path)
    return Edits(remove=tuple(remove), write=tuple(write))


def _exists(rootfs: Path, path: str) -> bool:
    found = secure_join(rootfs, path)
    return found.exists() or found.is_symlink()


def _is_regular(rootfs: Path, path: str) -> bool:
    try:
        return stat.S_ISREG(secure_join(rootfs, path).lstat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
