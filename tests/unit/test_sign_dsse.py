"""DSSE: the spec's PAE vector, round trips, tampering, and an envelope made by cosign."""

from __future__ import annotations

import base64
import json

import pytest

from bakery.errors import SignatureError
from bakery.sign.dsse import (
    Envelope,
    EnvelopeSignature,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from bakery.sign.intoto import SLSA_PROVENANCE_V1, parse_statement, statement_about
from bakery.sign.keys import PublicKey, SigningKey
from tests.unit.test_sign_keys import COSIGN_PUB

#: `cosign attest --type slsaprovenance1` with the key of COSIGN_PUB (legacy .att layer)
COSIGN_ENVELOPE = (
    b'{"payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjAuMSIsInN1YmplY3QiOlt7Im5h'
    b"bWUiOiIxMjcuMC4wLjE6NTA1NS90ZXN0L2ltZyIsImRpZ2VzdCI6eyJzaGEyNTYiOiI1OTM2ZTRkZWI4ZDQ5NmZjNmFi"
    b"NzQyNGY4ZjhlYzExNzYwYTA5ZjBmMjE1YzY3NzY5OWRmODcwZjQzMmYwY2NlIn19XSwicHJlZGljYXRlVHlwZSI6Imh0"
    b"dHBzOi8vc2xzYS5kZXYvcHJvdmVuYW5jZS92MSIsInByZWRpY2F0ZSI6eyJidWlsZERlZmluaXRpb24iOnsiYnVpbGRU"
    b"eXBlIjoiaHR0cHM6Ly94L3kiLCJleHRlcm5hbFBhcmFtZXRlcnMiOnt9fSwicnVuRGV0YWlscyI6eyJidWlsZGVyIjp7"
    b'ImlkIjoiaHR0cHM6Ly9iIn19fX0=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig'
    b'":"MEUCIQDafh49QyJrDGqKYhylQ8UiCeHE22Aq3tIe76rFQ8MJfwIgCkJgffpHo/Z2Vv5FEO/esRgLWKQtjWXrWNUk1t'
    b'w+tD0="}]}'
)
COSIGN_SUBJECT = "sha256:5936e4deb8d496fc6ab7424f8f8ec11760a09f0f215c677699df870f432f0cce"


def test_pae_spec_vector() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors"
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\xff\x00") == b"DSSEv1 3 t\xc3\xa9 2 \xff\x00"


def test_round_trip_and_serialisation() -> None:
    key = SigningKey.generate()
    envelope = sign_envelope(b'{"a":1}', key)
    data = envelope.to_json()
    assert list(json.loads(data)) == ["payload", "payloadType", "signatures"]
    assert json.loads(data)["signatures"][0].keys() == {"sig"}
    payload, who = verify_envelope(parse_envelope(data), [key.public_key])
    assert payload == b'{"a":1}' and who == key.public_key


def test_another_key_fails() -> None:
    envelope = sign_envelope(b"x", SigningKey.generate())
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [SigningKey.generate().public_key])


def test_tampered_payload_type_or_payload_or_signature_fails() -> None:
    key = SigningKey.generate()
    envelope = sign_envelope(b"payload", key)
    for bad in (
        Envelope(b"payload", "text/plain", envelope.signatures),
        Envelope(b"payloaD", envelope.payload_type, envelope.signatures),
        Envelope(
            b"payload",
            envelope.payload_type,
            (EnvelopeSignature(sig=envelope.signatures[0].sig[:-1] + b"\x00"),),
        ),
    ):
        with pytest.raises(SignatureError):
            verify_envelope(bad, [key.public_key])


def test_bare_payload_signature_is_not_a_dsse_signature() -> None:
    key = SigningKey.generate()
    raw = Envelope(b"p", "t", (EnvelopeSignature(sig=key.sign(b"p")),))
    with pytest.raises(SignatureError):
        verify_envelope(raw, [key.public_key])


def test_url_safe_unpadded_base64_accepted() -> None:
    key = SigningKey.generate()
    envelope = sign_envelope(b"\xfb\xff payload?>", key)
    document = json.loads(envelope.to_json())
    document["payload"] = base64.urlsafe_b64encode(envelope.payload).decode().rstrip("=")
    parsed = parse_envelope(json.dumps(document).encode())
    assert verify_envelope(parsed, [key.public_key])[0] == envelope.payload


def test_malformed_envelopes_refused() -> None:
    for junk in (b"[]", b"{}", b'{"payload":"!!","payloadType":"t","signatures":[]}', b"x"):
        with pytest.raises(SignatureError):
            parse_envelope(junk)


def test_cosign_made_envelope_verifies() -> None:
    envelope = parse_envelope(COSIGN_ENVELOPE)
    payload, _ = verify_envelope(envelope, [PublicKey.from_pem(COSIGN_PUB)])
    statement = parse_statement(payload)
    assert statement.predicate_type == SLSA_PROVENANCE_V1
    assert statement.names_digest(COSIGN_SUBJECT)
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [SigningKey.generate().public_key])


def test_statement_v1_shape() -> None:
    statement = statement_about("golden/app", "sha256:" + "ab" * 32, "https://x/p", {"k": 1})
    document = json.loads(statement.to_json())
    assert list(document) == ["_type", "subject", "predicateType", "predicate"]
    assert document["_type"] == "https://in-toto.io/Statement/v1"
    assert document["subject"] == [{"name": "golden/app", "digest": {"sha256": "ab" * 32}}]
    assert parse_statement(statement.to_json()) == statement
    with pytest.raises(SignatureError):
        parse_statement(
            b'{"_type":"https://example/other","subject":[],"predicateType":"x","predicate":{}}'
        )
