"""Questions: package search, vulnerability impact, builds, the evidence report; recording
builds (builders)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from bakery.errors import UserError
from bakery.registry import queries as q
from bakery.registry.facts import ArtifactFact, Recorded
from bakery.registry.record import record_artifact
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Builder, Limit, Offset, Reader, registry

router = APIRouter(tags=["queries"], responses=ERRORS)


@router.get("/packages/search")
def search_packages(
    request: Request,
    _: Reader,
    name: Annotated[str | None, Query(max_length=255)] = None,
    purl: Annotated[str | None, Query(max_length=2048)] = None,
    type: Annotated[str | None, Query(max_length=20, pattern=r"^[a-z0-9]+$")] = None,
    versions: Annotated[
        str | None, Query(max_length=600, description="e.g. '<3.0.13' or '>=1.1,<3.0.13'")
    ] = None,
    source: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> s.Page[s.PackageHit]:
    """Artifacts containing a package (by name or purl) within a version range, compared in
    the ecosystem's own order (dpkg, PEP 440, SemVer)."""
    if not name and not purl:
        raise UserError("give a package name or a purl", hint="?name=openssl&versions=<3.0.13")
    with registry(request).read() as session:
        total, hits = q.artifacts_with_package(
            session,
            name=name,
            purl=purl,
            package_type=type,
            versions=versions,
            source=source,
            limit=limit,
            offset=offset,
        )
    return s.Page(items=hits, limit=limit, offset=offset, total=total)


@router.get("/vulnerabilities/{vuln_id}/artifacts")
def vulnerability_impact(
    request: Request,
    _: Reader,
    vuln_id: str,
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 1000,
) -> list[s.VulnHit]:
    """Artifacts affected by a vulnerability id or alias, with the channels they are in."""
    with registry(request).read() as session:
        return q.artifacts_affected_by(session, vuln_id, limit=limit)


@router.get("/builds")
def builds(
    request: Request,
    _: Reader,
    recipe: Annotated[str | None, Query(max_length=255)] = None,
    commit: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> s.Page[s.BuildRow]:
    """Builds of a recipe, or built from a git commit (a prefix of 4+ hex digits), or all;
    newest first."""
    if recipe is not None and commit is not None:
        raise UserError("give a recipe or a commit, not both")
    if recipe is None and commit is None:
        with registry(request).read() as session:
            return q.recent_builds(session, limit=limit, offset=offset)
    wanted = offset + limit
    if wanted > q.MAX_LIMIT:
        raise UserError(f"offset + limit must be at most {q.MAX_LIMIT} here")
    with registry(request).read() as session:
        rows = (
            q.builds_of(session, recipe, limit=wanted)
            if recipe is not None
            else q.built_from_commit(session, commit or "", limit=wanted)
        )
    return s.Page(items=rows[offset:], limit=limit, offset=offset)


@router.post("/builds", status_code=201)
def record_build(request: Request, who: Builder, body: ArtifactFact) -> Recorded:
    """Record an artifact and its build, packages, scan and lineage (builder). Recording a
    digest again records only tags that moved."""
    with registry(request).write() as session:
        return record_artifact(session, body, actor=who.actor)


@router.get("/evidence")
def evidence(request: Request, _: Reader, limit: Limit = 100) -> s.EvidenceReport:
    """Images lacking a signature, SBOM, provenance or scan; channels pointing at revoked or
    failing artifacts. ``counts`` has each category's full number, each list its first
    ``limit`` digests."""
    with registry(request).read() as session:
        return q.evidence_report(session, limit=limit)
