"""The distribution API client against an in-memory registry (httpx.MockTransport):
uploads (monolithic, chunked, mount), retries, Link pagination, manifests, referrers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import ssl
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bakery.distribute import client as client_module
from bakery.distribute.client import ClientOptions, RegistryClient, next_link
from bakery.distribute.retry import RetryPolicy, TransientError, parse_retry_after
from bakery.distribute.session import connect
from bakery.distribute.tls import ca_file_of, tls_context
from bakery.errors import RegistryError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import sha256_digest
from bakery.oci.model import Descriptor

HOST = "registry.test:5000"  # not loopback: https, no TLS probe


class MemoryRegistry:
    """Just enough of the distribution API to exercise the client; records every request."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.uploads: dict[str, bytearray] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.fault: Callable[[httpx.Request], httpx.Response | None] = lambda _: None
        self.tags_per_page = 2
        self.referrers_api = False
        self.mount_params: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.method, request.url.path, dict(request.headers)))
        if (injected := self.fault(request)) is not None:
            return injected
        path = request.url.path
        if m := re.fullmatch(r"/v2/(.+)/blobs/uploads/(\w*)", path):
            return self._upload(request, m.group(1), m.group(2))
        if m := re.fullmatch(r"/v2/(.+)/blobs/(sha256:\w+)", path):
            data = self.blobs.get(m.group(2))
            if data is None:
                return httpx.Response(404)
            return httpx.Response(
                200,
                content=b"" if request.method == "HEAD" else data,
                headers={"Content-Length": str(len(data))},
            )
        if m := re.fullmatch(r"/v2/(.+)/manifests/(.+)", path):
            return self._manifest(request, m.group(1), m.group(2))
        if m := re.fullmatch(r"/v2/(.+)/tags/list", path):
            return self._tags(request, m.group(1))
        if re.fullmatch(r"/v2/(.+)/referrers/(.+)", path) and not self.referrers_api:
            return httpx.Response(404)
        return httpx.Response(200 if path == "/v2/" else 404)

    def _upload(self, request: httpx.Request, repo: str, uid: str) -> httpx.Response:
        params = request.url.params
        if request.method == "POST":
            if "mount" in params:
                self.mount_params.append(dict(params))
            if "mount" in params and params["mount"] in self.blobs:
                return httpx.Response(201)
            uid = uuid.uuid4().hex
            self.uploads[uid] = bytearray()
            return httpx.Response(
                202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}?state=x"}
            )
        if uid not in self.uploads:
            return httpx.Response(404, json={"errors": [{"code": "BLOB_UPLOAD_UNKNOWN"}]})
        buffer = self.uploads[uid]
        body = request.read()
        if request.method == "PATCH":
            start, end = map(int, request.headers["content-range"].split("-"))
            if start != len(buffer) or end - start + 1 != len(body):
                return httpx.Response(416)
            buffer.extend(body)
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}"})
        if request.method == "DELETE":
            del self.uploads[uid]
            return httpx.Response(204)
        buffer.extend(body)
        digest = params["digest"]
        if sha256_digest(bytes(buffer)) != digest:
            return httpx.Response(
                400, json={"errors": [{"code": "DIGEST_INVALID", "message": "bad"}]}
            )
        self.blobs[digest] = bytes(buffer)
        del self.uploads[uid]
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            data = request.read()
            digest = sha256_digest(data)
            media_type = request.headers["content-type"]
            self.manifests[(repo, digest)] = (media_type, data)
            self.manifests[(repo, ref)] = (media_type, data)
            headers = {"Docker-Content-Digest": digest}
            if self.referrers_api and b'"subject"' in data:
                headers["OCI-Subject"] = json.loads(data)["subject"]["digest"]
            return httpx.Response(201, headers=headers)
        found = self.manifests.get((repo, ref))
        if found is None:
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        media_type, data = found
        return httpx.Response(
            200,
            content=data,
            headers={"Content-Type": media_type, "Docker-Content-Digest": sha256_digest(data)},
        )

    def _tags(self, request: httpx.Request, repo: str) -> httpx.Response:
        tags = sorted({ref for (r, ref) in self.manifests if r == repo and ":" not in ref})
        last = request.url.params.get("last")
        n = int(request.url.params.get("n", self.tags_per_page))
        start = tags.index(last) + 1 if last else 0
        page = tags[start : start + n]
        headers = {}
        if start + n < len(tags):
            headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={page[-1]}>; rel="next"'
        return httpx.Response(200, json={"name": repo, "tags": page}, headers=headers)

    def count(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, p, _ in self.log if m == method and pattern in p)


