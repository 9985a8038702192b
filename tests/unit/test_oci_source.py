"""LayoutSource: the local layout seen through the ContentSource interface."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import EMPTY_DESCRIPTOR, ImageManifest, canonical_json
from bakery.oci.source import ContentSource, LayoutSource


def _layout_with_tag(tmp_path: Path) -> tuple[OCILayout, str]:
    layout = OCILayout.open(tmp_path / "oci")
    layout.put_blob(b"{}", mt.EMPTY)
    manifest = ImageManifest(
        schema_version=2,
        media_type=mt.MANIFEST,
        artifact_type="application/example",
        config=EMPTY_DESCRIPTOR,
        layers=[EMPTY_DESCRIPTOR],
    )
    desc = layout.put_blob(canonical_json(manifest), mt.MANIFEST)
    layout.tag("team/app:v1", desc)
    return layout, desc.digest


def test_resolves_tags_of_its_own_repository_only(tmp_path: Path) -> None:
    layout, digest = _layout_with_tag(tmp_path)
    source: ContentSource = LayoutSource(layout, "team/app")
    found = source.resolve_tag("v1")
    assert found is not None and found.digest == digest
    assert source.resolve_tag("v2") is None
    assert LayoutSource(layout, "team/other").resolve_tag("v1") is None


def test_fetches_verified_manifests_and_blobs(tmp_path: Path) -> None:
    layout, digest = _layout_with_tag(tmp_path)
    source = LayoutSource(layout, "team/app")
    media_type, data = source.fetch_manifest(digest)
    assert media_type == mt.MANIFEST and b"application/example" in data
    assert source.fetch_blob(mt.EMPTY_DIGEST, max_size=16) == b"{}"
    with pytest.raises(StoreError, match="larger than"):
        source.fetch_blob(digest, max_size=4)
    layout.blob_path(mt.EMPTY_DIGEST).chmod(0o644)
    layout.blob_path(mt.EMPTY_DIGEST).write_bytes(b"[]")
    with pytest.raises(StoreError, match="corrupted"):
        source.fetch_blob(mt.EMPTY_DIGEST, max_size=16)
