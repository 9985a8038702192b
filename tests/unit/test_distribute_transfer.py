"""push/pull order and integrity against the in-memory registry."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from bakery.distribute.client import ClientOptions, RegistryClient
from bakery.distribute.reference import Reference
from bakery.distribute.retry import RetryPolicy
from bakery.distribute.transfer import pull, push
from bakery.errors import StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import (
    EMPTY_CONTENT,
    EMPTY_DESCRIPTOR,
    Descriptor,
    ImageConfig,
    ImageManifest,
    RootFS,
)
from tests.unit.test_distribute_client import HOST, MemoryRegistry


def _image(layout: OCILayout) -> Descriptor:
    rng = random.Random(0)
    layers = [layout.put_blob(rng.randbytes(n), mt.LAYER_GZIP) for n in (3000, 100)]
    config = ImageConfig(
        architecture="amd64", os="linux", rootfs=RootFS(diff_ids=[d.digest for d in layers])
    )
    manifest = ImageManifest(config=layout.put_json(config, mt.CONFIG), layers=layers)
    layout.tag("test/app:1", layout.put_json(manifest, mt.MANIFEST))
    return layout.resolve("test/app:1")


def _sbom(layout: OCILayout, subject: Descriptor) -> Descriptor:
    layout.put_blob(EMPTY_CONTENT, mt.EMPTY)
    manifest = ImageManifest(
        artifact_type="application/spdx+json",
        config=EMPTY_DESCRIPTOR,
        layers=[layout.put_blob(b"{}", "application/spdx+json")],
        subject=Descriptor(media_type=mt.MANIFEST, digest=subject.digest, size=subject.size),
    )
    desc = layout.put_json(manifest, mt.MANIFEST)
    layout.add_referrer(desc)
    return desc


def _client(fake: MemoryRegistry) -> RegistryClient:
    options = ClientOptions(retry=RetryPolicy(sleep=lambda _: None))
    return RegistryClient(HOST, options=options, transport=httpx.MockTransport(fake.handler))


def test_push_order_blobs_then_manifests_then_the_tag(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci")
    image = _image(layout)
    sbom = _sbom(layout, image)
    fake = MemoryRegistry()
    result = push(layout, "test/app:1", Reference.parse(f"{HOST}/team/app"), _client(fake))
    assert result.destination == f"{HOST}/team/app:1" and result.referrers == 1
    puts = [(m, p) for m, p, _ in fake.log if m in ("PUT", "POST")]
    manifest_puts = [p for m, p in puts if "/manifests/" in p]
    assert manifest_puts[-1] == "/v2/team/app/manifests/1"  # the tag goes last
    first_manifest = next(i for i, (_, p) in enumerate(puts) if "/manifests/" in p)
    image_blob_uploads = [i for i, (m, p) in enumerate(puts) if m == "POST"][:3]
    assert max(image_blob_uploads) < first_manifest
    assert f"/v2/team/app/manifests/{image.digest}" in manifest_puts
    fallback = "/v2/team/app/manifests/sha256-" + image.digest.removeprefix("sha256:")
    assert fallback in manifest_puts
    assert manifest_puts.index(f"/v2/team/app/manifests/{sbom.digest}") < manifest_puts.index(
        fallback
    )


def test_registry_with_referrers_api_needs_no_fallback_tag(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci")
    image = _image(layout)
    _sbom(layout, image)
    fake = MemoryRegistry()
    fake.referrers_api = True
    push(layout, "test/app:1", Reference.parse(f"{HOST}/team/app:2"), _client(fake))
    assert not any("sha256-" in p for _, p, _ in fake.log)


def test_truncated_local_blob_fails_before_any_manifest(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci")
    image = _image(layout)
    manifest = layout.read_manifest(image)
    assert isinstance(manifest, ImageManifest)
    path = layout.blob_path(manifest.layers[0].digest)
    path.write_bytes(path.read_bytes()[:-10])
    fake = MemoryRegistry()
    with pytest.raises(StoreError, match="is 2990 bytes in the store"):
        push(layout, "test/app:1", Reference.parse(f"{HOST}/team/app:1"), _client(fake))
    assert not any("/manifests/" in p for _, p, _ in fake.log)
    assert fake.uploads == {}  # the session was cancelled


def test_pull_round_trip_through_memory(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci")
    image = _image(layout)
    _sbom(layout, image)
    fake = MemoryRegistry()
    client = _client(fake)
    push(layout, "test/app:1", Reference.parse(f"{HOST}/team/app:1"), client)
    other = OCILayout.open(tmp_path / "other")
    result = pull(Reference.parse(f"{HOST}/team/app:1"), other, client)
    assert result.digest == image.digest and result.referrers == 1
    assert other.check() == []
    assert other.resolve(f"{HOST}/team/app:1").digest == image.digest
    assert len(other.referrers(image.digest)) == 1


class Recorder:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def add_total(self, nbytes: int) -> None:
        self.total += nbytes

    def advance(self, nbytes: int) -> None:
        self.done += nbytes


def test_progress_counts_a_retried_upload_once(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci")
    _image(layout)
    fake = MemoryRegistry()
    failed: list[str] = []

    def fail_first_put(request: httpx.Request) -> httpx.Response | None:
        if request.method == "PUT" and "/blobs/uploads/" in request.url.path and not failed:
            failed.append(request.url.path)
            request.read()
            return httpx.Response(503)
        return None

    fake.fault = fail_first_put
    progress = Recorder()
    client = _client(fake)
    result = push(
        layout, "test/app:1", Reference.parse(f"{HOST}/team/app:1"), client, progress=progress
    )
    assert failed and result.blobs_pushed == 3
    assert progress.done == progress.total == result.bytes_transferred
