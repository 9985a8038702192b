"""Signing into the local store: cosign ``.sig`` and ``.att`` manifests written natively.

The image is signed by manifest digest (never a tag). A second signature or attestation is
appended as one more layer of the same manifest, and the tag moved to the new manifest, as
cosign does in a registry. Re-signing with a key that already signed is a no-op; a new
attestation replaces an earlier one of the same predicate type by the same key (a warm re-bake
does not pile up provenance). Read-modify-write of a ``.sig``/``.att`` manifest happens under
a lock file in the layout, so two bakes signing the same image at once lose nothing.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
from collections.abc import Iterator

from bakery.errors import SignatureError, StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.oci.source import LayoutSource
from bakery.sign.dsse import ENVELOPE_MEDIA_TYPE, parse_envelope, sign_envelope, verify_envelope
from bakery.sign.intoto import Statement
from bakery.sign.keys import SigningKey
from bakery.sign.legacy import (
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    StoredLayer,
    attestation_tag,
    legacy_manifest,
    read_layers,
    signature_tag,
    simple_signing_payload,
)

#: the lock file (in the layout root) held while a ``.sig``/``.att`` manifest is rewritten
SIGNING_LOCK = ".sign.lock"


def sign_image(layout: OCILayout, repository: str, digest: str, key: SigningKey) -> Descriptor:
    """Sign ``repository@digest``; returns the ``.sig`` manifest's descriptor."""
    layout.read_manifest(digest)  # the image must be in the store (and intact)
    tag = signature_tag(digest)
    payload = simple_signing_payload(repository, digest)
    with _signing_lock(layout):
        existing = read_layers(LayoutSource(layout, repository), tag)
        if any(_signed_by(layer, payload, key) for layer in existing):
            return layout.resolve(f"{repository}:{tag}")
        signature = base64.b64encode(key.sign(payload)).decode("ascii")
        layer = layout.put_blob(
            payload, SIMPLESIGNING_MEDIA_TYPE, annotations={SIGNATURE_ANNOTATION: signature}
        )
        return _write(layout, f"{repository}:{tag}", [*(s.descriptor for s in existing), layer])


def attest_image(
    layout: OCILayout, repository: str, statement: Statement, key: SigningKey
) -> Descriptor:
    """Attach ``statement`` (signed in a DSSE envelope) to each image it names by digest.

    The statement's subjects must include exactly one image of the store; returns the ``.att``
    manifest's descriptor.
    """
    digests = [f"sha256:{s.digest['sha256']}" for s in statement.subject if "sha256" in s.digest]
    if len(digests) != 1:
        raise SignatureError("an attestation of an image needs exactly one sha256 subject")
    digest = digests[0]
    layout.read_manifest(digest)
    tag = attestation_tag(digest)
    envelope = sign_envelope(statement.to_json(), key)
    annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: statement.predicate_type}
    with _signing_lock(layout):
        kept = [
            layer.descriptor
            for layer in read_layers(LayoutSource(layout, repository), tag)
            if not _same_kind_by(layer, statement.predicate_type, key)
        ]
        layer = layout.put_blob(envelope.to_json(), ENVELOPE_MEDIA_TYPE, annotations=annotations)
        return _write(layout, f"{repository}:{tag}", [*kept, layer])


@contextlib.contextmanager
def _signing_lock(layout: OCILayout) -> Iterator[None]:
    """Serialise updates of cosign manifests in ``layout`` (across processes)."""
    try:
        fd = os.open(layout.root / SIGNING_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot lock {layout.root} for signing: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(layout: OCILayout, ref_name: str, layers: list[Descriptor]) -> Descriptor:
    """Store the cosign image of ``layers`` and point ``ref_name`` at it."""
    image = legacy_manifest(layers)
    layout.put_blob(image.config, mt.CONFIG)
    desc = layout.put_blob(image.manifest, mt.MANIFEST)
    layout.tag(ref_name, desc)
    return desc


def _signed_by(layer: StoredLayer, payload: bytes, key: SigningKey) -> bool:
    """True when ``layer`` is ``key``'s signature of ``payload``."""
    if layer.data != payload:
        return False
    try:
        signature = base64.b64decode(layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True)
    except ValueError:
        return False
    return key.public_key.verify(signature, payload)


def _same_kind_by(layer: StoredLayer, predicate_type: str, key: SigningKey) -> bool:
    """True when ``layer`` is an attestation of ``predicate_type`` signed by ``key``."""
    if layer.annotations.get(PREDICATE_TYPE_ANNOTATION) != predicate_type:
        return False
    try:
        verify_envelope(parse_envelope(layer.data), [key.public_key])
    except SignatureError:
        return False
    return True
