"""WWW-Authenticate parsing, the token flow (cache, expiry, refresh on 401) and Basic auth."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from bakery.distribute.auth import Challenge, Scope, parse_challenges, pull_scope, push_scope
from bakery.distribute.client import ClientOptions, RegistryClient
from bakery.distribute.credentials import Credentials
from bakery.distribute.retry import RetryPolicy
from bakery.errors import AuthError

REALM = "https://auth.example.com/token"


def test_parse_bearer_with_quoted_commas() -> None:
    header = (
        f'Bearer realm="{REALM}",service="registry.example.com",'
        'scope="repository:team/app:pull,push"'
    )
    [challenge] = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.get("realm") == REALM
    assert challenge.get("service") == "registry.example.com"
    assert challenge.get("scope") == "repository:team/app:pull,push"
    assert challenge.get("SCOPE") == "repository:team/app:pull,push"
    assert challenge.get("missing") is None


def test_parse_basic_and_multiple_challenges() -> None:
    challenges = parse_challenges('Basic realm="Registry Realm", Bearer realm="x",service=y')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].get("realm") == "Registry Realm"
    assert challenges[1].get("service") == "y"


def test_parse_escapes_and_spacing() -> None:
    [challenge] = parse_challenges(r'Bearer  realm = "a\"b" , error="insufficient_scope"')
    assert challenge.get("realm") == 'a"b'
    assert challenge.get("error") == "insufficient_scope"
    assert parse_challenges("") == []
    assert parse_challenges("Basic") == [Challenge("basic", ())]


def test_scope_strings() -> None:
    assert str(push_scope("team/app")) == "repository:team/app:pull,push"
    assert str(pull_scope("127.0.0.1:5000/x")) == "repository:127.0.0.1:5000/x:pull"
    assert sorted([push_scope("b"), pull_scope("a")])[0] == Scope("a", ("pull",))


class FakeTokenRegistry:
    """A registry that wants Bearer tokens, and its token service, behind one MockTransport."""

    def __init__(self, *, expires_in: int = 300, password: str = "pw") -> None:
        self.expires_in = expires_in
        self.password = password
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.token_queries: list[httpx.QueryParams] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            return self._token(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in self.issued or token in self.revoked:
            challenge = f'Bearer realm="{REALM}",service="reg"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, json={"tags": ["1"], "name": "team/app"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_queries.append(request.url.params)
        expected = "Basic " + base64.b64encode(f"alice:{self.password}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401)
        token = f"t{len(self.issued)}"
        self.issued.append(token)
        return httpx.Response(200, json={"token": token, "expires_in": self.expires_in})


def _client(fake: FakeTokenRegistry, password: str = "pw") -> RegistryClient:
    return RegistryClient(
        "registry.example.com",
        credentials=Credentials("alice", password),
        options=ClientOptions(retry=RetryPolicy(sleep=lambda _: None)),
        transport=httpx.MockTransport(fake.handler),
    )


def test_token_flow_fetches_once_and_caches_per_scope() -> None:
    fake = FakeTokenRegistry()
    client = _client(fake)
    assert client.tags("team/app") == ["1"]
    assert client.tags("team/app") == ["1"]
    assert len(fake.issued) == 1
    query = fake.token_queries[0]
    assert query["service"] == "reg"
    assert query.get_list("scope") == ["repository:team/app:pull"]
    client.tags("team/other")  # another scope, another token
    assert len(fake.issued) == 2
    assert client.base_url.scheme == "https"


def test_refresh_when_the_registry_rejects_a_cached_token() -> None:
    fake = FakeTokenRegistry()
    client = _client(fake)
    client.tags("team/app")
    fake.revoked.add(fake.issued[-1])  # e.g. expired at the registry before our estimate
    assert client.tags("team/app") == ["1"]
    assert len(fake.issued) == 2


def test_refresh_on_expiry_without_a_401() -> None:
    fake = FakeTokenRegistry(expires_in=10)
    now = [1000.0]
    client = _client(fake)
    client.auth._clock = lambda: now[0]
    client.tags("team/app")
    now[0] += 5
    client.tags("team/app")
    assert len(fake.issued) == 1
    now[0] += 5  # past 90 % of its life
    requests_before = client.requests
    client.tags("team/app")
    assert len(fake.issued) == 2
    assert client.requests == requests_before + 1  # no 401 round trip: refreshed up front


def test_wrong_password_is_one_auth_error() -> None:
    client = _client(FakeTokenRegistry(), password="nope")
    with pytest.raises(AuthError) as caught:
        client.tags("team/app")
    line = caught.value.one_line()
    assert "registry registry.example.com refused the credentials for team/app (401)" in line
    assert "docker login registry.example.com" in line
    assert "nope" not in line
    assert "\n" not in line


def test_basic_auth_sent_after_challenge_only() -> None:
    seen: list[str | None] = []
    good = "Basic " + base64.b64encode(b"u:p").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") != good:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(200, json={"tags": []})

    client = RegistryClient(
        "r.test", credentials=Credentials("u", "p"), transport=httpx.MockTransport(handler)
    )
    client.tags("a")
    client.tags("a")
    assert seen == [None, good, good]


def test_basic_without_credentials_says_how_to_log_in() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    client = RegistryClient("r.test", transport=httpx.MockTransport(handler))
    with pytest.raises(AuthError, match=r"requires credentials for a \(401\)"):
        client.tags("a")


def test_plain_http_token_realm_refused_for_remote_registry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/t"'}
        )

    client = RegistryClient(
        "registry.example.com",
        credentials=Credentials("u", "p"),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(AuthError, match="plain-HTTP token server"):
        client.ping()


def test_access_token_field_and_anonymous_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert "authorization" not in request.headers
            return httpx.Response(200, content=json.dumps({"access_token": "anon"}))
        if request.headers.get("authorization") == "Bearer anon":
            return httpx.Response(200)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="https://r.io/token",service=s'}
        )

    client = RegistryClient("r.io", transport=httpx.MockTransport(handler))
    client.ping()
    assert client.auth.tokens_fetched == 1
