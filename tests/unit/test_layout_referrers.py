"""Artifacts that refer to an image (SBOMs, scan results) travel in the layout's index.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import UserError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import EMPTY_DESCRIPTOR, ImageConfig, ImageManifest, RootFS

SBOM_TYPE = "application/vnd.cyclonedx+json"


def _image(layout: OCILayout) -> ImageManifest:
    layer = layout.put_blob(b"", mt.LAYER_TAR)
    config = layout.put_json(
        ImageConfig(architecture="amd64", os="linux", rootfs=RootFS(diff_ids=[layer.digest])),
        mt.CONFIG,
    )
    return ImageManifest(config=config, layers=[layer])


def test_referrers_are_found_by_subject_and_type(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci", create=True)
    image = layout.put_json(_image(layout), mt.MANIFEST)
    layout.tag("x/y:1", image)
    layout.put_blob(b"{}", mt.EMPTY)
    sbom_blob = layout.put_blob(b'{"bomFormat":"CycloneDX"}', SBOM_TYPE)
    artifact = ImageManifest(
        artifact_type=SBOM_TYPE, config=EMPTY_DESCRIPTOR, layers=[sbom_blob], subject=image
    )
    desc = layout.put_json(artifact, mt.MANIFEST)
    layout.add_referrer(desc)
    layout.add_referrer(desc)  # idempotent
    found = layout.referrers(image.digest)
    assert [d.digest for d in found] == [desc.digest]
    assert found[0].artifact_type == SBOM_TYPE
    assert layout.referrers(image.digest, "application/spdx+json") == []
    assert [name for name, _ in layout.tags()] == ["x/y:1"]
    assert [p for p in layout.check() if p.severity == "error"] == []


def test_only_artifacts_with_a_subject_are_referrers(tmp_path: Path) -> None:
    layout = OCILayout.open(tmp_path / "oci", create=True)
    image = layout.put_json(_image(layout), mt.MANIFEST)
    with pytest.raises(UserError, match="subject"):
        layout.add_referrer(image)
