"""The OCI image-layout store: blobs, tags, resolution, crash safety and ``check``."""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import multiprocessing
import os
import signal
import tarfile
from pathlib import Path

import pytest
import zstandard

from bakery.errors import ReferenceNotFound, StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import digest_hex, sha256_digest
from bakery.oci.layout import OCILayout, Problem, validate_ref_name
from bakery.oci.model import (
    Descriptor,
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Platform,
    RootFS,
    canonical_json,
)

# -- helpers (also used by test_oci_archive) ------------------------------------------------


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A tiny uncompressed layer tar holding ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def compress(raw: bytes, media_type: str) -> bytes:
    """``raw`` compressed as a layer of ``media_type``."""
    if media_type in (mt.LAYER_GZIP, mt.DOCKER_LAYER_GZIP):
        return gzip.compress(raw, mtime=0)
    if media_type == mt.LAYER_ZSTD:
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def build_image(
    layout: OCILayout,
    layers: list[dict[str, bytes]],
    *,
    media_type: str = mt.LAYER_GZIP,
    architecture: str = "amd64",
) -> Descriptor:
    """Store an image with one layer per dict of files; return its manifest descriptor."""
    raws = [layer_tar(files) for files in layers]
    layer_descs = [layout.put_blob(compress(raw, media_type), media_type) for raw in raws]
    config = ImageConfig(
        architecture=architecture,
        os="linux",
        rootfs=RootFS(diff_ids=[sha256_digest(raw) for raw in raws]),
    )
    config_desc = layout.put_json(config, mt.CONFIG)
    return layout.put_json(ImageManifest(config=config_desc, layers=layer_descs), mt.MANIFEST)


@pytest.fixture
def layout(tmp_path: Path) -> OCILayout:
    return OCILayout.open(tmp_path / "oci")


def _index(layout: OCILayout) -> dict[str, object]:
    document: dict[str, object] = json.loads((layout.root / "index.json").read_bytes())
    return document


def _temp_files(layout: OCILayout) -> list[Path]:
    return list(layout.tmp_dir.iterdir()) if layout.tmp_dir.exists() else []


# -- opening --------------------------------------------------------------------------------