def _client(fake: MemoryRegistry, **options: object) -> RegistryClient:
    policy = RetryPolicy(sleep=lambda _: None)
    return RegistryClient(
        HOST,
        options=ClientOptions(retry=policy, **options),  # type: ignore[arg-type]
        transport=httpx.MockTransport(fake.handler),
    )


def _opener(
    data: bytes, piece: int = 1000
) -> Callable[[], contextlib.AbstractContextManager[Iterable[bytes]]]:
    @contextlib.contextmanager
    def open_() -> Iterator[Iterable[bytes]]:
        yield (data[i : i + piece] for i in range(0, len(data), piece))

    return open_


def _blob(data: bytes) -> Descriptor:
    return Descriptor(media_type=mt.LAYER_GZIP, digest=sha256_digest(data), size=len(data))


# -- retry policy --------------------------------------------------------------------------


def test_retry_delays_grow_with_jitter_and_honour_retry_after() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=8, rng=random.Random(1))
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        delays = [policy.delay(failures) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=3600) == policy.max_retry_after


def test_retry_is_bounded_and_only_for_transient_errors() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=sleeps.append)
    calls = []

    def flaky() -> str:
        calls.append(1)
        raise TransientError("503", retry_after=0.25)

    with pytest.raises(TransientError):
        policy.call(flaky)
    assert len(calls) == 3 and sleeps == [0.25, 0.25]

    def broken() -> str:
        calls.append(1)
        raise RegistryError("400 MANIFEST_INVALID")

    calls.clear()
    with pytest.raises(RegistryError):
        policy.call(broken)
    assert len(calls) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_client_retries_transient_statuses(status: int) -> None:
    fake = MemoryRegistry()
    failures = iter([True, True, False])
    fake.fault = lambda r: (
        httpx.Response(status, headers={"Retry-After": "0"}) if next(failures, False) else None
    )
    client = _client(fake)
    client.ping()
    assert fake.count("GET", "/v2/") == 3


def test_client_does_not_retry_client_errors() -> None:
    fake = MemoryRegistry()
    fake.fault = lambda r: httpx.Response(
        400, json={"errors": [{"code": "NAME_INVALID", "message": "no"}]}
    )
    with pytest.raises(RegistryError, match="400 NAME_INVALID: no") as caught:
        _client(fake).ping()
    assert not isinstance(caught.value, TransientError)
    assert fake.count("GET") == 1


def test_client_retries_connection_errors_then_gives_up_cleanly() -> None:
    fake = MemoryRegistry()

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake.fault = drop
    with pytest.raises(TransientError, match=r"cannot connect to registry registry\.test:5000"):
        _client(fake).ping()
    assert fake.count("GET") == 5


# -- uploads -------------------------------------------------------------------------------


def test_small_blob_is_one_monolithic_put() -> None:
    fake = MemoryRegistry()
    data = b"x" * 5000
    outcome = _client(fake).upload_blob("team/app", _blob(data), _opener(data), mount_from=None)
    assert outcome == "uploaded"
    assert fake.blobs[sha256_digest(data)] == data
    assert fake.count("POST") == 1 and fake.count("PUT") == 1 and fake.count("PATCH") == 0
    put = next(h for m, _, h in fake.log if m == "PUT")
    assert put["content-length"] == "5000"


def test_large_blob_goes_in_ordered_chunks() -> None:
    fake = MemoryRegistry()
    data = bytes(random.Random(2).randbytes(10_500))
    client = _client(fake, monolithic_max=4096, chunk_size=3000)
    client.upload_blob("team/app", _blob(data), _opener(data, 777), mount_from=None)
    assert fake.blobs[sha256_digest(data)] == data
    ranges = [h["content-range"] for m, _, h in fake.log if m == "PATCH"]
    assert ranges == ["0-2999", "3000-5999", "6000-8999", "9000-10499"]
    assert fake.count("PUT") == 1


