"""A real ``bakery serve`` (uvicorn) on 127.0.0.1:free-port over a store planted with
synthetic records through the library, with one token per role (and an expired and a revoked
admin token).

The server runs in a subprocess whose stdout and stderr go to a log file, so tests can read
what the service logged. SQLite lives in the store; PostgreSQL comes from ``pg_fixtures``.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bakery.oci import mediatypes as mt
from bakery.oci.model import ContainerConfig, History, ImageConfig, ImageManifest, RootFS
from bakery.registry.db import Registry, open_registry
from bakery.registry.facts import (
    ArtifactFact,
    BuildFact,
    FindingFact,
    PackageFact,
    ParentFact,
    SbomFact,
    ScanFact,
)
from bakery.registry.record import record_artifact
from bakery.registry.signatures import record_signature
from bakery.registry.tokens import create_token, revoke_token
from bakery.registry.trust import trust_key
from bakery.store import Store
from tests.evidence import TEST_KEY, provenance_attestation, scan_attestation, signature

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: a package no real image has: the search tests look for it
PLANTED = "bakery-planted-widget"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def digest(i: int) -> str:
    return f"sha256:{i:064x}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deb(name: str, version: str) -> PackageFact:
    return PackageFact(
        purl=f"pkg:deb/debian/{name}@{version.replace('+', '%2B')}?arch=amd64&distro=debian-12",
        type="deb",
        name=name,
        version=version,
        source_name=name,
        source_version=version,
    )


def _build(recipe: str, version: str, commit: str | None) -> BuildFact:
    return BuildFact(
        recipe_name=recipe,
        recipe_version=version,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=2),
        git_repo="https://git.example/golden.git",
        git_commit=commit,
        source_date_epoch=1700000000,
        host="builder-1",
    )


def _scan(*findings: FindingFact, passed: bool = True) -> ScanFact:
    return ScanFact(
        passed=passed,
        scanner_version="bakery-test",
        vulnerability_db="osv-test",
        packages=3,
        violations=0 if passed else 1,
        findings=findings,
    )


def store_image(store_root: Path) -> tuple[str, int]:
    """A small real image in the store's OCI layout (one layer, a config): (digest, size)."""
    layout = Store.open(store_root).oci
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"hello from a real layer\n"
        info = tarfile.TarInfo("srv/hello.txt")
        info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
        tar.addfile(info, io.BytesIO(data))
    layer_bytes = buffer.getvalue()
    layer = layout.put_blob(layer_bytes, mt.LAYER_TAR)
    config = ImageConfig(
        created="2023-11-14T22:13:20Z",
        architecture="amd64",
        os="linux",
        config=ContainerConfig(
            User="app",
            Entrypoint=["/srv/run"],
            ExposedPorts={"8080/tcp": {}},
            Labels={"org.example.team": "platform"},
            Env=["LANG=C.UTF-8"],
        ),
        rootfs=RootFS(diff_ids=["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]),
        history=[History(created_by="bakery: copy files/hello.txt")],
    )
    manifest = ImageManifest(config=layout.put_json(config, mt.CONFIG), layers=[layer])
    desc = layout.put_json(manifest, mt.MANIFEST)
    layout.tag("golden/real:1", desc)
    return desc.digest, desc.size


@dataclass(frozen=True)
class Planted:
    """What :func:`plant` recorded: base ← nginx ← app (app unsigned), and an unrelated tool."""

    base: str = digest(1)
    nginx: str = digest(2)
    app: str = digest(3)
    tool: str = digest(4)
    real: str = ""


def plant(registry: Registry, store_root: Path) -> Planted:
    """Record a small lineage with packages, findings, scans and signatures, and one image
    whose blobs are really in the store."""
    real, real_size = store_image(store_root)
    p = Planted(real=real)
    cve = FindingFact(
        vuln_id="DSA-5678-1",
        severity="high",
        package_purl=deb("openssl", "3.0.11-1~deb12u2").purl,
        installed_version="3.0.11-1~deb12u2",
        fixed_version="3.0.13-1~deb12u1",
        aliases=("CVE-2024-0727",),
    )
    facts = [
        ArtifactFact(
            digest=p.base,
            media_type=MANIFEST,
            size=1000,
            name="golden/debian-base",
            tags=("golden/debian-base:12",),
            build=_build("golden/debian-base", "12", COMMIT),
            scan=_scan(cve),
            packages=(deb("openssl", "3.0.11-1~deb12u2"), deb("libc6", "2.36-9+deb12u4")),
            sboms=(SbomFact(digest=digest(101), media_type=MANIFEST, size=500),),
        ),
        ArtifactFact(
            digest=p.nginx,
            media_type=MANIFEST,
            size=2000,
            name="golden/nginx",
            tags=("golden/nginx:1.22",),
            parents=(ParentFact(digest=p.base, relation="recipe"),),
            build=_build("golden/nginx", "1.22", COMMIT),
            scan=_scan(
                FindingFact(vuln_id="CVE-2023-44487", severity="medium", aliases=("GHSA-x",))
            ),
            packages=(
                deb("openssl", "3.0.13-1~deb12u1"),
                deb("nginx-light", "1.22.1-9"),
                deb(PLANTED, "1.2.3-1"),
            ),
        ),
        ArtifactFact(
            digest=p.app,
            media_type=MANIFEST,
            size=3000,
            name="team/app",
            tags=("team/app:1.0",),
            parents=(ParentFact(digest=p.nginx, relation="image"),),
            build=_build("team/app", "1.0", "fedcba9876543210fedcba9876543210fedcba98"),
            scan=_scan(),
            packages=(deb("openssl", "3.0.13-1~deb12u1"),),
        ),
        ArtifactFact(
            digest=p.tool,
            media_type=MANIFEST,
            size=4000,
            name="tools/jq",
            tags=("tools/jq:1.6",),
            build=_build("tools/jq", "1.6", None),
            scan=_scan(passed=False),
            packages=(deb("jq", "1.6-2.1"),),
        ),
        ArtifactFact(
            digest=real,
            media_type=MANIFEST,
            size=real_size,
            name="golden/real",
            tags=("golden/real:1",),
            build=_build("golden/real", "1", None),
        ),
    ]
    with registry.write() as session:
        for fact in facts:
            record_artifact(session, fact, actor="planter")
    trust_key(registry, TEST_KEY.public_key, "*", actor="planter")
    names = {p.base: "golden/debian-base", p.nginx: "golden/nginx", p.tool: "tools/jq"}
    for ref, name in names.items():
        record_signature(registry, ref, signature(name, ref), actor="planter")
        verdict = ref != p.tool
        record_signature(
            registry, ref, scan_attestation(name, ref, passed=verdict), actor="planter"
        )
    record_signature(
        registry, p.base, provenance_attestation(names[p.base], p.base), actor="planter"
    )
    return p


@dataclass
class LiveServer:
    """A running ``bakery serve``: its URL, tokens by role, store and log file."""

    url: str
    store: Path
    database_url: str | None
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    planted: Planted = field(default_factory=Planted)

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    store: Path, database_url: str | None, *, max_body: int = 1 << 20
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``bakery serve`` and wait for /healthz; (process, base URL, log file)."""
    port = free_port()
    log = store.parent / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "BAKERY_DATABASE_URL"}
    argv = [sys.executable, "-m", "bakery", "serve", "--store", str(store)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--max-body", str(max_body)]
    if database_url:
        argv += ["--database-url", database_url]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"bakery serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"bakery serve did not answer /healthz in 60 s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_tokens(registry: Registry) -> dict[str, str]:
    tokens = {
        role: create_token(registry, f"test-{role}", role, actor="test")[0]
        for role in ("reader", "builder", "admin")
    }
    past = datetime.now(UTC) - timedelta(minutes=1)
    tokens["expired"] = create_token(
        registry, "test-expired-admin", "admin", actor="test", expires_at=past
    )[0]
    tokens["revoked"], info = create_token(registry, "test-revoked-admin", "admin", actor="test")
    revoke_token(registry, info.id, actor="test")
    return tokens


@pytest.fixture(scope="module")
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A planted registry served over HTTP; parametrize indirectly with "sqlite" or
    "postgresql" (default sqlite)."""
    backend = getattr(request, "param", "sqlite")
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    store = tmp_path_factory.mktemp(f"served-{backend}") / ".bakery"
    registry = open_registry(store, url)
    try:
        planted = plant(registry, store)
        tokens = make_tokens(registry)
    finally:
        registry.dispose()
    proc, base, log = start_server(store, url)
    try:
        yield LiveServer(base, store, url, log, tokens, planted)
    finally:
        stop_server(proc)


def verify_now(admin: httpx.Client, timeout: float = 120) -> dict[str, Any]:
    """Start an audit verification through the API (``admin`` holds an admin token) and wait
    for it to end: the finished run (``state``, ``ok``, ``problems``, ...)."""
    started = admin.post("/api/v1/audit/verifications")
    assert started.status_code == 202, started.text
    job: dict[str, Any] = started.json()
    deadline = time.monotonic() + timeout
    while job["state"] == "running":
        assert time.monotonic() < deadline, f"the verification did not end in {timeout} s: {job}"
        time.sleep(0.05)
        job = admin.get(f"/api/v1/audit/verifications/{job['id']}").json()
    return job
