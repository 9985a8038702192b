"""Read queries the service needs beyond :mod:`bakery.registry.queries`: listings with
pagination, an artifact's parts (packages, findings, signatures, builds), lineage edges, the
audit entries. Each takes a session and returns typed views; every parameter is bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from bakery.registry import models as m
from bakery.registry.channels import current, view
from bakery.registry.current import channels_of, current_tags, revoked_ids
from bakery.registry.queries import BuildRow, builds, count_builds, lineage
from bakery.server import schemas as s

SEVERITY_ORDER = ("critical", "high", "medium", "moderate", "low", "negligible", "unknown")


def severity_rank(severity: str) -> int:
    low = severity.lower()
    return SEVERITY_ORDER.index(low) if low in SEVERITY_ORDER else len(SEVERITY_ORDER)


def summaries(session: Session, artifacts: Sequence[m.Artifact]) -> list[s.ArtifactSummary]:
    ids = [a.id for a in artifacts]
    tags, channels, revoked = (
        current_tags(session, ids),
        channels_of(session, ids),
        revoked_ids(session, ids),
    )
    return [
        s.ArtifactSummary(
            digest=a.digest,
            name=a.name,
            kind=a.kind,
            media_type=a.media_type,
            size=a.size,
            created_at=a.created_at,
            recorded_at=a.recorded_at,
            tags=tags.get(a.id, []),
            channels=channels.get(a.id, []),
            revoked=a.id in revoked,
        )
        for a in artifacts
    ]


def list_artifacts(
    session: Session, *, kind: str | None, name: str | None, limit: int, offset: int
) -> s.Page[s.ArtifactSummary]:
    query = select(m.Artifact)
    if kind is not None:
        query = query.where(m.Artifact.kind == kind)
    if name is not None:
        query = query.where(m.Artifact.name == name)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.scalars(query.order_by(m.Artifact.id.desc()).limit(limit).offset(offset)).all()
    return s.Page(items=summaries(session, rows), limit=limit, offset=offset, total=total)


def scan_of(session: Session, artifact_id: int) -> s.ScanView | None:
    row = session.scalars(
        select(m.Scan).where(m.Scan.artifact_id == artifact_id).order_by(m.Scan.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return s.ScanView(
        passed=row.passed,
        scanner_version=row.scanner_version,
        vulnerability_db=row.vulnerability_db,
        packages=row.packages,
        findings=row.findings,
        violations=row.violations,
        scanned_at=row.scanned_at,
    )


def severity_counts(session: Session, artifact_id: int) -> dict[str, int]:
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


def revocations_of(session: Session, artifact_id: int) -> list[s.RevocationView]:
    rows = session.scalars(
        select(m.Revocation)
        .where(m.Revocation.artifact_id == artifact_id)
        .order_by(m.Revocation.id)
    ).all()
    return _revocation_views(session, rows)


def _revocation_views(session: Session, rows: Sequence[m.Revocation]) -> list[s.RevocationView]:
    views = []
    for row in rows:
        artifact = session.get_one(m.Artifact, row.artifact_id)
        views.append(
            s.RevocationView(
                digest=artifact.digest,
                name=artifact.name,
                reason=row.reason,
                actor=row.actor,
                at=row.at,
                cascade=row.cascade,
                direct=row.cause_id is None,
            )
        )
    return views


def list_revocations(session: Session, *, limit: int, offset: int) -> s.Page[s.RevocationView]:
    total = session.execute(select(func.count()).select_from(m.Revocation)).scalar_one()
    rows = session.scalars(
        select(m.Revocation).order_by(m.Revocation.id.desc()).limit(limit).offset(offset)
    ).all()
    return s.Page(items=_revocation_views(session, rows), limit=limit, offset=offset, total=total)


def sboms_of(session: Session, artifact_id: int) -> list[str]:
    return list(
        session.scalars(
            select(m.Artifact.digest)
            .where(m.Artifact.subject_id == artifact_id, m.Artifact.kind == "sbom")
            .order_by(m.Artifact.id)
        )
    )


def subject_of(session: Session, artifact: m.Artifact) -> str | None:
    if artifact.subject_id is None:
        return None
    return session.get_one(m.Artifact, artifact.subject_id).digest


def packages_of(
    session: Session, artifact_id: int, *, limit: int, offset: int
) -> s.Page[s.PackageView]:
    rows = session.scalars(
        select(m.Package)
        .join(m.ArtifactPackage, m.ArtifactPackage.package_id == m.Package.id)
        .where(m.ArtifactPackage.artifact_id == artifact_id)
        .order_by(m.Package.type, m.Package.name, m.Package.version, m.Package.id)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        s.PackageView(
            purl=p.purl,
            type=p.type,
            name=p.name,
            version=p.version,
            source_name=p.source_name,
            source_version=p.source_version,
        )
        for p in rows
    ]
    total = package_count(session, artifact_id)
    return s.Page(items=items, limit=limit, offset=offset, total=total)


def findings_of(session: Session, artifact_id: int) -> s.FindingsView:
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
        (
            s.FindingView(
                vuln_id=f.vuln_id,
                severity=f.severity,
                package_purl=f.package_purl,
                installed_version=f.installed_version,
                fixed_version=f.fixed_version,
                aliases=aliases.get(f.id, []),
            )
            for f in rows
        ),
        key=lambda f: (severity_rank(f.severity), f.vuln_id, f.package_purl or ""),
    )
    return s.FindingsView(by_severity=severity_counts(session, artifact_id), findings=findings)


def signatures_of(session: Session, artifact_id: int) -> list[s.SignatureView]:
    rows = session.scalars(
        select(m.Signature).where(m.Signature.artifact_id == artifact_id).order_by(m.Signature.id)
    ).all()
    return [
        s.SignatureView(
            kind=r.kind,
            key_id=r.key_id,
            predicate_type=r.predicate_type,
            signature_digest=r.signature_digest,
            verified_at=r.verified_at,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]


def build_view(row: BuildRow) -> s.BuildView:
    return s.BuildView.model_validate(row.to_json())


def _builds(
    session: Session, where: ColumnElement[bool], *, limit: int, offset: int
) -> s.Page[s.BuildView]:
    rows = builds(session, where, limit=limit, offset=offset)
    total = count_builds(session, where)
    return s.Page(items=[build_view(r) for r in rows], limit=limit, offset=offset, total=total)


def recent_builds(session: Session, *, limit: int, offset: int) -> s.Page[s.BuildView]:
    return _builds(session, m.Build.id.is_not(None), limit=limit, offset=offset)


def builds_of_artifact(session: Session, artifact_id: int) -> list[s.BuildView]:
    return _builds(session, m.Build.artifact_id == artifact_id, limit=100, offset=0).items


def provenance_of(session: Session, artifact: m.Artifact) -> s.ProvenanceView:
    attestations = [v for v in signatures_of(session, artifact.id) if v.kind == "attestation"]
    parent = aliased(m.Artifact)
    edges = session.execute(
        select(parent.digest, m.LineageEdge.relation)
        .join(parent, parent.id == m.LineageEdge.parent_id)
        .where(m.LineageEdge.child_id == artifact.id)
    ).all()
    return s.ProvenanceView(
        builds=builds_of_artifact(session, artifact.id),
        attestations=attestations,
        parents=[s.EdgeView(parent=d, child=artifact.digest, relation=r) for d, r in edges],
    )


def lineage_view(session: Session, ref: str, *, up: bool, down: bool, depth: int) -> s.LineageView:
    nodes = lineage(session, ref, up=up, down=down, depth=depth)
    digests = [n.digest for n in nodes]
    ids: dict[str, int] = {
        str(d): int(i)
        for d, i in session.execute(
            select(m.Artifact.digest, m.Artifact.id).where(m.Artifact.digest.in_(digests))
        )
    }
    parent, child = aliased(m.Artifact), aliased(m.Artifact)
    edges = session.execute(
        select(parent.digest, child.digest, m.LineageEdge.relation)
        .join(parent, parent.id == m.LineageEdge.parent_id)
        .join(child, child.id == m.LineageEdge.child_id)
        .where(m.LineageEdge.parent_id.in_(ids.values()), m.LineageEdge.child_id.in_(ids.values()))
        .order_by(m.LineageEdge.parent_id, m.LineageEdge.child_id)
    ).all()
    return s.LineageView(
        nodes=[s.LineageNodeView.model_validate(n.to_json()) for n in nodes],
        edges=[s.EdgeView(parent=p, child=c, relation=r) for p, c, r in edges],
    )


def list_channels(session: Session) -> list[s.ChannelView]:
    rows = session.execute(
        select(m.Channel, m.Repository.name)
        .join(m.Repository, m.Repository.id == m.Channel.repository_id)
        .order_by(m.Repository.name, m.Channel.name)
    ).all()
    found = []
    for channel, repo in rows:
        now_row = current(session, channel.id)
        found.append(
            s.ChannelView(
                repository=repo,
                channel=channel.name,
                current=assignment_view(session, now_row) if now_row else None,
            )
        )
    return found


def assignment_view(session: Session, row: m.ChannelAssignment) -> s.AssignmentView:
    return s.AssignmentView.model_validate(view(session, row).to_json())


def audit_entries(session: Session, *, limit: int, offset: int) -> s.Page[s.AuditEntryView]:
    """Newest first."""
    total = session.execute(select(func.count()).select_from(m.AuditEntry)).scalar_one()
    rows = session.scalars(
        select(m.AuditEntry).order_by(m.AuditEntry.seq.desc()).limit(limit).offset(offset)
    ).all()
    items = [
        s.AuditEntryView(
            seq=r.seq,
            kind=r.kind,
            actor=r.actor,
            at=r.at,
            data=bytes(r.data).decode("utf-8", "replace"),
        )
        for r in rows
    ]
    return s.Page(items=items, limit=limit, offset=offset, total=total)
