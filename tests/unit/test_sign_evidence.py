"""Signed evidence: what verifies, what is refused, and what a verification proves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bakery.errors import SignatureError
from bakery.registry import models as m
from bakery.registry.trust import check_pattern, matches
from bakery.sign.evidence import SignedObject, verify_signed
from bakery.sign.intoto import BAKERY_SCAN_V1
from bakery.sign.keys import SigningKey
from tests.evidence import TEST_KEY, scan_attestation, signature

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def test_a_signature_proves_its_key_and_nothing_claimed() -> None:
    proven = verify_signed(signature("team/app", DIGEST), DIGEST, [TEST_KEY.public_key])
    assert proven.kind == "signature" and proven.key == TEST_KEY.public_key
    assert proven.predicate_type is None and proven.object_digest.startswith("sha256:")


def test_an_attestation_proves_its_statement() -> None:
    signed = scan_attestation("team/app", DIGEST, passed=False)
    proven = verify_signed(signed, DIGEST, [SigningKey.generate().public_key, TEST_KEY.public_key])
    assert proven.predicate_type == BAKERY_SCAN_V1 and proven.key == TEST_KEY.public_key
    assert proven.predicate is not None and proven.predicate["result"]["policy"]["passed"] is False


@pytest.mark.parametrize(
    "signed,digest,message",
    [
        (signature("team/app", DIGEST, SigningKey.generate()), DIGEST, "does not verify"),
        (signature("team/app", OTHER), DIGEST, "another image"),
        (scan_attestation("team/app", DIGEST, key=SigningKey.generate()), DIGEST, "none of"),
        (scan_attestation("team/app", OTHER), DIGEST, "about another image"),
    ],
)
def test_refused(signed: SignedObject, digest: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signed(signed, digest, [TEST_KEY.public_key])


def test_no_key_no_verification() -> None:
    with pytest.raises(SignatureError, match="no trusted key"):
        verify_signed(signature("team/app", DIGEST), DIGEST, [])


def test_a_tampered_payload_is_refused() -> None:
    real = signature("team/app", DIGEST)
    forged = signature("team/app", OTHER).model_copy(update={"signature": real.signature})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signed(forged, OTHER, [TEST_KEY.public_key])


def test_the_wire_format_is_strict() -> None:
    good = signature("team/app", DIGEST).model_dump()
    for bad in (
        {**good, "signature": None},  # a signature without its signature
        {**good, "kind": "attestation"},  # an attestation carries none
        {**good, "key_id": "claimed"},  # no claims
        {**good, "payload": "not base64!"},
    ):
        with pytest.raises(ValidationError):
            SignedObject.model_validate(bad)


@pytest.mark.parametrize(
    "pattern,repository,expected",
    [
        ("*", "anything/at-all", True),
        ("golden/*", "golden/nginx", True),
        ("golden/*", "golden/sub/nginx", True),
        ("golden/*", "goldenx/nginx", False),
        ("golden/nginx", "golden/nginx", True),
        ("golden/nginx", "golden/nginx2", False),
    ],
)
def test_patterns(pattern: str, repository: str, expected: bool) -> None:
    assert matches(check_pattern(pattern), repository) is expected


@pytest.mark.parametrize("pattern", ["", "golden*", "Golden/x", "a//b", "golden/*/x", "**"])
def test_bad_patterns(pattern: str) -> None:
    from bakery.errors import UserError

    with pytest.raises(UserError, match="not a repository pattern"):
        check_pattern(pattern)


def test_a_column_added_later_leaves_old_rows_hashing_the_same() -> None:
    """Rows covered before ``signatures.predicate`` existed hash as they did (audit verify
    still passes after the migration); a row that has a predicate covers it."""
    row = m.Signature(id=1, artifact_id=1, kind="signature", key_id="k", predicate=None)
    assert "predicate" not in row.content()
    row.predicate = "{}"
    assert row.content()["predicate"] == "{}"