def test_open_creates_a_valid_empty_layout(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "store" / "oci")
    assert (layout.root / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert _index(layout) == {"manifests": [], "mediaType": mt.INDEX, "schemaVersion": 2}
    assert layout.blob_dir.is_dir()
    assert OCILayout.open(layout.root, create=False).tags() == []


def test_open_refuses_missing_or_foreign_layouts(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not an OCI image layout"):
        OCILayout.open(tmp_path, create=False)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    with pytest.raises(StoreError, match="not an OCI image layout"):
        OCILayout.open(tmp_path)  # index.json lost: do not silently recreate it
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(StoreError, match="imageLayoutVersion"):
        OCILayout.open(tmp_path)


def test_reopening_keeps_tags(layout: OCILayout) -> None:
    layout.tag("a:1", build_image(layout, [{"f": b"x"}]))
    assert [name for name, _ in OCILayout.open(layout.root).tags()] == ["a:1"]


# -- blobs ----------------------------------------------------------------------------------


def test_put_and_read_blob(layout: OCILayout) -> None:
    desc = layout.put_blob(b"hello", "text/plain", annotations={"k": "v"})
    assert desc.digest == sha256_digest(b"hello")
    assert desc.size == 5 and desc.annotations == {"k": "v"}
    assert layout.has_blob(desc.digest)
    assert layout.blob_path(desc.digest) == layout.blob_dir / digest_hex(desc.digest)
    assert layout.read_blob(desc.digest) == b"hello"
    with layout.open_blob(desc.digest) as blob:
        assert blob.read() == b"hello"
    assert layout.put_blob(b"hello", "text/plain").digest == desc.digest
    assert _temp_files(layout) == []


def test_blob_writer_streams(layout: OCILayout) -> None:
    chunks = [os.urandom(100_000) for _ in range(5)]
    with layout.blob_writer() as writer:
        for chunk in chunks:
            assert writer.write(memoryview(chunk)) == len(chunk)
        assert writer.tell() == 500_000
    assert writer.digest == sha256_digest(b"".join(chunks))
    assert writer.size == 500_000
    assert layout.blob_path(writer.digest).stat().st_mode & 0o777 == 0o644


def test_blob_writer_that_raises_leaves_nothing(layout: OCILayout) -> None:
    with pytest.raises(RuntimeError, match="boom"), layout.blob_writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("boom")
    assert not layout.has_blob(sha256_digest(b"partial"))
    assert list(layout.blob_dir.iterdir()) == []
    assert _temp_files(layout) == []
    with pytest.raises(RuntimeError, match="before the blob was committed"):
        _ = writer.digest


def test_blob_writer_checks_expected_digest(layout: OCILayout) -> None:
    with layout.blob_writer(sha256_digest(b"right")) as writer:
        writer.write(b"right")
    with pytest.raises(StoreError, match="expected"), layout.blob_writer(writer.digest) as bad:
        bad.write(b"wrong")
    assert not layout.has_blob(sha256_digest(b"wrong"))
    assert _temp_files(layout) == []


def test_blob_writer_rejects_malformed_expected_digest(layout: OCILayout) -> None:
    with pytest.raises(UserError, match="malformed digest"), layout.blob_writer("md5:x"):
        pass


def test_read_blob_detects_corruption(layout: OCILayout) -> None:
    desc = layout.put_blob(b"hello world", "text/plain")
    layout.blob_path(desc.digest).write_bytes(b"hello w0rld")
    with pytest.raises(StoreError, match="corrupted"):
        layout.read_blob(desc.digest)
    with pytest.raises(StoreError, match="corrupted"), layout.open_blob(desc.digest) as blob:
        blob.read()
    big = layout.put_blob(b"x" * 100, "text/plain")
    with pytest.raises(StoreError, match="larger than"):
        layout.read_blob(big.digest, max_size=10)


def test_missing_blob_is_a_store_error(layout: OCILayout) -> None:
    missing = sha256_digest(b"nothing")
    assert not layout.has_blob(missing)
    with pytest.raises(StoreError, match="missing"):
        layout.read_blob(missing)
    with pytest.raises(StoreError, match="missing"):
        layout.open_blob(missing)


def test_read_manifest_and_config(layout: OCILayout) -> None:
    desc = build_image(layout, [{"a": b"1"}, {"b": b"2"}], architecture="arm64")
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest) and len(manifest.layers) == 2
    assert layout.read_manifest(desc.digest) == manifest
    assert layout.read_config(manifest).architecture == "arm64"
    with pytest.raises(StoreError, match="expected"):
        layout.read_manifest(desc.model_copy(update={"size": desc.size + 1}))
    with pytest.raises(StoreError, match="referenced as"):
        layout.read_manifest(desc.model_copy(update={"media_type": mt.INDEX}))


def test_walk_referenced_covers_index_manifests_configs_layers(layout: OCILayout) -> None:
    amd = build_image(layout, [{"a": b"1"}, {"shared": b"s"}])
    arm = build_image(layout, [{"b": b"2"}, {"shared": b"s"}], architecture="arm64")
    index = layout.put_json(ImageIndex(manifests=[amd, arm]), mt.INDEX)
    walked = list(layout.walk_referenced(index))
    digests = [d.digest for d in walked]
    assert digests[0] == index.digest
    assert (
        len(digests) == len(set(digests)) == 1 + 2 * 3 + 1
    )  # index, 2 x (manifest, config, layer), shared
    assert amd.digest in digests and arm.digest in digests


# -- tags -----------------------------------------------------------------------------------


def test_tag_resolve_untag(layout: OCILayout) -> None:
    desc = build_image(layout, [{"etc/hello": b"hi"}])
    layout.tag("golden/debian-base:12", desc)
    layout.tag("golden/debian-base:latest", desc)
    resolved = layout.resolve("golden/debian-base:12")
    assert resolved.digest == desc.digest
    assert resolved.ref_name == "golden/debian-base:12"
    assert resolved.platform == Platform(architecture="amd64", os="linux")
    assert layout.resolve("golden/debian-base").ref_name == "golden/debian-base:latest"
    assert [name for name, _ in layout.tags()] == [
        "golden/debian-base:12",
        "golden/debian-base:latest",
    ]
    layout.untag("golden/debian-base:12")
    with pytest.raises(ReferenceNotFound):
        layout.resolve("golden/debian-base:12")
    with pytest.raises(ReferenceNotFound):
        layout.untag("golden/debian-base:12")
    assert layout.has_blob(desc.digest)


def test_tag_replaces_and_keeps_index_sorted(layout: OCILayout) -> None:
    first = build_image(layout, [{"a": b"1"}])
    second = build_image(layout, [{"a": b"2"}])
    for name in ("zeta:1", "alpha:1", "mid/x:2"):
        layout.tag(name, first)
    layout.tag("alpha:1", second)
    entries = _index(layout)["manifests"]
    assert isinstance(entries, list)
    names = [e["annotations"][mt.ANN_REF_NAME] for e in entries]
    assert names == ["alpha:1", "mid/x:2", "zeta:1"]
    assert layout.resolve("alpha:1").digest == second.digest


def test_tag_uses_given_platform_and_keeps_foreign_index_fields(layout: OCILayout) -> None:
    index = _index(layout) | {"annotations": {"tool": "other"}, "x-vendor": 1}
    (layout.root / "index.json").write_text(json.dumps(index))
    desc = build_image(layout, [{"a": b"1"}])
    layout.tag("a:1", desc, platform=Platform(architecture="arm", os="linux", variant="v7"))
    written = _index(layout)
    assert written["x-vendor"] == 1 and written["annotations"] == {"tool": "other"}
    assert layout.resolve("a:1").platform == Platform(architecture="arm", os="linux", variant="v7")


@pytest.mark.parametrize(
    "name",
    ["golden/debian-base:12", "a", "A--b", "reg.io:5000/ns/img:1.0", "x@y+z", "a/b/c_d.e"],
)
def test_valid_ref_names(name: str) -> None:
    assert validate_ref_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a..b", "_x", "a//b", "a/", "/a", "a---b", "a b", "café", "a:", "x\n"]
)
def test_invalid_ref_names_are_refused(layout: OCILayout, name: str) -> None:
    desc = build_image(layout, [{"a": b"1"}])
    with pytest.raises(UserError, match="not a valid image name"):
        layout.tag(name, desc)


