"""Sigstore bundles (v0.3) as cosign 3 stores them by default: OCI referrers of the image.

``cosign sign`` and ``cosign attest`` with the new bundle format push, for each signature,
an artifact manifest whose ``subject`` is the image and whose one layer (media type
``application/vnd.dev.sigstore.bundle.v0.3+json``) is a bundle holding a DSSE envelope. A
signature is an in-toto statement of predicate type ``https://sigstore.dev/cosign/sign/v1``
about the image's digest; an attestation is the same envelope around the attested predicate.
Registries without the referrers API get them through the ``sha256-<hex>`` fallback index,
which every :class:`~bakery.oci.source.ContentSource` reads.

Only the envelope is used here: it is verified with the caller's public keys like any DSSE
envelope. Keyless bundles (a Fulcio certificate, a transparency-log entry) do not verify
with a key and are rejected, saying so.
"""

from __future__ import annotations

import json

from bakery.errors import SignatureError
from bakery.oci import mediatypes as mt
from bakery.oci.model import ImageManifest, parse_manifest
from bakery.oci.source import ContentSource
from bakery.sign.dsse import Envelope, parse_envelope
from bakery.sign.legacy import MAX_LAYER_SIZE

#: the artifact type and layer media type of a bundle
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: the predicate type of the statement cosign signs for ``cosign sign``
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def read_bundle_envelopes(source: ContentSource, digest: str) -> list[Envelope | SignatureError]:
    """The DSSE envelope of every bundle referring to ``digest`` (or why one is unusable)."""
    found: list[Envelope | SignatureError] = []
    # cosign lists its bundles in the sha256-<hex> fallback index with the config's artifact
    # type (the empty descriptor's); the referrers API reports the manifest's own
    candidates = [
        desc
        for desc in source.referrers(digest)
        if desc.artifact_type in (BUNDLE_MEDIA_TYPE, mt.EMPTY)
    ]
    for desc in candidates:
        _, raw = source.fetch_manifest(desc.digest)
        manifest = parse_manifest(raw, source=f"{source.repository}@{desc.digest}")
        if not isinstance(manifest, ImageManifest):
            found.append(SignatureError(f"bundle {desc.digest} is an index, not a manifest"))
            continue
        if BUNDLE_MEDIA_TYPE not in (manifest.artifact_type, manifest.config.artifact_type):
            continue
        for layer in manifest.layers:
            if layer.media_type != BUNDLE_MEDIA_TYPE:
                continue
            try:
                found.append(_envelope(source.fetch_blob(layer.digest, max_size=MAX_LAYER_SIZE)))
            except SignatureError as e:
                found.append(e)
    return found


def _envelope(data: bytes) -> Envelope:
    """The DSSE envelope inside a bundle's JSON."""
    try:
        bundle = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureError(f"a sigstore bundle is not JSON: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise SignatureError("a referrer is not a sigstore v0.3 bundle")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise SignatureError("a sigstore bundle without a DSSE envelope (a message signature)")
    return parse_envelope(json.dumps(envelope).encode())
