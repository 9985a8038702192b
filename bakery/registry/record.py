"""Recording a bake: the artifact, its build, lineage, tags, scan, SBOM packages and findings.

:func:`record_bake` takes a :class:`~bakery.result.BakeResult` and the store it was baked
into, reads the SBOM and scan result kept beside the image, and writes everything in one
transaction with one audit entry. Recording the same digest again writes nothing (only tags
that moved since are recorded). Base images in the result's lineage that the registry has not
seen yet are recorded too (artifact, packages, scan), so lineage edges always have both ends.

The lower-level :func:`record_artifact` takes one :class:`~bakery.registry.facts.ArtifactFact`
(no store), for the service, importers and the benchmark.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from packageurl import PackageURL
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.oci.layout import OCILayout
from bakery.oci.model import ImageManifest
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import Covered, cover, cover_collection
from bakery.registry.bulk import link_packages
from bakery.registry.db import Registry, now
from bakery.registry.facts import (
    ArtifactFact,
    BuildFact,
    Fact,
    FindingFact,
    PackageFact,
    ParentFact,
    Recorded,
    SbomFact,
    ScanFact,
)
from bakery.registry.models import BuildStatus
from bakery.registry.tags import record_tag
from bakery.result import BakeResult
from bakery.store import Store

R = TypeVar("R", bound=m.Base)


def record_artifact(session: Session, fact: ArtifactFact, *, actor: str) -> Recorded:
    """Record ``fact`` in the current write transaction (idempotent per digest)."""
    at = now()
    existing = session.scalars(select(m.Artifact).where(m.Artifact.digest == fact.digest)).first()
    covered: list[Covered] = []
    if existing is not None and (fact.build is None or _has_build(session, existing.id)):
        covered += _tags(session, existing.id, fact.tags, actor, at)
        if not covered:
            return Recorded(digest=fact.digest, audit_entry=None, created=False)
        seq = append(
            session, kind="tags", actor=actor, at=at, subject={"digest": fact.digest}, rows=covered
        )
        return Recorded(digest=fact.digest, audit_entry=seq, created=False)
    artifact = existing or _new_artifact(session, fact, at)
    if existing is None:
        covered.append(cover(artifact))
        covered += _contents(session, artifact, fact, at)
    if fact.build is not None:
        build = _row(m.Build, fact.build, artifact_id=artifact.id)
        session.add(build)
        session.flush()
        covered.append(cover(build))
    covered += _tags(session, artifact.id, fact.tags, actor, at)
    subject = {"digest": fact.digest, "name": fact.name, "tags": list(fact.tags)}
    seq = append(session, kind="bake", actor=actor, at=at, subject=subject, rows=covered)
    return Recorded(digest=fact.digest, audit_entry=seq, created=existing is None)


def _has_build(session: Session, artifact_id: int) -> bool:
    found = session.scalars(select(m.Build.id).where(m.Build.artifact_id == artifact_id).limit(1))
    return found.first() is not None


def _row(table: type[R], fact: Fact, /, **rest: Any) -> R:
    """A row of ``table`` from the fields of ``fact`` that are its columns, and ``rest`` (which
    wins) for what the fact lacks: the inverse of :meth:`bakery.registry.views.View.from_row`."""
    columns = table.__mapper__.column_attrs.keys()
    return table(**{k: getattr(fact, k) for k in type(fact).model_fields if k in columns} | rest)


def _new_artifact(session: Session, fact: ArtifactFact, at: datetime) -> m.Artifact:
    artifact = _row(m.Artifact, fact, recorded_at=at)
    session.add(artifact)
    session.flush()
    return artifact


def _contents(
    session: Session, artifact: m.Artifact, fact: ArtifactFact, at: datetime
) -> list[Covered]:
    """Lineage, SBOMs, packages, scan and findings of a new artifact."""
    covered = []
    for parent in fact.parents:
        found = session.scalars(select(m.Artifact).where(m.Artifact.digest == parent.digest))
        parent_row = found.first()
        if parent_row is None:
            continue  # the caller records parents first; an unknown one is not ours to invent
        edge = _row(m.LineageEdge, parent, child_id=artifact.id, parent_id=parent_row.id)
        session.add(edge)
        session.flush()
        covered.append(cover(edge))
    for ref in fact.sboms:
        sbom = _row(
            m.Artifact,
            ref,
            kind="sbom",
            name=fact.name,
            subject_id=artifact.id,
            created_at=fact.created_at,
            recorded_at=at,
        )
        if session.scalars(select(m.Artifact.id).where(m.Artifact.digest == ref.digest)).first():
            continue
        session.add(sbom)
        session.flush()
        covered.append(cover(sbom))
    if fact.packages:
        covered.append(link_packages(session, artifact.id, fact.packages))
    if fact.scan is not None:
        covered += _scan(session, artifact.id, fact.scan, at)
    return covered


def _tags(
    session: Session, artifact_id: int, tags: Sequence[str], actor: str, at: datetime
) -> list[Covered]:
    covered = []
    for ref in tags:
        event = record_tag(session, ref, artifact_id, actor=actor, at=at)
        if event is not None:  # the event, and the repository whose name it stands for
            covered += [cover(event), cover(session.get_one(m.Repository, event.repository_id))]
    return covered


def _scan(session: Session, artifact_id: int, scan: ScanFact, at: datetime) -> list[Covered]:
    row = _row(m.Scan, scan, artifact_id=artifact_id, findings=len(scan.findings), scanned_at=at)
    session.add(row)
    session.flush()
    covered = [cover(row)]
    if scan.findings:
        for finding in scan.findings:
            f = _row(m.Finding, finding, artifact_id=artifact_id)
            session.add(f)
            session.flush()
            aliases = sorted(set(finding.aliases) - {finding.vuln_id})
            if aliases:
                session.execute(
                    insert(m.FindingAlias), [{"finding_id": f.id, "alias": a} for a in aliases]
                )
        covered.append(cover_collection(session, "findings", artifact_id))
    return covered


# -- from a bake --------------------------------------------------------------------------


def packages_from_cyclonedx(document: bytes) -> tuple[PackageFact, ...]:
    """The packages of a CycloneDX JSON SBOM (as Bakery writes it: purl on every component)."""
    data = json.loads(document)
    facts = []
    for component in data.get("components") or []:
        purl = component.get("purl")
        if not purl:
            continue
        parsed = PackageURL.from_string(purl)
        props = {
            p.get("name", ""): p.get("value")
            for p in component.get("properties") or []
            if isinstance(p, dict)
        }
        group = component.get("group")
        name = str(component.get("name") or parsed.name)
        facts.append(
            PackageFact(
                purl=purl,
                type=parsed.type,
                name=f"{group}/{name}" if group else name,
                version=str(component.get("version") or parsed.version or ""),
                source_name=props.get("bakery:package:source-name"),
                source_version=props.get("bakery:package:source-version"),
            )
        )
    return tuple(facts)


def _scan_from_store(layout: OCILayout, digest: str) -> tuple[ScanFact | None, bytes | None]:
    """The scan verdict and CycloneDX SBOM kept beside an image (None: never scanned)."""
    from bakery.scan.stage import CYCLONEDX, SCAN_RESULT, ScanResult, read_referrer

    raw = read_referrer(layout, digest, SCAN_RESULT)
    sbom = read_referrer(layout, digest, CYCLONEDX)
    if raw is None:
        return None, sbom
    result = ScanResult.model_validate_json(raw)
    findings = tuple(
        FindingFact(
            vuln_id=f.id,
            severity=f.severity,
            package_purl=f.package,
            installed_version=f.installed_version,
            fixed_version=f.fixed_version,
            aliases=f.aliases,
        )
        for f in result.findings
        if f.category == "vulnerability"
    )
    scan = ScanFact(
        passed=result.policy.passed,
        scanner_version=result.scanner_version,
        vulnerability_db=result.vulnerability_db,
        packages=result.packages,
        violations=len(result.policy.violations),
        findings=findings,
    )
    return scan, sbom


def _sbom_manifests(layout: OCILayout, digest: str) -> tuple[SbomFact, ...]:
    from bakery.scan.stage import CYCLONEDX, SPDX

    found = []
    for kind in (CYCLONEDX, SPDX):
        found += [
            SbomFact(digest=d.digest, media_type=d.media_type, size=d.size)
            for d in layout.referrers(digest, kind)
        ]
    return tuple(found)


def artifact_from_store(
    store: Store,
    digest: str,
    *,
    name: str | None,
    tags: tuple[str, ...] = (),
    parents: tuple[ParentFact, ...] = (),
    build: BuildFact | None = None,
) -> ArtifactFact:
    """Everything the store knows about the image ``digest``."""
    layout = store.oci
    desc = layout.resolve(digest)
    manifest = layout.read_manifest(desc.digest)
    created = None
    if isinstance(manifest, ImageManifest):
        config = layout.read_config(manifest)
        created = _parse_time(config.created)
    scan, sbom = _scan_from_store(layout, digest)
    return ArtifactFact(
        digest=desc.digest,
        media_type=desc.media_type,
        size=desc.size,
        kind="image",
        name=name,
        created_at=created,
        tags=tags,
        parents=parents,
        build=build,
        scan=scan,
        packages=packages_from_cyclonedx(sbom) if sbom is not None else (),
        sboms=_sbom_manifests(layout, digest),
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sha256_file(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def build_fact(
    result: BakeResult,
    *,
    recipe_path: Path | None,
    started_at: datetime,
    finished_at: datetime,
    status: BuildStatus = "succeeded",
    builder_id: str = "bakery",
    log_digest: str | None = None,
) -> BuildFact:
    """The build row of a bake: recipe and lock digests, git facts of the recipe's repo."""
    from bakery.recipe.lock import render_lock

    lock_text = render_lock(result.lock).encode()
    return BuildFact(
        recipe_name=result.name,
        recipe_version=result.version,
        started_at=started_at,
        finished_at=finished_at,
        status=status,
        builder_id=builder_id,
        host=socket.gethostname(),
        recipe_digest=_sha256_file(recipe_path),
        lock_digest="sha256:" + hashlib.sha256(lock_text).hexdigest(),
        git_repo=result.source.repository,
        git_commit=result.source.revision,
        source_date_epoch=result.source_date_epoch,
        log_digest=log_digest,
    )


