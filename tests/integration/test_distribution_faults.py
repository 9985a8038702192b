"""Faults: a proxy that injects 500s, dropped connections and stalls between bakery and the
registry; registries that serve content not matching its digest."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bakery.distribute.client import RegistryClient
from bakery.oci import mediatypes as mt
from bakery.oci.digest import sha256_digest
from bakery.oci.layout import OCILayout
from bakery.oci.model import ImageIndex, parse_manifest
from tests.conftest import bakery
from tests.integration.registry_fixtures import (
    Registry,
    add_cosign_signature,
    add_sbom_referrer,
    make_image,
    registry,
)

__all__ = ["registry"]  # the fixture, imported explicitly

MiB = 1 << 20


# -- the fault-injecting proxy ------------------------------------------------------------


@dataclass
class FaultProxy:
    """A TCP proxy to ``upstream`` on 127.0.0.1 that, per connection, passes traffic through,
    answers ``500`` without forwarding, cuts the connection after a random number of bytes, or
    stalls then hangs up. At most ``max_faults`` faults, and each connection lives at most
    ``stall_seconds`` idle, so a run always ends."""

    upstream: int
    seed: int
    fault_rate: float = 0.4
    max_faults: int = 12
    stall_seconds: float = 2.5
    kinds: tuple[str, ...] = ("500", "drop", "stall")
    #: a good connection is cut after uniform(0, pass_budget) request bytes
    pass_budget: int = 24 * MiB
    faults: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._rng = random.Random(self.seed)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    def _choose(self) -> tuple[str, int | None]:
        """What to do with a new connection, and after how many request bytes to cut it."""
        with self._lock:
            if self.total_faults >= self.max_faults:
                return "pass", None
            if self._rng.random() > self.fault_rate:
                # even a good connection dies some time later, often in the middle of a request
                return "pass", self._rng.randrange(0, self.pass_budget)
            kind = self._rng.choice(self.kinds)
            self.faults[kind] = self.faults.get(kind, 0) + 1
            return kind, self._rng.randrange(0, 2 * MiB)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        kind, budget = self._choose()
        with contextlib.closing(client):
            client.settimeout(self.stall_seconds * 2)
            if kind == "500":
                with contextlib.suppress(OSError):
                    client.recv(65536)
                    client.sendall(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                return
            if kind == "stall":
                with contextlib.suppress(OSError):
                    client.recv(65536)
                self._stop.wait(self.stall_seconds)
                return
            limit = budget
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
            except OSError:
                return
            with contextlib.closing(upstream):
                back = threading.Thread(target=self._pump, args=(upstream, client, None))
                back.start()
                self._pump(client, upstream, limit)
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_RDWR)
                    client.shutdown(socket.SHUT_RDWR)
                back.join()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: limit - sent])
                    with self._lock:
                        self.faults["cut"] = self.faults.get("cut", 0) + 1
                    break  # the connection is cut mid-request
                dst.sendall(data)
                sent += len(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def fault_proxy(target: Registry, seed: int, pass_budget: int = 24 * MiB) -> Iterator[FaultProxy]:
    port = int(target.host.rpartition(":")[2])
    proxy = FaultProxy(upstream=port, seed=seed, pass_budget=pass_budget)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def assert_no_dangling_tags(target: Registry, repository: str) -> int:
    """Directly against the registry: every tag's manifest, child manifests and blobs exist."""
    checked = 0
    with RegistryClient(target.host) as client:
        for tag in client.tags(repository):
            top = client.get_manifest(repository, tag)
            assert top is not None, f"tag {tag} points at a missing manifest"
            stack = [top]
            while stack:
                manifest = stack.pop()
                document = parse_manifest(manifest.data)
                if isinstance(document, ImageIndex):
                    for child in document.manifests:
                        found = client.get_manifest(repository, child.digest)
                        assert found is not None, f"{tag}: missing child manifest {child.digest}"
                        stack.append(found)
                    continue
                for blob in (document.config, *document.layers):
                    size = client.blob_size(repository, blob.digest)
                    assert size == blob.size, f"{tag}: blob {blob.digest} missing or short"
            checked += 1
    return checked