def test_failed_upload_restarts_with_a_new_session() -> None:
    fake = MemoryRegistry()
    data = b"y" * 9000
    patches = iter(range(100))
    fake.fault = lambda r: (
        httpx.Response(500) if r.method == "PATCH" and next(patches) == 1 else None
    )
    client = _client(fake, monolithic_max=1000, chunk_size=4000)
    client.upload_blob("team/app", _blob(data), _opener(data), mount_from=None)
    assert fake.blobs[sha256_digest(data)] == data
    assert fake.count("POST") == 2  # a new session after the 500
    assert fake.count("DELETE") == 1  # the broken one was cancelled
    assert fake.uploads == {}


def test_digest_rejected_by_registry_is_not_retried() -> None:
    fake = MemoryRegistry()
    data = b"z" * 100
    wrong = Descriptor(media_type=mt.LAYER_GZIP, digest=sha256_digest(b"other"), size=100)
    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        _client(fake).upload_blob("team/app", wrong, _opener(data), mount_from=None)
    assert fake.count("POST") == 1


def test_cross_repo_mount() -> None:
    fake = MemoryRegistry()
    data = b"m" * 10
    fake.blobs[sha256_digest(data)] = data
    outcome = _client(fake).upload_blob("dst/app", _blob(data), _opener(data), mount_from="src/app")
    assert outcome == "mounted"
    assert [(m, p) for m, p, _ in fake.log] == [("POST", "/v2/dst/app/blobs/uploads/")]
    assert fake.mount_params == [{"mount": sha256_digest(data), "from": "src/app"}]


def test_mount_declined_falls_back_to_upload() -> None:
    fake = MemoryRegistry()
    data = b"n" * 10
    outcome = _client(fake).upload_blob("dst/app", _blob(data), _opener(data), mount_from="src/app")
    assert outcome == "uploaded"
    assert fake.blobs[sha256_digest(data)] == data


# -- manifests, tags, referrers ------------------------------------------------------------


def _manifest_bytes(subject: str | None = None) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.MANIFEST,
        "config": {"mediaType": mt.EMPTY, "digest": mt.EMPTY_DIGEST, "size": 2},
        "layers": [],
    }
    if subject:
        doc["subject"] = {"mediaType": mt.MANIFEST, "digest": subject, "size": 1}
        doc["artifactType"] = "application/spdx+json"
    return json.dumps(doc).encode()


def test_manifest_put_exact_bytes_and_get_with_accept() -> None:
    fake = MemoryRegistry()
    client = _client(fake)
    data = _manifest_bytes()
    put = client.put_manifest("team/app", "1.0", mt.MANIFEST, data)
    assert put.digest == sha256_digest(data)
    assert next(h for m, _, h in fake.log if m == "PUT")["content-type"] == mt.MANIFEST
    got = client.get_manifest("team/app", "1.0")
    assert got is not None and got.data == data and got.media_type == mt.MANIFEST
    accept = next(h for m, _, h in fake.log if m == "GET")["accept"]
    assert mt.MANIFEST in accept and mt.INDEX in accept and mt.DOCKER_MANIFEST in accept
    assert client.get_manifest("team/app", "nope") is None


def test_manifest_whose_bytes_do_not_match_the_digest_is_rejected() -> None:
    fake = MemoryRegistry()
    data = _manifest_bytes()
    asked = sha256_digest(b"something else")
    fake.manifests[("team/app", asked)] = (mt.MANIFEST, data)
    with pytest.raises(RegistryError, match="hashes to"):
        _client(fake).get_manifest("team/app", asked)


def test_tags_follow_link_pagination() -> None:
    fake = MemoryRegistry()
    client = _client(fake)
    for tag in ["a", "b", "c", "d", "e"]:
        client.put_manifest("team/app", tag, mt.MANIFEST, _manifest_bytes())
    assert client.tags("team/app") == ["a", "b", "c", "d", "e"]
    assert fake.count("GET", "/tags/list") == 3
    assert client.tags("team/app", page_size=10) == ["a", "b", "c", "d", "e"]


