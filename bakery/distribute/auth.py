"""Registry authentication: anonymous, Basic, and the Bearer token flow.

A registry answers a request it wants credentials for with ``401`` and a challenge::

    WWW-Authenticate: Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"

For ``Bearer`` the client asks ``realm?service=…&scope=…`` for a token (with Basic credentials
when it has some), caches it per scope set until it expires, and sends ``Authorization:
Bearer <token>``. With an identity token (Docker's ``identitytoken``) it POSTs an OAuth2
refresh-token grant to the realm instead (distribution docs/spec/auth/oauth.md). A 401 on a
cached token drops it and fetches a fresh one once. For ``Basic`` the credentials go on every
request. Credentials travel over plain HTTP only to loopback hosts or when the user said
``--insecure`` (which allows plain HTTP, nothing more); a token server's TLS certificate is
verified exactly as the registry's, by the same client. Tokens and passwords are never logged
or put in errors.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from bakery.distribute.credentials import ENV_PASSWORD, ENV_USERNAME, Credentials
from bakery.distribute.reference import is_loopback
from bakery.distribute.tls import CA_HINT, cert_failed
from bakery.errors import AuthError, RegistryError

#: how bakery names itself to an OAuth2 token server
CLIENT_ID = "bakery"
#: a token without ``expires_in`` lives 60 s (distribution spec, token.md)
DEFAULT_TOKEN_SECONDS = 60
#: fetch a new token when less than this fraction of its life is left
_REFRESH_FRACTION = 0.1

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_SCHEME_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: the scheme (lowercase) and its parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The parameter ``name`` (case-insensitive), or None."""
        return next((v for k, v in self.params if k == name.lower()), None)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (RFC 9110 §11.6.1) into its challenges.

    Quoted values may contain commas (``scope="repository:a:pull,push"``) and escapes.
    """
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME_RE.match(header, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: list[tuple[str, str]] = []
        while (param := _PARAM_RE.match(header, pos)) is not None and param.group(0).strip():
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.append((param.group(1).lower(), value))
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), tuple(params)))
    return challenges


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """A token scope: ``repository:<name>:<actions>``."""

    repository: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"repository:{self.repository}:{','.join(self.actions)}"


def pull_scope(repository: str) -> Scope:
    return Scope(repository, ("pull",))


def push_scope(repository: str) -> Scope:
    return Scope(repository, ("pull", "push"))


class TokenResponse(BaseModel):
    """The token endpoint's answer (distribution docs/spec/auth/token.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    token: str | None = None
    access_token: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float


def _credentials_hint(registry: str) -> str:
    return f"set {ENV_USERNAME}/{ENV_PASSWORD} or run `docker login {registry}`"