def test_push_through_faults_completes_or_fails_cleanly(registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    layout = OCILayout.open(store / "oci")
    image = make_image(layout, "test/app:1", [6 * MiB, 3 * MiB, 200_000])
    add_sbom_referrer(layout, image)
    add_cosign_signature(layout, "test/app", image)
    completed, failed, injected = 0, 0, 0
    for seed in range(6):
        # the last runs are harsh: most connections die within a few MiB
        with fault_proxy(registry, seed, 24 * MiB if seed < 4 else 8 * MiB) as proxy:
            # a repository per run: each push uploads every blob again through the faults
            dest = f"127.0.0.1:{proxy.port}/faulty/app{seed}:1"
            started = time.monotonic()
            done = bakery(
                "push", "test/app:1", dest, "--store", store, "--json", "--timeout", "1",
                timeout=300,
            )  # fmt: skip
            elapsed = time.monotonic() - started
            injected += proxy.total_faults
        print(f"seed {seed}: rc {done.returncode} in {elapsed:.1f}s, faults {proxy.faults}")
        if done.returncode == 0:
            completed += 1
            assert json.loads(done.stdout)["digest"] == image.digest
        else:
            failed += 1
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert lines[0].startswith("error:"), lines[0]
        assert elapsed < 240
        tags = assert_no_dangling_tags(registry, f"faulty/app{seed}")
        if done.returncode == 0:
            assert tags == 3  # 1, the referrers fallback tag, the .sig tag
    assert injected > 0
    assert completed >= 1, f"no push got through {injected} faults ({failed} failed)"


def test_registry_always_failing_is_one_line_error(registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_image(OCILayout.open(store / "oci"), "test/app:1", [1000])
    with fault_proxy(registry, seed=0) as proxy:
        proxy.fault_rate, proxy.max_faults, proxy.kinds = 2.0, 10_000, ("500",)  # every time
        started = time.monotonic()
        done = bakery(
            "push", "test/app:1", f"127.0.0.1:{proxy.port}/down/app:1", "--store", store,
            "--timeout", "0.5",
        )  # fmt: skip
        assert time.monotonic() - started < 60  # bounded retries
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"127.0.0.1:{proxy.port}" in lines[0]
    with RegistryClient(registry.host) as client:
        assert client.tags("down/app") == []


# -- registries serving content that does not verify --------------------------------------


@dataclass
class LyingRegistry:
    """A fake registry (http.server) whose routes map paths to (content type, body)."""

    routes: dict[str, tuple[str, bytes]]
    port: int = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                path = self.path.partition("?")[0]
                if path == "/v2/":
                    found: tuple[str, bytes] | None = ("application/json", b"{}")
                else:
                    found = routes.get(path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", found[0])
                self.send_header("Content-Length", str(len(found[1])))
                self.end_headers()
                if body:
                    self.wfile.write(found[1])

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def source_image(tmp_path: Path) -> tuple[OCILayout, str]:
    layout = OCILayout.open(tmp_path / "source" / "oci")
    return layout, make_image(layout, "test/app:1", [50_000, 1000]).digest


def _assert_nothing_kept(store: Path, *absent: str) -> None:
    layout = OCILayout.open(store / "oci")
    assert layout.check() == []
    assert layout.tags() == []
    for digest in absent:
        assert not layout.has_blob(digest)
    assert not any((store / "oci" / ".tmp").glob("*"))


def test_pull_rejects_a_blob_that_does_not_match_its_digest(
    source_image: tuple[OCILayout, str], tmp_path: Path
) -> None:
    layout, digest = source_image
    manifest = layout.read_blob(digest)
    document = parse_manifest(manifest)
    assert not isinstance(document, ImageIndex)
    routes = {f"/v2/bad/app/manifests/{t}": (mt.MANIFEST, manifest) for t in ("1", digest)}
    for blob in (document.config, *document.layers):
        routes[f"/v2/bad/app/blobs/{blob.digest}"] = (
            "application/octet-stream",
            layout.read_blob(blob.digest, max_size=1 * MiB),
        )
    tampered = document.layers[0]
    good = routes[f"/v2/bad/app/blobs/{tampered.digest}"][1]
    routes[f"/v2/bad/app/blobs/{tampered.digest}"] = (
        "application/octet-stream",
        bytes([good[0] ^ 1]) + good[1:],  # same size, one bit flipped
    )
    with LyingRegistry(routes).running() as host:
        done = bakery("pull", f"{host}/bad/app:1", "--store", tmp_path / "dest")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"served blob {tampered.digest} with other content" in lines[0]
    _assert_nothing_kept(tmp_path / "dest", tampered.digest, digest)


def test_pull_rejects_a_manifest_whose_digest_differs(
    source_image: tuple[OCILayout, str], tmp_path: Path
) -> None:
    layout, digest = source_image
    other = make_image(layout, "test/other:1", [10], seed=9).digest
    wrong_bytes = layout.read_blob(other)
    routes = {
        f"/v2/bad/app/manifests/{digest}": (mt.MANIFEST, wrong_bytes),
        # by tag, the registry claims one digest and serves another's bytes
        "/v2/bad/app/manifests/1": (mt.MANIFEST, wrong_bytes),
    }
    with LyingRegistry(routes).running() as host:
        by_digest = bakery("pull", f"{host}/bad/app@{digest}", "--store", tmp_path / "dest")
        assert by_digest.returncode == 1
        lines = by_digest.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in by_digest.stderr, by_digest.stderr
        assert f"hashes to {sha256_digest(wrong_bytes)}, not {digest}" in lines[0]
    _assert_nothing_kept(tmp_path / "dest", digest, other)
