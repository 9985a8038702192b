"""An artifact and its parts: listings with pagination, its latest scan, SBOM packages,
findings, SBOM documents and subject. Each takes a session and returns views; every parameter
is bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bakery.registry import models as m
from bakery.registry.current import channels_of, current_tags, revoked_ids
from bakery.registry.views import (
    ArtifactSummary,
    FindingsView,
    FindingView,
    PackageView,
    Page,
    ScanView,
)

SEVERITY_ORDER = ("critical", "high", "medium", "moderate", "low", "negligible", "unknown")


def severity_rank(severity: str) -> int:
    low = severity.lower()
    return SEVERITY_ORDER.index(low) if low in SEVERITY_ORDER else len(SEVERITY_ORDER)


def summaries(session: Session, artifacts: Sequence[m.Artifact]) -> list[ArtifactSummary]:
    """Each artifact with its current tags and channels, and whether it is revoked."""
    ids = [a.id for a in artifacts]
    tags, channels = current_tags(session, ids), channels_of(session, ids)
    revoked = revoked_ids(session, ids)
    return [
        ArtifactSummary.from_row(
            a, tags=tags.get(a.id, []), channels=channels.get(a.id, []), revoked=a.id in revoked
        )
        for a in artifacts
    ]


def list_artifacts(
    session: Session, *, kind: str | None, name: str | None, limit: int, offset: int
) -> Page[ArtifactSummary]:
    """Artifacts, newest first, optionally of one kind or name."""
    query = select(m.Artifact)
    if kind is not None:
        query = query.where(m.Artifact.kind == kind)
    if name is not None:
        query = query.where(m.Artifact.name == name)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.scalars(query.order_by(m.Artifact.id.desc()).limit(limit).offset(offset)).all()
    return Page(items=summaries(session, rows), limit=limit, offset=offset, total=total)


def scan_of(session: Session, artifact_id: int) -> ScanView | None:
    """The artifact's latest scan."""
    row = session.scalars(
        select(m.Scan).where(m.Scan.artifact_id == artifact_id).order_by(m.Scan.id.desc()).limit(1)
    ).first()
    return None if row is None else ScanView.from_row(row)


def severity_counts(session: Session, artifact_id: int) -> dict[str, int]:
    """How many findings of each severity, the most severe first."""
    rows = session.execute(
        select(m.Finding.severity, func.count())
        .where(m.Finding.artifact_id == artifact_id)
        .group_by(m.Finding.severity)
    ).all()
    counts = {str(sev): int(n) for sev, n in rows}
    return dict(sorted(counts.items(), key=lambda kv: severity_rank(kv[0])))


def package_count(session: Session, artifact_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(m.ArtifactPackage)
            .where(m.ArtifactPackage.artifact_id == artifact_id)
        ).scalar_one()
    )


def sboms_of(session: Session, artifact_id: int) -> list[str]:
    """The digests of the artifact's SBOM documents."""
    return list(
        session.scalars(
            select(m.Artifact.digest)
            .where(m.Artifact.subject_id == artifact_id, m.Artifact.kind == "sbom")
            .order_by(m.Artifact.id)
        )
    )


def subject_of(session: Session, artifact: m.Artifact) -> str | None:
    """The digest of what an SBOM, signature or attestation artifact is about."""
    if artifact.subject_id is None:
        return None
    return session.get_one(m.Artifact, artifact.subject_id).digest


def packages_of(
    session: Session, artifact_id: int, *, limit: int, offset: int
) -> Page[PackageView]:
    """The artifact's SBOM packages, by type, name and version."""
    rows = session.scalars(
        select(m.Package)
        .join(m.ArtifactPackage, m.ArtifactPackage.package_id == m.Package.id)
        .where(m.ArtifactPackage.artifact_id == artifact_id)
        .order_by(m.Package.type, m.Package.name, m.Package.version, m.Package.id)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [PackageView.from_row(p) for p in rows]
    total = package_count(session, artifact_id)
    return Page(items=items, limit=limit, offset=offset, total=total)


def findings_of(session: Session, artifact_id: int) -> FindingsView:
    """Vulnerability findings, most severe first, with counts by severity."""
    rows = session.scalars(select(m.Finding).where(m.Finding.artifact_id == artifact_id)).all()
    aliases: dict[int, list[str]] = {}
    if rows:
        for finding_id, alias in session.execute(
            select(m.FindingAlias.finding_id, m.FindingAlias.alias)
            .where(m.FindingAlias.finding_id.in_([f.id for f in rows]))
            .order_by(m.FindingAlias.alias)
        ):
            aliases.setdefault(int(finding_id), []).append(str(alias))
    findings = sorted(
        (FindingView.from_row(f, aliases=aliases.get(f.id, [])) for f in rows),
        key=lambda f: (severity_rank(f.severity), f.vuln_id, f.package_purl or ""),
    )
    return FindingsView(by_severity=severity_counts(session, artifact_id), findings=findings)
