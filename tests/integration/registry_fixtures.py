"""Real CNCF distribution registries for the distribution tests, on 127.0.0.1.

``registry``         no auth
``basic_registry``   htpasswd (bcrypt) Basic auth, user ``alice`` / ``wonderland``
``tls_registry``     https only, a self-signed certificate for 127.0.0.1
``token_registry``   ``auth: token:`` against :class:`TokenServer`, a small token service here:
                     a self-signed certificate (``cryptography``) is the registry's
                     rootcertbundle and signs RS256 JWTs (PyJWT) carrying it in ``x5c``.

Import the fixtures explicitly in a test module (``from tests.integration.registry_fixtures
import registry``). Each registry gets a free port and a tmp storage directory, and is stopped
when the test ends.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import random
import socket
import subprocess
import tarfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import bcrypt
import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import (
    EMPTY_CONTENT,
    EMPTY_DESCRIPTOR,
    Descriptor,
    ImageConfig,
    ImageManifest,
    Platform,
    RootFS,
)
from tests.conftest import require_tools

USER = "alice"
PASSWORD = "wonderland"
#: the OAuth2 refresh token (Docker's identitytoken) the token server accepts for USER
REFRESH_TOKEN = "refresh-for-alice"
SERVICE = "bakery-test-registry"
ISSUER = "bakery-test-issuer"
#: the registry accepts a JWT this long after its exp (distribution's clock-skew leeway)
REGISTRY_LEEWAY = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    """A running ``docker-registry serve``: ``host`` is ``127.0.0.1:PORT``."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    token_server: TokenServer | None = None
    certificate: Path | None = None

    def ref(self, path: str) -> str:
        return f"{self.host}/{path}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(
    tmp: Path, auth: dict[str, Any] | None = None, *, tls: tuple[Path, Path] | None = None
) -> Registry:
    """Start docker-registry with storage in ``tmp`` and wait until it answers /v2/.

    ``tls`` is (certificate, key): the registry then speaks https only."""
    require_tools("docker-registry")
    port = free_port()
    root = tmp / "storage"
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        config["auth"] = auth
    if tls:
        config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config_path = tmp / "registry.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = tmp / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config_path)], stdout=out, stderr=out
        )
    registry = Registry(f"127.0.0.1:{port}", root, process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}", pytrace=False)
        try:
            scheme = "https" if tls else "http"
            httpx.get(f"{scheme}://{registry.host}/v2/", timeout=1, verify=False)
            return registry
        except httpx.TransportError:
            time.sleep(0.05)
    registry.stop()
    pytest.fail(f"docker-registry did not start: {log.read_text()[-2000:]}", pytrace=False)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry without auth."""
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


def self_signed(tmp: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate (CA and server at once) for IP 127.0.0.1 and localhost."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "registry.crt", tmp / "registry.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry speaking https only, with a self-signed certificate (``.certificate``)."""
    cert, key = self_signed(tmp_path)
    running = start_registry(tmp_path / "registry", tls=(cert, key))
    running.certificate = cert
    yield running
    running.stop()


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for u, p in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry with htpasswd Basic auth (USER / PASSWORD)."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {USER: PASSWORD})
    running = start_registry(
        tmp_path / "registry", {"htpasswd": {"realm": "bakery-test", "path": str(htpasswd)}}
    )
    yield running
    running.stop()


# -- the token service --------------------------------------------------------------------


