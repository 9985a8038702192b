"""Disk images, the pure parts: layout and identities, first-boot edits, the recipe model."""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from bakery.checks.boot import console_tail
from bakery.disk import artifact, firstboot, geometry
from bakery.disk.bootloader import MissingKernel, find_kernel, grub_config
from bakery.disk.ext4 import debugfs_script
from bakery.errors import BuildError, RecipeError, UserError
from bakery.proc import Watched
from bakery.recipe import load_recipe
from bakery.recipe.model import BootTest, DiskOutputItem, Output, PackerOutputItem

HEAD = 'apiVersion: bakery.dev/v1\nname: golden/vm\nversion: "1"\nbase: scratch\n'


def write(directory: Path, text: str) -> Path:
    path = directory / "recipe.yaml"
    path.write_text(HEAD + textwrap.dedent(text), encoding="utf-8")
    return path


def test_sizes() -> None:
    assert geometry.parse_size("4G") == 4 << 30
    assert geometry.parse_size("512M") == 512 << 20
    for bad in ("4", "4GB", "0G", "-1G", "4.5G"):
        with pytest.raises(UserError):
            geometry.parse_size(bad)


def test_layout_is_aligned_and_fits() -> None:
    layout = geometry.plan("golden/vm@1", 2 << 30, "uefi")
    assert layout.bios_boot is None
    assert [p.number for p in layout.partitions] == [1, 2]
    assert layout.esp.start == geometry.MIB and layout.esp.size == geometry.ESP_SIZE
    assert layout.root.start == layout.esp.start + layout.esp.size
    assert layout.root.start % geometry.MIB == 0 and layout.root.size % geometry.MIB == 0
    assert layout.root.start + layout.root.size <= (2 << 30) - geometry.GPT_TAIL
    with pytest.raises(UserError, match="too small"):
        geometry.plan("golden/vm@1", 64 << 20, "uefi")


def test_bios_layout_adds_a_bios_boot_partition_first() -> None:
    layout = geometry.plan("golden/vm@1", 2 << 30, "bios")
    assert layout.bios_boot is not None
    assert [p.name for p in layout.partitions] == ["BIOS", "ESP", "root"]
    assert layout.bios_boot.type_guid == geometry.BIOS_BOOT_TYPE
    assert layout.esp.start == layout.bios_boot.start + layout.bios_boot.size
    assert "type=21686148-6449-6E6F-744E-656564454649" in layout.sfdisk_script()


def test_identities_are_seeded_from_the_recipe() -> None:
    one = geometry.plan("golden/vm@1", 2 << 30, "uefi")
    again = geometry.plan("golden/vm@1", 4 << 30, "uefi")
    other = geometry.plan("golden/vm@2", 2 << 30, "uefi")
    ids = [one.disk_guid, one.esp.guid, one.root.guid, one.root_fs_uuid, one.root_hash_seed]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 5 for i in ids)
    assert (one.disk_guid, one.root_fs_uuid) == (again.disk_guid, again.root_fs_uuid)
    assert one.root_fs_uuid != other.root_fs_uuid
    assert len(one.esp_volume_id) == 8 and int(one.esp_volume_id, 16) >= 0


def test_sfdisk_script_pins_every_guid() -> None:
    layout = geometry.plan("golden/vm@1", 2 << 30, "uefi")
    script = layout.sfdisk_script()
    assert script.startswith("label: gpt\n")
    assert f"label-id: {layout.disk_guid}" in script
    for part in layout.partitions:
        assert f"uuid={part.guid}" in script and f"type={part.type_guid}" in script
    assert f"start={layout.root.start // 512}, size={layout.root.size // 512}" in script


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    for d in ("etc/ssh", "var/lib/systemd", "var/lib/dbus", "boot", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_text("pub")
    (root / "etc/ssh/sshd_config").write_text("# keep")
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "etc/hostname").write_text("builder\n")
    (root / "var/lib/systemd/random-seed").write_bytes(b"\x01" * 16)
    (root / "var/lib/dbus/machine-id").symlink_to("/etc/machine-id")
    return root


