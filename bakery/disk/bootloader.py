"""Booting from firmware: the kernel the rootfs carries, and GRUB as the EFI bootloader.

GRUB's EFI image is made with ``grub-mkimage`` (deterministic: no timestamps) with its whole
configuration embedded: find the root filesystem by UUID, load the kernel and initrd from it,
boot. It is installed at the removable-media path ``/EFI/BOOT/BOOTX64.EFI``, which firmware
tries without any boot entry in NVRAM, so the disk boots on any UEFI machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from bakery import proc
from bakery.build import dpkg
from bakery.disk.geometry import Geometry
from bakery.errors import ToolError, UserError
from bakery.oci.securepath import secure_join

GRUB_EFI_DIR = Path("/usr/lib/grub/x86_64-efi")
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
