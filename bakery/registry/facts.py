"""What a bake records: one strict, frozen model per fact.

:func:`~bakery.registry.record.record_artifact` records an :class:`ArtifactFact` and answers
:class:`Recorded`; ``bakery serve`` takes the same :class:`ArtifactFact` as the body of
``POST /api/v1/builds`` and answers the same :class:`Recorded`, and ``bakery bake
--registry-url`` sends the fact's JSON. So a field and its limits are declared here once, and
a fact that exists is one the registry accepts, wherever it was made.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bakery.registry.fields import (
    Digest,
    GitCommit,
    Text20,
    Text64,
    Text128,
    Text200,
    Text255,
    Text512,
    Text1024,
    Text2048,
    Version,
)
from bakery.registry.models import ArtifactKind, BuildStatus, Relation

#: a size or count that JSON carries exactly (JavaScript's largest safe integer)
MAX_SAFE = 2**53


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PackageFact(Fact):
    """One SBOM package, normalised."""

    purl: Text2048
    type: Text20
    name: Text255
    version: Version
    source_name: Text255 | None = None
    source_version: Text255 | None = None


class FindingFact(Fact):
    """One vulnerability finding."""

    vuln_id: Text128
    severity: Text20
    package_purl: Text2048 | None = None
    installed_version: Text255 | None = None
    fixed_version: Text255 | None = None
    #: kernel advisories name hundreds of upstream CVEs: the bound only stops absurd input
    aliases: tuple[Text128, ...] = Field(default=(), max_length=10_000)


class ScanFact(Fact):
    """A scan's verdict."""

    passed: bool
    scanner_version: Text64
    vulnerability_db: Text1024 | None = None
    packages: int = Field(ge=0, le=10_000_000)
    violations: int = Field(ge=0, le=10_000_000)
    findings: tuple[FindingFact, ...] = Field(default=(), max_length=100_000)


class BuildFact(Fact):
    """Who built what, from what, where and when (the columns of a build row)."""

    recipe_name: Text255
    recipe_version: Text128
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    status: BuildStatus = "succeeded"
    builder_id: Text255 = "bakery"
    host: Text255 = "unknown"
    recipe_digest: Digest | None = None
    lock_digest: Digest | None = None
    git_repo: Text1024 | None = None
    git_commit: GitCommit | None = None
    source_date_epoch: int | None = Field(default=None, ge=0, le=MAX_SAFE)
    log_digest: Digest | None = None


class ParentFact(Fact):
    """A base the artifact was built on."""

    digest: Digest
    relation: Relation


class SbomFact(Fact):
    """An SBOM manifest kept beside the artifact."""

    digest: Digest
    media_type: Text200
    size: int = Field(ge=0, le=MAX_SAFE)


class ArtifactFact(Fact):
    """An artifact and everything known about it at recording time: what ``bakery bake``
    records, locally or through ``--registry-url``."""

    digest: Digest
    media_type: Text200
    size: int = Field(ge=0, le=MAX_SAFE)
    kind: ArtifactKind = "image"
    name: Text255 | None = None
    created_at: AwareDatetime | None = None
    tags: tuple[Text512, ...] = Field(default=(), max_length=100)
    parents: tuple[ParentFact, ...] = Field(default=(), max_length=100)
    build: BuildFact | None = None
    scan: ScanFact | None = None
    packages: tuple[PackageFact, ...] = Field(default=(), max_length=100_000)
    sboms: tuple[SbomFact, ...] = Field(default=(), max_length=100)


class Recorded(Fact):
    """What recording did: the audit entry (None: nothing new), and whether the artifact is
    new to the registry."""

    digest: str
    audit_entry: int | None
    created: bool
