"""Artifacts: listing, one artifact and its parts, lineage; signatures pushed by builders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from bakery.registry import artifacts as a
from bakery.registry.fields import DIGEST_PATTERN
from bakery.registry.models import ArtifactKind
from bakery.registry.queries import lineage_graph, provenance_of
from bakery.registry.refs import MAX_REF, resolve
from bakery.registry.revocation import revocations_of
from bakery.registry.signatures import record_signature, signatures_of
from bakery.registry.tags import immovable
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Builder, Limit, Offset, Reader, registry, store_root
from bakery.server.store_view import image_contents

router = APIRouter(tags=["artifacts"], responses=ERRORS)

DigestPath = Annotated[str, Path(pattern=DIGEST_PATTERN, description="sha256:<64 hex>")]


@router.get("/artifacts")
def list_artifacts(
    request: Request,
    _: Reader,
    kind: ArtifactKind | None = None,
    name: Annotated[str | None, Query(max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> s.Page[s.ArtifactSummary]:
    """Artifacts, newest first, optionally of one kind or name."""
    with registry(request).read() as session:
        return a.list_artifacts(session, kind=kind, name=name, limit=limit, offset=offset)


@router.get("/refs/{ref:path}")
def resolve_ref(
    request: Request, _: Reader, ref: Annotated[str, Path(max_length=MAX_REF)]
) -> s.ArtifactSummary:
    """The artifact a tag (``golden/nginx:1.22``), ``name@sha256:…`` or digest names."""
    with registry(request).read() as session:
        return a.summaries(session, [resolve(session, ref)])[0]


@router.post("/tag-checks")
def tag_check(request: Request, _: Builder, body: s.TagCheckRequest) -> s.TagCheck:
    """Which of these tags (``repo:tag`` → digest) may not be set: a tag rule protects them and
    they point at another artifact. A builder asks before it tags anything."""
    with registry(request).read() as session:
        return s.TagCheck(immovable=immovable(session, body.tags))


@router.get("/artifacts/{digest}")
def artifact(request: Request, _: Reader, digest: DigestPath) -> s.ArtifactDetail:
    """One artifact: tags, channels, scan, findings by severity, revocations; layers and
    config when the service's store holds the image."""
    with registry(request).read() as session:
        row = resolve(session, digest)
        summary = a.summaries(session, [row])[0]
        detail = {
            "artifact": summary,
            "subject": a.subject_of(session, row),
            "sboms": a.sboms_of(session, row.id),
            "package_count": a.package_count(session, row.id),
            "findings_by_severity": a.severity_counts(session, row.id),
            "scan": a.scan_of(session, row.id),
            "revocations": revocations_of(session, row.id),
        }
    layers, config, note = image_contents(store_root(request), digest)
    return s.ArtifactDetail(**detail, layers=layers, config=config, store_note=note)


@router.get("/artifacts/{digest}/packages")
def packages(
    request: Request, _: Reader, digest: DigestPath, limit: Limit = 100, offset: Offset = 0
) -> s.Page[s.PackageView]:
    """The artifact's SBOM packages."""
    with registry(request).read() as session:
        row = resolve(session, digest)
        return a.packages_of(session, row.id, limit=limit, offset=offset)


@router.get("/artifacts/{digest}/findings")
def findings(request: Request, _: Reader, digest: DigestPath) -> s.FindingsView:
    """Vulnerability findings, most severe first, with counts by severity."""
    with registry(request).read() as session:
        return a.findings_of(session, resolve(session, digest).id)


@router.get("/artifacts/{digest}/signatures")
def signatures(request: Request, _: Reader, digest: DigestPath) -> list[s.SignatureView]:
    """Signatures and attestations recorded for the artifact."""
    with registry(request).read() as session:
        return signatures_of(session, resolve(session, digest).id)


@router.post("/artifacts/{digest}/signatures", status_code=201)
def add_signature(
    request: Request, who: Builder, digest: DigestPath, body: s.SignedObject
) -> s.AuditEntryRef:
    """Submit a signature (cosign's simple signing payload and its signature) or an
    attestation (its DSSE envelope) of the artifact (builder). The service verifies it with
    the keys trusted for the artifact's repository and records what it proves, with its own
    ``verified_at``; what no trusted key verifies is refused (400)."""
    seq = record_signature(registry(request), digest, body, actor=who.actor)
    return s.AuditEntryRef(audit_entry=seq)


@router.get("/artifacts/{digest}/provenance")
def provenance(request: Request, _: Reader, digest: DigestPath) -> s.ProvenanceView:
    """How the artifact was made: its builds, provenance attestations and bases."""
    with registry(request).read() as session:
        return provenance_of(session, resolve(session, digest))


@router.get("/artifacts/{digest}/lineage")
def lineage(
    request: Request,
    _: Reader,
    digest: DigestPath,
    up: bool = True,
    down: bool = True,
    depth: Annotated[int, Query(ge=1, le=100)] = 20,
) -> s.LineageView:
    """Ancestors (distance < 0) and descendants (> 0), with channels, and the edges."""
    with registry(request).read() as session:
        return lineage_graph(session, digest, up=up, down=down, depth=depth)
