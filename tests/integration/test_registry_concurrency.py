"""Eight processes recording bakes at once lose nothing, on SQLite and on PostgreSQL.

The processes also open a brand-new database at the same moment, so the migrations and the
audit key are raced too. Afterwards every artifact, build, package link and audit entry is
there, the audit log verifies, and entries are numbered without a gap.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bakery.registry import models as m
from bakery.registry.audit.verify import verify_log
from bakery.registry.db import open_registry
from bakery.registry.facts import ArtifactFact, BuildFact, PackageFact, ScanFact
from bakery.registry.record import record_artifact
from tests.integration.pg_fixtures import postgres_server, postgres_url  # noqa: F401

PROCESSES = 8
PER_PROCESS = 12
SHARED = [
    ("libc6", "2.36-9+deb12u4"),
    ("openssl", "3.0.11-1~deb12u2"),
    ("zlib1g", "1:1.2.13.dfsg-1"),
]


def _fact(worker: int, n: int) -> ArtifactFact:
    now = datetime.now(UTC)
    own = [(f"pkg-{worker}-{n}-{k}", f"1.{k}-1") for k in range(20)]
    packages = tuple(
        PackageFact(
            purl=f"pkg:deb/debian/{name}@{version}?arch=amd64",
            type="deb",
            name=name,
            version=version,
        )
        for name, version in [*SHARED, *own]
    )
    return ArtifactFact(
        digest=f"sha256:{worker:032x}{n:032x}",
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=1234,
        name=f"golden/w{worker}",
        tags=(f"golden/w{worker}:{n}",),
        build=BuildFact(
            recipe_name=f"golden/w{worker}", recipe_version=str(n), started_at=now, finished_at=now
        ),
        scan=ScanFact(
            passed=True, scanner_version="0", vulnerability_db=None, packages=23, violations=0
        ),
        packages=packages,
    )


def worker(store: str, url: str | None, index: int, barrier: Any) -> None:
    """One recording process: opens the registry at the same moment as the others."""
    barrier.wait()
    registry = open_registry(Path(store), url)
    try:
        for n in range(PER_PROCESS):
            with registry.write() as session:
                record_artifact(session, _fact(index, n), actor=f"worker-{index}")
    finally:
        registry.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_eight_processes_recording_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    store = tmp_path / ".bakery"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=worker, args=(str(store), url, i, barrier)) for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    total = PROCESSES * PER_PROCESS
    registry = open_registry(store, url)
    try:
        with registry.read() as s:
            assert s.scalar(select(func.count()).select_from(m.Artifact)) == total
            assert s.scalar(select(func.count()).select_from(m.Build)) == total
            assert s.scalar(select(func.count()).select_from(m.Scan)) == total
            assert s.scalar(select(func.count()).select_from(m.TagEvent)) == total
            assert s.scalar(select(func.count()).select_from(m.ArtifactPackage)) == total * 23
            assert s.scalar(select(func.count()).select_from(m.Package)) == len(SHARED) + total * 20
            seqs = list(s.scalars(select(m.AuditEntry.seq).order_by(m.AuditEntry.seq)))
            assert seqs == list(range(total))
            report = verify_log(s, registry.signer.verifier)
            assert report.ok, report.problems
            assert report.checkpoints == total
    finally:
        registry.dispose()
    assert (store / "audit.key").stat().st_mode & 0o777 == 0o600