def record_bake(
    registry: Registry,
    result: BakeResult,
    store: Store,
    *,
    recipe_path: Path | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    actor: str | None = None,
    builder_id: str = "bakery",
    log_digest: str | None = None,
) -> Recorded:
    """Record a finished bake (and any base in its lineage not recorded yet), atomically.

    Call it after :func:`bakery.pipeline.bake.bake` returns, with the same store (``bakery
    bake`` records through a :class:`~bakery.registry.recorder.Recorder` instead). Times default
    to now; ``actor`` to the OS user. Raises :class:`~bakery.errors.ImmutableTag` when the bake
    moved a tag an immutability rule protects (nothing is recorded then).
    """
    who = actor or getpass.getuser()
    facts = bake_facts(
        result,
        store,
        recipe_path=recipe_path,
        started_at=started_at,
        finished_at=finished_at,
        builder_id=builder_id,
        log_digest=log_digest,
    )
    with registry.write() as session:
        recorded = [record_artifact(session, fact, actor=who) for fact in facts]
    return next(r for r, fact in zip(recorded, facts, strict=True) if fact.digest == result.digest)


def bake_facts(
    result: BakeResult,
    store: Store,
    *,
    recipe_path: Path | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    builder_id: str = "bakery",
    log_digest: str | None = None,
) -> list[ArtifactFact]:
    """Everything a bake made, as facts in the order they must be recorded: the bases in its
    lineage (the oldest first: its edges need it), the image, then its disks.

    Raises a UserError naming the value when something the bake made exceeds the registry's
    limits (:mod:`bakery.registry.fields`)."""
    finished = finished_at or now()
    started = started_at or finished
    chain = [(b.digest, b.name, b.kind) for b in result.lineage if b.digest]
    with _recordable(result.digest):
        parents = _parent_facts(store, chain)
        build = build_fact(
            result,
            recipe_path=recipe_path,
            started_at=started,
            finished_at=finished,
            builder_id=builder_id,
            log_digest=log_digest,
        )
        fact = artifact_from_store(
            store,
            result.digest,
            name=result.name,
            tags=result.tags,
            parents=_parent(chain[0]) if chain else (),
            build=build,
        )
        disks = disk_facts(result, created_at=fact.created_at)
    return [*reversed(parents), fact, *disks]


