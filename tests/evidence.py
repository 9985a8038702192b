"""Signed evidence for tests: real cosign signatures and DSSE attestations by a test key,
made with the same code a bake signs with."""

from __future__ import annotations

from typing import Any

from bakery.sign.dsse import sign_envelope
from bakery.sign.evidence import SignedObject
from bakery.sign.intoto import BAKERY_SCAN_V1, SLSA_PROVENANCE_V1, statement_about
from bakery.sign.keys import SigningKey
from bakery.sign.legacy import simple_signing_payload

#: the key the planted records are signed with (trusted for every repository by ``plant``)
TEST_KEY = SigningKey.generate()


def signature(repository: str, digest: str, key: SigningKey = TEST_KEY) -> SignedObject:
    """``key``'s cosign signature of ``repository@digest``."""
    payload = simple_signing_payload(repository, digest)
    return SignedObject.of("signature", payload, key.sign(payload))


def attestation(
    repository: str,
    digest: str,
    predicate_type: str,
    predicate: dict[str, Any],
    key: SigningKey = TEST_KEY,
) -> SignedObject:
    """``key``'s DSSE envelope of an in-toto statement about ``repository@digest``."""
    statement = statement_about(repository, digest, predicate_type, predicate)
    return SignedObject.of("attestation", sign_envelope(statement.to_json(), key).to_json())


def scan_attestation(
    repository: str,
    digest: str,
    *,
    passed: bool = True,
    findings: list[dict[str, Any]] | None = None,
    key: SigningKey = TEST_KEY,
) -> SignedObject:
    """A signed bakery scan attestation: ``findings`` and the bake's verdict ``passed``."""
    verdict = {
        "passed": passed,
        "violations": [],
        "allowed": [],
        "expired_allowances": [],
        "ignored_unfixed": [],
    }
    result = {
        "scanner_version": "bakery-test",
        "packages": 1,
        "findings": findings or [],
        "notes": [],
        "vulnerability_db": None,
        "policy": verdict,
    }
    predicate = {"scanner": {"uri": "https://bakery.dev/scanner"}, "result": result}
    return attestation(repository, digest, BAKERY_SCAN_V1, predicate, key)


def provenance_attestation(
    repository: str, digest: str, key: SigningKey = TEST_KEY
) -> SignedObject:
    """A signed (minimal) SLSA v1 provenance attestation."""
    predicate = {"buildDefinition": {"buildType": "https://bakery.dev/bake/v1"}}
    return attestation(repository, digest, SLSA_PROVENANCE_V1, predicate, key)
