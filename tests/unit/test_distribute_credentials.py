"""Credentials from the environment, Docker's config.json and credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from bakery.distribute.credentials import Credentials, resolve_credentials
from bakery.errors import AuthError

HOST = "127.0.0.1:5000"


def _config(home: Path, document: dict[str, object]) -> None:
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    (home / ".docker" / "config.json").write_text(json.dumps(document))


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on PATH for fake docker-credential-* helpers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def _helper(bin_dir: Path, name: str, script: str) -> Path:
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_nothing_configured_is_anonymous(tmp_path: Path) -> None:
    assert resolve_credentials(HOST, environ={}, home=tmp_path) is None


def test_environment_wins(tmp_path: Path) -> None:
    _config(tmp_path, {"auths": {HOST: {"auth": _auth("docker", "x")}}})
    env = {"BAKERY_REGISTRY_USERNAME": "ci", "BAKERY_REGISTRY_PASSWORD": "s3cret"}
    assert resolve_credentials(HOST, environ=env, home=tmp_path) == Credentials("ci", "s3cret")


def test_auths_base64_and_key_forms(tmp_path: Path) -> None:
    _config(
        tmp_path,
        {
            "auths": {
                f"https://{HOST}/v1/": {"auth": _auth("alice", "pa:ss")},
                "other.io": {"username": "bob", "password": "pw"},
            }
        },
    )
    assert resolve_credentials(HOST, environ={}, home=tmp_path) == Credentials("alice", "pa:ss")
    assert resolve_credentials("other.io", environ={}, home=tmp_path) == Credentials("bob", "pw")
    assert resolve_credentials("third.io", environ={}, home=tmp_path) is None


def test_docker_config_env_dir(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps({"auths": {HOST: {"auth": _auth("d", "c")}}}))
    creds = resolve_credentials(HOST, environ={"DOCKER_CONFIG": str(conf)}, home=tmp_path / "no")
    assert creds == Credentials("d", "c")


def test_malformed_auth_entry(tmp_path: Path) -> None:
    _config(tmp_path, {"auths": {HOST: {"auth": base64.b64encode(b"nocolon").decode()}}})
    with pytest.raises(AuthError, match="not base64 of user:password"):
        resolve_credentials(HOST, environ={}, home=tmp_path)


def test_malformed_config(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(AuthError, match="cannot read the Docker config"):
        resolve_credentials(HOST, environ={}, home=tmp_path)


def test_cred_helper_for_host(tmp_path: Path, helper_dir: Path) -> None:
    log = tmp_path / "asked"
    _helper(
        helper_dir,
        "fake",
        f'read host; echo "$1 $host" > {log}\n'
        'printf \'{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\' "$host"\n',
    )
    _config(
        tmp_path,
        {"credHelpers": {HOST: "fake"}, "auths": {HOST: {"auth": _auth("file", "user")}}},
    )
    creds = resolve_credentials(HOST, environ={}, home=tmp_path)
    assert creds == Credentials("helper-user", "helper-secret")
    assert log.read_text().strip() == f"get {HOST}"


def test_creds_store_not_found_falls_back_to_auths(tmp_path: Path, helper_dir: Path) -> None:
    _helper(helper_dir, "store", "echo 'credentials not found in native keychain'; exit 1\n")
    _config(tmp_path, {"credsStore": "store", "auths": {HOST: {"auth": _auth("file", "pw")}}})
    assert resolve_credentials(HOST, environ={}, home=tmp_path) == Credentials("file", "pw")


def test_failing_helper_is_one_clear_error(tmp_path: Path, helper_dir: Path) -> None:
    _helper(helper_dir, "broken", "echo 'keyring locked' >&2; exit 3\n")
    _config(tmp_path, {"credsStore": "broken"})
    with pytest.raises(AuthError) as caught:
        resolve_credentials(HOST, environ={}, home=tmp_path)
    assert "docker-credential-broken failed" in caught.value.message
    assert "keyring locked" in caught.value.message
    assert "\n" not in caught.value.one_line()


def test_missing_helper_names_it(tmp_path: Path, helper_dir: Path) -> None:
    _config(tmp_path, {"credHelpers": {HOST: "nonexistent"}})
    with pytest.raises(Exception, match="docker-credential-nonexistent"):
        resolve_credentials(HOST, environ={}, home=tmp_path)


def test_secret_never_in_repr() -> None:
    creds = Credentials("user", "hunter2")
    assert "hunter2" not in repr(creds)
    assert creds.basic() == "Basic " + _auth("user", "hunter2")


def test_identity_tokens_from_auths_and_helpers(tmp_path: Path, helper_dir: Path) -> None:
    """An ``identitytoken`` (OAuth2 logins) wins over the ``<token>:`` placeholder auth; a
    helper signals one with the user name ``<token>``."""
    entry = {"auth": _auth("<token>", ""), "identitytoken": "refresh-1"}
    _config(tmp_path, {"auths": {HOST: entry}})
    found = resolve_credentials(HOST, environ={}, home=tmp_path)
    assert found is not None and found.identity_token == "refresh-1" and found.password == ""
    assert "refresh-1" not in repr(found)
    _helper(helper_dir, "oauth", 'printf \'{"Username":"<token>","Secret":"refresh-2"}\'\n')
    _config(tmp_path, {"credHelpers": {HOST: "oauth"}})
    helped = resolve_credentials(HOST, environ={}, home=tmp_path)
    assert helped is not None and helped.identity_token == "refresh-2"
