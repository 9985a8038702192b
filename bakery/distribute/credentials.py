"""Where registry credentials come from: the environment, then Docker's ``config.json``.

Resolution for one registry host, first match wins:

1. ``BAKERY_REGISTRY_USERNAME`` / ``BAKERY_REGISTRY_PASSWORD`` (both set);
2. ``credHelpers[host]``, else ``credsStore``: ``docker-credential-<name> get`` with the host on
   stdin (run through :mod:`bakery.proc`); "credentials not found" falls through;
3. ``auths[host].auth`` (base64 ``user:password``) or ``auths[host].username/password``; an
   ``auths[host].identitytoken`` (what ``docker login`` keeps for registries with OAuth2
   logins, e.g. Azure) is a refresh token for the token server, used instead of a password.
   A helper's answer with the user name ``<token>`` is one too.

``config.json`` is read from ``$DOCKER_CONFIG`` or ``~/.docker``. The environment and the home
directory are passed in by the caller (the CLI): library code reads neither. Secrets never
appear in a repr or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakery import proc
from bakery.errors import AuthError

ENV_USERNAME = "BAKERY_REGISTRY_USERNAME"
ENV_PASSWORD = "BAKERY_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
HELPER_PREFIX = "docker-credential-"
#: the user name Docker and its credential helpers give an identity token
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - a marker, not a secret
#: what docker-credential-helpers print when they have nothing for a server
_NOT_FOUND = "credentials not found"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or token) for one registry; the secret is never shown."""

    username: str
    password: str = field(repr=False)
    #: an OAuth2 refresh token for the registry's token server (Docker's ``identitytoken``)
    identity_token: str | None = field(default=None, repr=False)

    def basic(self) -> str:
        """The value of an ``Authorization: Basic`` header."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def docker_config_path(environ: Mapping[str, str], home: Path) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = environ.get("DOCKER_CONFIG")
    return (Path(base) if base else home / ".docker") / "config.json"


def _host_key(key: str) -> str:
    """``https://host:port/v1/`` → ``host:port`` (``auths`` keys are written many ways)."""
    key = key.partition("://")[2] if "://" in key else key
    return key.partition("/")[0]


def _load_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AuthError(
            f"cannot read the Docker config {path}: {exc}",
            hint="fix or remove the file, or set BAKERY_REGISTRY_USERNAME/PASSWORD",
        ) from exc
    if not isinstance(data, dict):
        raise AuthError(f"the Docker config {path} is not a JSON object")
    return data


def _from_auths(config: Mapping[str, Any], host: str, path: Path) -> Credentials | None:
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    entry = next((v for k, v in auths.items() if _host_key(k) == host), None)
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        return Credentials(IDENTITY_TOKEN_USER, "", identity_token=entry["identitytoken"])
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, sep, password = "", "", ""
        if not sep:
            raise AuthError(
                f"the 'auth' entry for {host} in {path} is not base64 of user:password",
                hint=f"run `docker login {host}` again",
            )
        return Credentials(user, password)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"])
    return None


def run_helper(helper: str, host: str) -> Credentials | None:
    """Ask ``docker-credential-<helper>`` for ``host``; None when it has nothing for it."""
    argv = [HELPER_PREFIX + helper, "get"]
    done = proc.run(argv, input=host.encode(), check=False, timeout=30)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()
        if _NOT_FOUND in said.lower():
            return None
        raise AuthError(
            f"credential helper {argv[0]} failed for {host} (exit {done.returncode}): "
            f"{proc.tail(done.stderr.strip(), 1) or 'no message'}",
            hint="check the helper works: echo HOST | " + " ".join(argv),
        )
    try:
        answer = json.loads(done.stdout)
        user, secret = str(answer["Username"]), str(answer["Secret"])
        if user == IDENTITY_TOKEN_USER:
            return Credentials(user, "", identity_token=secret)
        return Credentials(user, secret)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(
            f"credential helper {argv[0]} returned malformed output for {host}",
            hint='it must print {"Username": ..., "Secret": ...}',
        ) from exc


def resolve_credentials(host: str, *, environ: Mapping[str, str], home: Path) -> Credentials | None:
    """The credentials to use for ``host`` (see the module docstring), or None (anonymous)."""
    user, password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if user and password is not None:
        return Credentials(user, password)
    path = docker_config_path(environ, home)
    config = _load_config(path)
    helpers = config.get("credHelpers")
    helper = helpers.get(host) if isinstance(helpers, dict) else None
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        found = run_helper(helper, host)
        if found is not None:
            return found
    return _from_auths(config, host, path)
