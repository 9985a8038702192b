"""The service client (``--registry-url``) verifies an https service against ``--ca-file`` /
SSL_CERT_FILE, else certifi's CAs: a small HTTPS server on loopback with a self-signed
certificate is refused until its certificate is trusted."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bakery.cli.recording import open_recorder
from bakery.errors import RegistryDBError, UserError
from bakery.server.client import RegistryClient, ServiceRecorder
from bakery.store import Store
from tests.integration.registry_fixtures import self_signed

DIGEST = "sha256:" + "ab" * 32


class _Service(BaseHTTPRequestHandler):
    """Answers the signatures query with none, and records the token it was sent."""

    tokens: ClassVar[list[str]] = []

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).tokens.append(self.headers.get("Authorization", ""))
        body = json.dumps([]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def https_service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(url, certificate)`` of an https server on 127.0.0.1 with a self-signed certificate."""
    cert, key = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Service.tokens = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()
    thread.join()


def test_untrusted_certificate_is_refused_and_the_token_never_sent(
    https_service: tuple[str, Path],
) -> None:
    url, _ = https_service
    with (
        RegistryClient(url, "secret-token") as client,
        pytest.raises(RegistryDBError, match="TLS certificate of the registry service") as caught,
    ):
        client.signatures(DIGEST)
    assert "self-signed certificate" in str(caught.value)
    assert caught.value.hint and "--ca-file" in caught.value.hint
    assert _Service.tokens == []


def test_ca_file_makes_the_service_trusted(https_service: tuple[str, Path]) -> None:
    url, cert = https_service
    with RegistryClient(url, "secret-token", ca_file=cert) as client:
        assert client.signatures(DIGEST) == []
    recorder = ServiceRecorder(url, "secret-token", ca_file=cert)
    try:
        assert recorder.signatures(DIGEST, "key") == set()
    finally:
        recorder.close()
    assert _Service.tokens == ["Bearer secret-token"] * 2


@pytest.mark.parametrize("how", ["--ca-file", "SSL_CERT_FILE"])
def test_open_recorder_takes_ca_file_or_ssl_cert_file(
    https_service: tuple[str, Path], tmp_path: Path, how: str
) -> None:
    url, cert = https_service
    store = Store.open(tmp_path / "store")
    environ = {"BAKERY_REGISTRY_TOKEN": "secret-token"}
    if how == "SSL_CERT_FILE":
        environ["SSL_CERT_FILE"] = str(cert)
    ca_file = cert if how == "--ca-file" else None
    recorder = open_recorder(store, environ, None, url, ca_file=ca_file)
    try:
        assert recorder.signatures(DIGEST, "key") == set()
    finally:
        recorder.close()


def test_open_recorder_with_an_unreadable_ca_file(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    environ = {"BAKERY_REGISTRY_TOKEN": "secret-token"}
    with pytest.raises(UserError, match="cannot load CA certificates"):
        open_recorder(store, environ, None, "https://registry.example", ca_file=tmp_path / "x")
