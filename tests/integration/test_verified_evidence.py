"""The service verifies evidence; it does not take it on trust (issue 16, item 1).

A builder submits signed objects; the service records one only when a key trusted for the
repository verifies it, with the key id and ``verified_at`` it proved itself. Promotion counts
only that evidence: a claimed key id, a claimed ``passed`` scan, a signature by a key nobody
trusts, or by a key whose trust was withdrawn, cannot make an image promotable. Against a real
``bakery serve`` over SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bakery.registry.audit.verify import verify_log
from bakery.registry.db import open_registry
from bakery.sign.evidence import SignedObject
from bakery.sign.keys import SigningKey
from bakery.sign.legacy import simple_signing_payload
from tests.evidence import TEST_KEY, scan_attestation, signature
from tests.integration.pg_fixtures import postgres_server
from tests.integration.server_fixtures import LiveServer, digest, live_server

pytestmark = pytest.mark.integration

BACKENDS = pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
__all__ = ["live_server", "postgres_server"]

MEDIUM = {
    "category": "vulnerability",
    "id": "CVE-2099-1234",
    "severity": "medium",
    "title": "a medium one",
    "package": "pkg:deb/debian/zlib1g@1.2.13",
    "installed_version": "1.2.13",
    "fixed_version": "1.2.14",
}


def _record(api: httpx.Client, i: int, name: str) -> str:
    """Record an artifact whose build *claims* a passing scan; its digest."""
    body = {
        "digest": digest(i),
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 100,
        "name": name,
        "tags": [f"{name}:{i}"],
        "scan": {"passed": True, "scanner_version": "1", "packages": 1, "violations": 0},
    }
    response = api.post("/api/v1/builds", json=body)
    assert response.status_code == 201, response.text
    return digest(i)


def _submit(api: httpx.Client, ref: str, signed: SignedObject) -> httpx.Response:
    return api.post(f"/api/v1/artifacts/{ref}/signatures", json=signed.model_dump())


def _promote(api: httpx.Client, ref: str, channel: str = "prod") -> httpx.Response:
    return api.post(f"/api/v1/channels/{channel}/promote", json={"ref": ref, "reason": "test"})


def _message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


@BACKENDS
def test_claims_cannot_promote_verified_evidence_can(live_server: LiveServer) -> None:
    name = "evidence/claims"
    with live_server.client("builder") as builder, live_server.client("admin") as admin:
        ref = _record(builder, 700, name)
        claimed = {"kind": "signature", "key_id": TEST_KEY.public_key.key_id}
        assert builder.post(f"/api/v1/artifacts/{ref}/signatures", json=claimed).status_code == 422

        rogue = SigningKey.generate()  # a real signature, by a key nobody trusts
        for forged in (signature(name, ref, rogue), scan_attestation(name, ref, key=rogue)):
            refused = _submit(builder, ref, forged)
            assert refused.status_code == 400, refused.text
            assert "does not verify" in _message(refused) or "none of" in _message(refused)
        other = _submit(builder, ref, signature(name, digest(701)))  # trusted key, other image
        assert other.status_code == 400 and "another image" in _message(other)
        payload = simple_signing_payload(name, ref)  # a trusted signature of other bytes
        swapped = signature(name, digest(701)).model_copy(
            update={"payload": SignedObject.of("signature", payload, b"x").payload}
        )
        assert _submit(builder, ref, swapped).status_code == 400

        refused = _promote(admin, ref)
        assert refused.status_code == 409, refused.text
        assert "not signed by a trusted key" in _message(refused)
        assert "no scan attestation signed by a trusted key" in _message(refused)
        assert len(builder.get(f"/api/v1/artifacts/{ref}/signatures").json()) == 0

        assert _submit(builder, ref, signature(name, ref)).status_code == 201
        still = _promote(admin, ref)
        assert still.status_code == 409 and "no scan attestation" in _message(still)
        failing = _submit(builder, ref, scan_attestation(name, ref, passed=False))
        assert failing.status_code == 201
        assert "fails the recipe's policy" in _message(_promote(admin, ref))
        assert _submit(builder, ref, scan_attestation(name, ref)).status_code == 201
        again = _submit(builder, ref, signature(name, ref))
        assert again.status_code == 201 and again.json()["audit_entry"] is None  # nothing new
        assert _promote(admin, ref).status_code == 201

        recorded = builder.get(f"/api/v1/artifacts/{ref}/signatures").json()
    assert {s["key_id"] for s in recorded} == {TEST_KEY.public_key.key_id}
    assert all(s["verified_at"] is not None for s in recorded)
    assert sorted(s["kind"] for s in recorded) == ["attestation", "attestation", "signature"]


@BACKENDS
def test_channel_rules_and_withdrawn_keys(live_server: LiveServer) -> None:
    name = "evidence/ruled"
    second = SigningKey.generate()
    pem = second.public_key.pem().decode()
    rule = {
        "required_keys": [second.public_key.key_id],
        "policy": {
            "apiVersion": "bakery.dev/v1",
            "kind": "Policy",
            "maxSeverity": {"vulnerability": "low"},
        },
    }
    where = {"repository": name, "channel": "prod"}
    with (
        live_server.client("builder") as builder,
        live_server.client("admin") as admin,
        live_server.client("reader") as reader,
    ):
        body = {"public_key": pem, "pattern": "evidence/*"}
        assert builder.post("/api/v1/trusted-keys", json=body).status_code == 403
        assert reader.put("/api/v1/channel-rules", params=where, json=rule).status_code == 403
        bad_key = admin.post("/api/v1/trusted-keys", json={**body, "public_key": "not a key"})
        assert bad_key.status_code == 400
        trusted = admin.post("/api/v1/trusted-keys", json=body)
        assert trusted.status_code == 201, trusted.text
        assert admin.put("/api/v1/channel-rules", params=where, json=rule).status_code == 200
        shown = reader.get("/api/v1/channel-rules", params=where).json()
        assert shown["required_keys"] == [second.public_key.key_id]

        medium = _record(builder, 710, name)
        for signed in (
            signature(name, medium),
            scan_attestation(name, medium, findings=[MEDIUM]),
        ):
            assert _submit(builder, medium, signed).status_code == 201
        refused = _promote(admin, medium)
        assert refused.status_code == 409
        assert "required key" in _message(refused) and "channel's policy" in _message(refused)
        assert _submit(builder, medium, signature(name, medium, second)).status_code == 201
        refused = _promote(admin, medium)
        assert "required key" not in _message(refused)
        assert "channel's policy (1 violation(s): CVE-2099-1234)" in _message(refused)

        clean = _record(builder, 711, name)
        for signed in (signature(name, clean, second), scan_attestation(name, clean)):
            assert _submit(builder, clean, signed).status_code == 201
        assert _promote(admin, clean).status_code == 201

        withdrawn = admin.delete(
            f"/api/v1/trusted-keys/{trusted.json()['id']}", params={"reason": "key leaked"}
        )
        assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
        assert admin.delete(f"/api/v1/trusted-keys/{trusted.json()['id']}").status_code == 400
        refused = _promote(admin, clean, "staging")  # no rule there: any trusted key
        assert refused.status_code == 409 and "not signed by a trusted key" in _message(refused)
        refused = _promote(admin, clean)
        assert "required key" in _message(refused)
        after = _submit(builder, clean, signature(name, clean, second))
        assert after.status_code == 400  # its signatures are no longer recorded either

    registry = open_registry(live_server.store, live_server.database_url)
    try:
        with registry.read() as session:
            report = verify_log(session, registry.signer.verifier)
    finally:
        registry.dispose()
    assert report.ok, report.problems
    assert {"trust", "distrust", "rule"} <= _kinds(live_server)


def _kinds(live_server: LiveServer) -> set[str]:
    with live_server.client("reader") as reader:
        entries: list[dict[str, Any]] = reader.get(
            "/api/v1/audit/entries", params={"limit": 500}
        ).json()["items"]
    return {e["kind"] for e in entries}