@dataclass
class TokenServer:
    """Issues registry JWTs for USER/PASSWORD (docker token spec).

    ``jwt_seconds`` is how long a token is valid at the registry (counting distribution's
    leeway); ``reported_seconds`` is the ``expires_in`` told to the client. Telling the client
    a longer life than the registry grants makes the registry answer 401 to a cached token,
    which is how a refresh on 401 is tested.
    """

    key: rsa.RSAPrivateKey
    cert_pem: bytes
    cert_der: bytes
    jwt_seconds: int = 300
    reported_seconds: int = 300
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def issue(self, scopes: list[str]) -> str:
        now = int(time.time())
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + self.jwt_seconds - REGISTRY_LEEWAY,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        headers = {"x5c": [base64.b64encode(self.cert_der).decode()]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                server.requests.append(query)
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = server.issue(query.get("scope", []))
                self._answer({"token": token, "expires_in": server.reported_seconds})

            def do_POST(self) -> None:  # oauth.md: the refresh-token grant
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                server.requests.append(form)
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [
                    REFRESH_TOKEN
                ]:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = server.issue(form.get("scope", [""])[0].split())
                self._answer({"access_token": token, "expires_in": server.reported_seconds})

            def _answer(self, document: dict[str, object]) -> None:
                body = json.dumps(document)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def make_token_server() -> TokenServer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bakery test token signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TokenServer(
        key=key,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry with Bearer token auth, its TokenServer in ``.token_server``."""
    tokens = make_token_server()
    tokens.start()
    bundle = tmp_path / "token-root.pem"
    bundle.write_bytes(tokens.cert_pem)
    auth = {
        "token": {
            "realm": tokens.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    running = start_registry(tmp_path / "registry", auth)
    running.token_server = tokens
    yield running
    running.stop()
    tokens.stop()


# -- synthetic images in a tmp layout -----------------------------------------------------


def random_layer(layout: OCILayout, size: int, rng: random.Random) -> tuple[Descriptor, str]:
    """A gzip layer (stored blocks: fast, valid) holding one tar entry of ``size``
    pseudo-random bytes, streamed into the layout; returns its descriptor and diff_id."""
    gz = zlib.compressobj(0, zlib.DEFLATED, 31)
    raw = hashlib.sha256()
    entry = tarfile.TarInfo(f"data-{rng.getrandbits(32):08x}")
    entry.size, entry.mtime, entry.mode = size, 1700000000, 0o644
    padding = b"\0" * (-size % tarfile.BLOCKSIZE) + b"\0" * (2 * tarfile.BLOCKSIZE)

    def put(chunk: bytes) -> None:
        raw.update(chunk)
        writer.write(gz.compress(chunk))

    with layout.blob_writer() as writer:
        put(entry.tobuf(format=tarfile.USTAR_FORMAT))
        left = size
        while left:
            step = min(left, 1 << 20)
            put(rng.randbytes(step))
            left -= step
        put(padding)
        writer.write(gz.flush())
    desc = Descriptor(media_type=mt.LAYER_GZIP, digest=writer.digest, size=writer.size)
    return desc, "sha256:" + raw.hexdigest()


def make_image(layout: OCILayout, tag: str, layer_sizes: list[int], *, seed: int = 0) -> Descriptor:
    """An image of random layers tagged ``tag`` in ``layout``; returns its descriptor."""
    rng = random.Random(seed)
    made = [random_layer(layout, size, rng) for size in layer_sizes]
    layers = [desc for desc, _ in made]
    config = ImageConfig(
        architecture="amd64",
        os="linux",
        created="2023-11-14T22:13:20Z",
        rootfs=RootFS(diff_ids=[diff_id for _, diff_id in made]),
    )
    config_desc = layout.put_json(config, mt.CONFIG)
    manifest = layout.put_json(ImageManifest(config=config_desc, layers=layers), mt.MANIFEST)
    layout.tag(tag, manifest)
    return layout.resolve(tag)


def add_sbom_referrer(layout: OCILayout, subject: Descriptor) -> Descriptor:
    """An SPDX artifact manifest whose subject is ``subject``, kept as a layout referrer."""
    layout.put_blob(EMPTY_CONTENT, mt.EMPTY)
    sbom = layout.put_blob(b'{"spdxVersion":"SPDX-2.3"}', "application/spdx+json")
    manifest = ImageManifest(
        artifact_type="application/spdx+json",
        config=EMPTY_DESCRIPTOR,
        layers=[sbom],
        subject=Descriptor(media_type=subject.media_type, digest=subject.digest, size=subject.size),
        annotations={"org.opencontainers.image.created": "2023-11-14T22:13:20Z"},
    )
    desc = layout.put_json(manifest, mt.MANIFEST)
    layout.add_referrer(desc)
    return desc


def add_cosign_signature(layout: OCILayout, repository: str, subject: Descriptor) -> str:
    """A cosign-legacy-shaped ``.sig`` manifest tagged ``repository:sha256-<hex>.sig``."""
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject.digest}}})
    layer = layout.put_blob(payload.encode(), "application/vnd.dev.cosign.simplesigning.v1+json")
    layer = layer.model_copy(update={"annotations": {"dev.cosignproject.cosign/signature": "MEUC"}})
    config = ImageConfig(architecture="", os="", rootfs=RootFS(diff_ids=[layer.digest]))
    config_desc = layout.put_json(config, mt.CONFIG)
    desc = layout.put_json(ImageManifest(config=config_desc, layers=[layer]), mt.MANIFEST)
    tag = "sha256-" + subject.digest.removeprefix("sha256:") + ".sig"
    layout.tag(f"{repository}:{tag}", desc, platform=Platform(architecture="", os=""))
    return tag
