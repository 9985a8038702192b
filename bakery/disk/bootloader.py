"""Booting from firmware: the kernel the rootfs carries, and GRUB as the EFI bootloader.

GRUB's EFI image is made with ``grub-mkimage`` (deterministic: no timestamps) with its whole
configuration embedded: find the root filesystem by UUID, load the kernel and initrd from it,
boot. It is installed at the removable-media path ``/EFI/BOOT/BOOTX64.EFI``, which firmware
tries without any boot entry in NVRAM, so the disk boots on any UEFI machine.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from bakery import proc
from bakery.disk.geometry import SECTOR, Geometry
from bakery.errors import ToolError, UserError
from bakery.oci.securepath import secure_join
from bakery.rootfs import dpkg

GRUB_EFI_DIR = Path("/usr/lib/grub/x86_64-efi")
GRUB_PC_DIR = Path("/usr/lib/grub/i386-pc")
GRUB_PC_MODULES = ("biosdisk", "part_gpt", "ext2", "search", "linux", "gzio", "echo")
GRUB_EFI_MODULES = ("part_gpt", "fat", "ext2", "search", "linux", "gzio", "echo")
EFI_BOOT_PATH = "/EFI/BOOT/BOOTX64.EFI"
#: the kernel command line: root by UUID; the serial console last, so it is /dev/console
KERNEL_ARGS = "ro console=tty0 console=ttyS0,115200"


class MissingKernel(UserError):
    """``boot`` is set but the rootfs has no (such) kernel."""


@dataclass(frozen=True)
class Kernel:
    """A kernel in the rootfs: its version and image paths (as the image names them)."""

    version: str
    vmlinuz: str
    initrd: str


def find_kernel(rootfs: Path, package: str | None) -> Kernel:
    """The newest kernel in ``/boot`` of ``rootfs``; ``package`` must be installed if given."""
    if package is not None:
        names = {name for name, _ in dpkg.installed(rootfs)}
        if package not in names:
            raise MissingKernel(
                f"the disk boots kernel package {package}, but it is not installed in the rootfs",
                hint=f"add {package} to base.debian.packages or to a packages step",
            )
    boot = secure_join(rootfs, "/boot")
    versions = sorted(
        (p.name.removeprefix("vmlinuz-") for p in boot.glob("vmlinuz-*") if p.is_file()),
        key=Version,
    )
    if not versions:
        raise MissingKernel(
            "the disk is bootable (boot: is set) but the rootfs has no /boot/vmlinuz-*",
            hint="install a kernel, e.g. linux-image-cloud-amd64 in base.debian.packages",
        )
    version = versions[-1]
    initrd = f"/boot/initrd.img-{version}"
    if not secure_join(rootfs, initrd).is_file():
        raise MissingKernel(
            f"the rootfs has /boot/vmlinuz-{version} but no {initrd}",
            hint="install initramfs-tools (the kernel's postinst then makes the initrd)",
        )
    return Kernel(version=version, vmlinuz=f"/boot/vmlinuz-{version}", initrd=initrd)


def grub_config(geometry: Geometry, kernel: Kernel) -> str:
    """GRUB's embedded configuration: root by filesystem UUID, then the kernel."""
    fs = geometry.root_fs_uuid
    return (
        f"search --no-floppy --fs-uuid --set=root {fs}\n"
        f"echo 'bakery: booting Linux {kernel.version}'\n"
        f"linux {kernel.vmlinuz} root=UUID={fs} {KERNEL_ARGS}\n"
        f"initrd {kernel.initrd}\n"
        "boot\n"
    )


def grub_efi_image(config: str, out: Path, scratch: Path) -> None:
    """Make GRUB's standalone EFI image with ``config`` embedded, at ``out``."""
    if not (GRUB_EFI_DIR / "linux.mod").is_file():
        raise ToolError(
            f"GRUB's EFI modules are not installed ({GRUB_EFI_DIR})",
            hint="install them with: apt-get install -y grub-efi-amd64-bin",
        )
    cfg = scratch / "grub-embedded.cfg"
    cfg.write_text(config, encoding="utf-8")
    argv = ["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_EFI_DIR), "-p", "/EFI/BOOT"]
    proc.run([*argv, "-c", str(cfg), "-o", str(out), *GRUB_EFI_MODULES])


# offsets in GRUB's i386-pc boot.img (include/grub/i386/pc/boot.h) and core.img's first sector
_KERNEL_SECTOR = 0x5C
_DRIVE_CHECK = 0x66
_MBR_KEEP = slice(0x1B8, 0x200)  # disk signature, partition table, 0x55AA
_BLOCKLIST = 512 - 12  # struct {u64 start; u16 len; u16 segment} at the end of diskboot.img


def install_bios(disk: Path, geometry: Geometry, config: str, scratch: Path) -> None:
    """Install GRUB for BIOS firmware as ``grub-bios-setup`` does, into the disk file.

    core.img (``grub-mkimage -O i386-pc`` with ``config`` embedded) goes into the BIOS boot
    partition; its first sector's block list is pointed at the rest of it; boot.img goes into
    the MBR (keeping the protective partition table) and is pointed at core.img.
    """
    part = geometry.bios_boot
    if part is None:
        raise AssertionError("a BIOS disk has a BIOS boot partition")
    if not (GRUB_PC_DIR / "boot.img").is_file():
        raise ToolError(
            f"GRUB's BIOS modules are not installed ({GRUB_PC_DIR})",
            hint="install them with: apt-get install -y grub-pc-bin",
        )
    cfg = scratch / "grub-bios.cfg"
    cfg.write_text(config, encoding="utf-8")
    core_path = scratch / "core.img"
    argv = ["grub-mkimage", "-O", "i386-pc", "-d", str(GRUB_PC_DIR), "-p", "/boot/grub"]
    proc.run([*argv, "-c", str(cfg), "-o", str(core_path), *GRUB_PC_MODULES])
    core = bytearray(core_path.read_bytes())
    sectors = -(-len(core) // SECTOR)
    if sectors * SECTOR > part.size:
        raise ToolError(f"GRUB's core.img ({len(core)} bytes) does not fit the BIOS boot partition")
    first = part.start // SECTOR
    struct.pack_into("<QH", core, _BLOCKLIST, first + 1, sectors - 1)
    boot = bytearray((GRUB_PC_DIR / "boot.img").read_bytes())
    with disk.open("r+b") as f:
        mbr = f.read(SECTOR)
        boot[_MBR_KEEP] = mbr[_MBR_KEEP]
        struct.pack_into("<Q", boot, _KERNEL_SECTOR, first)
        boot[_DRIVE_CHECK : _DRIVE_CHECK + 2] = b"\x90\x90"  # trust the drive the BIOS passes
        f.seek(0)
        f.write(boot)
        f.seek(part.start)
        f.write(core)