def test_next_link_parsing() -> None:
    base = httpx.URL("https://r.io/v2/a/tags/list?n=2")
    link = '</v2/a/tags/list?n=2&last=b>; rel="next"'
    assert str(next_link(base, link)) == "https://r.io/v2/a/tags/list?n=2&last=b"
    assert str(next_link(base, '<https://o.io/x>; type="a"; rel=next')) == "https://o.io/x"
    assert next_link(base, '</x>; rel="prev"') is None
    assert next_link(base, None) is None


def test_referrers_fallback_tag_index() -> None:
    fake = MemoryRegistry()
    client = _client(fake)
    subject = client.put_manifest("team/app", "1", mt.MANIFEST, _manifest_bytes()).digest
    assert client.referrers("team/app", subject) == []
    sbom = _manifest_bytes(subject)
    desc = Descriptor(
        media_type=mt.MANIFEST,
        digest=sha256_digest(sbom),
        size=len(sbom),
        artifact_type="application/spdx+json",
    )
    client.put_manifest("team/app", desc.digest, mt.MANIFEST, sbom)
    client.add_fallback_referrer("team/app", subject, desc)
    client.add_fallback_referrer("team/app", subject, desc)  # idempotent
    assert client.referrers("team/app", subject) == [desc]
    assert client.referrers("team/app", subject, "application/spdx+json") == [desc]
    assert client.referrers("team/app", subject, "application/other") == []
    tag = "sha256-" + subject.removeprefix("sha256:")
    media_type, data = fake.manifests[("team/app", tag)]
    assert media_type == mt.INDEX and json.loads(data)["manifests"][0]["digest"] == desc.digest


def test_blob_download_verifies_size_and_content() -> None:
    fake = MemoryRegistry()
    data = b"blob" * 100
    desc = _blob(data)
    fake.blobs[desc.digest] = data
    client = _client(fake)
    assert client.read_blob("team/app", desc) == data
    assert client.blob_size("team/app", desc.digest) == 400
    assert client.blob_size("team/app", sha256_digest(b"none")) is None
    fake.blobs[desc.digest] = b"evil" * 100
    with pytest.raises(RegistryError, match="other content"):
        client.read_blob("team/app", desc)
    fake.blobs[desc.digest] = data + b"extra"
    with pytest.raises(RegistryError, match="more than the 400 bytes"):
        client.read_blob("team/app", desc)
    assert hashlib.sha256(data).hexdigest() in desc.digest


# -- scheme: TLS verified, plain HTTP only for loopback or --insecure ----------------------


def _tls_failure(request: httpx.Request, cause: ssl.SSLError) -> httpx.ConnectError:
    try:
        raise cause
    except ssl.SSLError as exc:
        try:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except httpx.ConnectError as wrapped:
            return wrapped


def _scheme_log(
    registry: str, handshake: ssl.SSLError | None, **options: object
) -> tuple[RegistryClient, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.scheme == "https" and handshake is not None:
            raise _tls_failure(request, handshake)
        return httpx.Response(200)

    policy = RetryPolicy(sleep=lambda _: None)
    client = RegistryClient(
        registry,
        options=ClientOptions(retry=policy, **options),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),
    )
    return client, seen


def test_remote_registry_is_https_without_probing() -> None:
    client, seen = _scheme_log("registry.test", None)
    client.ping()
    assert seen == ["https://registry.test/v2/"]


def test_loopback_registry_speaking_tls_stays_on_https() -> None:
    client, seen = _scheme_log("127.0.0.1:5000", None)
    client.ping()
    assert seen == ["https://127.0.0.1:5000/v2/", "https://127.0.0.1:5000/v2/"]


def test_loopback_registry_without_tls_falls_back_to_http() -> None:
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    client, seen = _scheme_log("127.0.0.1:5000", plain)
    client.ping()
    client.ping()
    assert seen == [
        "https://127.0.0.1:5000/v2/",  # the probe, once
        "http://127.0.0.1:5000/v2/",
        "http://127.0.0.1:5000/v2/",
    ]


