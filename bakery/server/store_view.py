"""An image's layers and configuration, read from the local store when it holds the image.

The registry's database knows digests; the bytes live in the OCI layout. A service whose
store lacks the image (it was recorded by a remote builder) says so instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bakery.errors import BakeryError
from bakery.oci.layout import OCILayout
from bakery.oci.model import ImageManifest
from bakery.server import schemas as s

log = logging.getLogger("bakery.server")
NOT_IN_STORE = "the service's store holds no copy of this artifact (a remote builder recorded it)"


def image_contents(
    store_root: Path, digest: str
) -> tuple[list[s.Layer] | None, s.ImageConfigView | None, str | None]:
    """(layers, config, note): the note says why layers or config are missing."""
    oci = store_root / "oci"
    if not (oci / "index.json").is_file():
        return None, None, NOT_IN_STORE
    try:
        layout = OCILayout.open(oci, create=False)
        if not layout.has_blob(digest):
            return None, None, NOT_IN_STORE
        manifest = layout.read_manifest(digest)
        if not isinstance(manifest, ImageManifest):
            return None, None, "an image index: open one of its platform manifests"
        if manifest.artifact_type is not None:
            return _layers(manifest, []), None, f"an OCI artifact ({manifest.artifact_type})"
        config = layout.read_config(manifest)
    except BakeryError as exc:
        log.warning("cannot show %s from the store: %s", digest, exc.one_line())
        return None, None, "the service's store cannot show this artifact (see the server log)"
    created_by = [h.created_by for h in (config.history or []) if not h.empty_layer]
    layers = _layers(manifest, config.rootfs.diff_ids, created_by)
    inner = config.config
    view = s.ImageConfigView(
        architecture=config.architecture,
        os=config.os,
        created=config.created,
        user=inner.user if inner else None,
        env=list(inner.env or []) if inner else [],
        entrypoint=inner.entrypoint if inner else None,
        cmd=inner.cmd if inner else None,
        working_dir=inner.working_dir if inner else None,
        exposed_ports=sorted(inner.exposed_ports or {}) if inner else [],
        labels=dict(inner.labels or {}) if inner else {},
    )
    return layers, view, None


def _layers(
    manifest: ImageManifest, diff_ids: list[str], created_by: list[str | None] | None = None
) -> list[s.Layer]:
    made = created_by or []
    return [
        s.Layer(
            digest=layer.digest,
            size=layer.size,
            media_type=layer.media_type,
            diff_id=diff_ids[i] if i < len(diff_ids) else None,
            created_by=made[i] if i < len(made) else None,
        )
        for i, layer in enumerate(manifest.layers)
    ]
