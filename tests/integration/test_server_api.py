"""The HTTP API against a real ``bakery serve`` (uvicorn on 127.0.0.1) over SQLite and over a
real PostgreSQL server: queries, channels, revocation, recording, tokens, the audit log;
roles (401/403), SQL-injection strings in every parameter, path traversal in refs, oversized
bodies, secrets kept out of logs, and no server error anywhere."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from bakery.errors import AuthError, RegistryDBError
from bakery.registry.audit import merkle
from bakery.registry.db import open_registry
from bakery.registry.facts import ArtifactFact, FindingFact, ParentFact, ScanFact
from bakery.registry.tokens import revoke_token
from bakery.server.client import RegistryClient
from tests.evidence import signature
from tests.integration.pg_fixtures import postgres_server
from tests.integration.server_fixtures import (
    PLANTED,
    LiveServer,
    deb,
    digest,
    free_port,
    live_server,
    verify_now,
)

pytestmark = pytest.mark.integration

BACKENDS = pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
__all__ = ["live_server", "postgres_server"]

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE artifacts; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)--",
    "x' UNION SELECT token_id, secret_hash FROM tokens --",
    "%' OR 1=1 --",
    "\\'; DELETE FROM packages; --",
    "openssl\x00' OR 1=1",
    "../../../../etc/passwd",
    "é漢字🙂",
    "A" * 5000,
]
TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "golden/../../../etc/passwd:12",
    "....//....//etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
]


def assert_error(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The response has one of ``statuses`` and the one error shape."""
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


@pytest.fixture(scope="module")
def spec(live_server: LiveServer) -> dict[str, Any]:
    with live_server.client() as client:
        response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


# -- health, spec ---------------------------------------------------------------------------


@BACKENDS
def test_health_and_openapi(live_server: LiveServer, spec: dict[str, Any]) -> None:
    with live_server.client() as client:
        health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["database"] == ("postgresql" if live_server.database_url else "sqlite")
    paths = set(spec["paths"])
    for wanted in (
        "/api/v1/artifacts",
        "/api/v1/artifacts/{digest}/lineage",
        "/api/v1/packages/search",
        "/api/v1/vulnerabilities/{vuln_id}/artifacts",
        "/api/v1/channels/{channel}/promote",
        "/api/v1/revocations",
        "/api/v1/builds",
        "/api/v1/tokens",
        "/api/v1/audit/entries/{seq}/proof",
        "/api/v1/audit/verifications",
        "/api/v1/audit/verifications/latest",
        "/api/v1/audit/verifications/{job_id}",
        "/api/v1/evidence",
    ):
        assert wanted in paths
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/tokens"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert "/login" not in paths  # the UI is not part of the API


# -- roles ----------------------------------------------------------------------------------

READ = ("GET", "/api/v1/artifacts", None)
BUILD = ("POST", "/api/v1/builds", {"digest": digest(900), "media_type": "x/y", "size": 1})
ADMIN = ("GET", "/api/v1/tokens", None)


