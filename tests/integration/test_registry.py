"""The metadata registry on SQLite and on a real PostgreSQL server: the same tests on both.

Queries (packages in dpkg order, vulnerabilities, lineage, channels at a time, builds,
commits, evidence), channels (refusals, history, rollback), revocation (cascade, fallback),
tokens, immutable tags, the audit log (proofs, tamper detection) and hostile input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, insert, inspect, select, text, update
from sqlalchemy.orm import Session

from bakery.errors import ImmutableTag, PromotionRefused, ReferenceNotFound, UserError
from bakery.registry import channels, queries, revocation, signatures, tokens
from bakery.registry import models as m
from bakery.registry.audit import merkle
from bakery.registry.audit.log import append, begin_write, finish_write, inclusion_proof
from bakery.registry.audit.note import open_checkpoint
from bakery.registry.audit.rows import Covered, canonical, current_digest, current_digests, sha256
from bakery.registry.audit.verify import verify_log
from bakery.registry.db import (
    Registry,
    _alembic_config,
    database_url,
    head_revision,
    load_signer,
    make_engine,
    open_registry,
)
from bakery.registry.facts import (
    ArtifactFact,
    BuildFact,
    FindingFact,
    PackageFact,
    ParentFact,
    Recorded,
    SbomFact,
    ScanFact,
)
from bakery.registry.record import disk_facts, record_artifact
from bakery.registry.tags import add_rule
from bakery.registry.trust import trust_key
from tests.conftest import bakery
from tests.evidence import TEST_KEY, provenance_attestation, scan_attestation, signature
from tests.integration.pg_fixtures import postgres_server, postgres_url  # noqa: F401

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Registry, Path, str | None]]:
    """(registry, store directory, database URL or None for SQLite)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    store = tmp_path / ".bakery"
    registry = open_registry(store, url)
    try:
        yield registry, store, url
    finally:
        registry.dispose()


def digest(i: int) -> str:
    return f"sha256:{i:064x}"


def deb(name: str, version: str, source: str | None = None) -> PackageFact:
    return PackageFact(
        purl=f"pkg:deb/debian/{name}@{version.replace('+', '%2B')}?arch=amd64&distro=debian-12",
        type="deb",
        name=name,
        version=version,
        source_name=source or name,
        source_version=version,
    )


def build(recipe: str, version: str = "1", commit: str | None = None) -> BuildFact:
    return BuildFact(
        recipe_name=recipe,
        recipe_version=version,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=3),
        git_repo="https://git.example/golden.git",
        git_commit=commit,
        source_date_epoch=1700000000,
    )


def scan(passed: bool = True, findings: tuple[FindingFact, ...] = ()) -> ScanFact:
    return ScanFact(
        passed=passed,
        scanner_version="0.1.0",
        vulnerability_db="osv",
        packages=3,
        violations=0 if passed else 1,
        findings=findings,
    )


def record(registry: Registry, fact: ArtifactFact) -> Recorded:
    with registry.write() as session:
        return record_artifact(session, fact, actor="ci")


def image(
    i: int,
    name: str,
    packages: tuple[PackageFact, ...],
    *,
    parent: int | None = None,
    tags: tuple[str, ...] = (),
    passed: bool = True,
    findings: tuple[FindingFact, ...] = (),
    commit: str | None = None,
    scanned: bool = True,
) -> ArtifactFact:
    return ArtifactFact(
        digest=digest(i),
        media_type=MANIFEST,
        size=1000 + i,
        name=name,
        created_at=T0,
        tags=tags,
        parents=(ParentFact(digest=digest(parent), relation="recipe"),) if parent else (),
        build=build(name, str(i), commit),
        scan=scan(passed, findings) if scanned else None,
        packages=packages,
        sboms=(
            SbomFact(
                digest=digest(10_000 + i), media_type="application/vnd.cyclonedx+json", size=500
            ),
        ),
    )


OPENSSL_OLD = deb("openssl", "3.0.11-1~deb12u2")
OPENSSL_FIXED = deb("openssl", "3.0.13-1~deb12u1")
OPENSSL_EXACT = deb("openssl", "3.0.13")
LIBSSL_OLD = deb("libssl3", "3.0.11-1~deb12u2", source="openssl")
LIBC = deb("libc6", "2.36-9+deb12u4", source="glibc")
DSA = FindingFact(
    vuln_id="DSA-5678-1",
    severity="high",
    package_purl=OPENSSL_OLD.purl,
    installed_version=OPENSSL_OLD.version,
    fixed_version="3.0.13-1~deb12u1",
    aliases=("CVE-2024-0727", "CVE-2023-6237"),
)


def populate(registry: Registry) -> None:
    """base(1) ← nginx(2) ← app(3); other(4) separately; epoch variants(5)."""
    record(
        registry,
        image(
            1,
            "golden/debian-base",
            (OPENSSL_OLD, LIBSSL_OLD, LIBC),
            tags=("golden/debian-base:12",),
            findings=(DSA,),
            commit="a" * 40,
        ),
    )
    record(
        registry,
        image(
            2,
            "golden/nginx",
            (OPENSSL_FIXED, LIBC),
            parent=1,
            tags=("golden/nginx:1.22",),
            commit="a" * 40,
        ),
    )
    record(
        registry,
        image(
            3, "apps/web", (OPENSSL_FIXED, LIBC), parent=2, tags=("apps/web:1",), commit="b" * 40
        ),
    )
    record(
        registry,
        image(
            4,
            "golden/other",
            (OPENSSL_EXACT, deb("zlib1g", "1:1.2.13.dfsg-1")),
            tags=("golden/other:1",),
        ),
    )


def sign(registry: Registry, i: int, *, scan: bool | None = True) -> None:
    """The test key (trusted for every repository) signs image ``i`` and, unless ``scan`` is
    None, attests a scan whose verdict is ``scan``."""
    trust_key(registry, TEST_KEY.public_key, "*", actor="ci")
    signatures.record_signature(registry, digest(i), signature("test/image", digest(i)), actor="ci")
    if scan is not None:
        attested = scan_attestation("test/image", digest(i), passed=scan)
        signatures.record_signature(registry, digest(i), attested, actor="ci")


