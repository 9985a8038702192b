"""Disk outputs end to end with the real tools: vm-base bakes into a disk that boots from UEFI
firmware, the raw disk is reproducible across stores, every format passes qemu-img, bad input
fails cleanly, and Packer's qemu builder boots the baked disk.

One vm-base bake (with its boot test) is shared by the whole module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bakery import proc
from bakery.checks.boot import qemu_argv
from bakery.disk import geometry
from bakery.oci.layout import OCILayout
from tests.conftest import RECIPES, bakery, require_root, require_tools
from tests.integration.conftest import clone_store
from tests.integration.registry_fixtures import start_registry

SDE = {"SOURCE_DATE_EPOCH": "1700000000"}
TOOLS = (
    "mmdebstrap",
    "bwrap",
    "mke2fs",
    "debugfs",
    "e2fsck",
    "mkfs.vfat",
    "mcopy",
    "mdir",
    "sfdisk",
    "grub-mkimage",
    "qemu-img",
    "qemu-system-x86_64",
    "packer",
)
DISK_TAG = "golden/vm-base:12-qcow2"


def require_disk_tools() -> None:
    """Fail (never skip) with the apt command for every missing tool."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        packages = sorted({proc.APT_PACKAGES.get(t, t) for t in missing})
        pytest.fail(
            f"missing tools {missing}: apt-get install -y {' '.join(packages)} (or `make setup`)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def vm_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vm") / ".bakery"