@BACKENDS
@pytest.mark.parametrize("method,path,body", [READ, BUILD, ADMIN])
def test_missing_bad_expired_and_revoked_tokens_get_401(
    live_server: LiveServer, method: str, path: str, body: Any
) -> None:
    fake = "bkr_0123456789abcdef_" + "A" * 43
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {fake}"},
        {"Authorization": f"Bearer {live_server.tokens['expired']}"},
        {"Authorization": f"Bearer {live_server.tokens['revoked']}"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    with live_server.client() as client:
        for headers in cases:
            response = client.request(method, path, json=body, headers=headers)
            assert_error(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")


#: what a refused token is told, by the fixture's token name
REFUSALS = {
    "expired": "the token expired",
    "revoked": "the token was revoked",
}


@BACKENDS
def test_revoked_and_expired_tokens_get_401_on_every_endpoint(
    live_server: LiveServer, spec: dict[str, Any]
) -> None:
    """Every operation of the spec that needs a token, with an (admin) token that expired and
    one that was revoked: 401 with its own message, twice (the second from the cache)."""
    p = live_server.planted
    values = {"digest": p.base, "channel": "prod", "vuln_id": "CVE-2024-0727", "seq": "0",
              "ref": "golden/debian-base:12", "token_id": "0123456789abcdef"}  # fmt: skip
    operations = [
        (method, _fill(path, values))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]
    assert len(operations) >= 20, operations
    with live_server.client() as client:
        for which, message in REFUSALS.items():
            headers = {"Authorization": f"Bearer {live_server.tokens[which]}"}
            for method, url in operations * 2:
                body = {} if method in ("POST", "PUT", "PATCH") else None
                response = client.request(method.upper(), url, json=body, headers=headers)
                error = assert_error(response, 401)
                assert error == {"code": "unauthorized", "message": message}, (method, url)
        fake = "bkr_0123456789abcdef_" + "A" * 43
        invalid = client.get("/api/v1/artifacts", headers={"Authorization": f"Bearer {fake}"})
        assert assert_error(invalid, 401)["message"] == "the token is invalid"


@BACKENDS
def test_wrong_roles_get_403_and_right_roles_pass(live_server: LiveServer) -> None:
    expected = {
        "reader": [(READ, 200), (BUILD, 403), (ADMIN, 403)],
        "builder": [(READ, 200), (BUILD, 201), (ADMIN, 403)],
        "admin": [(READ, 200), (ADMIN, 200)],
    }
    for role, cases in expected.items():
        with live_server.client(role) as client:
            for (method, path, body), status in cases:
                response = client.request(method, path, json=body)
                assert response.status_code == status, (role, path, response.text)
                if status == 403:
                    assert assert_error(response, 403)["code"] == "forbidden"


# -- queries --------------------------------------------------------------------------------


@BACKENDS
def test_package_search_in_dpkg_order(live_server: LiveServer) -> None:
    p = live_server.planted
    with live_server.client("reader") as client:
        old = client.get(
            "/api/v1/packages/search", params={"name": "openssl", "versions": "<3.0.13"}
        )
        all_ = client.get("/api/v1/packages/search", params={"name": "openssl", "limit": 1})
        planted = client.get(
            "/api/v1/packages/search", params={"purl": f"pkg:deb/debian/{PLANTED}"}
        )
        none = client.get("/api/v1/packages/search", params={"name": "openssl", "versions": ">=4"})
        neither = client.get("/api/v1/packages/search")
    assert old.status_code == 200
    assert [h["digest"] for h in old.json()["items"]] == [p.base]
    page = all_.json()
    assert page["total"] == 3 and len(page["items"]) == 1 and page["limit"] == 1
    assert [h["digest"] for h in planted.json()["items"]] == [p.nginx]
    assert none.json()["total"] == 0
    assert_error(neither, 400)


@BACKENDS
def test_artifact_detail_parts_and_lineage(live_server: LiveServer) -> None:
    p = live_server.planted
    with live_server.client("reader") as client:
        detail = client.get(f"/api/v1/artifacts/{p.base}").json()
        packages = client.get(f"/api/v1/artifacts/{p.base}/packages").json()
        findings = client.get(f"/api/v1/artifacts/{p.base}/findings").json()
        sigs = client.get(f"/api/v1/artifacts/{p.base}/signatures").json()
        prov = client.get(f"/api/v1/artifacts/{p.base}/provenance").json()
        lineage = client.get(f"/api/v1/artifacts/{p.nginx}/lineage").json()
        by_tag = client.get("/api/v1/refs/golden/nginx:1.22").json()
        missing = client.get(f"/api/v1/artifacts/{digest(999)}")
        listing = client.get("/api/v1/artifacts", params={"kind": "image", "limit": 2}).json()
        real = client.get(f"/api/v1/artifacts/{p.real}").json()
    assert detail["artifact"]["tags"] == ["golden/debian-base:12"]
    assert detail["findings_by_severity"] == {"high": 1}
    assert detail["package_count"] == 2 and detail["sboms"] == [digest(101)]
    assert detail["scan"]["passed"] is True
    assert detail["store_note"]  # the synthetic record has no blobs in the store
    assert {x["name"] for x in packages["items"]} == {"openssl", "libc6"}
    assert findings["findings"][0]["aliases"] == ["CVE-2024-0727"]
    assert {s["kind"] for s in sigs} == {"signature", "attestation"}
    assert prov["builds"][0]["git_commit"].startswith("0123456789ab")
    assert prov["attestations"][0]["predicate_type"] == "https://slsa.dev/provenance/v1"
    distances = {n["digest"]: n["distance"] for n in lineage["nodes"]}
    assert distances == {p.base: -1, p.nginx: 0, p.app: 1}
    assert {(e["parent"], e["child"]) for e in lineage["edges"]} == {
        (p.base, p.nginx),
        (p.nginx, p.app),
    }
    assert by_tag["digest"] == p.nginx
    assert_error(missing, 404)
    assert listing["total"] >= 5 and len(listing["items"]) == 2
    assert real["store_note"] is None and real["config"]["user"] == "app"
    assert real["config"]["exposed_ports"] == ["8080/tcp"]
    (layer,) = real["layers"]
    assert layer["created_by"] == "bakery: copy files/hello.txt"
    assert layer["diff_id"].startswith("sha256:") and layer["size"] > 0


@BACKENDS
def test_builds_by_recipe_and_commit_and_evidence(live_server: LiveServer) -> None:
    with live_server.client("reader") as client:
        recipe = client.get("/api/v1/builds", params={"recipe": "golden/nginx"}).json()
        commit = client.get("/api/v1/builds", params={"commit": "0123456789ab"}).json()
        both = client.get("/api/v1/builds", params={"recipe": "x", "commit": "abcd"})
        evidence = client.get("/api/v1/evidence").json()
        capped = client.get("/api/v1/evidence", params={"limit": 1}).json()
    assert [b["recipe"] for b in recipe["items"]] == ["golden/nginx"]
    assert {b["recipe"] for b in commit["items"]} == {"golden/debian-base", "golden/nginx"}
    assert_error(both, 400)
    assert live_server.planted.app in evidence["unsigned"]
    assert evidence["counts"]["unsigned"] == len(evidence["unsigned"])
    assert evidence["complete"] is False
    assert capped["counts"] == evidence["counts"]
    assert all(len(capped[k]) == min(1, n) for k, n in capped["counts"].items())


# -- channels, vulnerabilities, revocation (one story, in order) ----------------------------


@BACKENDS
def test_promote_rollback_impact_and_revoke_cascade(live_server: LiveServer) -> None:
    p = live_server.planted
    admin, reader = live_server.client("admin"), live_server.client("reader")
    with admin, reader:
        first = admin.post(
            "/api/v1/channels/prod/promote", json={"ref": p.base, "reason": "first release"}
        )
        assert first.status_code == 201, first.text
        assert first.json()["digest"] == p.base and first.json()["actor"].startswith("test-admin")
        refused = admin.post(
            "/api/v1/channels/prod/promote",
            json={"ref": "team/app:1.0", "reason": "unsigned: must be refused"},
        )
        assert assert_error(refused, 409)["code"] == "promotion_refused"
        failing = admin.post(
            "/api/v1/channels/prod/promote", json={"ref": p.tool, "reason": "fails its policy"}
        )
        assert_error(failing, 409)
        nginx = admin.post(
            "/api/v1/channels/prod/promote",
            json={"ref": "golden/nginx:1.22", "reason": "nginx", "require_channel": "staging"},
        )
        assert_error(nginx, 409)  # never in staging
        staged = admin.post(
            "/api/v1/channels/staging/promote", json={"ref": p.nginx, "reason": "stage it"}
        )
        assert staged.status_code == 201
        impact = reader.get("/api/v1/vulnerabilities/CVE-2024-0727/artifacts").json()
        assert [(h["digest"], h["channels"]) for h in impact] == [
            (p.base, ["golden/debian-base@prod"])
        ]
        second = admin.post(
            "/api/v1/channels/prod/promote",
            json={"ref": p.base, "reason": "again"},
        )
        assert second.status_code == 201
        back = admin.post("/api/v1/channels/prod/rollback", json={"reason": "oops"})
        assert back.status_code == 201 and back.json()["action"] == "rollback"
        history = reader.get("/api/v1/channels/prod/history").json()
        assert [h["action"] for h in history] == ["rollback", "promote", "promote"]
        at = reader.get("/api/v1/channels/prod/at", params={"time": "2000-01-01T00:00:00Z"})
        assert at.status_code == 200 and at.json() is None
        listed = reader.get("/api/v1/channels").json()
        assert {(c["repository"], c["channel"]) for c in listed} >= {
            ("golden/debian-base", "prod"),
            ("golden/nginx", "staging"),
        }
        revoked = admin.post(
            "/api/v1/revocations",
            json={"ref": p.base, "reason": "key compromised", "cascade": True},
        )
        assert revoked.status_code == 201, revoked.text
        assert set(revoked.json()["revoked"]) == {p.base, p.nginx, p.app}
        assert revoked.json()["channel_fallbacks"] >= 1
        again = admin.post(
            "/api/v1/revocations", json={"ref": p.base, "reason": "twice", "cascade": False}
        )
        assert_error(again, 400)
        now = reader.get("/api/v1/channels/prod").json()
        assert now["current"]["action"] == "fallback"
        listing = reader.get("/api/v1/revocations").json()
        assert listing["total"] == 3
        reader_revoke = reader.post(
            "/api/v1/revocations", json={"ref": p.tool, "reason": "x", "cascade": False}
        )
        assert_error(reader_revoke, 403)


# -- recording, tokens, audit ---------------------------------------------------------------


@BACKENDS
def test_builder_records_a_build_and_signature(live_server: LiveServer) -> None:
    body = {
        "digest": digest(500),
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "size": 1234,
        "name": "team/recorded",
        "tags": ["team/recorded:2.0"],
        "parents": [{"digest": live_server.planted.tool, "relation": "image"}],
        "build": {
            "recipe_name": "team/recorded",
            "recipe_version": "2.0",
            "started_at": "2026-02-01T10:00:00Z",
            "finished_at": "2026-02-01T10:03:00Z",
            "git_commit": "abcdef1234567890abcdef1234567890abcdef12",
            "host": "ci-7",
        },
        "scan": {
            "passed": True,
            "scanner_version": "1",
            "packages": 1,
            "violations": 0,
            "findings": [{"vuln_id": "CVE-2099-0001", "severity": "critical"}],
        },
        "packages": [
            {k: v for k, v in vars(deb("recorded-lib", "2.0-1")).items() if v is not None}
        ],
    }
    with live_server.client("builder") as builder, live_server.client("reader") as reader:
        first = builder.post("/api/v1/builds", json=body)
        assert first.status_code == 201, first.text
        assert first.json()["created"] is True and first.json()["audit_entry"] > 0
        second = builder.post("/api/v1/builds", json=body)
        assert second.status_code == 201 and second.json()["created"] is False
        naive = builder.post(
            "/api/v1/builds",
            json={**body, "digest": digest(501), "created_at": "2026-02-01T10:00:00"},
        )
        assert_error(naive, 422)
        extra = builder.post("/api/v1/builds", json={**body, "surprise": 1})
        assert_error(extra, 422)
        signed = signature("team/recorded", digest(500))
        sig = builder.post(f"/api/v1/artifacts/{digest(500)}/signatures", json=signed.model_dump())
        assert sig.status_code == 201, sig.text
        found = reader.get("/api/v1/packages/search", params={"name": "recorded-lib"}).json()
        assert [h["digest"] for h in found["items"]] == [digest(500)]
        impact = reader.get("/api/v1/vulnerabilities/CVE-2099-0001/artifacts").json()
        assert [h["severity"] for h in impact] == ["critical"]
        lineage = reader.get(f"/api/v1/artifacts/{digest(500)}/lineage").json()
        assert [n["distance"] for n in lineage["nodes"]] == [-1, 0]


@BACKENDS
def test_admin_manages_tokens(live_server: LiveServer) -> None:
    with live_server.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": "ci reader", "role": "reader"})
        assert made.status_code == 201
        raw = made.json()["token"]
        bad_role = admin.post("/api/v1/tokens", json={"name": "x", "role": "root"})
        assert_error(bad_role, 422)
        listed = admin.get("/api/v1/tokens")
    assert raw.startswith("bkr_")
    assert raw.split("_", 2)[2] not in listed.text  # the secret is never listed
    assert "ci reader" in listed.text
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {raw}"}) as c:
        assert c.get("/api/v1/evidence").status_code == 200
        assert_error(c.post("/api/v1/tokens", json={"name": "y", "role": "admin"}), 403)


def _token(listed: list[dict[str, Any]], token_id: str) -> dict[str, Any]:
    return next(t for t in listed if t["id"] == token_id)


@BACKENDS
def test_tokens_expire_by_default(live_server: LiveServer) -> None:
    with live_server.client("admin") as admin:
        default = admin.post("/api/v1/tokens", json={"name": "default", "role": "reader"}).json()
        lasting = admin.post(
            "/api/v1/tokens", json={"name": "lasting", "role": "reader", "no_expiry": True}
        ).json()
        at = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        week = admin.post(
            "/api/v1/tokens", json={"name": "week", "role": "reader", "expires_at": at}
        ).json()
        both = admin.post(
            "/api/v1/tokens",
            json={"name": "x", "role": "reader", "expires_at": at, "no_expiry": True},
        )
        past = admin.post(
            "/api/v1/tokens",
            json={"name": "x", "role": "reader", "expires_at": "2020-01-01T00:00:00Z"},
        )
    created = datetime.fromisoformat(default["created_at"])
    assert datetime.fromisoformat(default["expires_at"]) - created == timedelta(days=90)
    assert lasting["expires_at"] is None
    assert datetime.fromisoformat(week["expires_at"]) == datetime.fromisoformat(at)
    assert "not both" in assert_error(both, 400)["message"]
    assert "in the past" in assert_error(past, 400)["message"]


@BACKENDS
def test_admin_revokes_a_token_and_the_audit_log_records_it(live_server: LiveServer) -> None:
    with live_server.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": "leaked", "role": "builder"}).json()
        token_id = made["token"].split("_")[1]
        assert made["id"] == token_id and made["last_used_at"] is None
        assert made["revoked_at"] is None and made["revoked_by"] is None
        with httpx.Client(
            base_url=live_server.url, headers={"Authorization": f"Bearer {made['token']}"}
        ) as leaked:
            assert leaked.get("/api/v1/artifacts").status_code == 200  # now in the cache
            used = _token(admin.get("/api/v1/tokens").json(), token_id)
            assert used["last_used_at"] is not None
            assert datetime.fromisoformat(used["last_used_at"]) >= datetime.fromisoformat(
                made["created_at"]
            )
            assert leaked.get("/api/v1/evidence").status_code == 200
            again = _token(admin.get("/api/v1/tokens").json(), token_id)
            assert again["last_used_at"] == used["last_used_at"]  # not a write per request
            revoked = admin.delete(f"/api/v1/tokens/{token_id}")
            assert revoked.status_code == 200, revoked.text
            refused = leaked.get("/api/v1/artifacts")  # the very next request
            assert assert_error(refused, 401)["message"] == "the token was revoked"
        assert revoked.json()["revoked_at"] is not None
        assert revoked.json()["revoked_by"] == admin_actor(live_server)
        listed = _token(admin.get("/api/v1/tokens").json(), token_id)
        assert listed["revoked_at"] == revoked.json()["revoked_at"]
        twice = admin.delete(f"/api/v1/tokens/{token_id}")
        assert "revoked already" in assert_error(twice, 400)["message"]
        assert_error(admin.delete("/api/v1/tokens/0000000000000000"), 404)
        assert_error(admin.delete("/api/v1/tokens/not-an-id"), 422)
        entries = admin.get("/api/v1/audit/entries", params={"limit": 5}).json()["items"]
        verify = verify_now(admin)
    with live_server.client("builder") as builder:
        assert_error(builder.delete(f"/api/v1/tokens/{token_id}"), 403)
    entry = next(e for e in entries if e["kind"] == "token-revoke")
    data = json.loads(entry["data"])
    assert data["subject"] == {"token_id": token_id, "name": "leaked", "role": "builder"}
    assert [row["table"] for row in data["rows"]] == ["tokens"]
    assert verify["ok"] is True, verify["problems"]


def admin_actor(live_server: LiveServer) -> str:
    raw = live_server.tokens["admin"]
    return f"test-admin (token {raw.split('_')[1]})"


@BACKENDS
def test_a_token_revoked_by_another_process_is_refused_at_once(live_server: LiveServer) -> None:
    """Revoked through the library (as `bakery tokens revoke` does) while the service holds the
    token in its cache: the next request is refused all the same."""
    with live_server.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": "cli-revoked", "role": "reader"}).json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    with httpx.Client(base_url=live_server.url, headers=headers) as client:
        assert client.get("/api/v1/artifacts").status_code == 200
        registry = open_registry(live_server.store, live_server.database_url)
        try:
            revoke_token(registry, made["id"], actor="security")
        finally:
            registry.dispose()
        refused = client.get("/api/v1/artifacts")
    assert assert_error(refused, 401)["message"] == "the token was revoked"


@BACKENDS
def test_a_revoked_token_loses_its_ui_session(live_server: LiveServer) -> None:
    with live_server.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": "browser", "role": "reader"}).json()
        with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
            login = browser.post("/login", data={"token": made["token"], "next": "/"})
            assert login.status_code == 303 and "bakery_session" in browser.cookies
            assert browser.get("/").status_code == 200
            assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
            after = browser.get("/")
            assert after.status_code == 303 and after.headers["location"].startswith("/login")
            again = browser.post("/login", data={"token": made["token"], "next": "/"})
            assert again.status_code == 401


@BACKENDS
def test_audit_entries_proof_and_verify(live_server: LiveServer) -> None:
    with live_server.client("reader") as client:
        entries = client.get("/api/v1/audit/entries", params={"limit": 5}).json()
        proof = client.get("/api/v1/audit/entries/0/proof").json()
        beyond = client.get(f"/api/v1/audit/entries/{10**9}/proof")
    with live_server.client("admin") as admin:
        verify = verify_now(admin)
    assert entries["total"] >= 10 and len(entries["items"]) == 5
    assert entries["items"][0]["seq"] == entries["total"] - 1  # newest first
    assert verify["state"] == "done" and verify["ok"] is True and verify["problems"] == []
    assert verify["checked_size"] >= entries["total"] and len(verify["root_hash"]) == 64
    # check the proof here, independently of the server's own "verifies"
    leaf = merkle.leaf_hash(proof["data"].encode())
    assert leaf.hex() == proof["leaf_hash"]
    assert merkle.verify_inclusion(
        0,
        proof["tree_size"],
        leaf,
        [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(proof["root_hash"]),
    )
    assert proof["verifies"] is True and "\n\n" in proof["checkpoint"]
    assert_error(beyond, 400)


# -- hostile input ----------------------------------------------------------------------------


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation.get("parameters", [])


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: values.get(m.group(1), "x"), path)


@BACKENDS
def test_sql_injection_in_every_parameter(live_server: LiveServer, spec: dict[str, Any]) -> None:
    """Every query and path parameter of every GET operation gets every injection string:
    each answer is a 2xx or a 4xx in the error shape, and the data is still there."""
    p = live_server.planted
    defaults = {"digest": p.base, "channel": "prod", "vuln_id": "CVE-2024-0727", "seq": "0",
                "ref": "golden/debian-base:12"}  # fmt: skip
    tried = 0
    with live_server.client("admin") as client:
        before = client.get("/api/v1/artifacts").json()["total"]
        for method, path, params in _operations(spec):
            if method != "GET":
                continue
            for param in params:
                for payload in INJECTIONS:
                    if param["in"] == "path":
                        values = {**defaults, param["name"]: quote(payload, safe="")}
                        url, query = _fill(path, values), {}
                    else:
                        url = _fill(path, defaults)
                        query = {param["name"]: payload}
                        if "packages/search" in path and param["name"] != "name":
                            query.setdefault("name", "openssl")
                    response = client.get(url, params=query)
                    tried += 1
                    assert response.status_code < 500, (url, query, response.text[:300])
                    if response.status_code >= 400 and response.status_code != 404:
                        assert_error(response, response.status_code)
        assert client.get("/api/v1/artifacts").json()["total"] == before
        assert client.get("/api/v1/packages/search", params={"name": "openssl"}).json()["total"]
    assert tried > 200


@BACKENDS
def test_injection_in_bodies(live_server: LiveServer) -> None:
    with live_server.client("admin") as client:
        for payload in INJECTIONS:
            for path, body in (
                ("/api/v1/channels/prod/promote", {"ref": payload, "reason": payload}),
                ("/api/v1/channels/prod/rollback", {"repository": payload, "reason": payload}),
                ("/api/v1/revocations", {"ref": payload, "reason": payload}),
                ("/api/v1/tokens", {"name": payload, "role": "reader"}),
            ):
                response = client.post(path, json=body)
                assert_error(response, 400, 404, 409, 422)
        assert verify_now(client)["ok"] is True


@BACKENDS
def test_path_traversal_in_refs(live_server: LiveServer) -> None:
    with live_server.client("admin") as client:
        for evil in TRAVERSALS:
            for url in (
                f"/api/v1/refs/{evil}",
                f"/api/v1/artifacts/{evil}",
                f"/api/v1/artifacts/{evil}/lineage",
                f"/api/v1/channels/{evil}/history",
                f"/static/{evil}",
                f"/static/../../{evil}",
            ):
                response = client.get(url)
                assert response.status_code in (400, 404, 422), (url, response.status_code)
                assert "root:x:0:0" not in response.text and "[fonts]" not in response.text
            promote = client.post(
                "/api/v1/channels/prod/promote", json={"ref": evil, "reason": "traversal"}
            )
            assert_error(promote, 400, 404)
        # the raw request line, unnormalised by any client
        for raw_path in ("/static/../../../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd"):
            status, body = _raw(live_server.url, f"GET {raw_path} HTTP/1.1\r\n")
            assert status in (400, 404), (raw_path, status)
            assert b"root:x:0:0" not in body


def _raw(url: str, head: str, body: bytes = b"", *, close: bool = True) -> tuple[int, bytes]:
    """Send a hand-made request; (status, whole response)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=20) as sock:
        request = head + f"Host: {parts.netloc}\r\n" + ("Connection: close\r\n" if close else "")
        sock.sendall(request.encode() + b"\r\n" + body)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    response = b"".join(chunks)
    return int(response.split(b" ", 2)[1]), response


@BACKENDS
def test_oversized_bodies_get_413_unread(live_server: LiveServer) -> None:
    token = live_server.tokens["builder"]
    auth = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    # declared: 1 GB announced, 10 bytes sent; the answer comes without reading the rest
    status, response = _raw(
        live_server.url,
        f"POST /api/v1/builds HTTP/1.1\r\n{auth}Content-Length: 1000000000\r\n",
        b'{"digest":',
    )
    assert status == 413 and b"body_too_large" in response
    # streamed: chunked, no length, passes the 1 MiB limit
    chunk = b"x" * 65536
    stream = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 20 + b"0\r\n\r\n"
    status, response = _raw(
        live_server.url,
        f"POST /api/v1/builds HTTP/1.1\r\n{auth}Transfer-Encoding: chunked\r\n",
        stream,
    )
    assert status == 413 and b"body_too_large" in response
    # unauthenticated and oversized: still 413 first (nothing is parsed)
    status, _ = _raw(
        live_server.url, "POST /api/v1/tokens HTTP/1.1\r\nContent-Length: 99999999999\r\n"
    )
    assert status == 413
    # a body just under the limit is parsed (and refused for what it says, not its size)
    with live_server.client("builder") as client:
        big = client.post("/api/v1/builds", content=b"[" + b"1," * 400_000 + b"1]",
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(big, 422)


@BACKENDS
def test_client_records_facts_and_8_concurrent_writers_lose_nothing(
    live_server: LiveServer,
) -> None:
    """What `bake --registry-url` would send, through RegistryClient; then 8 writers at once."""
    fact = ArtifactFact(
        digest=digest(600),
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=1,
        name="team/client",
        tags=("team/client:1",),
        parents=(ParentFact(digest=live_server.planted.tool, relation="image"),),
        packages=(deb("client-lib", "1.0-1"),),
        scan=ScanFact(
            passed=True,
            scanner_version="1",
            vulnerability_db=None,
            packages=1,
            violations=0,
            findings=(FindingFact(vuln_id="CVE-2099-7", severity="low", aliases=("X-1",)),),
        ),
    )
    with RegistryClient(live_server.url, live_server.tokens["builder"]) as client:
        assert client.record(fact).created is True
        assert client.record(fact).created is False
    with (
        RegistryClient(live_server.url, live_server.tokens["reader"]) as reader,
        pytest.raises(AuthError),
    ):
        reader.record(fact)
    with (
        RegistryClient(f"http://127.0.0.1:{free_port()}", "x") as nowhere,
        pytest.raises(RegistryDBError),
    ):
        nowhere.record(fact)

    def writer(n: int) -> list[bool]:
        with RegistryClient(live_server.url, live_server.tokens["builder"]) as client:
            return [
                client.record(
                    ArtifactFact(
                        digest=digest(10_000 + n * 100 + i),
                        media_type="application/vnd.oci.image.manifest.v1+json",
                        size=i,
                        name=f"load/w{n}",
                        tags=(f"load/w{n}:{i}",),
                        packages=(deb("shared-lib", f"1.{i}-1"),),
                    )
                ).created
                for i in range(6)
            ]

    with live_server.client("reader") as reader_client:
        before = reader_client.get("/api/v1/audit/entries", params={"limit": 1}).json()["total"]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(writer, range(8)))
        assert all(all(r) for r in results)
        found = reader_client.get("/api/v1/packages/search", params={"name": "shared-lib"}).json()
        assert found["total"] == 48
        after = reader_client.get("/api/v1/audit/entries", params={"limit": 1}).json()["total"]
        assert after == before + 48
    with live_server.client("admin") as admin:
        assert verify_now(admin)["ok"] is True


@BACKENDS
def test_secrets_never_logged_and_no_server_error(live_server: LiveServer) -> None:
    """Runs last in its backend: the log holds access lines, but no token and no 5xx."""
    tokens = live_server.tokens
    with live_server.client("admin") as client:
        client.get("/api/v1/artifacts", params={"name": "golden/nginx"})
        client.post("/login", data={"token": tokens["reader"], "next": "/"})
        client.get("/api/v1/artifacts", headers={"Authorization": "Bearer " + tokens["expired"]})
        client.get("/api/v1/artifacts", headers={"Authorization": "Bearer " + tokens["revoked"]})
    log = live_server.log_text()
    access = [line for line in log.splitlines() if "bakery.server.access" in line]
    assert len(access) > 100, log[-2000:]
    for raw in tokens.values():
        secret = raw.split("_", 2)[2]
        assert raw not in log and secret not in log
    assert "Bearer" not in log and "authorization" not in log.lower()
    server_errors = [line for line in access if re.search(r'" 5\d\d ', line)]
    assert server_errors == [], server_errors
    assert "Traceback" not in log and "internal error" not in log
    if live_server.database_url is None:
        db = (live_server.store / "bakery.db").read_bytes()
        wal = live_server.store / "bakery.db-wal"
        stored = db + (wal.read_bytes() if wal.exists() else b"")
        for raw in tokens.values():
            assert raw.split("_", 2)[2].encode() not in stored  # only hashes are kept
        assert json.dumps(tokens["reader"]).encode() not in stored
