"""oci-archive and docker-archive export, and streaming layer decompression."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from bakery.errors import StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.archive import export_docker_archive, export_oci_archive, open_layer_uncompressed
from bakery.oci.digest import digest_hex, sha256_digest
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor, ImageIndex, ImageManifest
from tests.unit.test_oci_layout import build_image, compress, layer_tar

LAYERS = [{"etc/hello": b"hello\n"}, {"usr/bin/tool": b"#!/bin/sh\n" * 100}]


@pytest.fixture
def layout(tmp_path: Path) -> OCILayout:
    return OCILayout.open(tmp_path / "oci")


def _manifest(layout: OCILayout, desc: Descriptor) -> ImageManifest:
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest)
    return manifest


def _members(path: Path) -> dict[str, bytes]:
    """Every member of a tar (files' bytes; b"" for directories), checking the normalisation."""
    contents: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
                0,
                0,
                0,
                "",
                "",
            )
            extracted = tar.extractfile(member) if member.isfile() else None
            contents[member.name] = extracted.read() if extracted else b""
    return contents


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# -- open_layer_uncompressed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type",
    [mt.LAYER_TAR, mt.LAYER_GZIP, mt.LAYER_ZSTD, mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER_TAR],
)
def test_open_layer_uncompressed(layout: OCILayout, media_type: str) -> None:
    raw = layer_tar({"big": bytes(range(256)) * 20_000})
    desc = layout.put_blob(compress(raw, media_type), media_type)
    with open_layer_uncompressed(layout, desc) as reader:
        assert reader.read() == raw


def test_open_layer_uncompressed_reads_concatenated_frames(layout: OCILayout) -> None:
    raw = layer_tar({"a": b"1" * 5000})
    half = len(raw) // 2
    gz = gzip.compress(raw[:half], mtime=0) + gzip.compress(raw[half:], mtime=0)
    zst = zstandard.ZstdCompressor().compress(raw[:half])
    zst += zstandard.ZstdCompressor().compress(raw[half:])
    for data, media_type in ((gz, mt.LAYER_GZIP), (zst, mt.LAYER_ZSTD)):
        with open_layer_uncompressed(layout, layout.put_blob(data, media_type)) as reader:
            assert reader.read() == raw


def test_open_layer_uncompressed_errors(layout: OCILayout) -> None:
    junk = layout.put_blob(b"definitely not gzip", mt.LAYER_GZIP)
    with pytest.raises(StoreError, match="cannot be decompressed"):
        open_layer_uncompressed(layout, junk).read()
    config = layout.put_blob(b"{}", mt.CONFIG)
    with pytest.raises(StoreError, match="not a layer"):
        open_layer_uncompressed(layout, config)


def test_open_layer_uncompressed_verifies_the_blob(layout: OCILayout) -> None:
    raw = layer_tar({"a": b"1"})
    desc = layout.put_blob(raw, mt.LAYER_TAR)
    layout.blob_path(desc.digest).write_bytes(raw.replace(b"a", b"b", 1))
    with pytest.raises(StoreError, match="corrupted"):
        open_layer_uncompressed(layout, desc).read()


# -- oci-archive -----------------------------------------------------------------------------


def test_oci_archive_structure(layout: OCILayout, tmp_path: Path) -> None:
    desc = build_image(layout, LAYERS)
    layout.tag("golden/debian-base:12", desc)
    layout.tag("other:1", build_image(layout, [{"x": b"other"}]))
    out = tmp_path / "image.oci.tar"
    export_oci_archive(layout, "golden/debian-base:12", out)
    members = _members(out)
    manifest = _manifest(layout, desc)
    blob_names = sorted(
        f"blobs/sha256/{digest_hex(d)}"
        for d in [desc.digest, manifest.config.digest, *(x.digest for x in manifest.layers)]
    )
    assert list(members) == ["blobs", "blobs/sha256", *blob_names, "index.json", "oci-layout"]
    assert members["oci-layout"] == b'{"imageLayoutVersion":"1.0.0"}'
    for name in blob_names:
        assert sha256_digest(members[name]) == "sha256:" + name.rpartition("/")[2]
    index = ImageIndex.model_validate_json(members["index.json"])
    assert [(d.digest, d.ref_name) for d in index.manifests] == [(desc.digest, "12")]
    assert _no_temp_files(tmp_path)