@contextmanager
def _recordable(digest: str) -> Iterator[None]:
    """Turn a value the registry's limits refuse into a UserError that names it."""
    try:
        yield
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in (exc.title, *problem["loc"]))
        raise UserError(
            f"cannot record {digest} in the registry: {where}: {problem['msg']}",
            hint="bake with --no-record to skip recording",
        ) from exc


def disk_facts(result: BakeResult, *, created_at: datetime | None) -> list[ArtifactFact]:
    """The disk images a bake made: artifacts of kind ``disk`` whose parent is the image."""
    from bakery.oci import mediatypes as mt

    return [
        ArtifactFact(
            digest=disk.digest,
            media_type=mt.MANIFEST,
            size=disk.file_size,
            kind="disk",
            name=result.name,
            created_at=created_at,
            tags=disk.tags,
            parents=(ParentFact(digest=result.digest, relation="image"),),
        )
        for disk in result.disks
    ]


def _parent(base: tuple[str, str | None, str]) -> tuple[ParentFact]:
    """The lineage edge to ``base`` (digest, name, kind of a bake's lineage entry)."""
    digest, _, kind = base
    return (ParentFact(digest=digest, relation="recipe" if kind == "recipe" else "image"),)


def _parent_facts(store: Store, chain: list[tuple[str, str | None, str]]) -> list[ArtifactFact]:
    facts = []
    for i, (digest, name, _) in enumerate(chain):
        parents = _parent(chain[i + 1]) if i + 1 < len(chain) else ()
        repo = name.rsplit(":", 1)[0] if name and ":" in name.rpartition("/")[2] else name
        facts.append(artifact_from_store(store, digest, name=repo, parents=parents))
    return facts


__all__ = ["bake_facts", "record_artifact", "record_bake"]
