"""Reading signatures and attestations of an image from any content source, verified: cosign's
legacy ``.sig``/``.att`` tags and cosign 3's sigstore bundles.

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
from bakery.sign.bundle import COSIGN_SIGN_PREDICATE, read_bundle_envelopes
from bakery.sign.dsse import (
    ENVELOPE_MEDIA_TYPE,
    INTOTO_PAYLOAD_TYPE,
    Envelope,
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
    """Check every cosign signature of ``digest`` against ``keys``: the legacy ``.sig`` tag's
    layers and cosign 3's sigstore bundles (:mod:`bakery.sign.bundle`)."""
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
    bundles = _bundle_statements(source, digest, keys, rejected, signatures=True)
    valid += [found.key for found in bundles]
    total = len(layers) + len(bundles) + sum(r.startswith(_BUNDLE) for r in rejected)
    return SignatureFindings(total=total, valid_keys=tuple(valid), rejected=tuple(rejected))


def find_attestations(
    source: ContentSource, digest: str, keys: Sequence[PublicKey]
) -> AttestationFindings:
    """Verify every cosign attestation of ``digest`` against ``keys``: the legacy ``.att``
    tag's envelopes and cosign 3's sigstore bundles."""
    layers = read_layers(source, attestation_tag(digest))
    verified: list[VerifiedStatement] = []
    rejected: list[str] = []
    for layer in layers:
        if layer.descriptor.media_type != ENVELOPE_MEDIA_TYPE:
            rejected.append(f"layer of type {layer.descriptor.media_type} is not a DSSE envelope")
            continue
        try:
            verified.append(verified_statement(parse_envelope(layer.data), keys, digest))
        except SignatureError as e:
            rejected.append(e.message)
    bundles = _bundle_statements(source, digest, keys, rejected, signatures=False)
    total = len(layers) + len(bundles) + sum(r.startswith(_BUNDLE) for r in rejected)
    return AttestationFindings(
        total=total, statements=(*verified, *bundles), rejected=tuple(rejected)
    )


_BUNDLE = "sigstore bundle: "


def verified_statement(
    envelope: Envelope, keys: Sequence[PublicKey], digest: str
) -> VerifiedStatement:
    """The in-toto statement about ``digest`` in ``envelope``, verified with one of ``keys``."""
    payload, key = verify_envelope(envelope, keys)
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise SignatureError(f"payload type {envelope.payload_type} is not in-toto")
    statement = parse_statement(payload)
    if not statement.names_digest(digest):
        raise SignatureError(f"a {statement.predicate_type} statement is about another image")
    return VerifiedStatement(statement, key)


def _bundle_statements(
    source: ContentSource,
    digest: str,
    keys: Sequence[PublicKey],
    rejected: list[str],
    *,
    signatures: bool,
) -> list[VerifiedStatement]:
    """The verified statements of the bundles referring to ``digest``: cosign signatures
    (``signatures``) or attestations (every other predicate). Rejections are appended."""
    verified = []
    for found in read_bundle_envelopes(source, digest):
        try:
            if isinstance(found, SignatureError):
                if signatures:  # reported once, with the signatures
                    raise found
                continue
            if _is_signature(found) != signatures:
                continue
            verified.append(verified_statement(found, keys, digest))
        except SignatureError as e:
            rejected.append(_BUNDLE + e.message)
    return verified


def _is_signature(envelope: Envelope) -> bool:
    """Whether a bundle's envelope is a ``cosign sign`` signature (judged before verifying,
    only to sort it: it is verified either way)."""
    try:
        return parse_statement(envelope.payload).predicate_type == COSIGN_SIGN_PREDICATE
    except SignatureError:
        return True  # unreadable: reported once, with the signatures
