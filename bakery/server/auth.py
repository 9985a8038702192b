"""Who is asking: bearer tokens for the API, a signed session cookie for the web UI.

Roles are ordered: an admin may do what a builder may, a builder what a reader may. A missing,
malformed or unknown token is a 401 ("invalid"), and so are a revoked and an expired one, each
with its own message; a valid token of too small a role a 403. Neither the raw token nor its
secret part is ever logged or echoed.

Checking a secret costs a scrypt, so :class:`TokenCache` remembers for 30 s which raw token is
which token; it still reads the token's row on every request (one indexed read), so that a
revocation, made by this process or any other (the CLI, another replica), takes effect on the
next request. The same read says when the token was last noted as used: it is written again at
most once a minute.

The UI never stores the token in the browser: its login form checks the token once and sets an
``HttpOnly; SameSite=Strict`` cookie holding the token's id, an expiry and an HMAC of both
under a key that lives only in the server's memory. Each UI request re-checks that the token
still exists and is neither revoked nor expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bakery.errors import BakeryError
from bakery.registry.db import Registry
from bakery.registry.tokens import find_token, identify, record_use, state
from bakery.registry.views import TokenInfo
from bakery.server.errors import ApiError

log = logging.getLogger("bakery.server")
RANK = {"reader": 0, "builder": 1, "admin": 2}
SESSION_COOKIE = "bakery_session"
_CACHE_SECONDS = 30.0
_CACHE_MAX = 1024
_CONCURRENT_CHECKS = 2
#: documents the scheme in the OpenAPI spec; the header is checked by :func:`bearer`
BEARER_SCHEME = HTTPBearer(auto_error=False, description="A Bakery API token: bkr_<id>_<secret>")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bakery"'}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's id, name and role (never its secret)."""

    token_id: str
    name: str
    role: str

    @property
    def actor(self) -> str:
        """What the registry's history records as the one who acted."""
        return f"{self.name} (token {self.token_id})"

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class TokenCache:
    """Which token a raw token is, for a few seconds, so that each request does not pay a
    scrypt. Keyed by SHA-256 of the raw token; only tokens whose secret matched are kept, and
    a hit re-reads the token's row, so its revocation or expiry counts at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(_CONCURRENT_CHECKS)
        self._entries: dict[bytes, tuple[str, float]] = {}

    def verify(self, registry: Registry, raw: str) -> TokenInfo:
        """The token ``raw`` is, now usable; ApiError 401 saying why it is not."""
        key = hashlib.sha256(raw.encode("utf-8", "replace")).digest()
        moment = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[1] > moment:
            info = find_token(registry, hit[0])
        else:
            with self._checks:  # scrypt is costly: a flood of bad tokens cannot take every core
                info = identify(registry, raw)
            if info is not None:
                with self._lock:
                    if len(self._entries) >= _CACHE_MAX:
                        self._entries.clear()
                    self._entries[key] = (info.id, moment + _CACHE_SECONDS)
        if info is None:
            raise ApiError(401, "the token is invalid", headers=_CHALLENGE)
        used(registry, info)
        return info

    def check(self, registry: Registry, raw: str) -> TokenInfo | None:
        """The token ``raw`` is, when it is usable now; None otherwise."""
        try:
            return self.verify(registry, raw)
        except ApiError:
            return None


def used(registry: Registry, info: TokenInfo) -> None:
    """Refuse a revoked or expired token (401); note its use (at most once a minute)."""
    at = datetime.now(UTC)
    match state(info, at):
        case "revoked":
            raise ApiError(401, "the token was revoked", headers=_CHALLENGE)
        case "expired":
            raise ApiError(401, "the token expired", headers=_CHALLENGE)
    try:
        record_use(registry, info, at)
    except BakeryError as exc:  # bookkeeping: a busy database must not refuse the request
        log.warning("could not note the use of token %s: %s", info.id, exc.one_line())


def _principal(info: TokenInfo) -> Principal:
    return Principal(token_id=info.id, name=info.name, role=info.role)


def bearer(request: Request) -> Principal:
    """The caller of an API request, from ``Authorization: Bearer …``; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if not header:
        raise ApiError(401, "a bearer token is required", headers=_CHALLENGE)
    if scheme.lower() != "bearer" or not raw.strip() or len(raw) > 256:
        raise ApiError(401, "the Authorization header must be 'Bearer <token>'", headers=_CHALLENGE)
    app = request.app.state
    return _principal(app.tokens.verify(app.registry, raw.strip()))


def require(role: str) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, who must hold ``role`` (or a greater one)."""

    def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)],
    ) -> Principal:
        principal = bearer(request)
        if not principal.may(role):
            raise ApiError(403, f"this needs the {role} role; the token is a {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


# -- the UI's session cookie ----------------------------------------------------------------


def new_session_key() -> bytes:
    return secrets.token_bytes(32)


def _mac(key: bytes, token_id: str, expires: int) -> str:
    digest = hmac.new(key, f"{token_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_cookie(key: bytes, info: TokenInfo, seconds: int) -> tuple[str, int]:
    """The cookie value for a logged-in token, and its lifetime in seconds."""
    expires = int(time.time()) + seconds
    if info.expires_at is not None:
        expires = min(expires, int(info.expires_at.timestamp()))
    return f"{info.id}.{expires}.{_mac(key, info.id, expires)}", expires - int(time.time())


def session_principal(request: Request) -> Principal | None:
    """The UI's caller, from a valid session cookie whose token still exists and is neither
    revoked nor expired; else None."""
    value = request.cookies.get(SESSION_COOKIE, "")
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(value) > 200:
        return None
    token_id, expires_text, mac = parts
    expires = int(expires_text)
    app = request.app.state
    if not hmac.compare_digest(mac, _mac(app.session_key, token_id, expires)):
        return None
    if expires <= time.time():
        return None
    info = find_token(app.registry, token_id)
    if info is None:
        return None
    try:
        used(app.registry, info)
    except ApiError:
        return None
    return _principal(info)
