"""The questions a security team asks the registry.

Every query binds its parameters (never formats SQL) and validates them first. Version ranges
are compared in the database on :mod:`sortable keys <bakery.registry.versionkey>`, so
"openssl < 3.0.13" is an index range scan in dpkg order, never a loop in Python.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from packageurl import PackageURL
from sqlalchemy import ColumnElement, and_, bindparam, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.current import channels_of, revoked_ids
from bakery.registry.lineage import MAX_DEPTH, edges_among, parents_of, walk
from bakery.registry.refs import resolve
from bakery.registry.signatures import signatures_of
from bakery.registry.versionkey import ECOSYSTEM_OF_TYPE, try_version_key
from bakery.registry.views import (
    BuildRow,
    EvidenceReport,
    LineageNode,
    LineageView,
    PackageHit,
    Page,
    ProvenanceView,
    VulnHit,
)
from bakery.sign.intoto import SLSA_PROVENANCE_V1

MAX_LIMIT = 10_000
_OPS = ("<=", ">=", "==", "<", ">", "=")
_NAME = re.compile(r"[A-Za-z0-9@][A-Za-z0-9@/+._~-]{0,254}")
_VULN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_COMMIT = re.compile(r"[0-9a-f]{4,64}")
_ARTIFACTS = text("SELECT id, digest, name FROM artifacts WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_TYPE = re.compile(r"[a-z][a-z0-9+.-]{0,19}")
_RECIPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,254}")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def _page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise UserError(f"limit must be 1..{MAX_LIMIT} and offset >= 0")


def parse_range(text: str) -> list[tuple[str, str]]:
    """``"<3.0.13"``, ``">=1.0,<2"`` → [(op, version), …]."""
    constraints = []
    for part in text.split(","):
        part = part.strip()
        op = next((o for o in _OPS if part.startswith(o)), None)
        version = part[len(op) :].strip() if op else ""
        if op is None or not version or len(version) > 255:
            raise UserError(
                f"{part[:60]!r} is not a version constraint",
                hint="e.g. '<3.0.13' or '>=1.1,<3.0.13' (operators < <= > >= ==)",
            )
        constraints.append(("==" if op == "=" else op, version))
    return constraints


def _compare(column: Any, op: str, key: bytes) -> ColumnElement[bool]:
    result: ColumnElement[bool]
    if op == "<":
        result = column < key
    elif op == "<=":
        result = column <= key
    elif op == ">":
        result = column > key
    elif op == ">=":
        result = column >= key
    else:
        result = column == key
    return result


def _package_filter(
    name: str | None, purl: str | None, package_type: str | None, versions: str | None, source: bool
) -> ColumnElement[bool]:
    exact_version = None
    if purl is not None:
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError as exc:
            raise UserError(
                f"{purl[:80]!r} is not a package URL", hint="e.g. pkg:deb/debian/openssl"
            ) from exc
        package_type = parsed.type
        name = (
            f"{parsed.namespace}/{parsed.name}"
            if parsed.type == "npm" and parsed.namespace
            else parsed.name
        )
        exact_version = parsed.version
    if not name or _NAME.fullmatch(name) is None:
        raise UserError(
            f"{(name or '')[:80]!r} is not a package name", hint="e.g. openssl or libc6"
        )
    name_col = m.Package.source_name if source else m.Package.name
    clauses: list[ColumnElement[bool]] = [name_col == name]
    if exact_version is not None:
        clauses.append(m.Package.version == exact_version)
    if package_type is not None:
        if _TYPE.fullmatch(package_type) is None:
            raise UserError(
                f"{package_type[:40]!r} is not a package type", hint="deb, pypi, npm, apk"
            )
        clauses.append(m.Package.type == package_type)
    if versions:
        clauses.append(_range_filter(parse_range(versions), package_type))
    return and_(*clauses)


def _range_filter(
    constraints: list[tuple[str, str]], package_type: str | None
) -> ColumnElement[bool]:
    types = [package_type] if package_type else sorted(ECOSYSTEM_OF_TYPE)
    per_type = []
    for t in types:
        if t not in ECOSYSTEM_OF_TYPE:
            raise UserError(f"version ranges are not supported for {t!r} packages")
        keys = [(op, try_version_key(t, v)) for op, v in constraints]
        if any(k is None for _, k in keys):
            continue  # the bound is no version of this ecosystem: nothing of this type matches
        per_type.append(
            and_(
                m.Package.type == t,
                *(_compare(m.Package.version_key, op, k) for op, k in keys if k),
            )
        )
    if not per_type:
        raise UserError(
            "no ecosystem accepts these versions",
            hint="check the version syntax (dpkg, PEP 440 or SemVer) or give --type",
        )
    return or_(*per_type)


def artifacts_with_package(
    session: Session,
    *,
    name: str | None = None,
    purl: str | None = None,
    package_type: str | None = None,
    versions: str | None = None,
    source: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[PackageHit]]:
    """(how many, one page of) artifacts containing the package in the version range."""
    _page(limit, offset)
    where = _package_filter(name, purl, package_type, versions, source)
    matching = select(m.Package.id).where(where)
    total = session.execute(
        select(func.count())
        .select_from(m.ArtifactPackage)
        .where(m.ArtifactPackage.package_id.in_(matching))
    ).scalar_one()
    # the page is cut from the link index alone; only its rows are joined to their artifacts
    link = m.ArtifactPackage
    page = (
        select(link.package_id, link.artifact_id)
        .where(link.package_id.in_(matching))
        .order_by(link.package_id, link.artifact_id)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = session.execute(
        select(
            m.Artifact.digest,
            m.Artifact.name.label("artifact"),
            m.Package.name.label("package"),
            m.Package.version,
            m.Package.purl,
        )
        .join(page, page.c.artifact_id == m.Artifact.id)
        .join(m.Package, m.Package.id == page.c.package_id)
        .order_by(page.c.package_id, page.c.artifact_id)
    )
    return int(total), [PackageHit.model_validate(dict(row._mapping)) for row in rows]


def artifacts_affected_by(session: Session, vuln: str, *, limit: int = 1000) -> list[VulnHit]:
    """Artifacts with a finding whose id or alias is ``vuln`` (e.g. a CVE for a DSA)."""
    _page(limit, 0)
    if _VULN.fullmatch(vuln) is None:
        raise UserError(f"{vuln[:80]!r} is not a vulnerability id", hint="e.g. CVE-2024-0727")
    alias = select(m.FindingAlias.finding_id).where(m.FindingAlias.alias == vuln)
    rows = session.execute(
        select(m.Artifact.id, m.Artifact.digest, m.Artifact.name, m.Finding)
        .join(m.Finding, m.Finding.artifact_id == m.Artifact.id)
        .where(or_(m.Finding.vuln_id == vuln, m.Finding.id.in_(alias)))
        .order_by(m.Artifact.id, m.Finding.id)
        .limit(limit)
    ).all()
    ids = [row[0] for row in rows]
    channels, revoked = channels_of(session, ids), revoked_ids(session, ids)
    return [
        VulnHit.from_row(
            f,
            digest=digest,
            artifact=name,
            package=f.package_purl,
            channels=channels.get(aid, []),
            revoked=aid in revoked,
        )
        for aid, digest, name, f in rows
    ]


def lineage(
    session: Session, ref: str, *, up: bool = True, down: bool = True, depth: int = MAX_DEPTH
) -> list[LineageNode]:
    """The artifact, its ancestors (bases) and descendants, with their channels."""
    return _lineage(session, ref, up=up, down=down, depth=depth)[1]


def lineage_graph(
    session: Session, ref: str, *, up: bool = True, down: bool = True, depth: int = MAX_DEPTH
) -> LineageView:
    """:func:`lineage`, and the edges among its nodes."""
    ids, nodes = _lineage(session, ref, up=up, down=down, depth=depth)
    return LineageView(nodes=nodes, edges=edges_among(session, ids))


def _lineage(
    session: Session, ref: str, *, up: bool, down: bool, depth: int
) -> tuple[list[int], list[LineageNode]]:
    if not 1 <= depth <= MAX_DEPTH:
        raise UserError(f"depth must be 1..{MAX_DEPTH}")
    start = resolve(session, ref)
    found = [(start.id, 0)]
    if up:
        found += [(node, -d) for node, d in walk(session, start.id, up=True, depth=depth)]
    if down:
        found += [(node, d) for node, d in walk(session, start.id, up=False, depth=depth)]
    ids = [node for node, _ in found]
    artifacts = {int(i): (dg, nm) for i, dg, nm in session.execute(_ARTIFACTS, {"ids": ids})}
    channels, revoked = channels_of(session, ids), revoked_ids(session, ids)
    nodes = [
        LineageNode(
            digest=artifacts[n][0],
            name=artifacts[n][1],
            distance=d,
            channels=channels.get(n, []),
            revoked=n in revoked,
        )
        for n, d in found
    ]
    return ids, sorted(nodes, key=lambda node: node.distance)


def builds(
    session: Session, where: ColumnElement[bool], *, limit: int, offset: int = 0
) -> list[BuildRow]:
    """The recorded bakes ``where`` selects, newest first."""
    _page(limit, offset)
    rows = session.execute(
        select(m.Build, m.Artifact.digest)
        .outerjoin(m.Artifact, m.Artifact.id == m.Build.artifact_id)
        .where(where)
        .order_by(m.Build.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        BuildRow.from_row(
            b,
            digest=digest,
            recipe=b.recipe_name,
            version=b.recipe_version,
            started_at=_iso(b.started_at),
            finished_at=_iso(b.finished_at),
        )
        for b, digest in rows
    ]


def count_builds(session: Session, where: ColumnElement[bool]) -> int:
    return session.execute(select(func.count()).select_from(m.Build).where(where)).scalar_one()


def recent_builds(session: Session, *, limit: int, offset: int) -> Page[BuildRow]:
    """Every recorded bake, newest first: one page, and how many there are."""
    where = m.Build.id.is_not(None)
    items = builds(session, where, limit=limit, offset=offset)
    return Page(items=items, limit=limit, offset=offset, total=count_builds(session, where))


def provenance_of(session: Session, artifact: m.Artifact) -> ProvenanceView:
    """How the artifact was made: its builds, provenance attestations and bases."""
    signed = signatures_of(session, artifact.id)
    return ProvenanceView(
        builds=builds(session, m.Build.artifact_id == artifact.id, limit=100),
        attestations=[v for v in signed if v.predicate_type == SLSA_PROVENANCE_V1],
        parents=parents_of(session, artifact),
    )


def builds_of(session: Session, recipe: str, *, limit: int = 1000) -> list[BuildRow]:
    """Every recorded bake of a recipe, newest first."""
    if _RECIPE.fullmatch(recipe) is None:
        raise UserError(f"{recipe[:80]!r} is not a recipe name", hint="e.g. golden/nginx")
    return builds(session, m.Build.recipe_name == recipe, limit=limit)


def built_from_commit(session: Session, commit: str, *, limit: int = 1000) -> list[BuildRow]:
    """Every bake made from git commit ``commit`` (a full hash, or a prefix of 4+ digits)."""
    if _COMMIT.fullmatch(commit) is None:
        raise UserError(f"{commit[:80]!r} is not a git commit", hint="hex digits, at least 4")
    where = (
        m.Build.git_commit == commit if len(commit) >= 40 else m.Build.git_commit.startswith(commit)
    )
    return builds(session, where, limit=limit)


def evidence_report(session: Session, *, limit: int = 100) -> EvidenceReport:
    """What every image lacks: signature, SBOM, provenance, scan; bad channel pointers."""
    _page(limit, 0)
    image = m.Artifact.kind == "image"
    sig, sbom = aliased(m.Signature), aliased(m.Artifact)
    counts: dict[str, int] = {}

    def lacking(name: str, condition: ColumnElement[bool]) -> list[str]:
        where = and_(image, ~condition)
        counts[name] = session.execute(select(func.count()).where(where)).scalar_one()
        query = select(m.Artifact.digest).where(where).order_by(m.Artifact.id).limit(limit)
        return list(session.scalars(query))

    def pointed_at(name: str, ids: set[int]) -> list[str]:
        counts[name] = len(ids)
        return _digests(session, ids)[:limit]

    signed = exists().where(sig.artifact_id == m.Artifact.id, sig.kind == "signature")
    has_sbom = exists().where(sbom.subject_id == m.Artifact.id, sbom.kind == "sbom")
    provenance = exists().where(
        sig.artifact_id == m.Artifact.id,
        sig.kind == "attestation",
        sig.predicate_type == SLSA_PROVENANCE_V1,
    )
    scanned = exists().where(m.Scan.artifact_id == m.Artifact.id)
    in_channel = _current_channel_artifacts(session)
    return EvidenceReport(
        images=session.execute(select(func.count()).where(image)).scalar_one(),
        counts=counts,
        unsigned=lacking("unsigned", signed),
        no_sbom=lacking("no_sbom", has_sbom),
        no_provenance=lacking("no_provenance", provenance),
        unscanned=lacking("unscanned", scanned),
        revoked_in_channel=pointed_at("revoked_in_channel", revoked_ids(session, in_channel)),
        failing_in_channel=pointed_at("failing_in_channel", _failing(session, in_channel)),
    )


def _current_channel_artifacts(session: Session) -> set[int]:
    later = aliased(m.ChannelAssignment)
    newest = select(m.ChannelAssignment.artifact_id).where(
        m.ChannelAssignment.artifact_id.is_not(None),
        ~select(later.id)
        .where(
            later.channel_id == m.ChannelAssignment.channel_id, later.id > m.ChannelAssignment.id
        )
        .exists(),
    )
    return {int(a) for a in session.scalars(newest) if a is not None}


def _failing(session: Session, ids: set[int]) -> set[int]:
    failing = set()
    for artifact_id in ids:
        passed = session.scalars(
            select(m.Scan.passed)
            .where(m.Scan.artifact_id == artifact_id)
            .order_by(m.Scan.id.desc())
            .limit(1)
        ).first()
        if passed is False:
            failing.add(artifact_id)
    return failing


def _digests(session: Session, ids: set[int]) -> list[str]:
    if not ids:
        return []
    return list(
        session.scalars(
            select(m.Artifact.digest).where(m.Artifact.id.in_(ids)).order_by(m.Artifact.id)
        )
    )
