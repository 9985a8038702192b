"""Bootable machine images from a finished rootfs: a reproducible GPT disk (EFI system partition,
ext4 root filled with ``mke2fs -d``, GRUB as the EFI bootloader), its conversions with
``qemu-img``, its storage as an OCI artifact, and a Packer driver.

Nothing here mounts anything: every filesystem is written into the disk file at its partition's
offset by the tool that formats it.
"""
