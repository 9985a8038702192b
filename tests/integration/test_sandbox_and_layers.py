"""Secrets never reach a layer; hostile base layers never write outside the rootfs."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import ImageConfig, ImageManifest, RootFS
from tests.conftest import bakery, require_root
from tests.integration.conftest import SDE

SECRET = b"s3cr3t-token-do-not-leak-0123456789"


def _layers_bytes(store: Path, ref: str) -> bytes:
    """Every layer of ``ref``, uncompressed and concatenated (small images only)."""
    tar = store.parent / "image.tar"
    done = bakery("export", ref, "--store", store, "--format", "docker-archive", "-o", tar)
    assert done.returncode == 0, done.stderr
    out = io.BytesIO()
    with tarfile.open(tar) as archive:
        for member in archive.getmembers():
            if member.name.endswith("layer.tar"):
                f = archive.extractfile(member)
                assert f is not None
                out.write(f.read())
    return out.getvalue()


def test_secrets_are_mounted_for_the_step_only(
    tmp_path: Path, baked: dict[str, Any], session_store: Path
) -> None:
    (tmp_path / "token").write_bytes(SECRET)
    recipe = tmp_path / "secret.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/secret\nversion: '1'\n"
        "base: {image: 'golden/debian-base:12'}\n"
        "steps:\n"
        "  - run: sha256sum /run/secrets/token | cut -d' ' -f1 > /secret.sha && cat /run/secrets/token > /dev/null\n"
        "    secrets: [{id: token, src: token}]\n"
        "tests:\n  - file: {path: /run/secrets/token, exists: false}\n"
    )
    done = bakery("bake", recipe, "--store", session_store, "--json", env=SDE)
    assert done.returncode == 0, done.stderr
    layers = _layers_bytes(session_store, "test/secret:1")
    assert SECRET not in layers
    assert hashlib.sha256(SECRET).hexdigest().encode() in layers
    assert b"run/secrets/token" not in layers


def _evil_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if data else None)

        for name in ("bin", "etc", "tmp"):
            d = tarfile.TarInfo(name)
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            add(d)
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/tmp/bakery-outside-sentinel"
        add(link)
        rel = tarfile.TarInfo("up")
        rel.type, rel.linkname = tarfile.SYMTYPE, "../../../../../../"
        add(rel)
        add(tarfile.TarInfo("escape/pwned"), b"pwned")
        add(tarfile.TarInfo("up/tmp/bakery-outside-sentinel/pwned2"), b"pwned")
        dev = tarfile.TarInfo("dev-sda")
        dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 0
        add(dev)
    return buf.getvalue()


def _plant_image(store: Path, layer: bytes, ref: str) -> None:
    layout = OCILayout.open(store / "oci", create=True)
    blob = layout.put_blob(layer, mt.LAYER_TAR)
    config = ImageConfig(architecture="amd64", os="linux", rootfs=RootFS(diff_ids=[blob.digest]))
    config_desc = layout.put_json(config, mt.CONFIG)
    manifest = ImageManifest(config=config_desc, layers=[blob])
    layout.tag(ref, layout.put_json(manifest, mt.MANIFEST))


def test_hostile_base_layers_stay_inside_the_rootfs(tmp_path: Path) -> None:
    require_root()
    sentinel = Path("/tmp/bakery-outside-sentinel")
    sentinel.mkdir(exist_ok=True)
    for leftover in sentinel.iterdir():
        leftover.unlink()
    store = tmp_path / ".bakery"
    _plant_image(store, _evil_layer(), "evil/base:1")
    (tmp_path / "f.txt").write_text("x")
    recipe = tmp_path / "on-evil.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/on-evil\nversion: '1'\nbase: {image: 'evil/base:1'}\n"
        "steps:\n  - copy: {src: f.txt, dest: /f.txt}\n"
    )
    done = bakery("bake", recipe, "--store", store, "--json", "--no-scan", env=SDE)
    assert list(sentinel.iterdir()) == [], "a layer wrote outside the rootfs"
    assert done.returncode == 0, done.stderr
    assert "dropped device node" in done.stderr
    result = json.loads(done.stdout)
    assert result["base"]["name"] == "evil/base:1"


def test_dotdot_entries_fail_the_bake_cleanly(tmp_path: Path) -> None:
    require_root()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../../tmp/bakery-dotdot-escape")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    store = tmp_path / ".bakery"
    _plant_image(store, buf.getvalue(), "evil/dotdot:1")
    (tmp_path / "f.txt").write_text("x")
    recipe = tmp_path / "on-dotdot.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/on-dotdot\nversion: '1'\nbase: {image: 'evil/dotdot:1'}\n"
        "steps:\n  - copy: {src: f.txt, dest: /f.txt}\n"
    )
    done = bakery("bake", recipe, "--store", store, "--no-scan", env=SDE)
    assert not Path("/tmp/bakery-dotdot-escape").exists()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and ".." in done.stderr
