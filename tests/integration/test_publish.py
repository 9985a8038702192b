"""`bakery bake` publishes: it signs, records and pushes what it made (bakery/publish.py).

Real parts: docker-registry for --push, the real cosign verifying the pushed signature, the
store's SQLite registry and a live `bakery serve` for --registry-url.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bakery.registry.db import open_registry
from bakery.registry.tokens import create_token
from tests.conftest import RECIPES, bakery, require_tools
from tests.integration.conftest import SDE
from tests.integration.registry_fixtures import Registry, start_registry
from tests.integration.server_fixtures import start_server, stop_server

HELLO = "golden/static-hello"


@pytest.fixture
def oci_registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    try:
        yield running
    finally:
        running.stop()


def _recipes(tmp_path: Path) -> Path:
    """The scratch example (fast: no Debian base) and a child built on its image."""
    directory = tmp_path / "recipes"
    shutil.copytree(RECIPES, directory, ignore=shutil.ignore_patterns("*.lock"))
    (directory / "child.yaml").write_text(
        "apiVersion: bakery.dev/v1\nname: test/child\nversion: '1'\n"
        f"base: {{image: '{HELLO}:1.0'}}\n"
        "steps:\n  - labels: {role: child}\n"
    )
    return directory


def _bake(*args: str | Path, store: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = bakery("bake", *args, "--store", store, "--json", env={**SDE, **(env or {})})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_bake_is_signed_recorded_and_pushed(tmp_path: Path, oci_registry: Registry) -> None:
    require_tools("cosign")
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    dest = f"{oci_registry.host}/golden/hello"

    result = _bake(recipes / "static-hello.yaml", "--push", dest, store=store)
    (published,) = result["published"]
    assert published["digest"] == result["digest"]
    assert published["development_key"] is True and published["signed_with"]
    assert len(published["predicate_types"]) == 3  # provenance, SBOM, scan
    assert published["audit_entry"] is not None
    assert published["pushed_to"] == f"{dest}:1.0" and published["blobs_pushed"] > 0
    assert (store / "keys" / "cosign.key").stat().st_mode & 0o777 == 0o600

    verified = bakery(
        "verify", f"{HELLO}:1.0", "--store", store, "--key", store / "keys" / "cosign.pub"
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    cosign = subprocess.run(
        [
            "cosign",
            "verify",
            "--key",
            str(store / "keys" / "cosign.pub"),
            "--insecure-ignore-tlog",
            "--allow-insecure-registry",
            f"{dest}@{result['digest']}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cosign.returncode == 0, cosign.stderr

    builds = json.loads(bakery("query", "builds", HELLO, "--store", store, "--json").stdout)
    assert [b["digest"] for b in builds] == [result["digest"]]

    again = _bake(recipes / "static-hello.yaml", "--push", dest, store=store)
    assert again["digest"] == result["digest"]
    # the image, its SBOMs and signature were there already; only the re-bake's fresh
    # attestations travel: 3 DSSE envelopes (ECDSA signatures differ each time) + the new
    # .att image config that lists them
    assert again["published"][0]["blobs_pushed"] == 4
    registry_db = open_registry(store)
    try:
        from bakery.registry import models as m

        with registry_db.read() as session:
            rows = session.query(m.Signature).count()
    finally:
        registry_db.dispose()
    assert rows == 4  # one signature and three attestations, not doubled by the re-bake


def test_a_revoked_base_is_refused(tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    _bake(recipes / "static-hello.yaml", store=store)
    assert _bake(recipes / "child.yaml", store=store)["base"]["name"] == f"{HELLO}:1.0"

    pub = store / "keys" / "cosign.pub"
    assert bakery("verify", f"{HELLO}:1.0", "--store", store, "--key", pub).returncode == 0
    revoked = bakery("revoke", f"{HELLO}:1.0", "--reason", "leaked key", "--store", store)
    assert revoked.returncode == 0, revoked.stderr
    verified = bakery("verify", "test/child:1", "--store", store, "--key", pub)
    assert verified.returncode == 1  # its base is revoked
    assert "revocation: revoked in the metadata registry" in verified.stderr
    for extra in ((), ("--no-record",)):  # --no-record records nothing, but still asks
        refused = bakery(
            "bake", recipes / "child.yaml", "--store", store, "--no-cache", *extra, env=SDE
        )
        assert refused.returncode == 2, refused.stderr
        assert "is revoked (leaked key" in refused.stderr and "Traceback" not in refused.stderr


def test_no_record_without_a_registry_warns_that_revocation_was_not_checked(
    tmp_path: Path,
) -> None:
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    _bake(recipes / "static-hello.yaml", "--no-record", store=store)
    child = bakery("bake", recipes / "child.yaml", "--store", store, "--no-record", env=SDE)
    assert child.returncode == 0, child.stderr
    assert f"base {HELLO}:1.0 was not checked for revocation" in child.stderr
    assert not (store / "bakery.db").exists()


def test_a_base_must_be_signed_by_the_keys_the_recipe_names(tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    _bake(recipes / "static-hello.yaml", store=store)
    shutil.copy(store / "keys" / "cosign.pub", recipes / "ours.pub")
    other = bakery(
        "keys", "generate", "--output-dir", tmp_path / "other", env={"COSIGN_PASSWORD": ""}
    )
    assert other.returncode == 0, other.stderr
    shutil.copy(tmp_path / "other" / "cosign.pub", recipes / "theirs.pub")
    child = (recipes / "child.yaml").read_text()

    (recipes / "child.yaml").write_text(child.replace("'}", "', signedBy: [theirs.pub]}"))
    refused = bakery("bake", recipes / "child.yaml", "--store", store, env=SDE)
    assert refused.returncode == 1, refused.stderr
    assert "is not signed as the recipe demands" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "test/child:1" not in bakery("images", "--store", store).stdout

    (recipes / "child.yaml").write_text(child.replace("'}", "', signedBy: [theirs.pub, ours.pub]}"))
    _bake(recipes / "child.yaml", store=store)

    (recipes / "child.yaml").write_text(child.replace("'}", "', signedBy: [missing.pub]}"))
    missing = bakery("bake", recipes / "child.yaml", "--store", store, env=SDE)
    assert missing.returncode == 2 and "child.yaml:4:" in missing.stderr, missing.stderr


def test_no_sign_and_no_record(tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    result = _bake(
        _recipes(tmp_path) / "static-hello.yaml", "--no-sign", "--no-record", store=store
    )
    assert result["published"][0]["signed_with"] is None
    assert result["published"][0]["audit_entry"] is None
    assert not (store / "keys").exists() and not (store / "bakery.db").exists()


def test_registry_url_records_on_a_running_service(tmp_path: Path) -> None:
    served = tmp_path / "served" / ".bakery"
    registry_db = open_registry(served)
    try:
        builder, _ = create_token(registry_db, "ci", "builder", actor="test")
        admin, _ = create_token(registry_db, "security", "admin", actor="test")
    finally:
        registry_db.dispose()
    proc, url, _log = start_server(served, None)
    try:
        store = tmp_path / ".bakery"
        recipes = _recipes(tmp_path)
        recipe = recipes / "static-hello.yaml"
        missing = bakery("bake", recipe, "--store", store, "--registry-url", url, env=SDE)
        assert missing.returncode == 2 and "BAKERY_REGISTRY_TOKEN" in missing.stderr

        env = {"BAKERY_REGISTRY_TOKEN": builder}
        # the service trusts no key yet: it records the build, and refuses the signatures
        untrusted = bakery(
            "bake", recipe, "--store", store, "--registry-url", url, "--json", env={**SDE, **env}
        )
        assert untrusted.returncode == 2, untrusted.stderr
        assert "no key is trusted for golden/static-hello" in untrusted.stderr
        assert "Traceback" not in untrusted.stderr
        import httpx

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as api:
            # recorded, with a scan the build claims passed: no evidence, so not promotable
            listed = api.get("/api/v1/artifacts", params={"name": "golden/static-hello"}).json()
            digest = listed["items"][0]["digest"]
            refused = api.post("/api/v1/channels/prod/promote", json={"ref": digest, "reason": "x"})
            assert refused.status_code == 409, refused.text
            assert "no key is trusted for golden/static-hello" in refused.json()["error"]["message"]
            pem = (store / "keys" / "cosign.pub").read_text()
            body = {"public_key": pem, "pattern": "*"}
            assert api.post("/api/v1/trusted-keys", json=body).status_code == 201
        result = _bake(recipe, "--registry-url", url, store=store, env=env)
        assert not (store / "bakery.db").exists()  # recorded there, not here

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {builder}"}) as api:
            artifact = api.get(f"/api/v1/artifacts/{result['digest']}")
            assert artifact.status_code == 200, artifact.text
            signatures = api.get(f"/api/v1/artifacts/{result['digest']}/signatures").json()
        assert sorted(s["kind"] for s in signatures) == ["attestation"] * 3 + ["signature"]
        assert all(s["verified_at"] for s in signatures)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as api:
            promoted = api.post(
                "/api/v1/channels/prod/promote", json={"ref": result["digest"], "reason": "ok"}
            )
            assert promoted.status_code == 201, promoted.text
        _bake(recipe, "--registry-url", url, store=store, env=env)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {builder}"}) as api:
            assert len(api.get(f"/api/v1/artifacts/{result['digest']}/signatures").json()) == 4

        wrong = bakery(
            "bake",
            recipe,
            "--store",
            store,
            "--registry-url",
            url,
            env={**SDE, "BAKERY_REGISTRY_TOKEN": "bk_wrong"},
        )
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
        assert len(wrong.stderr.strip().splitlines()[-1]) < 300

        # the service is the source of truth: a base revoked there is refused, though the
        # local store has no database to know it from
        child = ["bake", recipes / "child.yaml", "--store", store, "--registry-url", url]
        assert bakery(*child, env={**SDE, **env}).returncode == 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as api:
            body = {"ref": result["digest"], "reason": "leaked key"}
            assert api.post("/api/v1/revocations", json=body).status_code == 201
        refused = bakery(*child, "--no-cache", env={**SDE, **env})
        assert refused.returncode == 2, refused.stderr
        assert "is revoked (leaked key" in refused.stderr and "Traceback" not in refused.stderr
        assert not (store / "bakery.db").exists()
    finally:
        stop_server(proc)


def _tag_points_at(store: Path, ref: str) -> str:
    from bakery.oci.layout import OCILayout

    return OCILayout.open(store / "oci").resolve(ref).digest


def test_an_immutable_tag_is_not_moved_by_a_bake(tmp_path: Path) -> None:
    """The rule is checked before anything is tagged: the store's tag stays where it was."""
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    recipe = recipes / "static-hello.yaml"
    first = _bake(recipe, store=store)
    added = bakery("tag-rules", "add", "golden/static-hello:1.*", "--store", store)
    assert added.returncode == 0, added.stderr
    assert _bake(recipe, store=store)["digest"] == first["digest"]  # same image: no move
    recipe.write_text(recipe.read_text().replace("platform}", "platform, changed: 'yes'}", 1))
    moved = bakery("bake", recipe, "--store", store, env=SDE)
    assert moved.returncode != 0, moved.stderr
    assert "immutable tag would move: golden/static-hello:1.0" in moved.stderr
    assert "Traceback" not in moved.stderr
    assert _tag_points_at(store, f"{HELLO}:1.0") == first["digest"]


