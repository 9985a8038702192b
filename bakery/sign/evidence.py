"""Evidence as signed: what a builder submits and what the metadata registry verifies.

A builder does not tell the registry *that* it signed an image; it hands over the signed
objects themselves, and the registry checks them against the keys it trusts:

- a **signature** is cosign's simple signing payload (it names the image digest) and the
  ECDSA signature over those exact bytes, as in a ``.sig`` layer;
- an **attestation** is the DSSE envelope of an in-toto statement, as in an ``.att`` layer.

:class:`SignedObject` is that wire format (base64, so it travels in JSON unchanged);
:func:`verify_signed` checks one against trusted keys and an image digest, and answers what it
proves (:class:`Verified`); :func:`signed_objects` reads what a key signed of an image from a
content source (the store after a bake), ready to submit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bakery.errors import SignatureError
from bakery.oci.source import ContentSource
from bakery.sign.attestations import verified_statement
from bakery.sign.dsse import ENVELOPE_MEDIA_TYPE, parse_envelope
from bakery.sign.intoto import parse_statement
from bakery.sign.keys import PublicKey
from bakery.sign.legacy import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    attestation_tag,
    read_layers,
    signature_tag,
    signed_digest,
)

#: a 10,000-component CycloneDX SBOM attestation is a few MB; base64 adds a third
MAX_PAYLOAD = 12 << 20
Base64 = Annotated[str, Field(min_length=1, max_length=MAX_PAYLOAD, pattern=r"^[A-Za-z0-9+/=]+$")]


class SignedObject(BaseModel):
    """A signature (simple signing payload + its signature) or an attestation (a DSSE
    envelope), exactly as signed, base64-encoded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["signature", "attestation"]
    #: the simple signing payload's bytes, or the DSSE envelope's JSON bytes
    payload: Base64
    #: the ECDSA-SHA256 signature (ASN.1 DER) of a signature's payload; none for an attestation
    signature: Base64 | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _signature_matches_kind(self) -> SignedObject:
        if (self.kind == "signature") != (self.signature is not None):
            raise ValueError("a signature carries 'signature'; an attestation carries none")
        return self

    @classmethod
    def of(
        cls, kind: Literal["signature", "attestation"], payload: bytes, sig: bytes | None = None
    ) -> SignedObject:
        return cls(kind=kind, payload=_b64(payload), signature=None if sig is None else _b64(sig))

    def payload_bytes(self) -> bytes:
        return _unb64(self.payload, "payload")

    @property
    def digest(self) -> str:
        """sha256 of the signed bytes (the payload, or the envelope): names this object."""
        return "sha256:" + hashlib.sha256(self.payload_bytes()).hexdigest()

    def predicate_type(self) -> str | None:
        """The predicate type an attestation's statement claims (read, not verified: use it
        only to sort; :func:`verify_signed` says what is proven)."""
        if self.kind == "signature":
            return None
        return parse_statement(parse_envelope(self.payload_bytes()).payload).predicate_type


@dataclass(frozen=True)
class Verified:
    """What a verified signed object proves about an image."""

    kind: Literal["signature", "attestation"]
    key: PublicKey
    predicate_type: str | None
    #: the statement's predicate (attestations only)
    predicate: dict[str, Any] | None
    #: sha256 of the signed object (:attr:`SignedObject.digest`)
    object_digest: str


def verify_signed(signed: SignedObject, digest: str, keys: Sequence[PublicKey]) -> Verified:
    """What ``signed`` proves about the image ``digest``, checked with ``keys``.

    SignatureError when no key verifies it, or when it is about another image.
    """
    if not keys:
        raise SignatureError("there is no trusted key to verify it with")
    payload = signed.payload_bytes()
    if signed.kind == "attestation":
        found = verified_statement(parse_envelope(payload, source="the attestation"), keys, digest)
        statement = found.statement
        return Verified(
            kind="attestation",
            key=found.key,
            predicate_type=statement.predicate_type,
            predicate=statement.predicate,
            object_digest=signed.digest,
        )
    assert signed.signature is not None  # the model's validator
    sig = _unb64(signed.signature, "signature")
    key = next((k for k in keys if k.verify(sig, payload)), None)
    if key is None:
        raise SignatureError(
            f"the signature does not verify with any of {len(keys)} trusted key(s)"
        )
    named = signed_digest(payload)
    if named != digest:
        raise SignatureError(f"the signature is for another image ({named})")
    return Verified("signature", key, None, None, signed.digest)


def signed_objects(source: ContentSource, digest: str, key: PublicKey) -> list[SignedObject]:
    """What ``key`` signed of the image ``digest`` in ``source``: its cosign signature and
    attestations (the ``.sig`` and ``.att`` layers), each verified before it is returned."""
    found = []
    for layer in read_layers(source, signature_tag(digest)):
        if layer.descriptor.media_type != SIMPLESIGNING_MEDIA_TYPE:
            continue
        try:
            sig = base64.b64decode(layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True)
        except binascii.Error:
            continue
        found.append(SignedObject.of("signature", layer.data, sig))
    for layer in read_layers(source, attestation_tag(digest)):
        if layer.descriptor.media_type == ENVELOPE_MEDIA_TYPE:
            found.append(SignedObject.of("attestation", layer.data))
    mine = []
    for signed in found:
        try:
            verify_signed(signed, digest, [key])
        except SignatureError:
            continue  # another key's, or another image's: not this bake's to submit
        mine.append(signed)
    return mine


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise SignatureError(f"the {what} is not valid base64: {e}") from e