def test_tag_refuses_missing_blobs(layout: OCILayout) -> None:
    desc = build_image(layout, [{"a": b"1"}, {"b": b"2"}])
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest)
    layout.blob_path(manifest.layers[1].digest).unlink()
    with pytest.raises(StoreError, match=r"cannot tag a:1: blob .* is missing"):
        layout.tag("a:1", desc)
    unstored = Descriptor(media_type=mt.MANIFEST, digest=sha256_digest(b"nope"), size=4)
    with pytest.raises(StoreError, match="missing"):
        layout.tag("a:1", unstored)
    assert layout.tags() == []


def test_tag_refuses_wrong_sizes_and_non_manifests(layout: OCILayout) -> None:
    desc = build_image(layout, [{"a": b"1"}])
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest)
    path = layout.blob_path(manifest.layers[0].digest)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(StoreError, match="descriptor says"):
        layout.tag("a:1", desc)
    with pytest.raises(UserError, match="only manifests"):
        layout.tag("a:1", manifest.config)


def test_tag_refuses_index_with_missing_child(layout: OCILayout) -> None:
    child = build_image(layout, [{"a": b"1"}])
    ghost = Descriptor(media_type=mt.MANIFEST, digest=sha256_digest(b"ghost"), size=5)
    index = layout.put_json(ImageIndex(manifests=[child, ghost]), mt.INDEX)
    with pytest.raises(StoreError, match="missing"):
        layout.tag("multi:1", index)
    good = layout.put_json(ImageIndex(manifests=[child]), mt.INDEX)
    layout.tag("multi:1", good)
    assert layout.resolve("multi:1").media_type == mt.INDEX
    assert layout.resolve("multi:1").platform is None


def _tag_many(root: Path, prefix: str, desc_json: str, count: int) -> None:
    layout = OCILayout.open(root)
    desc = Descriptor.model_validate_json(desc_json)
    for number in range(count):
        layout.tag(f"{prefix}:{number}", desc)


def test_concurrent_tagging_loses_no_tags(layout: OCILayout) -> None:
    desc = build_image(layout, [{"a": b"1"}])
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_tag_many, args=(layout.root, f"p{n}", desc.model_dump_json(), 25))
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(layout.tags()) == 50
    assert _temp_files(layout) == []


# -- resolve --------------------------------------------------------------------------------


def test_resolve_by_digest(layout: OCILayout) -> None:
    tagged = build_image(layout, [{"a": b"1"}])
    layout.tag("golden/app:1", tagged)
    untagged = build_image(layout, [{"b": b"2"}])
    by_digest = layout.resolve(tagged.digest)
    assert by_digest.digest == tagged.digest and by_digest.ref_name is None
    assert layout.resolve(f"golden/app@{tagged.digest}").digest == tagged.digest
    found = layout.resolve(untagged.digest)
    assert (found.digest, found.size, found.media_type) == (
        untagged.digest,
        untagged.size,
        mt.MANIFEST,
    )
    assert layout.resolve(f"anything@{untagged.digest}").digest == untagged.digest


def test_resolve_errors(layout: OCILayout) -> None:
    desc = build_image(layout, [{"a": b"1"}])
    layout.tag("golden/debian-base:12", desc)
    with pytest.raises(ReferenceNotFound) as caught:
        layout.resolve("golden/debian-base:13")
    assert caught.value.hint is not None
    assert "golden/debian-base:12" in caught.value.hint and "bakery images" in caught.value.hint
    with pytest.raises(ReferenceNotFound) as caught:
        layout.resolve("unrelated")
    assert caught.value.hint == "`bakery images` lists the images in the store"
    with pytest.raises(ReferenceNotFound, match="no manifest"):
        layout.resolve(sha256_digest(b"absent"))
    with pytest.raises(UserError, match="malformed digest"):
        layout.resolve("name@sha256:1234")
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest)
    with pytest.raises(UserError, match="not a manifest"):
        layout.resolve(manifest.layers[0].digest)