@pytest.fixture(scope="module")
def vm_base(vm_store: Path) -> dict[str, Any]:
    """recipes/vm-base.yaml baked once (its boot test included)."""
    require_root()
    require_disk_tools()
    done = bakery("bake", RECIPES / "vm-base.yaml", "--store", vm_store, "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def exported(
    vm_base: dict[str, Any], vm_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The baked disk exported in every format."""
    out = tmp_path_factory.mktemp("export")
    files = {}
    for fmt in ("raw", "qcow2", "vmdk", "vhdx"):
        path = out / f"vm.{fmt}"
        done = bakery("export", DISK_TAG, "--store", vm_store, "--format", fmt, "-o", path)
        assert done.returncode == 0, done.stderr
        files[fmt] = path
    return files


def manifest_of(store: Path, ref: str) -> dict[str, Any]:
    """The manifest JSON that ``ref`` names in a store (read with the layout, as any tool would)."""
    layout = OCILayout.open(store / "oci", create=False)
    manifest: dict[str, Any] = json.loads(layout.read_blob(layout.resolve(ref).digest))
    return manifest


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def run(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout


def test_vm_base_bakes_a_disk_that_boots_from_firmware(vm_base: dict[str, Any]) -> None:
    (disk,) = vm_base["disks"]
    assert disk["tags"] == [DISK_TAG]
    assert (disk["format"], disk["boot"], disk["raw_size"]) == ("qcow2", "uefi", 2 << 30)
    boot = next(t for t in vm_base["tests"] if t["name"] == "boots to a login prompt")
    assert boot["passed"] and not boot["cached"]
    assert boot["detail"].startswith("console showed 'login:' after ")
    assert vm_base["tags"] == []  # a disk-only recipe keeps its image untagged
    # booted as a machine: firmware + the disk, never QEMU's direct kernel boot
    argv = qemu_argv(Path("disk.qcow2"), "qcow2", Path("vars.fd"))
    assert "-kernel" not in argv and "-initrd" not in argv
    assert any("OVMF_CODE.fd" in a for a in argv) and "tcg" in argv


def test_the_disk_is_an_oci_artifact_beside_its_image(
    vm_base: dict[str, Any], vm_store: Path
) -> None:
    (disk,) = vm_base["disks"]
    manifest = manifest_of(vm_store, DISK_TAG)
    assert manifest["artifactType"] == "application/vnd.bakery.disk.v1"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.bakery.disk.layer.v1.qcow2"
    assert layer["digest"] == disk["file_digest"] and layer["size"] == disk["file_size"]
    assert manifest["annotations"]["dev.bakery.disk.raw.digest"] == disk["raw_digest"]
    assert manifest["subject"]["digest"] == vm_base["digest"]
    check = bakery("store", "check", "--store", vm_store)
    assert check.returncode == 0, check.stdout + check.stderr
    inspected = json.loads(bakery("inspect", DISK_TAG, "--store", vm_store).stdout)
    assert inspected["artifactType"] == "application/vnd.bakery.disk.v1"


def test_the_disk_is_signed_attested_and_recorded_like_an_image(
    vm_base: dict[str, Any], vm_store: Path
) -> None:
    (disk,) = vm_base["disks"]
    key = vm_store / "keys" / "cosign.pub"
    verified = bakery("verify", DISK_TAG, "--store", vm_store, "--key", key, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checks = {c["name"]: c["passed"] for c in json.loads(verified.stdout)["checks"]}
    assert checks["signature"] and checks["provenance"] and checks["scan"], checks
    lineage = bakery("query", "lineage", disk["digest"], "--store", vm_store, "--json")
    assert lineage.returncode == 0, lineage.stderr
    assert vm_base["digest"] in lineage.stdout  # the disk is recorded as its image's child


def test_the_disk_travels_to_a_registry_and_back(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    require_tools("crane")
    (disk,) = vm_base["disks"]
    registry = start_registry(tmp_path / "registry")
    try:
        dest = registry.ref(DISK_TAG)
        pushed = bakery("push", DISK_TAG, dest, "--store", vm_store)
        assert pushed.returncode == 0, pushed.stderr
        manifest = json.loads(run("crane", "manifest", "--insecure", dest))
        assert manifest["artifactType"] == "application/vnd.bakery.disk.v1"
        assert manifest["layers"][0]["digest"] == disk["file_digest"]
        store = tmp_path / "pulled" / ".bakery"
        pulled = bakery("pull", dest, "--store", store)
        assert pulled.returncode == 0, pulled.stderr
        out = tmp_path / "vm.qcow2"
        exported = bakery("export", dest, "--store", store, "--format", "qcow2", "-o", out)
        assert exported.returncode == 0, exported.stderr
        assert sha256(out) == disk["file_digest"]
    finally:
        registry.stop()


def test_warm_rebake_reuses_the_disk_and_its_boot_test(
    vm_base: dict[str, Any], vm_store: Path
) -> None:
    done = bakery("bake", RECIPES / "vm-base.yaml", "--store", vm_store, "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    (disk,) = again["disks"]
    assert disk["cached"] and disk["raw_digest"] == vm_base["disks"][0]["raw_digest"]
    assert disk["file_digest"] == vm_base["disks"][0]["file_digest"]
    # the manifest points at this bake's image (whose annotations carry the git revision)
    assert manifest_of(vm_store, DISK_TAG)["subject"]["digest"] == again["digest"]
    assert all(t["cached"] for t in again["tests"])


def test_qemu_img_accepts_every_format(vm_base: dict[str, Any], exported: dict[str, Path]) -> None:
    (disk,) = vm_base["disks"]
    assert sha256(exported["raw"]) == disk["raw_digest"]
    assert sha256(exported["qcow2"]) == disk["file_digest"]
    for fmt, path in exported.items():
        info = json.loads(run("qemu-img", "info", "--output=json", "-f", fmt, path))
        assert info["format"] == fmt and info["virtual-size"] >= 2 << 30, info
        if fmt != "raw":  # raw has no metadata: qemu-img says it cannot check it
            assert "No errors were found" in run("qemu-img", "check", "-f", fmt, path)
    # every format holds the same disk
    for fmt in ("qcow2", "vmdk", "vhdx"):
        run("qemu-img", "compare", "-f", "raw", "-F", fmt, exported["raw"], exported[fmt])


def test_partitions_filesystems_and_first_boot_state(exported: dict[str, Path]) -> None:
    raw = exported["raw"]
    table = json.loads(run("sfdisk", "--json", raw))["partitiontable"]
    layout = geometry.plan("golden/vm-base@12", 2 << 30, "uefi")
    assert table["label"] == "gpt" and table["id"].lower() == layout.disk_guid
    esp, root = table["partitions"]
    assert esp["type"] == geometry.ESP_TYPE and esp["uuid"].lower() == layout.esp.guid
    assert root["type"] == geometry.ROOT_X86_64_TYPE and root["uuid"].lower() == layout.root.guid
    ext4 = f"{raw}?offset={layout.root.start}"
    run("e2fsck", "-fn", ext4)

    def cat(path: str) -> str:
        return run("debugfs", "-R", f"cat {path}", ext4)

    assert f"UUID={layout.root_fs_uuid} / ext4" in cat("/etc/fstab")
    assert cat("/etc/machine-id") == ""
    assert cat("/etc/hostname") == "localhost\n"
    assert "ssh_host_" not in run("debugfs", "-R", "ls /etc", ext4)
    assert "random-seed" not in run("debugfs", "-R", "ls /var/lib/systemd", ext4)
    esp_listing = run("mdir", "-i", f"{raw}@@{layout.esp.start}", "::/EFI/BOOT")
    assert "BOOTX64  EFI" in esp_listing


def test_raw_disk_is_identical_across_bakes_in_two_stores(
    vm_base: dict[str, Any], tmp_path: Path
) -> None:
    """A second, independent bake (a new store, another directory, no shared cache)."""
    recipes = tmp_path / "elsewhere" / "recipes"
    recipes.mkdir(parents=True)
    text = (RECIPES / "vm-base.yaml").read_text()
    # the same rootfs and disk; the boot test already ran on the first bake
    (recipes / "vm-base.yaml").write_text(text.split("  - name: boots to a login prompt")[0])
    store = tmp_path / "other-store"
    done = bakery(
        "bake", recipes / "vm-base.yaml", "--store", store, "--json", "--no-scan", env=SDE
    )
    assert done.returncode == 0, done.stderr
    (second,) = json.loads(done.stdout)["disks"]
    (first,) = vm_base["disks"]
    assert second["raw_digest"] == first["raw_digest"]
    assert second["file_digest"] == first["file_digest"]  # qcow2 is deterministic too


def _variant(tmp_path: Path, old: str, new: str, *, version: str = "12-bad") -> Path:
    text = (RECIPES / "vm-base.yaml").read_text()
    assert old in text
    text = text.replace(old, new).replace('version: "12"', f'version: "{version}"')
    path = tmp_path / "vm-base.yaml"
    path.write_text(text)
    return path


def _assert_nothing_left(store: Path, tag_prefix: str) -> None:
    """No tag of the failed bake, no work directory, no temp blob."""
    tags = json.loads(bakery("images", "--store", store, "--json").stdout)
    assert not [t for t in tags if t["tag"].startswith(tag_prefix)]
    assert list((store / "work").iterdir()) == []
    assert list((store / "oci" / ".tmp").glob("*")) == []


def _private(vm_store: Path, tmp_path: Path) -> Path:
    """A copy of the module's store (see clone_store)."""
    return clone_store(vm_store, tmp_path / "store" / ".bakery")


def test_a_boot_that_never_shows_the_text_fails_and_tags_nothing(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    store = _private(vm_store, tmp_path)
    path = _variant(
        tmp_path, 'expect: "login:", timeout: 180', 'expect: "NEVER-SHOWN", timeout: 25'
    )
    done = bakery("bake", path, "--store", store, "--no-scan", env=SDE)
    assert done.returncode == 1, done.stderr
    assert "boot test 'boots to a login prompt' failed" in done.stderr
    assert "did not show 'NEVER-SHOWN' within 25 s" in done.stderr
    console = done.stderr.split("Last console lines:\n", 1)[1]
    assert len(console.splitlines()) >= 5, console  # what the machine did print
    _assert_nothing_left(store, "golden/vm-base:12-bad")


def test_a_bios_disk_boots_from_seabios(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    """boot: bios adds GRUB's BIOS core (BIOS boot partition + MBR); QEMU boots it with SeaBIOS."""
    store = _private(vm_store, tmp_path)
    path = _variant(tmp_path, "boot: uefi", "boot: bios", version="12-bios")
    done = bakery("bake", path, "--store", store, "--no-scan", "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (disk,) = result["disks"]
    assert disk["boot"] == "bios" and disk["tags"] == ["golden/vm-base:12-bios-qcow2"]
    boot = next(t for t in result["tests"] if t["name"] == "boots to a login prompt")
    assert boot["passed"] and boot["detail"].startswith("console showed 'login:'")
    argv = qemu_argv(Path("d"), "qcow2", Path("v"), firmware="bios")
    assert not any("OVMF" in a for a in argv) and "-kernel" not in argv


def test_a_disk_too_small_for_the_rootfs_is_a_recipe_error(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    store = _private(vm_store, tmp_path)
    path = _variant(tmp_path, "size: 2G", "size: 256M")
    done = bakery("bake", path, "--store", store, "--no-scan", env=SDE)
    assert done.returncode == 2, done.stderr
    assert f"{path}:20:" in done.stderr and "too small for the rootfs" in done.stderr
    _assert_nothing_left(store, "golden/vm-base:12-bad")


def test_a_missing_kernel_is_a_recipe_error(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    store = _private(vm_store, tmp_path)
    path = _variant(tmp_path, "kernel: linux-image-cloud-amd64", "kernel: linux-image-rt-amd64")
    done = bakery("bake", path, "--store", store, "--no-scan", env=SDE)
    assert done.returncode == 2, done.stderr
    assert f"{path}:20:" in done.stderr
    assert "linux-image-rt-amd64, but it is not installed" in done.stderr
    _assert_nothing_left(store, "golden/vm-base:12-bad")


def test_an_unknown_format_is_a_recipe_error(tmp_path: Path) -> None:
    path = _variant(tmp_path, "format: qcow2", "format: iso")
    done = bakery("bake", path, "--store", tmp_path / "store")
    assert done.returncode == 2
    assert f"{path}:20:" in done.stderr and "outputs[0].disk.format" in done.stderr


def test_export_refuses_a_disk_format_for_an_image(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    done = bakery(
        "export", vm_base["digest"], "--store", vm_store, "--format", "qcow2", "-o", tmp_path / "x"
    )
    assert done.returncode == 2 and "not a disk image" in done.stderr
    assert not (tmp_path / "x").exists()


def test_vm_app_yields_an_image_and_a_disk_from_one_rootfs(
    vm_base: dict[str, Any], vm_store: Path
) -> None:
    done = bakery("bake", RECIPES / "vm-app.yaml", "--store", vm_store, "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tags"] == ["golden/vm-app:1.0"]
    (disk,) = result["disks"]
    assert disk["tags"] == ["golden/vm-app:1.0-qcow2"] and disk["boot"] == "uefi"
    assert disk["raw_digest"] != vm_base["disks"][0]["raw_digest"]
    assert manifest_of(vm_store, disk["tags"][0])["subject"]["digest"] == result["digest"]
    image = json.loads(bakery("inspect", "golden/vm-app:1.0", "--store", vm_store).stdout)
    assert image["config"]["config"]["User"] == "nobody"


def test_packer_output_boots_the_baked_disk_with_packers_qemu_builder(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    """The recipe's disk, cached from the module's bake, goes through a real `packer build`."""
    store = _private(vm_store, tmp_path)
    disk_line = "  - disk: {format: qcow2, size: 2G, boot: uefi, kernel: linux-image-cloud-amd64}\n"
    path = _variant(
        tmp_path,
        disk_line,
        disk_line + '  - packer: {expect: "login:", timeout: 240}\n',
        version="12",
    )
    done = bakery("bake", path, "--store", store, "--no-scan", "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["disks"][0]["cached"]  # the same disk as the module's bake
    (build,) = result["packer"]
    assert build["builder_type"] == "qemu" and not build["cached"]
    assert build["disk"] == vm_base["disks"][0]["file_digest"]
    (artifact,) = build["artifacts"]
    assert (artifact["builder_id"], artifact["id"]) == ("transcend.qemu", "VM")
    (file,) = build["files"]
    assert file["path"].endswith("golden-vm-base.qcow2") and file["size"] > 0
    assert file["digest"].startswith("sha256:") and file["digest"] != build["disk"]  # it booted


def test_a_failing_packer_build_fails_the_bake(
    vm_base: dict[str, Any], vm_store: Path, tmp_path: Path
) -> None:
    store = _private(vm_store, tmp_path)
    disk_line = "  - disk: {format: qcow2, size: 2G, boot: uefi, kernel: linux-image-cloud-amd64}\n"
    path = _variant(
        tmp_path,
        disk_line,
        disk_line + '  - packer: {expect: "NEVER-SHOWN", timeout: 15}\n',
        version="12-packer",
    )
    text = path.read_text().split("  - name: boots to a login prompt")[0]
    path.write_text(text)
    done = bakery("bake", path, "--store", store, "--no-scan", env=SDE)
    assert done.returncode == 1, done.stderr
    assert "`packer build` failed" in done.stderr and "NEVER-SHOWN" in done.stderr
    _assert_nothing_left(store, "golden/vm-base:12-packer")
