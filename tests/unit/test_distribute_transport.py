"""The distribution client's large socket reads (bakery.distribute.transport), observed at the
socket: a local HTTP server on 127.0.0.1 serves a body of several MiB, and every ``recv`` the
client's thread makes is recorded with the size it asked for."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from bakery.distribute.client import RegistryClient
from bakery.distribute.transport import READ_SIZE, widen_reads
from bakery.oci import mediatypes as mt
from bakery.oci.digest import sha256_digest
from bakery.oci.model import Descriptor

BODY = bytes(range(256)) * (6 * READ_SIZE // 256)  # 6 MiB
HTTPCORE_DEFAULT = 64 * 1024
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class BodyServer(ThreadingHTTPServer):
    """Answers every GET with BODY, and remembers the request targets it was sent."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: BodyServer

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.targets.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BodyServer]:
    for name in PROXY_VARIABLES:  # straight to 127.0.0.1, whatever the environment says
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    running = BodyServer()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes this thread passes to ``socket.recv`` (httpcore's sync backend reads with it;
    the server's threads read through ``recv_into`` and are not counted anyway)."""
    seen: list[int] = []
    me = threading.get_ident()
    recv: Callable[..., bytes] = socket.socket.recv

    def spy(sock: socket.socket, size: int, *args: int) -> bytes:
        if threading.get_ident() == me:
            seen.append(size)
        return recv(sock, size, *args)

    monkeypatch.setattr(socket.socket, "recv", spy)
    return seen


def test_the_registry_client_asks_the_socket_for_a_mebibyte_at_a_time(
    server: BodyServer, reads: list[int]
) -> None:
    desc = Descriptor(media_type=mt.LAYER_GZIP, digest=sha256_digest(BODY), size=len(BODY))
    with RegistryClient(server.host) as client:
        assert client.read_blob("big/app", desc) == BODY
    assert server.targets[-1] == f"/v2/big/app/blobs/{desc.digest}"
    assert reads, "no socket reads seen: httpcore no longer reads with socket.recv"
    assert set(reads) == {READ_SIZE}


def test_other_httpx_clients_keep_httpcores_read_size(server: BodyServer, reads: list[int]) -> None:
    desc = Descriptor(media_type=mt.LAYER_GZIP, digest=sha256_digest(BODY), size=len(BODY))
    with RegistryClient(server.host) as client:
        client.read_blob("big/app", desc)
    reads.clear()

    assert httpcore.HTTP11Connection.READ_NUM_BYTES == HTTPCORE_DEFAULT
    with httpx.Client() as plain:
        assert plain.get(f"http://{server.host}/other").content == BODY
    assert len(reads) >= len(BODY) // HTTPCORE_DEFAULT
    assert set(reads) == {HTTPCORE_DEFAULT}


def test_a_proxy_from_the_environment_gets_the_large_reads_too(
    server: BodyServer, reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://{server.host}")  # the server plays the proxy
    with httpx.Client() as client:
        widen_reads(client)
        assert client.get("http://registry.invalid/v2/").content == BODY
    assert server.targets == ["http://registry.invalid/v2/"]  # it went through the proxy
    assert reads and set(reads) == {READ_SIZE}


def _pool_without_backend() -> httpx.BaseTransport:
    transport = httpx.HTTPTransport()
    del transport._pool._network_backend
    return transport


@pytest.mark.parametrize(
    "upstream",
    [_pool_without_backend, lambda: httpx.MockTransport(lambda _: httpx.Response(200))],
    ids=["pool-without-network-backend", "transport-without-pool"],
)
def test_widening_raises_when_httpx_or_httpcore_moved_what_it_wraps(
    upstream: Callable[[], httpx.BaseTransport],
) -> None:
    with (
        httpx.Client(transport=upstream()) as client,
        pytest.raises(RuntimeError, match="no network backend to wrap"),
    ):
        widen_reads(client)
