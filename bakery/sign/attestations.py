"""Reading signatures and attestations of an image from any content source, verified.

Only what verifies with one of the given keys is returned; what does not is counted, so a
report can say *why* nothing was accepted (no ``.sig`` at all, signatures by other keys, a
signature for another digest, a statement about another image).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field

from bakery.errors import SignatureError
from bakery.oci.source import ContentSource
from bakery.sign.dsse import (
    ENVELOPE_MEDIA_TYPE,
    INTOTO_PAYLOAD_TYPE,
    parse_envelope,
    verify_envelope,
)
from bakery.sign.intoto import Statement, parse_statement
from bakery.sign.keys import PublicKey
from bakery.sign.legacy import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    attestation_tag,
    read_layers,
    signature_tag,
    signed_digest,
)


@dataclass(frozen=True)
class SignatureFindings:
    """The signatures found for an image: who validly signed it, and what was rejected."""

    total: int
    valid_keys: tuple[PublicKey, ...]
    rejected: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return bool(self.valid_keys)


@dataclass(frozen=True)
class VerifiedStatement:
    """An in-toto statement about the image whose envelope verified with ``key``."""

    statement: Statement
    key: PublicKey


@dataclass(frozen=True)
class AttestationFindings:
    """The attestations found for an image: the verified ones and why others were rejected."""

    total: int
    statements: tuple[VerifiedStatement, ...]
    rejected: tuple[str, ...] = field(default=())

    def of_type(self, predicate_type: str) -> list[Statement]:
        """Verified statements of ``predicate_type``."""
        return [
            v.statement for v in self.statements if v.statement.predicate_type == predicate_type
        ]


def find_signatures(
    source: ContentSource, digest: str, keys: Sequence[PublicKey]
) -> SignatureFindings:
    """Check every cosign signature of ``digest`` (its ``.sig`` tag) against ``keys``."""
    layers = read_layers(source, signature_tag(digest))
    valid: list[PublicKey] = []
    rejected: list[str] = []
    for layer in layers:
        if layer.descriptor.media_type != SIMPLESIGNING_MEDIA_TYPE:
            rejected.append(f"layer of type {layer.descriptor.media_type} is not a signature")
            continue
        try:
            signature = base64.b64decode(
                layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True
            )
        except binascii.Error:
            rejected.append("a signature annotation is not base64")
            continue
        key = next((k for k in keys if k.verify(signature, layer.data)), None)
        if key is None:
            rejected.append("a signature does not verify with the given key(s)")
            continue
        try:
            named = signed_digest(layer.data)
        except SignatureError as e:
            rejected.append(e.message)
            continue
        if named != digest:
            rejected.append(f"a valid signature is for another digest ({named})")
            continue
        valid.append(key)
    return SignatureFindings(total=len(layers), valid_keys=tuple(valid), rejected=tuple(rejected))


def find_attestations(
    source: ContentSource, digest: str, keys: Sequence[PublicKey]
) -> AttestationFindings:
    """Verify every cosign attestation of ``digest`` (its ``.att`` tag) against ``keys``."""
    layers = read_layers(source, attestation_tag(digest))
    verified: list[VerifiedStatement] = []
    rejected: list[str] = []
    for layer in layers:
        if layer.descriptor.media_type != ENVELOPE_MEDIA_TYPE:
            rejected.append(f"layer of type {layer.descriptor.media_type} is not a DSSE envelope")
            continue
        try:
            envelope = parse_envelope(layer.data)
            payload, key = verify_envelope(envelope, keys)
            if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
                raise SignatureError(f"payload type {envelope.payload_type} is not in-toto")
            statement = parse_statement(payload)
        except SignatureError as e:
            rejected.append(e.message)
            continue
        if not statement.names_digest(digest):
            rejected.append(f"a {statement.predicate_type} statement is about another image")
            continue
        verified.append(VerifiedStatement(statement, key))
    return AttestationFindings(
        total=len(layers), statements=tuple(verified), rejected=tuple(rejected)
    )