def test_oci_archive_is_deterministic_and_handles_digest_refs(
    layout: OCILayout, tmp_path: Path
) -> None:
    desc = build_image(layout, LAYERS, media_type=mt.LAYER_ZSTD)
    layout.tag("app:1", desc)
    export_oci_archive(layout, "app:1", tmp_path / "a.tar")
    export_oci_archive(layout, "app:1", tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert (tmp_path / "a.tar").stat().st_size % tarfile.RECORDSIZE == 0
    export_oci_archive(layout, desc.digest, tmp_path / "c.tar")
    index = ImageIndex.model_validate_json(_members(tmp_path / "c.tar")["index.json"])
    assert index.manifests[0].ref_name is None
    layout.tag("app", desc)
    export_oci_archive(layout, "app", tmp_path / "d.tar")
    index = ImageIndex.model_validate_json(_members(tmp_path / "d.tar")["index.json"])
    assert index.manifests[0].ref_name == "latest"


def test_oci_archive_refuses_corrupt_blob_and_leaves_no_output(
    layout: OCILayout, tmp_path: Path
) -> None:
    desc = build_image(layout, LAYERS)
    layout.tag("app:1", desc)
    layer = _manifest(layout, desc).layers[1]
    path = layout.blob_path(layer.digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    out = tmp_path / "out" / "image.tar"
    out.parent.mkdir()
    with pytest.raises(StoreError, match="corrupted"):
        export_oci_archive(layout, "app:1", out)
    assert list(out.parent.iterdir()) == []


def test_export_to_missing_directory_is_a_user_error(layout: OCILayout, tmp_path: Path) -> None:
    layout.tag("app:1", build_image(layout, LAYERS))
    with pytest.raises(UserError, match="cannot write"):
        export_oci_archive(layout, "app:1", tmp_path / "nope" / "x.tar")


# -- docker-archive --------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [mt.LAYER_GZIP, mt.LAYER_ZSTD, mt.LAYER_TAR])
def test_docker_archive_structure(layout: OCILayout, tmp_path: Path, media_type: str) -> None:
    desc = build_image(layout, LAYERS, media_type=media_type)
    layout.tag("golden/debian-base:12", desc)
    out = tmp_path / "image.docker.tar"
    export_docker_archive(layout, "golden/debian-base:12", out, repo_tag="golden/debian-base:12")
    members = _members(out)
    manifest = _manifest(layout, desc)
    config = layout.read_config(manifest)
    (entry,) = json.loads(members["manifest.json"])
    assert entry["RepoTags"] == ["golden/debian-base:12"]
    assert entry["Config"] == f"{digest_hex(manifest.config.digest)}.json"
    assert sha256_digest(members[entry["Config"]]) == manifest.config.digest
    assert entry["Layers"] == [f"{digest_hex(d)}/layer.tar" for d in config.rootfs.diff_ids]
    for name, diff_id in zip(entry["Layers"], config.rootfs.diff_ids, strict=True):
        assert "sha256:" + hashlib.sha256(members[name]).hexdigest() == diff_id
    assert json.loads(members["repositories"]) == {
        "golden/debian-base": {"12": digest_hex(config.rootfs.diff_ids[-1])}
    }
    assert list(members) == sorted(members)
    with tarfile.open(fileobj=io.BytesIO(members[entry["Layers"][1]])) as layer:
        assert layer.getnames() == ["usr/bin/tool"]
    assert _no_temp_files(tmp_path)


def test_docker_archive_is_deterministic(layout: OCILayout, tmp_path: Path) -> None:
    desc = build_image(layout, [*LAYERS, LAYERS[0]])  # a repeated layer is stored once
    for name in ("a.tar", "b.tar"):
        export_docker_archive(layout, desc.digest, tmp_path / name, repo_tag="app")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    members = _members(tmp_path / "a.tar")
    (entry,) = json.loads(members["manifest.json"])
    assert entry["RepoTags"] == ["app:latest"]
    assert len(entry["Layers"]) == 3 and entry["Layers"][0] == entry["Layers"][2]
    assert sum(name.endswith("/layer.tar") for name in members) == 2


def test_docker_archive_refuses_diff_id_mismatch(layout: OCILayout, tmp_path: Path) -> None:
    desc = build_image(layout, LAYERS)
    manifest = _manifest(layout, desc)
    wrong_layer = layout.put_blob(compress(layer_tar({"x": b"y"}), mt.LAYER_GZIP), mt.LAYER_GZIP)
    bad = ImageManifest(config=manifest.config, layers=[manifest.layers[0], wrong_layer])
    bad_desc = layout.put_json(bad, mt.MANIFEST)
    with pytest.raises(StoreError, match="image config says"):
        export_docker_archive(layout, bad_desc.digest, tmp_path / "x.tar", repo_tag="a:1")
    assert list(tmp_path.iterdir()) == [layout.root]


@pytest.mark.parametrize("repo_tag", ["Upper:1", "a:b:c", "a@sha256:" + "0" * 64, "", "a/:1"])
def test_docker_archive_refuses_bad_repo_tags(
    layout: OCILayout, tmp_path: Path, repo_tag: str
) -> None:
    desc = build_image(layout, LAYERS)
    with pytest.raises(UserError, match="not a valid Docker image name"):
        export_docker_archive(layout, desc.digest, tmp_path / "x.tar", repo_tag=repo_tag)


def test_docker_archive_accepts_registry_names(layout: OCILayout, tmp_path: Path) -> None:
    desc = build_image(layout, LAYERS)
    out = tmp_path / "x.tar"
    export_docker_archive(layout, desc.digest, out, repo_tag="localhost:5000/golden/app:1.0")
    (entry,) = json.loads(_members(out)["manifest.json"])
    assert entry["RepoTags"] == ["localhost:5000/golden/app:1.0"]


def test_docker_archive_of_an_index(layout: OCILayout, tmp_path: Path) -> None:
    amd = build_image(layout, LAYERS)
    arm = build_image(layout, [{"arm": b"1"}], architecture="arm64")
    single = layout.put_json(ImageIndex(manifests=[amd]), mt.INDEX)
    export_docker_archive(layout, single.digest, tmp_path / "x.tar", repo_tag="a:1")
    (entry,) = json.loads(_members(tmp_path / "x.tar")["manifest.json"])
    assert entry["Config"] == f"{digest_hex(_manifest(layout, amd).config.digest)}.json"
    multi = layout.put_json(ImageIndex(manifests=[amd, arm]), mt.INDEX)
    with pytest.raises(UserError, match="index of 2 images"):
        export_docker_archive(layout, multi.digest, tmp_path / "y.tar", repo_tag="a:1")