# -- queries -------------------------------------------------------------------------------


def test_package_range_queries_use_dpkg_order(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    with registry.read() as s:
        total, hits = queries.artifacts_with_package(s, name="openssl", versions="<3.0.13")
        assert total == 1 and [h.digest for h in hits] == [digest(1)]
        # 3.0.13-1~deb12u1 sorts after 3.0.13 in dpkg order (revision 1~deb12u1 > 0)
        _, hits = queries.artifacts_with_package(s, name="openssl", versions=">3.0.13")
        assert sorted(h.digest for h in hits) == [digest(2), digest(3)]
        _, hits = queries.artifacts_with_package(s, name="openssl", versions=">=3.0.11,<=3.0.13")
        assert sorted(h.digest for h in hits) == [digest(1), digest(4)]
        _, hits = queries.artifacts_with_package(s, name="openssl", versions="==3.0.13-0")
        assert [h.digest for h in hits] == [digest(4)]  # dpkg: 3.0.13 == 3.0.13-0
        _, hits = queries.artifacts_with_package(
            s, name="zlib1g", versions=">1.3", package_type="deb"
        )
        assert [h.digest for h in hits] == [digest(4)]  # the epoch 1: dominates
        total, _ = queries.artifacts_with_package(
            s, name="openssl", versions="<3.0.13", source=True
        )
        assert total == 2  # openssl and libssl3 of source openssl, both in artifact 1
        _, hits = queries.artifacts_with_package(s, purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4")
        assert len(hits) == 3
        _, hits = queries.artifacts_with_package(s, purl="pkg:deb/debian/openssl")
        assert len(hits) == 4
        total, page = queries.artifacts_with_package(s, name="libc6", limit=2, offset=2)
        assert total == 3 and len(page) == 1


def test_vulnerability_by_id_and_alias(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    sign(registry, 1)
    channels.promote(registry, digest(1), "prod", reason="r", actor="rm")
    with registry.read() as s:
        for vuln in ("DSA-5678-1", "CVE-2024-0727", "CVE-2023-6237"):
            hits = queries.artifacts_affected_by(s, vuln)
            assert [h.digest for h in hits] == [digest(1)]
            assert hits[0].channels == ["golden/debian-base@prod"]
            assert hits[0].fixed_version == "3.0.13-1~deb12u1"
        assert queries.artifacts_affected_by(s, "CVE-1999-0001") == []


def test_lineage_up_and_down_with_channels(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    sign(registry, 2)
    channels.promote(registry, "golden/nginx:1.22", "staging", reason="r", actor="rm")
    with registry.read() as s:
        nodes = queries.lineage(s, "golden/nginx:1.22")
        assert [(n.digest, n.distance) for n in nodes] == [
            (digest(1), -1),
            (digest(2), 0),
            (digest(3), 1),
        ]
        assert nodes[1].channels == ["golden/nginx@staging"]
        up = queries.lineage(s, digest(3), down=False)
        assert [n.distance for n in up] == [-2, -1, 0]
        assert [n.distance for n in queries.lineage(s, digest(3), down=False, depth=1)] == [-1, 0]
        assert [n.digest for n in queries.lineage(s, digest(1), up=False)] == [
            digest(i) for i in (1, 2, 3)
        ]


def test_lineage_of_depth_ten(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    for i in range(1, 12):
        record(registry, image(i, f"chain/n{i}", (LIBC,), parent=i - 1 if i > 1 else None))
    with registry.read() as s:
        nodes = queries.lineage(s, digest(11), down=False)
    assert [n.distance for n in nodes] == list(range(-10, 1))


def test_builds_and_commits(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    with registry.read() as s:
        builds = queries.builds_of(s, "golden/nginx")
        assert [b.digest for b in builds] == [digest(2)]
        assert builds[0].git_repo == "https://git.example/golden.git"
        assert builds[0].source_date_epoch == 1700000000
        assert sorted(b.digest or "" for b in queries.built_from_commit(s, "a" * 40)) == [
            digest(1),
            digest(2),
        ]
        assert [b.digest for b in queries.built_from_commit(s, "bbbbbbb")] == [digest(3)]
        assert queries.built_from_commit(s, "c" * 40) == []


def test_recording_is_idempotent(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    fact = image(1, "golden/debian-base", (OPENSSL_OLD, LIBC), tags=("golden/debian-base:12",))
    with registry.write() as s:
        first = record_artifact(s, fact, actor="ci")
    with registry.write() as s:
        again = record_artifact(s, fact, actor="ci")
    assert first.created and not again.created and again.audit_entry is None
    with registry.read() as s:
        assert s.scalar(select(text("count(*)")).select_from(m.Build)) == 1
        assert s.scalar(select(text("count(*)")).select_from(m.ArtifactPackage)) == 2
        assert s.scalar(select(text("count(*)")).select_from(m.AuditEntry)) == 1


def test_evidence_report(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    record(registry, image(5, "golden/unscanned", (LIBC,), scanned=False))
    sign(registry, 1)
    provenance = provenance_attestation("test/image", digest(1))
    signatures.record_signature(registry, digest(1), provenance, actor="ci")
    channels.promote(registry, digest(1), "prod", reason="r", actor="rm")
    revocation.revoke(registry, digest(1), reason="CVE", actor="sec", cascade=False)
    with registry.read() as s:
        report = queries.evidence_report(s)
    assert report.images == 5
    assert report.counts["unsigned"] == 4
    assert report.unsigned == [digest(i) for i in (2, 3, 4, 5)]
    assert report.no_provenance == [digest(i) for i in (2, 3, 4, 5)]
    assert report.unscanned == [digest(5)]
    assert report.no_sbom == []
    # the revocation made prod fall back to nothing, so no channel points at it any more
    assert report.revoked_in_channel == []
    assert not report.complete
    with registry.read() as s:
        capped = queries.evidence_report(s, limit=2)
    assert capped.unsigned == [digest(2), digest(3)]  # the oldest two, of all four counted
    assert capped.counts == report.counts


# -- channels and revocation ---------------------------------------------------------------


def test_promotion_refusals(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    record(registry, image(6, "golden/failing", (LIBC,), passed=False))
    record(registry, image(7, "golden/unscanned", (LIBC,), scanned=False))
    sign(registry, 6, scan=False)
    sign(registry, 7, scan=None)
    with pytest.raises(PromotionRefused, match="not signed by a trusted key"):
        channels.promote(registry, digest(1), "prod", reason="r", actor="rm")
    with pytest.raises(PromotionRefused, match="signed scan fails the recipe's policy"):
        channels.promote(registry, digest(6), "prod", reason="r", actor="rm")
    with pytest.raises(PromotionRefused, match="no scan attestation signed by a trusted key"):
        channels.promote(registry, digest(7), "prod", reason="r", actor="rm")
    sign(registry, 1)
    with pytest.raises(PromotionRefused, match="never in staging"):
        channels.promote(
            registry, digest(1), "prod", reason="r", actor="rm", require_channel="staging"
        )
    channels.promote(registry, digest(1), "staging", reason="canary ok", actor="rm")
    done = channels.promote(
        registry, digest(1), "prod", reason="r", actor="rm", require_channel="staging"
    )
    assert done.digest == digest(1) and done.repository == "golden/debian-base"
    record(registry, image(8, "golden/debian-base", (LIBC,), tags=("golden/debian-base:13",)))
    sign(registry, 8)
    revocation.revoke(registry, digest(8), reason="bad", actor="sec", cascade=False)
    with pytest.raises(PromotionRefused, match="revoked"):
        channels.promote(registry, digest(8), "prod", reason="r", actor="rm")


def test_history_rollback_and_time_travel(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    for i in (1, 2, 3):
        record(registry, image(i, "golden/base", (LIBC,), tags=(f"golden/base:{i}",)))
        sign(registry, i)
    a = channels.promote(registry, "golden/base:1", "prod", reason="first", actor="alice")
    b = channels.promote(registry, "golden/base:2", "prod", reason="second", actor="bob")
    c = channels.promote(registry, "golden/base:3", "prod", reason="third", actor="carol")
    assert (b.previous, c.previous) == (digest(1), digest(2))
    back = channels.rollback(registry, "prod", repo=None, reason="oops", actor="dave")
    assert back.digest == digest(2) and back.previous == digest(3) and back.action == "rollback"
    back = channels.rollback(registry, "prod", repo="golden/base", reason="again", actor="dave")
    assert back.digest == digest(1)
    with pytest.raises(UserError, match="no earlier good assignment"):
        channels.rollback(registry, "prod", repo=None, reason="too far", actor="dave")
    with registry.read() as s:
        history = channels.history(s, "prod")
        assert [(h.action, h.digest, h.actor) for h in history] == [
            ("rollback", digest(1), "dave"),
            ("rollback", digest(2), "dave"),
            ("promote", digest(3), "carol"),
            ("promote", digest(2), "bob"),
            ("promote", digest(1), "alice"),
        ]
        assert history[-1].reason == "first"
        at_b = channels.pointed_at(s, "prod", b.at + (c.at - b.at) / 2)
        assert at_b is not None and at_b.digest == digest(2)
        assert channels.pointed_at(s, "prod", a.at - timedelta(seconds=1)) is None
        assert channels.pointed_at(s, "prod", a.at) is not None


def test_revocation_cascades_and_channels_fall_back(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    record(registry, image(5, "golden/nginx", (LIBC,), tags=("golden/nginx:1.20",)))
    for i in (1, 2, 3, 5):
        sign(registry, i)
    channels.promote(registry, digest(5), "prod", reason="old good", actor="rm")
    channels.promote(registry, digest(2), "prod", reason="new", actor="rm")
    channels.promote(registry, digest(3), "prod", reason="app", actor="rm")
    done = revocation.revoke(
        registry, "golden/debian-base:12", reason="CVE-2024-0727", actor="sec", cascade=True
    )
    assert set(done.revoked) == {digest(1), digest(2), digest(3)}
    assert done.channel_fallbacks == 2  # golden/nginx@prod and apps/web@prod
    for i in (1, 2, 3):
        assert revocation.is_revoked(registry, digest(i))
    assert not revocation.is_revoked(registry, digest(4))
    revocation.ensure_not_revoked(registry, digest(4), what="base")
    with pytest.raises(UserError, match=r"base sha256:0+1 is revoked \(CVE-2024-0727; by sec"):
        revocation.ensure_not_revoked(registry, digest(1), what="base")
    with registry.read() as s:
        nginx = channels.history(s, "prod", "golden/nginx")
        assert (nginx[0].action, nginx[0].digest) == ("fallback", digest(5))  # last good
        web = channels.history(s, "prod", "apps/web")
        assert (web[0].action, web[0].digest) == ("fallback", None)  # nothing good before
        cascaded = s.scalars(select(m.Revocation).order_by(m.Revocation.id)).all()
        assert [r.cause_id for r in cascaded] == [None, cascaded[0].id, cascaded[0].id]
    with pytest.raises(UserError, match="already revoked"):
        revocation.revoke(registry, digest(1), reason="again", actor="sec", cascade=False)
    with pytest.raises(UserError, match="channel 'prod' exists in 2 repositories"):
        channels.rollback(registry, "prod", repo=None, reason="x", actor="rm")


def test_immutable_tags(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    with registry.write() as s:
        add_rule(s, "golden/*:1.*", actor="admin", at=T0)
    record(
        registry,
        image(1, "golden/nginx", (LIBC,), tags=("golden/nginx:1.22", "golden/nginx:latest")),
    )
    record(
        registry, image(2, "golden/nginx", (LIBC,), tags=("golden/nginx:latest",))
    )  # mutable: moves
    with pytest.raises(ImmutableTag):
        record(registry, image(3, "golden/nginx", (LIBC,), tags=("golden/nginx:1.22",)))
    with registry.read() as s:
        assert (
            s.scalars(select(m.Artifact.digest).where(m.Artifact.digest == digest(3))).first()
            is None
        )
        events = s.scalars(
            select(m.TagEvent).where(m.TagEvent.tag == "latest").order_by(m.TagEvent.id)
        ).all()
        moved = [s.get_one(m.Artifact, e.artifact_id).digest for e in events]
        assert moved == [digest(1), digest(2)]  # the full history of the tag


def test_tokens_are_hashed_and_checked(db: tuple[Registry, Path, str | None]) -> None:
    registry, store, url = db
    raw, info = tokens.create_token(registry, "ci builder", "builder", actor="admin")
    assert info.role == "builder"
    assert tokens.authenticate(registry, raw) == info
    assert tokens.authenticate(registry, raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert tokens.authenticate(registry, "bkr_0000000000000000_" + "x" * 43) is None
    assert tokens.authenticate(registry, "' OR 1=1 --") is None
    past = datetime.now(UTC) - timedelta(days=1)
    expired, _ = tokens.create_token(registry, "old", "reader", actor="admin", expires_at=past)
    assert tokens.authenticate(registry, expired) is None
    secret = raw.split("_", 2)[2]  # the secret itself may hold "_"
    with registry.read() as s:
        for row in s.scalars(select(m.Token)):
            assert secret.encode() not in bytes(row.secret_hash)
        dump = b"".join(bytes(d) for d in s.scalars(select(m.AuditEntry.data)))
        assert secret.encode() not in dump
    if url is None:
        assert secret.encode() not in (store / "bakery.db").read_bytes()
    with pytest.raises(UserError):
        tokens.create_token(registry, "x", "root", actor="admin")


def test_tokens_expire_by_default_and_can_be_revoked(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    raw, info = tokens.create_token(registry, "ci", "builder", actor="admin")
    assert info.expires_at is not None
    assert info.expires_at - info.created_at == tokens.DEFAULT_LIFETIME == timedelta(days=90)
    _, lasting = tokens.create_token(registry, "lasting", "reader", actor="admin", expires_at=None)
    assert lasting.expires_at is None
    _, day = tokens.create_token(
        registry, "day", "reader", actor="admin", expires_at=timedelta(hours=24)
    )
    assert day.expires_at is not None and day.expires_at - day.created_at == timedelta(hours=24)
    assert tokens.parse_lifetime("30d") == timedelta(days=30)
    assert tokens.parse_lifetime(" 12h") == timedelta(hours=12)
    assert tokens.parse_lifetime("2w") == timedelta(weeks=2)
    assert tokens.parse_lifetime("90m") == timedelta(minutes=90)
    for bad in ("", "0d", "-1d", "30", "d", "1y", "30 d", "99999999d", "5000d"):
        with pytest.raises(UserError):
            tokens.parse_lifetime(bad)

    revoked = tokens.revoke_token(registry, info.id, actor="security")
    assert revoked.revoked_by == "security" and revoked.revoked_at is not None
    assert tokens.state(revoked, datetime.now(UTC)) == "revoked"
    assert tokens.authenticate(registry, raw) is None
    assert tokens.identify(registry, raw) == revoked  # the secret is still known: "revoked"
    assert tokens.find_token(registry, info.id) == revoked
    with pytest.raises(UserError, match="revoked already"):
        tokens.revoke_token(registry, info.id, actor="security")
    with pytest.raises(ReferenceNotFound):
        tokens.revoke_token(registry, "0123456789abcdef", actor="security")
    for bad in ("", "' OR 1=1 --", raw, "0123456789ABCDEF"):
        with pytest.raises(UserError, match="not a token ID"):
            tokens.revoke_token(registry, bad, actor="security")
    assert [t.id for t in tokens.list_tokens(registry) if t.revoked_at] == [info.id]
    with registry.read() as s:
        assert s.scalar(select(text("count(*)")).select_from(m.Token)) == 3  # never deleted
        last = s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.seq.desc())).first()
        assert last is not None and last.kind == "token-revoke" and last.actor == "security"
        assert json.loads(bytes(last.data))["subject"]["token_id"] == info.id
        assert verify_log(s, registry.signer.verifier).ok


def test_last_use_is_written_at_most_once_a_minute(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    _, info = tokens.create_token(registry, "ci", "builder", actor="admin")
    t0 = datetime.now(UTC)
    with registry.read() as s:
        before = s.scalar(select(text("count(*)")).select_from(m.AuditEntry))
    assert tokens.record_use(registry, info, t0) is True
    seen = tokens.find_token(registry, info.id)
    assert seen is not None and seen.last_used_at == t0
    assert tokens.record_use(registry, seen, t0 + timedelta(seconds=30)) is False
    # a stale view (another process noted a use meanwhile): the database still says no
    assert tokens.record_use(registry, info, t0 + timedelta(seconds=30)) is False
    assert tokens.record_use(registry, seen, t0 + timedelta(seconds=61)) is True
    later = tokens.find_token(registry, info.id)
    assert later is not None and later.last_used_at == t0 + timedelta(seconds=61)
    with registry.read() as s:  # bookkeeping, not history: no audit entry, and no tampering
        assert s.scalar(select(text("count(*)")).select_from(m.AuditEntry)) == before
        assert verify_log(s, registry.signer.verifier).ok


@pytest.mark.parametrize(
    "what",
    ["un-revoked", "revoker renamed", "role raised after revocation", "revoked row deleted"],
)
def test_audit_detects_edits_of_a_revoked_token(
    db: tuple[Registry, Path, str | None], what: str
) -> None:
    registry, _, _ = db
    _, info = tokens.create_token(registry, "leaked", "reader", actor="admin")
    _, other = tokens.create_token(registry, "other", "reader", actor="admin")
    tokens.revoke_token(registry, info.id, actor="security")
    tokens.record_use(registry, other, datetime.now(UTC))
    with registry.read() as s:
        report = verify_log(s, registry.signer.verifier)
        assert report.ok, report.problems
    row = m.Token.token_id == info.id
    statements: dict[str, object] = {
        "un-revoked": update(m.Token).where(row).values(revoked_at=None, revoked_by=None),
        "revoker renamed": update(m.Token).where(row).values(revoked_by="nobody"),
        "role raised after revocation": update(m.Token).where(row).values(role="admin"),
        "revoked row deleted": delete(m.Token).where(row),
    }
    problems = _tamper(registry, statements[what])
    assert problems and all("tokens row" in p for p in problems), problems


def _token_content_at_0001(salt: bytes, secret: str, at: datetime) -> dict[str, object]:
    return {
        "id": 1,
        "token_id": "00112233445566aa",
        "name": "old admin",
        "role": "admin",
        "salt": salt,
        "secret_hash": tokens._hash(secret, salt),
        "actor": "root",
        "created_at": at,
        "expires_at": None,
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_0001_keeps_tokens_and_the_audit_log(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """A database made at revision 0001, with a token and the audit entry that covers it as
    0001's code wrote them, upgrades to the head: the token still works and still verifies,
    then is revoked; and 0002 downgrades again."""
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    store = tmp_path / ".bakery"
    store.mkdir()
    engine = make_engine(database_url(store, url))
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            assert "revoked_at" not in {
                c["name"] for c in inspect(connection).get_columns("tokens")
            }
        secret, at = "A" * 43, datetime(2026, 11, 30, tzinfo=UTC)
        content = _token_content_at_0001(b"s" * 16, secret, at)
        signer = load_signer(store)
        with Session(engine) as session, session.begin():
            session.execute(insert(m.Token.__table__).values(**content))  # type: ignore[arg-type]
            begin_write(session)
            covered = Covered("tokens", {"id": 1}, sha256(canonical(content)))
            subject = {"token_id": content["token_id"], "name": "old admin", "role": "admin"}
            append(session, kind="token", actor="root", at=at, subject=subject, rows=[covered])
            finish_write(session, signer, at)
    finally:
        engine.dispose()

    registry = open_registry(store, url)  # migrates to the head
    try:
        with registry.read() as s:
            assert MigrationContext.configure(s.connection()).get_current_revision() == (
                head_revision()
            )
            report = verify_log(s, registry.signer.verifier)
            assert report.ok and report.rows_checked == 1, report.problems
        raw = f"bkr_{content['token_id']}_{secret}"
        found = tokens.authenticate(registry, raw)
        assert found is not None and found.expires_at is None and found.revoked_at is None
        assert tokens.record_use(registry, found, datetime.now(UTC))
        tokens.revoke_token(registry, found.id, actor="security")
        assert tokens.authenticate(registry, raw) is None
        with registry.read() as s:
            report = verify_log(s, registry.signer.verifier)
            assert report.ok, report.problems
    finally:
        registry.dispose()

    engine = make_engine(database_url(store, url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
            columns = {c["name"] for c in inspect(connection).get_columns("tokens")}
        assert "revoked_at" not in columns and "last_used_at" not in columns
    finally:
        engine.dispose()


# -- the audit log -------------------------------------------------------------------------


def _all_writes(registry: Registry) -> None:
    populate(registry)
    for i in (1, 2):
        sign(registry, i)
    channels.promote(registry, digest(1), "prod", reason="r", actor="rm")
    channels.promote(registry, digest(2), "prod", reason="r", actor="rm")
    revocation.revoke(registry, digest(3), reason="r", actor="sec", cascade=True)
    tokens.create_token(registry, "t", "admin", actor="root")


def test_audit_log_proofs_and_checkpoints(db: tuple[Registry, Path, str | None]) -> None:
    registry, store, _ = db
    _all_writes(registry)
    with registry.read() as s:
        kinds = [k for k in s.scalars(select(m.AuditEntry.kind).order_by(m.AuditEntry.seq))]
        signed = ["signature", "attestation"] * 2
        assert kinds == ["bake"] * 4 + ["trust", *signed] + ["promotion"] * 2 + [
            "revocation",
            "token",
        ]
        size = len(kinds)
        for seq in range(size):
            proof = inclusion_proof(s, seq)
            assert proof.size == size and proof.verifies()
            assert proof.leaf_hash == merkle.leaf_hash(proof.entry)
        checkpoint = open_checkpoint(proof.checkpoint, registry.signer.verifier)
        assert checkpoint.size == size and checkpoint.root == proof.root
        entries = [
            bytes(d) for d in s.scalars(select(m.AuditEntry.data).order_by(m.AuditEntry.seq))
        ]
        assert merkle.root_of([merkle.leaf_hash(e) for e in entries]) == proof.root
        entry = json.loads(entries[0])
        assert entry["kind"] == "bake" and {r["table"] for r in entry["rows"]} >= {
            "artifacts",
            "builds",
            "artifact_packages.v2",
            "findings",
            "scans",
            "tag_events",
            "repositories",
        }
        report = verify_log(s, registry.signer.verifier, trusted=store / "trusted")
        assert report.ok, report.problems
        with pytest.raises(UserError):
            inclusion_proof(s, size)
    # the trusted checkpoint grows consistently
    tokens.create_token(registry, "t2", "reader", actor="root")
    with registry.read() as s:
        report = verify_log(s, registry.signer.verifier, trusted=store / "trusted")
        assert report.ok and report.consistent_with == size


def _tamper(registry: Registry, statement: object) -> list[str]:
    with registry.write() as s:
        s.execute(statement)  # type: ignore[call-overload]
    with registry.read() as s:
        return verify_log(s, registry.signer.verifier).problems


@pytest.mark.parametrize(
    "what",
    [
        "entry",
        "delete entry",
        "node",
        "artifact row",
        "assignment row",
        "package link",
        "finding",
        "revocation row",
        "token row",
        "checkpoint",
        "head",
    ],
)
def test_audit_detects_tampering(db: tuple[Registry, Path, str | None], what: str) -> None:
    registry, _, _ = db
    _all_writes(registry)
    with registry.read() as s:
        assert verify_log(s, registry.signer.verifier).ok
        link = s.execute(
            select(m.ArtifactPackage.package_id, m.ArtifactPackage.artifact_id).limit(1)
        ).one()
    statements: dict[str, object] = {
        "entry": update(m.AuditEntry).where(m.AuditEntry.seq == 2).values(data=b'{"forged":1}'),
        "delete entry": delete(m.AuditEntry).where(m.AuditEntry.seq == 9),
        "node": update(m.AuditNode)
        .where(m.AuditNode.pos == (1 << 48) | 1)
        .values(hash=b"\x00" * 32),
        "artifact row": update(m.Artifact).where(m.Artifact.id == 2).values(size=1),
        "assignment row": update(m.ChannelAssignment).values(reason="nothing to see"),
        "package link": delete(m.ArtifactPackage).where(
            m.ArtifactPackage.package_id == link[0], m.ArtifactPackage.artifact_id == link[1]
        ),
        "finding": update(m.Finding).values(severity="low"),
        "revocation row": delete(m.Revocation),
        "token row": update(m.Token).values(role="admin", name="renamed"),
        "checkpoint": update(m.AuditCheckpoint).values(size=3),
        "head": update(m.AuditHead).values(frontier=b"\x00" * 64),
    }
    problems = _tamper(registry, statements[what])
    assert problems, f"{what} was not detected"


def test_audit_detects_a_rewritten_history(db: tuple[Registry, Path, str | None]) -> None:
    """Entries rewritten and re-signed with the key still fail against the verified checkpoint."""
    registry, store, _ = db
    _all_writes(registry)
    trusted = store / "trusted"
    with registry.read() as s:
        assert verify_log(s, registry.signer.verifier, trusted=trusted).ok
    with registry.write() as s:  # drop the last entry and everything that vouched for it
        s.execute(delete(m.AuditEntry).where(m.AuditEntry.seq == 12))
        s.execute(delete(m.AuditNode).where(m.AuditNode.pos.in_([12])))  # it completed no subtree
        s.execute(delete(m.AuditCheckpoint).where(m.AuditCheckpoint.size == 13))
        s.execute(update(m.AuditHead).values(size=12))
        s.execute(delete(m.Token))
    with registry.read() as s:
        report = verify_log(s, registry.signer.verifier, trusted=trusted)
    assert any("shrank" in p for p in report.problems), report.problems


def test_audit_verify_after_a_trust_anchor(db: tuple[Registry, Path, str | None]) -> None:
    """A later run checks the checkpoints made since the accepted one, and still every entry
    and covered row; the bulk row check agrees with the row-by-row one."""
    registry, store, _ = db
    _all_writes(registry)
    trusted = store / "trusted"
    with registry.read() as s:
        first = verify_log(s, registry.signer.verifier, trusted=trusted)
    assert first.ok and first.checkpoints == 13 and first.consistent_with is None
    tokens.create_token(registry, "later", "reader", actor="root")
    with registry.read() as s:
        second = verify_log(s, registry.signer.verifier, trusted=trusted)
        covered = [
            Covered.from_json(raw)
            for data in s.scalars(select(m.AuditEntry.data))
            for raw in json.loads(bytes(data))["rows"]
        ]
        assert current_digests(s, covered) == [current_digest(s, c) for c in covered]
    assert second.ok and second.checkpoints == 2 and second.consistent_with == 13
    assert second.rows_checked == first.rows_checked + 1 == len(covered)
    with registry.write() as s:  # a forged note on the newest checkpoint
        newest = s.scalars(select(m.AuditCheckpoint).order_by(m.AuditCheckpoint.id.desc())).first()
        assert newest is not None
        newest.note = newest.note.replace("\n14\n", "\n15\n")
    with registry.read() as s:
        third = verify_log(s, registry.signer.verifier, trusted=trusted)
    assert any("checkpoint" in p for p in third.problems), third.problems


# -- hostile input -------------------------------------------------------------------------

INJECTIONS = [
    "'; DROP TABLE artifacts; --",
    "openssl' OR '1'='1",
    '" OR 1=1 --',
    "openssl%",
    "openssl_",
    "x\x00y",
    "a" * 10_000,
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "${jndi:ldap://x}",
]


def _intact(registry: Registry) -> None:
    with registry.read() as s:
        assert s.scalar(select(text("count(*)")).select_from(m.Artifact)) == 8  # 4 images + 4 SBOMs
        assert s.scalar(select(text("count(*)")).select_from(m.Package)) == 6


@pytest.mark.parametrize("bad", INJECTIONS)
def test_injection_strings_in_every_query(db: tuple[Registry, Path, str | None], bad: str) -> None:
    registry, _, _ = db
    populate(registry)
    attempts = [
        lambda s: queries.artifacts_with_package(s, name=bad),
        lambda s: queries.artifacts_with_package(s, name="openssl", versions=bad),
        lambda s: queries.artifacts_with_package(s, name="openssl", versions="<" + bad),
        lambda s: queries.artifacts_with_package(s, purl=bad),
        lambda s: queries.artifacts_with_package(s, name="openssl", package_type=bad),
        lambda s: queries.artifacts_affected_by(s, bad),
        lambda s: queries.lineage(s, bad),
        lambda s: queries.builds_of(s, bad),
        lambda s: queries.built_from_commit(s, bad),
        lambda s: channels.history(s, bad),
        lambda s: channels.pointed_at(s, "prod", T0, repo=bad),
    ]
    for attempt in attempts:
        with registry.read() as s:
            try:
                result = attempt(s)
            except UserError:
                continue  # refused with a message: fine
            assert result in ([], None) or result[0] == 0 or result == (0, []), result
    for call in (
        lambda: channels.promote(registry, bad, "prod", reason="r", actor="x"),
        lambda: channels.promote(registry, digest(1), bad, reason="r", actor="x"),
        lambda: revocation.revoke(registry, bad, reason="r", actor="x", cascade=True),
        lambda: revocation.is_revoked(registry, bad),
    ):
        with pytest.raises(UserError):
            call()
    try:  # a name made only of allowed characters is a fine token name, kept as given
        _, info = tokens.create_token(registry, bad, "reader", actor="x")
        assert info.name == bad
    except UserError:
        pass
    _intact(registry)


def test_path_traversal_refs_are_refused(db: tuple[Registry, Path, str | None]) -> None:
    registry, _, _ = db
    populate(registry)
    for ref in (
        "../../etc/passwd",
        "golden/../../x:1",
        "/etc/passwd",
        "golden/nginx:../../x",
        "sha256:../../x",
    ):
        with registry.read() as s, pytest.raises(UserError):
            queries.lineage(s, ref)
    with registry.read() as s, pytest.raises(ReferenceNotFound):
        queries.lineage(s, "golden/nginx:9.99")
    _intact(registry)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_end_to_end(db: tuple[Registry, Path, str | None]) -> None:
    registry, store, url = db
    populate(registry)
    sign(registry, 1)
    env = {"BAKERY_DATABASE_URL": url} if url else {}

    def run(*args: str) -> dict[str, object] | list[object]:
        done = bakery(*args, "--store", store, "--json", env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    found = run("query", "package", "openssl", "--version", "<3.0.13")
    assert isinstance(found, dict) and found["total"] == 1
    assert run("query", "vuln", "CVE-2024-0727")[0]["digest"] == digest(1)  # type: ignore[index]
    promoted = run(
        "promote", "golden/debian-base:12", "--channel", "prod", "--reason", "go", "--actor", "rm"
    )
    assert isinstance(promoted, dict) and promoted["digest"] == digest(1)
    history = run("channel", "history", "prod")
    assert isinstance(history, list) and history[0]["reason"] == "go"  # type: ignore[index]
    refused = bakery(
        "promote",
        "golden/nginx:1.22",
        "--channel",
        "prod",
        "--reason",
        "x",
        "--store",
        store,
        env=env,
    )
    assert refused.returncode == 2 and "not signed" in refused.stderr and "hint:" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    evidence = bakery("query", "evidence", "--limit", "1", "--store", store, env=env)
    assert evidence.returncode == 1  # incomplete: only debian-base is signed
    assert "images unsigned" in evidence.stdout and "Traceback" not in evidence.stderr
    proof = run("audit", "proof", "2")
    assert isinstance(proof, dict) and proof["entry"] == 2
    verified = run("audit", "verify")
    assert isinstance(verified, dict) and verified["ok"] is True
    created = run("tokens", "create", "ci", "--role", "builder")
    assert isinstance(created, dict) and str(created["token"]).startswith("bkr_")
    listed = run("tokens", "list")
    assert isinstance(listed, list) and "token" not in listed[0]  # type: ignore[operator]
    bad = bakery("query", "lineage", "../../etc/passwd", "--store", store, env=env)
    assert bad.returncode == 2 and "error:" in bad.stderr


def test_cli_token_lifecycle(db: tuple[Registry, Path, str | None]) -> None:
    """tokens create (expiry by default, --expires-in, --no-expiry), list (state, last use),
    revoke (recorded in the audit log, which still verifies), and their one-line errors."""
    registry, store, url = db
    env = {"BAKERY_DATABASE_URL": url} if url else {}

    def run(*args: str) -> Any:
        done = bakery(*args, "--store", store, "--json", env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def fails(*args: str) -> str:
        done = bakery(*args, "--store", store, env=env)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        return done.stderr

    default = run("tokens", "create", "ci", "--role", "builder", "--actor", "root")
    created = datetime.fromisoformat(default["created_at"])
    assert datetime.fromisoformat(default["expires_at"]) - created == timedelta(days=90)
    month = run("tokens", "create", "month", "--role", "reader", "--expires-in", "30d")
    assert datetime.fromisoformat(month["expires_at"]) - datetime.fromisoformat(
        month["created_at"]
    ) == timedelta(days=30)
    lasting = run("tokens", "create", "lasting", "--role", "reader", "--no-expiry")
    assert lasting["expires_at"] is None
    text = bakery("tokens", "create", "t", "--role", "reader", "--store", store, env=env).stdout
    assert "shown once" in text and "expires 20" in text
    assert "not a lifetime" in fails(
        "tokens", "create", "x", "--role", "reader", "--expires-in", "tomorrow"
    )
    assert "contradict" in fails(
        "tokens", "create", "x", "--role", "reader", "--expires-in", "1d", "--no-expiry"
    )

    assert tokens.authenticate(registry, default["token"]) is not None  # as the service does
    used = tokens.identify(registry, default["token"])
    assert used is not None and tokens.record_use(registry, used, datetime.now(UTC))
    listed = {t["id"]: t for t in run("tokens", "list")}
    assert listed[default["id"]]["last_used_at"] is not None
    assert listed[month["id"]]["last_used_at"] is None
    assert all("token" not in t for t in listed.values())

    revoked = run("tokens", "revoke", default["id"], "--actor", "security")
    assert revoked["id"] == default["id"] and revoked["revoked_by"] == "security"
    assert tokens.authenticate(registry, default["token"]) is None
    assert "revoked already" in fails("tokens", "revoke", default["id"])
    assert "no token 0123456789abcdef" in fails("tokens", "revoke", "0123456789abcdef")
    assert "not a token ID" in fails("tokens", "revoke", default["token"])
    table = bakery("tokens", "list", "--store", store, env=env)
    assert table.returncode == 0, table.stderr
    line = next(row for row in table.stdout.splitlines() if default["id"] in row)
    assert "revoked" in line and "security" in line
    assert "active" in next(row for row in table.stdout.splitlines() if month["id"] in row)
    assert "never" in next(row for row in table.stdout.splitlines() if lasting["id"] in row)

    with registry.read() as s:
        kinds = list(s.scalars(select(m.AuditEntry.kind).order_by(m.AuditEntry.seq)))
    assert kinds == ["token"] * 4 + ["token-revoke"]
    verified = run("audit", "verify")
    assert verified["ok"] is True and verified["problems"] == []


def test_disks_are_recorded_as_descendants_of_their_image(
    db: tuple[Registry, Path, str | None],
) -> None:
    from bakery.result import BakeResult, DiskResult

    registry, _, _ = db
    record(registry, image(1, "golden/vm", (LIBC,), tags=("golden/vm:1",)))
    disk = DiskResult(
        digest=digest(50),
        tags=("golden/vm:1-qcow2",),
        format="qcow2",
        boot="efi",
        file_digest=digest(51),
        file_size=123_456,
        raw_digest=digest(52),
        raw_size=1 << 30,
        cached=False,
    )
    result = BakeResult.model_construct(name="golden/vm", digest=digest(1), disks=(disk,))
    with registry.write() as s:
        for fact in disk_facts(result, created_at=T0):
            record_artifact(s, fact, actor="ci")
    with registry.read() as s:
        nodes = queries.lineage(s, "golden/vm:1-qcow2")
        assert [(n.digest, n.distance) for n in nodes] == [(digest(1), -1), (digest(50), 0)]
        row = s.scalars(select(m.Artifact).where(m.Artifact.digest == digest(50))).one()
        assert (row.kind, row.size) == ("disk", 123_456)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://admin:s3cret-pw@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "not a url :s3cret-pw@",
        "mysql://admin:s3cret-pw@localhost/db",
    ],
)
def test_database_errors_never_show_the_password(tmp_path: Path, url: str) -> None:
    done = bakery("query", "builds", "golden/nginx", "--store", tmp_path, "--database-url", url)
    assert done.returncode in (1, 2), done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert done.stderr.startswith("error:") and "hint:" in done.stderr


def test_tag_history_rules_and_deletion(db: tuple[Registry, Path, str | None]) -> None:
    from bakery.registry.tags import add_tag_rule, remove_tag, tag_history, tag_rules

    registry, store, url = db
    add_tag_rule(registry, "golden/*:1.*", actor="admin")
    record(
        registry, image(1, "golden/nginx", (LIBC,), tags=("golden/nginx:1.22", "golden/nginx:edge"))
    )
    record(registry, image(2, "golden/nginx", (LIBC,), tags=("golden/nginx:edge",)))
    remove_tag(registry, "golden/nginx:edge", actor="rm")
    with pytest.raises(ImmutableTag):
        remove_tag(registry, "golden/nginx:1.22", actor="rm")
    with pytest.raises(UserError):
        remove_tag(registry, "golden/nginx:edge", actor="rm")  # already gone
    with registry.read() as s:
        edge = tag_history(s, "golden/nginx:edge")
        assert [(c.action, c.digest) for c in edge] == [
            ("delete", None),
            ("set", digest(2)),
            ("set", digest(1)),
        ]
        assert len(tag_history(s, "golden/nginx")) == 4
        assert tag_rules(s) == ["golden/*:1.*"]
        kinds = list(s.scalars(select(m.AuditEntry.kind).order_by(m.AuditEntry.seq)))
        assert kinds == ["tag-rule", "bake", "bake", "tag-delete"]
        assert verify_log(s, registry.signer.verifier).ok
    env = {"BAKERY_DATABASE_URL": url} if url else {}
    done = bakery("query", "tags", "golden/nginx:edge", "--store", store, "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["action"] == "delete"
    done = bakery("tag-rules", "list", "--store", store, "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout) == ["golden/*:1.*"]


def test_two_writers_with_their_own_keys(
    db: tuple[Registry, Path, str | None], tmp_path: Path
) -> None:
    """Builders sharing one database sign with their own keys; verify trusts listed keys."""
    from bakery.registry.db import TRUSTED_KEYS_FILE, trusted_verifiers

    registry, store, url = db
    other_store = tmp_path / "other" / ".bakery"
    other = open_registry(other_store, url or f"sqlite:///{store / 'bakery.db'}")
    try:
        record(registry, image(1, "golden/a", (LIBC,)))
        record(other, image(2, "golden/b", (LIBC,)))
        record(registry, image(3, "golden/a", (LIBC,)))
    finally:
        other.dispose()
    with registry.read() as s:
        alone = verify_log(s, trusted_verifiers(store, registry.signer))
        assert not alone.ok and any("no signature by" in p for p in alone.problems)
    (store / TRUSTED_KEYS_FILE).write_text(other.signer.verifier.encode() + "\n")
    done = bakery("audit", "key", "--store", other_store)
    assert done.returncode == 0 and done.stdout.strip() == other.signer.verifier.encode()
    with registry.read() as s:
        both = verify_log(s, trusted_verifiers(store, registry.signer))
        assert both.ok, both.problems
        assert both.size == 3 and both.checkpoints == 3


def test_the_evidence_migration_keeps_the_audit_log_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signature covered by an audit entry at 0001 (its hash over every column the table
    had then) still verifies after the upgrade that added ``signatures.predicate``."""
    from alembic import command
    from sqlalchemy import insert

    from bakery.registry.audit.log import append
    from bakery.registry.audit.rows import canonical, sha256
    from bakery.registry.db import _alembic_config, now

    store = tmp_path / ".bakery"
    registry = open_registry(store)
    try:
        populate(registry)
        config = _alembic_config()
        with registry.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        table = m.Signature.__table__
        old = [c for c in table.c if c.key != "predicate"]
        with registry.write() as session:  # as the registry wrote a signature at 0001
            at = now()
            values = {"artifact_id": 1, "kind": "signature", "key_id": "old", "recorded_at": at}
            session.execute(insert(table).values(values))
            row = session.execute(select(*old)).one()._asdict()
            covered = Covered("signatures", {"id": row["id"]}, sha256(canonical(row)))
            append(session, kind="signature", actor="ci", at=at, subject={}, rows=[covered])
        with registry.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with registry.read() as s:
            assert verify_log(s, registry.signer.verifier).ok
        monkeypatch.setattr(m.Signature, "LATE_COLUMNS", frozenset())
        with registry.read() as s:  # the negative control: NULL predicate hashed in
            assert not verify_log(s, registry.signer.verifier).ok
    finally:
        registry.dispose()