def test_first_boot_edits_remove_identity_and_write_fstab(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    layout = geometry.plan("golden/vm@1", 2 << 30, "uefi")
    edits = firstboot.first_boot_edits(root, layout)
    assert "/etc/ssh/ssh_host_ed25519_key" in edits.remove
    assert "/etc/ssh/ssh_host_ed25519_key.pub" in edits.remove
    assert "/var/lib/systemd/random-seed" in edits.remove
    assert "/etc/ssh/sshd_config" not in edits.remove
    assert "/var/lib/dbus/machine-id" not in edits.remove  # a symlink to the emptied file
    written = {new.path: new.content for new in edits.write}
    assert written["/etc/machine-id"] == b""
    assert written["/etc/hostname"] == b"localhost\n"
    assert f"UUID={layout.root_fs_uuid} / ext4".encode() in written["/etc/fstab"]
    script = debugfs_script(root, edits, 1700000000, tmp_path)
    assert 'rm "/etc/machine-id"' in script
    assert 'sif "/etc/ssh/sshd_config" ctime @1700000000' in script
    assert 'sif "/etc/ssh/ssh_host_ed25519_key"' not in script


def test_debugfs_script_clamps_times_and_refuses_quotes(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    old = root / "etc/old"
    old.write_text("x")
    os.utime(old, (1000, 1000))
    edits = firstboot.Edits(remove=(), write=())
    script = debugfs_script(root, edits, 1700000000, tmp_path)
    assert 'sif "/etc/old" mtime @1000' in script
    assert 'sif "/etc/ssh/sshd_config" mtime @1700000000' in script  # clamped
    (root / 'etc/a"b').write_text("x")
    with pytest.raises(BuildError, match="quote"):
        debugfs_script(root, edits, 1700000000, tmp_path)


def test_kernel_lookup(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    (root / "var/lib/dpkg/status").write_text(
        "Package: linux-image-cloud-amd64\nStatus: install ok installed\n"
        "Architecture: amd64\nVersion: 6.1.1\n\n"
    )
    with pytest.raises(MissingKernel, match="no /boot/vmlinuz"):
        find_kernel(root, None)
    for version in ("6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64"):
        (root / f"boot/vmlinuz-{version}").write_text("k")
        (root / f"boot/initrd.img-{version}").write_text("i")
    kernel = find_kernel(root, "linux-image-cloud-amd64")
    assert kernel.version == "6.1.0-10-cloud-amd64"  # dpkg order, not string order
    with pytest.raises(MissingKernel, match="linux-image-amd64, but it is not installed"):
        find_kernel(root, "linux-image-amd64")
    layout = geometry.plan("golden/vm@1", 2 << 30, "uefi")
    config = grub_config(layout, kernel)
    assert f"search --no-floppy --fs-uuid --set=root {layout.root_fs_uuid}" in config
    assert f"root=UUID={layout.root_fs_uuid}" in config and "console=ttyS0" in config


def test_artifact_media_types() -> None:
    assert artifact.layer_media_type("qcow2") == "application/vnd.bakery.disk.layer.v1.qcow2"
    assert artifact.layer_media_type("raw") == "application/vnd.bakery.disk.layer.v1.raw+zstd"
    for fmt in ("raw", "qcow2", "vmdk", "vhdx"):
        assert artifact.format_of(artifact.layer_media_type(fmt)) == fmt
    with pytest.raises(UserError):
        artifact.format_of("application/vnd.oci.image.layer.v1.tar+gzip")


def test_recipe_with_image_and_disk(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(
            tmp_path,
            """\
            outputs:
              - oci: {tags: [a]}
              - disk: {format: vmdk, size: 3G, kernel: linux-image-cloud-amd64}
            tests:
              - boot: {expect: "login:"}
            """,
        )
    ).recipe
    oci, disk = recipe.outputs
    assert isinstance(oci, Output) and oci.oci.tags == ("a",)
    assert isinstance(disk, DiskOutputItem)
    assert (disk.disk.format, disk.disk.size, disk.disk.boot) == ("vmdk", "3G", "uefi")
    assert disk.disk.tags == ("1-vmdk",)
    (test,) = recipe.tests
    assert isinstance(test, BootTest) and test.boot.timeout == 180
    assert test.name == "boot login:"


def test_disk_only_recipe_has_no_default_image_output(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, "outputs:\n  - disk: {}\n")).recipe
    (disk,) = recipe.outputs
    assert isinstance(disk, DiskOutputItem) and disk.disk.format == "qcow2"


def test_packer_output_goes_with_a_bootable_disk(tmp_path: Path) -> None:
    text = "outputs:\n  - disk: {}\n  - packer: {timeout: 200}\n"
    recipe = load_recipe(write(tmp_path, text)).recipe
    disk, packer = recipe.outputs
    assert isinstance(packer, PackerOutputItem)
    assert (packer.packer.builder, packer.packer.expect, packer.packer.timeout) == (
        "qemu",
        "login:",
        200,
    )
    assert isinstance(disk, DiskOutputItem) and disk.disk.tags == ("1-qcow2",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("outputs:\n  - disk: {format: iso}\n", 6, "outputs[0].disk.format"),
        ("outputs:\n  - disk: {size: 4GB}\n", 6, "invalid disk size '4GB'"),
        ("outputs:\n  - disk: {boot: coreboot}\n", 6, "outputs[0].disk.boot"),
        ("tests:\n  - boot: {expect: x}\n", 6, "a boot test needs a disk output"),
        ("outputs:\n  - oci: {}\n  - packer: {}\n", 7, "a packer output needs a disk output"),
        ("outputs:\n  - disk: {}\n  - packer: {builder: amazon-ebs}\n", 7, "builder"),
        ("outputs:\n  - disk: {}\n  - oci: {tags: [1-qcow2]}\n", 7, "duplicate tag '1-qcow2'"),
    ],
)
def test_bad_disk_recipes_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.path == path and info.value.line == line
    assert message in str(info.value)


def test_watched_reads_output_as_it_comes_and_stops_the_command() -> None:
    start = time.monotonic()
    with Watched(["sh", "-c", "printf 'boot\\nlogin: '; sleep 60"]) as vm:
        seen = ""
        for piece in vm.output(start + 20):
            seen += piece
            if "login: " in seen:
                break
        assert vm.returncode is None  # still running: the caller decides when to stop it
    assert vm.returncode is not None and time.monotonic() - start < 15
    assert seen == "boot\nlogin: "


def test_console_tail_strips_terminal_codes() -> None:
    text = "".join(f"\x1b[0;32m  OK  \x1b[0m line {n}\r\n" for n in range(100))
    tail = console_tail(text)
    assert tail.splitlines() == [f"  OK   line {n}" for n in range(60, 100)]
