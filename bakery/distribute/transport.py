"""Large socket reads for the distribution client's connections, and no one else's.

httpcore reads an HTTP/1.1 body 64 KiB at a time (``HTTP11Connection.READ_NUM_BYTES``, a class
attribute: changing it would change every httpx user in the process). For blobs of hundreds of
MB the Python work per read (h11's buffer and events, the generators above it, our loop) then
costs about as much as the hashing; with reads of :data:`READ_SIZE` a 500 MB library pull from
a loopback registry takes 0.73 s instead of 1.05 s (2 cores; benchmarks/bench_push.py).

The mechanism is httpcore's documented seam for the socket layer, the network backend
(``ConnectionPool(network_backend=...)``): :class:`ReadSizeBackend` wraps the pool's backend,
and its streams ask the socket for at least :data:`READ_SIZE` bytes whatever size httpcore asks
for. httpcore's protocol code feeds every read whole to h11 / h2, which take any length (its own
``MockStream`` returns whole chunks whatever ``max_bytes`` says). Over TLS a read returns at most
one record (16 KiB) however much is asked, so the gain is on plain-HTTP (loopback) registries.

httpx does not let a caller pass a network backend, so :func:`widen_reads` installs it in the
pools of the transports a client built itself: the direct one, and one per proxy taken from the
environment (``HTTPS_PROXY``, ``NO_PROXY`` keep working). It reaches ``Client._transport``,
``Client._mounts``, ``HTTPTransport._pool`` and ``ConnectionPool._network_backend``: if httpx or
httpcore move one of them, the call raises instead of silently losing the speed (pyproject bounds
both to the major versions this was written for), and tests/unit/test_distribute_transport.py
checks, at the socket, that the reads are large and that a plain httpx client's are not.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

#: how many bytes a connection of the distribution client asks the socket for at a time
READ_SIZE = 1 << 20


class ReadSizeStream(httpcore.NetworkStream):
    """A network stream whose reads ask for at least ``read_size`` bytes."""

    def __init__(self, stream: httpcore.NetworkStream, read_size: int) -> None:
        self._stream = stream
        self._read_size = read_size

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max(max_bytes, self._read_size), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return ReadSizeStream(tls, self._read_size)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class ReadSizeBackend(httpcore.NetworkBackend):
    """A network backend whose streams are :class:`ReadSizeStream` over ``backend``'s."""

    def __init__(self, backend: httpcore.NetworkBackend, read_size: int) -> None:
        self._backend = backend
        self.read_size = read_size

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return ReadSizeStream(stream, self.read_size)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, timeout, socket_options)
        return ReadSizeStream(stream, self.read_size)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def widen_reads(client: httpx.Client, read_size: int = READ_SIZE) -> None:
    """Make the connections of every transport ``client`` built itself read ``read_size`` bytes
    at a time. Raises RuntimeError when httpx or httpcore no longer look as expected."""
    for transport in (client._transport, *client._mounts.values()):
        if transport is not None:
            _widen(transport, read_size)


def _widen(transport: httpx.BaseTransport, read_size: int) -> None:
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not (
        isinstance(transport, httpx.HTTPTransport)
        and isinstance(pool, httpcore.ConnectionPool)
        and isinstance(backend, httpcore.NetworkBackend)
    ):
        raise RuntimeError(
            f"httpx {httpx.__version__} / httpcore {httpcore.__version__}: no network backend "
            f"to wrap in {type(transport).__name__} (bakery.distribute.transport expects "
            "HTTPTransport._pool._network_backend); install the versions pyproject.toml allows"
        )
    if not isinstance(backend, ReadSizeBackend):
        pool._network_backend = ReadSizeBackend(backend, read_size)
