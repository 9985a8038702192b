"""Auth against the real registry: htpasswd Basic, the Bearer token flow with refresh, and
credentials from the environment, Docker's config.json and a credential helper."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest

from bakery.distribute.client import RegistryClient
from bakery.distribute.credentials import Credentials, resolve_credentials
from bakery.distribute.reference import Reference
from bakery.distribute.transfer import pull, push
from bakery.oci.layout import OCILayout
from tests.conftest import bakery
from tests.integration.registry_fixtures import (
    PASSWORD,
    REFRESH_TOKEN,
    USER,
    Registry,
    basic_registry,
    make_image,
    token_registry,
)

__all__ = ["basic_registry", "token_registry"]  # the fixtures, imported explicitly

GOOD = {"BAKERY_REGISTRY_USERNAME": USER, "BAKERY_REGISTRY_PASSWORD": PASSWORD}
WRONG = {"BAKERY_REGISTRY_USERNAME": USER, "BAKERY_REGISTRY_PASSWORD": "not-the-password"}


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No ambient credentials: an empty HOME and DOCKER_CONFIG, plus ``extra``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "BAKERY_REGISTRY_USERNAME": "",
        "BAKERY_REGISTRY_PASSWORD": "",
        **extra,
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    make_image(OCILayout.open(root / "oci"), "test/app:1", [2000, 300_000])
    return root


def _assert_one_line_error(stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_basic_auth_push_with_env_credentials(
    basic_registry: Registry, store: Path, tmp_path: Path
) -> None:
    dest = basic_registry.ref("team/app:1")
    done = bakery("push", "test/app:1", dest, "--store", store, env=_clean_env(tmp_path, **GOOD))
    assert done.returncode == 0, done.stderr
    assert "pushed" in done.stdout


def test_basic_auth_wrong_and_missing_credentials_are_one_line(
    basic_registry: Registry, store: Path, tmp_path: Path
) -> None:
    dest = basic_registry.ref("team/app:1")
    wrong = bakery("push", "test/app:1", dest, "--store", store, env=_clean_env(tmp_path, **WRONG))
    assert wrong.returncode == 2
    _assert_one_line_error(
        wrong.stderr,
        f"registry {basic_registry.host} refused the credentials for team/app (401)",
        "hint:",
    )
    assert "not-the-password" not in wrong.stderr

    missing = bakery("push", "test/app:1", dest, "--store", store, env=_clean_env(tmp_path))
    assert missing.returncode == 2
    _assert_one_line_error(
        missing.stderr, f"registry {basic_registry.host} requires credentials", "docker login"
    )


def test_docker_config_auths_and_credential_helper(
    basic_registry: Registry, store: Path, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path)
    docker_dir = Path(env["DOCKER_CONFIG"])
    docker_dir.mkdir(parents=True)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker_dir / "config.json").write_text(
        json.dumps({"auths": {basic_registry.host: {"auth": auth}}})
    )
    dest = basic_registry.ref("team/app:1")
    assert bakery("push", "test/app:1", dest, "--store", store, env=env).returncode == 0

    # a credential helper wins over auths (whose password is now wrong)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        f'printf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}\' "$host"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    bad = base64.b64encode(f"{USER}:stale".encode()).decode()
    (docker_dir / "config.json").write_text(
        json.dumps(
            {
                "auths": {basic_registry.host: {"auth": bad}},
                "credHelpers": {basic_registry.host: "testhelper"},
            }
        )
    )
    env["PATH"] = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    pulled = bakery("pull", dest, "--store", tmp_path / "pulled", env=env)
    assert pulled.returncode == 0, pulled.stderr


def test_bearer_token_flow_push_and_pull(token_registry: Registry, tmp_path: Path) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    layout = OCILayout.open(tmp_path / "store" / "oci")
    image = make_image(layout, "test/app:1", [1000, 200_000])
    dest = Reference.parse(token_registry.ref("team/app:1"))
    with RegistryClient(token_registry.host, credentials=Credentials(USER, PASSWORD)) as client:
        result = push(layout, "test/app:1", dest, client)
        assert result.blobs_pushed == 3
        fetched = client.auth.tokens_fetched
        assert fetched >= 1
        scopes = {s for query in tokens.requests for s in query.get("scope", [])}
        assert "repository:team/app:pull,push" in scopes
        assert all(query["service"] == ["bakery-test-registry"] for query in tokens.requests)

        other = OCILayout.open(tmp_path / "other" / "oci")
        assert pull(dest, other, client).digest == image.digest
        assert other.check() == []


def test_identity_token_from_docker_config(token_registry: Registry, tmp_path: Path) -> None:
    """`docker login` to an OAuth2 registry keeps an identitytoken: bakery trades it for
    access tokens with a refresh-token grant (POST), and never sends a password."""
    tokens = token_registry.token_server
    assert tokens is not None
    layout = OCILayout.open(tmp_path / "store" / "oci")
    make_image(layout, "test/app:1", [1000])
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    entry = {"auth": base64.b64encode(b"<token>:").decode(), "identitytoken": REFRESH_TOKEN}
    config.write_text(json.dumps({"auths": {token_registry.host: entry}}))
    env = {"DOCKER_CONFIG": str(config.parent)}
    credentials = resolve_credentials(token_registry.host, environ=env, home=tmp_path)
    assert credentials is not None and credentials.identity_token == REFRESH_TOKEN
    pushed = bakery(
        "push", "test/app:1", token_registry.ref("team/app:1"), "--store", tmp_path / "store",
        env=env,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    grants = [r for r in tokens.requests if "grant_type" in r]
    assert grants and all(r["client_id"] == ["bakery"] for r in grants)
    assert any("repository:team/app:pull,push" in r["scope"][0].split() for r in grants)

    entry["identitytoken"] = "revoked"
    config.write_text(json.dumps({"auths": {token_registry.host: entry}}))
    refused = bakery(
        "pull", token_registry.ref("team/app:1"), "--store", tmp_path / "other", env=env
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "revoked" not in refused.stderr  # the token is never shown


def test_bearer_token_refreshed_after_the_registry_expires_it(
    token_registry: Registry, tmp_path: Path
) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    tokens.jwt_seconds = 3  # the registry stops accepting each token after ~3 s ...
    tokens.reported_seconds = 3600  # ... though the client is told it lasts an hour
    layout = OCILayout.open(tmp_path / "store" / "oci")
    make_image(layout, "test/app:1", [1000])
    make_image(layout, "test/app:2", [1500], seed=3)
    with RegistryClient(token_registry.host, credentials=Credentials(USER, PASSWORD)) as client:
        push(layout, "test/app:1", Reference.parse(token_registry.ref("team/app:1")), client)
        first = client.auth.tokens_fetched
        time.sleep(4.5)
        result = push(
            layout, "test/app:2", Reference.parse(token_registry.ref("team/app:2")), client
        )
        assert result.blobs_pushed == 2
        assert client.auth.tokens_fetched > first  # a 401 made it fetch a fresh token


def test_bearer_token_renewed_when_its_expires_in_runs_out(
    token_registry: Registry, tmp_path: Path
) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    tokens.reported_seconds = 6
    layout = OCILayout.open(tmp_path / "store" / "oci")
    make_image(layout, "test/app:1", [1000])
    ref = Reference.parse(token_registry.ref("team/app:1"))
    with RegistryClient(token_registry.host, credentials=Credentials(USER, PASSWORD)) as client:
        push(layout, "test/app:1", ref, client)
        assert client.tags("team/app") == ["1"]
        fetched, requests = client.auth.tokens_fetched, client.requests
        assert client.tags("team/app") == ["1"]
        assert client.auth.tokens_fetched == fetched  # cached
        time.sleep(6.0)  # past 90 % of the 6 s the client was told
        assert client.tags("team/app") == ["1"]
        assert client.auth.tokens_fetched == fetched + 1  # renewed up front ...
        assert client.requests == requests + 2  # ... so no 401 round trip


def test_bearer_wrong_credentials_one_line(
    token_registry: Registry, store: Path, tmp_path: Path
) -> None:
    dest = token_registry.ref("team/app:1")
    done = bakery("push", "test/app:1", dest, "--store", store, env=_clean_env(tmp_path, **WRONG))
    assert done.returncode == 2
    _assert_one_line_error(
        done.stderr, f"registry {token_registry.host} refused the credentials for team/app (401)"
    )