def test_certificate_that_does_not_verify_is_never_downgraded() -> None:
    bad = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    for registry in ("127.0.0.1:5000", "registry.test"):
        client, seen = _scheme_log(registry, bad)
        with pytest.raises(RegistryError, match="TLS certificate of registry") as caught:
            client.ping()
        assert caught.value.hint and "SSL_CERT_FILE" in caught.value.hint
        assert all(url.startswith("https://") for url in seen) and len(seen) == 1  # no retry


def test_insecure_remote_registry_may_use_http() -> None:
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    client, seen = _scheme_log("registry.test", plain, insecure=True)
    client.ping()
    assert seen[-1] == "http://registry.test/v2/"


def test_insecure_allows_plain_http_but_never_an_unverified_certificate() -> None:
    bad = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    for registry in ("127.0.0.1:5000", "registry.test"):
        client, seen = _scheme_log(registry, bad, insecure=True)
        with pytest.raises(RegistryError, match="TLS certificate of registry") as caught:
            client.ping()
        assert caught.value.hint and "--ca-file" in caught.value.hint
        assert "--insecure-skip-tls-verify" in caught.value.hint
        assert seen == [f"https://{registry}/v2/"]  # probed once, verified; no http fallback


# -- TLS options: verification on unless skipped, CAs from --ca-file / SSL_CERT_FILE --------


def _pem(tmp_path: Path) -> Path:
    """A self-signed CA certificate in a PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_client_options_verify_by_default() -> None:
    options = ClientOptions(insecure=True)
    assert options.skip_tls_verify is False and options.ca_file is None
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 10  # certifi's bundle


def test_tls_context_trusts_exactly_the_ca_file(tmp_path: Path) -> None:
    context = tls_context(_pem(tmp_path))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1


def test_tls_context_skips_verification_only_when_asked() -> None:
    context = tls_context(skip_verify=True)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_ca_file_missing_or_invalid_is_a_user_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for path in (tmp_path / "missing.pem", garbage, tmp_path):
        with pytest.raises(UserError, match=re.escape(f"cannot load CA certificates from {path}")):
            tls_context(path)
        with pytest.raises(UserError, match="cannot load CA certificates"):
            RegistryClient("registry.test", options=ClientOptions(ca_file=path))


def test_ca_file_option_wins_over_ssl_cert_file(tmp_path: Path) -> None:
    option, env = tmp_path / "option.pem", tmp_path / "env.pem"
    assert ca_file_of(option, {"SSL_CERT_FILE": str(env)}) == option
    assert ca_file_of(None, {"SSL_CERT_FILE": str(env)}) == env
    assert ca_file_of(None, {"SSL_CERT_FILE": ""}) is None
    assert ca_file_of(None, {}) is None


def test_connect_threads_the_tls_options_to_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple[Path | None, bool]] = []

    def recording(ca_file: Path | None = None, *, skip_verify: bool = False) -> ssl.SSLContext:
        built.append((ca_file, skip_verify))
        return ssl.create_default_context()

    monkeypatch.setattr(client_module, "tls_context", recording)
    ca = _pem(tmp_path)
    environ = {"SSL_CERT_FILE": str(ca)}
    with connect("registry.test", environ=environ, home=tmp_path) as client:
        assert client.options.ca_file == ca and not client.options.skip_tls_verify
    mine = tmp_path / "mine.pem"
    options = ClientOptions(ca_file=mine, skip_tls_verify=True, insecure=True)
    with connect("registry.test", environ=environ, home=tmp_path, options=options) as client:
        assert client.options.ca_file == mine and client.options.insecure
    with connect("registry.test", environ={}, home=tmp_path) as client:
        assert client.options.ca_file is None
    assert built == [(ca, False), (mine, True), (None, False)]


def test_token_server_certificate_failure_names_the_problem() -> None:
    bad = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            raise _tls_failure(request, bad)
        realm = 'Bearer realm="https://auth.test/token",service="registry.test"'
        return httpx.Response(401, headers={"WWW-Authenticate": realm})

    client = RegistryClient(
        "registry.test",
        options=ClientOptions(retry=RetryPolicy(sleep=lambda _: None), insecure=True),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(RegistryError, match=r"TLS certificate of the token server auth\.test"):
        client.ping()