class Authenticator:
    """Chooses the ``Authorization`` header for each request to one registry (thread-safe)."""

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        http: httpx.Client,
        *,
        allow_http: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self._http = http
        self._allow_http = allow_http
        self._clock = clock
        self._lock = threading.Lock()
        self._bearer: Challenge | None = None
        self._basic = False
        self._tokens: dict[str, _Token] = {}
        #: how many tokens were fetched (tests and --json read it)
        self.tokens_fetched = 0

    def authorization(self, scopes: tuple[Scope, ...]) -> str | None:
        """The header value for a request needing ``scopes``; None until a challenge came."""
        with self._lock:
            if self._bearer is not None:
                return "Bearer " + self._token(scopes, fresh=False).value
            if self._basic and self.credentials is not None:
                return self.credentials.basic()
            return None

    def challenged(self, response: httpx.Response, scopes: tuple[Scope, ...]) -> bool:
        """Learn from a 401; True when a retry with new credentials may succeed."""
        used = response.request.headers.get("authorization", "")
        challenges = parse_challenges(response.headers.get("www-authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        with self._lock:
            if bearer is not None and bearer.get("realm"):
                self._bearer = bearer
                if used.startswith("Bearer ") and self._cached_is(scopes, used[7:]) is False:
                    return True  # another thread already refreshed it
                self._token(scopes, fresh=True)
                return True
            if any(c.scheme == "basic" for c in challenges):
                if self.credentials is None:
                    raise self.missing(scopes)
                if used.startswith("Basic "):
                    return False
                self._basic = True
                return True
        return False

    def missing(self, scopes: tuple[Scope, ...]) -> AuthError:
        """The error for a registry that wants credentials we do not have."""
        what = ", ".join(sorted({s.repository for s in scopes})) or "/v2/"
        return AuthError(
            f"registry {self.registry} requires credentials for {what} (401)",
            hint=_credentials_hint(self.registry),
        )

    def refused(self, scopes: tuple[Scope, ...], status: int) -> AuthError:
        """The error for credentials (or a token) the registry would not accept."""
        what = ", ".join(sorted({s.repository for s in scopes})) or "/v2/"
        if self.credentials is None:
            return self.missing(scopes)
        verb = "denied access to" if status == 403 else "refused the credentials for"
        return AuthError(
            f"registry {self.registry} {verb} {what} ({status})",
            hint=f"check the user name and password, and that the user may push/pull {what}; "
            + _credentials_hint(self.registry),
        )

    # -- tokens ---------------------------------------------------------------------------

    def _key(self, scopes: tuple[Scope, ...]) -> str:
        return " ".join(str(s) for s in sorted(set(scopes)))

    def _cached_is(self, scopes: tuple[Scope, ...], value: str) -> bool | None:
        cached = self._tokens.get(self._key(scopes))
        return None if cached is None else cached.value == value

    def _token(self, scopes: tuple[Scope, ...], *, fresh: bool) -> _Token:
        key = self._key(scopes)
        cached = self._tokens.get(key)
        if not fresh and cached is not None and self._clock() < cached.refresh_at:
            return cached
        token = self._fetch(scopes)
        self._tokens[key] = token
        return token

    def _fetch(self, scopes: tuple[Scope, ...]) -> _Token:
        assert self._bearer is not None
        realm = httpx.URL(self._bearer.get("realm") or "")
        if realm.scheme != "https" and not (self._allow_http or is_loopback(realm.host)):
            raise AuthError(
                f"registry {self.registry} sends credentials to a plain-HTTP token server {realm}",
                hint="use --insecure only if you trust the network",
            )
        service = self._bearer.get("service")
        wanted = [str(s) for s in sorted(set(scopes))]
        if not wanted and (scope := self._bearer.get("scope")):
            wanted = [scope]
        identity = self.credentials.identity_token if self.credentials else None
        try:
            if identity is not None:  # oauth.md: a refresh-token grant; scopes space-separated
                form = {"grant_type": "refresh_token", "refresh_token": identity}
                form |= {"client_id": CLIENT_ID, **({"service": service} if service else {})}
                form |= {"scope": " ".join(wanted)} if wanted else {}
                response = self._http.post(realm, data=form)
            else:
                params = httpx.QueryParams([("service", service)] if service else [])
                params = params.merge({"scope": wanted}) if wanted else params
                headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
                response = self._http.get(realm, params=params, headers=headers)
        except httpx.TransportError as exc:
            if cert_failed(exc):
                raise RegistryError(
                    f"the TLS certificate of the token server {realm.host} of registry "
                    f"{self.registry} does not verify: {exc}",
                    hint=CA_HINT,
                ) from exc
            raise RegistryError(
                f"cannot reach the token server of {self.registry} ({realm.host}): {exc}"
            ) from exc
        if response.status_code in (401, 403):
            raise self.refused(scopes, response.status_code)
        if response.status_code != 200:
            raise RegistryError(
                f"the token server of {self.registry} answered {response.status_code}",
                hint="the registry's auth service may be down; try again later",
            )
        try:
            answer = TokenResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise RegistryError(
                f"the token server of {self.registry} sent a malformed answer"
            ) from exc
        value = answer.token or answer.access_token
        if not value:
            raise RegistryError(f"the token server of {self.registry} sent no token")
        self.tokens_fetched += 1
        lifetime = answer.expires_in or DEFAULT_TOKEN_SECONDS
        return _Token(value, self._clock() + lifetime * (1 - _REFRESH_FRACTION))
