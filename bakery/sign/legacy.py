"""cosign's legacy signature storage: ``sha256-<hex>.sig`` and ``.att`` manifests.

A signed image ``REPO@sha256:H`` has a manifest tagged ``REPO:sha256-H.sig`` with one layer
per signature. Each layer's blob is a *simple signing* payload naming the digest, and its
``dev.cosignproject.cosign/signature`` annotation is the base64 ECDSA signature of that blob.
Attestations are tagged ``sha256-H.att``: each layer is a DSSE envelope of an in-toto statement,
annotated with its ``predicateType`` (and an empty signature annotation, as cosign writes it).

The config and manifest are written byte for byte as cosign (go-containerregistry) writes them:
Go's field order, compact JSON, sorted annotation keys, the zero time as ``created``.
Reading goes through a :class:`~bakery.oci.source.ContentSource`, so signatures in the local
store and in a registry are read alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from bakery.errors import SignatureError, StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import digest_hex, sha256_digest
from bakery.oci.model import Descriptor, ImageManifest, parse_manifest
from bakery.oci.source import ContentSource

SIMPLESIGNING_MEDIA_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
PREDICATE_TYPE_ANNOTATION: Final = "predicateType"
SIGNATURE_TYPE: Final = "cosign container image signature"
#: Go's zero ``time.Time``, which cosign leaves in every ``.sig``/``.att`` config
GO_ZERO_TIME: Final = "0001-01-01T00:00:00Z"
#: signature payloads and envelopes are small; anything bigger is refused
MAX_LAYER_SIZE: Final = 16 << 20


def signature_tag(digest: str) -> str:
    """``sha256-<hex>.sig``: where cosign keeps the signatures of ``digest``."""
    return f"sha256-{digest_hex(digest)}.sig"


def attestation_tag(digest: str) -> str:
    """``sha256-<hex>.att``: where cosign keeps the attestations of ``digest``."""
    return f"sha256-{digest_hex(digest)}.att"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """The payload cosign signs for ``repository@digest`` (no optional claims)."""
    document = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return go_json(document)


def signed_digest(payload: bytes) -> str:
    """The ``docker-manifest-digest`` a simple signing payload names; SignatureError if none."""
    try:
        critical = json.loads(payload)["critical"]
        digest = critical["image"]["docker-manifest-digest"]
        kind = critical["type"]
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureError(f"not a cosign simple signing payload: {e}") from e
    if kind != SIGNATURE_TYPE or not isinstance(digest, str):
        raise SignatureError(f"not a cosign container image signature (type {kind!r})")
    return digest


@dataclass(frozen=True)
class StoredLayer:
    """One layer of a ``.sig``/``.att`` manifest: its descriptor and its (verified) bytes."""

    descriptor: Descriptor
    data: bytes

    @property
    def annotations(self) -> dict[str, str]:
        return self.descriptor.annotations or {}


def read_layers(source: ContentSource, tag: str) -> list[StoredLayer]:
    """The layers of the manifest ``tag`` in ``source`` (empty when there is no such tag)."""
    desc = source.resolve_tag(tag)
    if desc is None:
        return []
    _, raw = source.fetch_manifest(desc.digest)
    manifest = parse_manifest(raw, source=f"{source.repository}:{tag}")
    if not isinstance(manifest, ImageManifest):
        raise StoreError(f"{source.repository}:{tag} is an index, not a cosign manifest")
    return [
        StoredLayer(layer, source.fetch_blob(layer.digest, max_size=MAX_LAYER_SIZE))
        for layer in manifest.layers
    ]


@dataclass(frozen=True)
class LegacyManifest:
    """The config and manifest bytes of a ``.sig``/``.att`` image, as cosign writes them."""

    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def legacy_manifest(layers: list[Descriptor]) -> LegacyManifest:
    """The cosign image whose layers are ``layers`` (uncompressed: diff_id = digest)."""
    config = go_json(
        {
            "architecture": "",
            "created": GO_ZERO_TIME,
            "history": [{"created": GO_ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
            "config": {},
        }
    )
    manifest = go_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.MANIFEST,
            "config": _go_descriptor(mt.CONFIG, sha256_digest(config), len(config), None),
            "layers": [
                _go_descriptor(layer.media_type, layer.digest, layer.size, layer.annotations)
                for layer in layers
            ],
        }
    )
    return LegacyManifest(config=config, manifest=manifest)


def _go_descriptor(
    media_type: str, digest: str, size: int, annotations: dict[str, str] | None
) -> dict[str, Any]:
    """A descriptor in go-containerregistry's field order (annotation keys sorted)."""
    document: dict[str, Any] = {"mediaType": media_type, "size": size, "digest": digest}
    if annotations:
        document["annotations"] = dict(sorted(annotations.items()))
    return document


def go_json(document: object) -> bytes:
    """JSON as Go's ``json.Marshal`` writes it: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")