def test_a_revoked_parent_is_not_signed_or_recorded_again(tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    recipes = _recipes(tmp_path)
    (recipes / "child.yaml").write_text(
        (recipes / "child.yaml")
        .read_text()
        .replace(f"{{image: '{HELLO}:1.0'}}", f"{{recipe: {HELLO}}}")
    )
    _bake(recipes / "child.yaml", store=store)
    revoked = bakery("revoke", f"{HELLO}:1.0", "--reason", "bad", "--store", store)
    assert revoked.returncode == 0, revoked.stderr
    registry_db = open_registry(store)
    try:
        with registry_db.read() as session:
            from bakery.registry import models as m

            entries = session.query(m.AuditEntry).count()
    finally:
        registry_db.dispose()
    index = (store / "oci" / "index.json").read_bytes()
    refused = bakery("bake", recipes / "child.yaml", "--store", store, "--no-cache", env=SDE)
    assert refused.returncode == 2, refused.stderr
    assert "is revoked (bad" in refused.stderr and "Traceback" not in refused.stderr
    assert "sign" not in [line.split()[2] for line in refused.stderr.splitlines() if "✓" in line]
    assert (store / "oci" / "index.json").read_bytes() == index  # no tag, no signature moved
    registry_db = open_registry(store)
    try:
        with registry_db.read() as session:
            assert session.query(m.AuditEntry).count() == entries
    finally:
        registry_db.dispose()