# -- check and temp files ---------------------------------------------------------------------


def _tagged_image(layout: OCILayout) -> ImageManifest:
    desc = build_image(layout, [{"a": b"1" * 1000}, {"b": b"2"}])
    layout.tag("img:1", desc)
    manifest = layout.read_manifest(desc)
    assert isinstance(manifest, ImageManifest)
    return manifest


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def test_check_clean_store(layout: OCILayout) -> None:
    _tagged_image(layout)
    assert layout.check() == []


def test_check_detects_flipped_byte(layout: OCILayout) -> None:
    layer = _tagged_image(layout).layers[0]
    path = layout.blob_path(layer.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = layout.check()
    assert [(p.location, p.severity) for p in problems] == [(layer.digest, "error")]
    assert "corrupted" in problems[0].message
    assert str(problems[0]).startswith("error: sha256:")


def test_check_detects_missing_blob(layout: OCILayout) -> None:
    config = _tagged_image(layout).config
    layout.blob_path(config.digest).unlink()
    problems = _errors(layout.check())
    assert len(problems) == 1 and problems[0].location == config.digest
    assert "missing" in problems[0].message and "img:1" in problems[0].message


def test_check_detects_truncated_blob(layout: OCILayout) -> None:
    layer = _tagged_image(layout).layers[1]
    path = layout.blob_path(layer.digest)
    path.write_bytes(path.read_bytes()[:5])
    messages = [p.message for p in _errors(layout.check())]
    assert any("corrupted" in m for m in messages)
    assert any("truncated" in m for m in messages)


def test_check_detects_unparsable_manifest_and_junk_files(layout: OCILayout) -> None:
    junk = layout.put_blob(b"not json", mt.MANIFEST)
    layout.tag("ok:1", build_image(layout, [{"a": b"1"}]))
    index = _index(layout)
    index["manifests"].append(junk.model_dump(mode="json", by_alias=True, exclude_none=True))  # type: ignore[attr-defined]
    (layout.root / "index.json").write_text(json.dumps(index))
    (layout.blob_dir / "README").write_text("hi")
    problems = layout.check()
    assert [(p.severity, p.location) for p in problems] == [
        ("warning", str(layout.blob_dir / "README")),
        ("error", junk.digest),
    ]


def test_check_reports_broken_index(layout: OCILayout) -> None:
    (layout.root / "index.json").write_text("{")
    problems = layout.check()
    assert [p.location for p in problems] == [str(layout.root / "index.json")]


def test_leftover_temp_files_are_reported_and_removed(layout: OCILayout) -> None:
    _tagged_image(layout)
    layout.tmp_dir.mkdir(exist_ok=True)
    stale = layout.tmp_dir / "blob-stale"
    stale.write_bytes(b"half a blob")
    live = layout.tmp_dir / "blob-live"
    live.write_bytes(b"being written")
    with live.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert layout.check() == [
            Problem("warning", str(stale), "leftover temp file of an interrupted write")
        ]
        assert layout.remove_temp_files() == [stale]
    assert not stale.exists() and live.exists()
    assert layout.remove_temp_files() == [live]


def _killed_writer(root: Path) -> None:
    layout = OCILayout.open(root)
    with layout.blob_writer() as writer:
        writer.write(b"x" * 10_000)
        os.kill(os.getpid(), signal.SIGKILL)


def test_sigkilled_writer_leaves_only_a_removable_temp_file(layout: OCILayout) -> None:
    process = multiprocessing.get_context("fork").Process(
        target=_killed_writer, args=(layout.root,)
    )
    process.start()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    assert list(layout.blob_dir.iterdir()) == []
    assert [p.severity for p in layout.check()] == ["warning"]
    assert len(layout.remove_temp_files()) == 1
    assert layout.check() == []


def test_canonical_index_bytes_are_deterministic(tmp_path: Path) -> None:
    contents = []
    for name in ("one", "two"):
        layout = OCILayout.open(tmp_path / name)
        desc = build_image(layout, [{"a": b"1"}])
        layout.tag("b:1", desc)
        layout.tag("a:1", desc)
        contents.append((layout.root / "index.json").read_bytes())
    assert contents[0] == contents[1]
    assert canonical_json(ImageIndex.model_validate_json(contents[0])) == contents[0]
