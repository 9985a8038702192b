"""Pure parts of the registry: the audit log's append rule, and reading Bakery's own SBOMs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bakery.registry.audit import merkle
from bakery.registry.audit.log import LEVEL_SHIFT, _Pending, append, fold, frontier_of
from bakery.registry.audit.rows import Covered, canonical
from bakery.registry.record import packages_from_cyclonedx
from bakery.scan.model import Package
from bakery.scan.sbom.cyclonedx import cyclonedx_json


class FakeSession:
    """Just what ``append`` touches: the session's info dict."""

    def __init__(self, size: int, frontier: list[bytes]) -> None:
        self.info: dict[str, Any] = {
            "bakery_audit_pending": _Pending(start=size, size=size, frontier=frontier)
        }


def test_append_keeps_the_right_edge_and_stores_every_completed_node() -> None:
    reference = merkle.MemoryTree()
    session = FakeSession(0, [])
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(70):
        seq = append(session, kind="k", actor="a", at=at, subject={"n": n})  # type: ignore[arg-type]
        pending: _Pending = session.info["bakery_audit_pending"]
        reference.append(pending.entries[-1]["data"])
        assert seq == n
        assert pending.frontier == frontier_of(n + 1, reference.node)
        assert fold(pending.frontier) == reference.root()
    stored = {
        (node["pos"] >> LEVEL_SHIFT, node["pos"] & ((1 << LEVEL_SHIFT) - 1)): node["hash"]
        for node in pending.nodes
    }
    expected = {
        (level, index): reference.node(level, index)
        for level in range(7)
        for index in range(70 >> level)
    }
    assert stored == expected


def test_entries_are_canonical_json_covering_rows() -> None:
    session = FakeSession(5, [merkle.leaf_hash(b"x")] * 2)  # a log of 5: peaks of 4 and 1
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    row = Covered("artifacts", {"id": 7}, "ab" * 32)
    assert append(session, kind="bake", actor="ci", at=at, subject={"d": 1}, rows=[row]) == 5  # type: ignore[arg-type]
    data = session.info["bakery_audit_pending"].entries[0]["data"]
    assert data == canonical(
        {
            "seq": 5,
            "kind": "bake",
            "actor": "ci",
            "at": "2026-01-02T03:04:05.000006Z",
            "subject": {"d": 1},
            "rows": [{"table": "artifacts", "key": {"id": 7}, "sha256": "ab" * 32}],
        }
    )
    assert data.startswith(b'{"actor":"ci","at":"2026-01-02T03:04:05.000006Z"')


def test_append_outside_a_write_transaction_is_a_bug() -> None:
    class Bare:
        def __init__(self) -> None:
            self.info: dict[str, Any] = {}

    with pytest.raises(RuntimeError):
        append(Bare(), kind="k", actor="a", at=datetime.now(UTC), subject={})  # type: ignore[arg-type]


def test_packages_round_trip_through_bakerys_cyclonedx() -> None:
    packages = [
        Package(
            type="deb",
            name="libssl3",
            version="3.0.11-1~deb12u2",
            purl="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            architecture="amd64",
            source_name="openssl",
            source_version="3.0.11-1~deb12u2",
            location="/var/lib/dpkg/status",
        ),
        Package(
            type="npm",
            name="@babel/core",
            version="7.24.0",
            purl="pkg:npm/%40babel/core@7.24.0",
            location="/app/node_modules/@babel/core/package.json",
        ),
        Package(
            type="pypi",
            name="requests",
            version="2.31.0",
            purl="pkg:pypi/requests@2.31.0",
            location="/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
        ),
    ]
    document = cyclonedx_json(
        packages,
        image_name="golden/x",
        image_digest="sha256:" + "a" * 64,
        repository_url=None,
        created="2026-01-01T00:00:00Z",
    )
    facts = {f.purl: f for f in packages_from_cyclonedx(document)}
    assert set(facts) == {p.purl for p in packages}
    ssl = facts[packages[0].purl]
    assert (ssl.type, ssl.name, ssl.version, ssl.source_name) == (
        "deb",
        "libssl3",
        "3.0.11-1~deb12u2",
        "openssl",
    )
    assert facts[packages[1].purl].name == "@babel/core"
    assert facts[packages[2].purl].type == "pypi"
