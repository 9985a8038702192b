"""DSSE envelopes (secure-systems-lab/dsse protocol.md), signed and verified natively.

The signature covers the pre-authentication encoding, never the bare payload::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with lengths as ASCII decimal byte counts. :func:`verify_envelope` checks a signature over the
PAE first and returns the very payload bytes it checked, so a caller can only parse what was
signed. Envelopes are serialised as cosign writes them: ``payload``, ``payloadType``,
``signatures`` (each ``keyid`` only when set, then ``sig``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from bakery.errors import SignatureError
from bakery.sign.keys import PublicKey, SigningKey

#: the payload type of an in-toto statement
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: the media type of a DSSE envelope (a cosign ``.att`` layer)
ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    """One signature of an envelope: raw signature bytes and an optional key id."""

    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload bytes, their type, and signatures over their PAE."""

    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> bytes:
        """The envelope's JSON, in cosign's field order (compact)."""
        signatures = [
            {**({"keyid": s.keyid} if s.keyid else {}), "sig": _b64(s.sig)} for s in self.signatures
        ]
        document = {
            "payload": _b64(self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        }
        return json.dumps(document, separators=(",", ":")).encode()


def sign_envelope(
    payload: bytes, key: SigningKey, *, payload_type: str = INTOTO_PAYLOAD_TYPE, keyid: str = ""
) -> Envelope:
    """An envelope of ``payload`` with one signature by ``key`` over its PAE."""
    signature = EnvelopeSignature(sig=key.sign(pae(payload_type, payload)), keyid=keyid)
    return Envelope(payload=payload, payload_type=payload_type, signatures=(signature,))


def verify_envelope(envelope: Envelope, keys: Sequence[PublicKey]) -> tuple[bytes, PublicKey]:
    """The payload and the first key with a valid signature over its PAE; SignatureError if
    no signature verifies with any of ``keys``."""
    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        for key in keys:
            if key.verify(signature.sig, message):
                return envelope.payload, key
    count = len(envelope.signatures)
    raise SignatureError(f"none of the envelope's {count} signature(s) verifies with the key(s)")


def parse_envelope(data: bytes, *, source: str = "DSSE envelope") -> Envelope:
    """Parse envelope JSON; SignatureError when it is malformed."""
    try:
        document = json.loads(data)
        payload = _unb64(document["payload"])
        payload_type = document["payloadType"]
        signatures = tuple(
            EnvelopeSignature(sig=_unb64(s["sig"]), keyid=str(s.get("keyid") or ""))
            for s in document["signatures"]
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SignatureError(f"{source} is not a DSSE envelope: {e}") from e
    if not isinstance(payload_type, str):
        raise SignatureError(f"{source} has a non-string payloadType")
    return Envelope(payload=payload, payload_type=payload_type, signatures=signatures)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    """Decode standard or URL-safe base64, padded or not (the spec allows each)."""
    if not isinstance(text, str):
        raise TypeError("base64 value is not a string")
    normalised = text.strip().rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
    except binascii.Error as e:
        raise ValueError(f"malformed base64: {e}") from e
