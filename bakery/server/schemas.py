"""The service's typed request and response models (strict, frozen, no extra fields).

What the service answers about the registry is the registry's own types
(:mod:`bakery.registry.views`), re-exported here; this module adds only what is the service's
alone: request bodies, an artifact's detail with its layers and config from the store, health.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bakery.registry.fields import (
    Digest,
    GitCommit,
    Text20,
    Text64,
    Text100,
    Text128,
    Text200,
    Text255,
    Text512,
    Text1024,
    Text2048,
    Text4000,
    Version,
)
from bakery.registry.views import (
    ArtifactSummary,
    Assignment,
    AuditEntryView,
    BuildRow,
    ChannelView,
    EdgeView,
    EvidenceReport,
    FindingsView,
    FindingView,
    LineageNode,
    LineageView,
    PackageHit,
    PackageView,
    Page,
    ProofView,
    ProvenanceView,
    RevocationView,
    Revoked,
    ScanView,
    SignatureView,
    TokenInfo,
    VerifyView,
    VulnHit,
)

__all__ = [
    "ArtifactDetail",
    "ArtifactSummary",
    "Assignment",
    "AuditEntryRef",
    "AuditEntryView",
    "BuildIn",
    "BuildRow",
    "ChannelView",
    "EdgeView",
    "EvidenceReport",
    "FindingIn",
    "FindingView",
    "FindingsView",
    "Health",
    "ImageConfigView",
    "Layer",
    "LineageNode",
    "LineageView",
    "PackageHit",
    "PackageIn",
    "PackageView",
    "Page",
    "ParentIn",
    "PromoteRequest",
    "ProofView",
    "ProvenanceView",
    "RecordRequest",
    "RecordedView",
    "RevocationView",
    "RevokeRequest",
    "Revoked",
    "RollbackRequest",
    "SbomIn",
    "ScanIn",
    "ScanView",
    "SignatureIn",
    "SignatureView",
    "TokenCreate",
    "TokenCreated",
    "TokenInfo",
    "VerifyView",
    "VulnHit",
]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Health(Model):
    status: Literal["ok"]
    database: str


# -- artifacts ------------------------------------------------------------------------------


class Layer(Model):
    digest: str
    size: int
    media_type: str
    diff_id: str | None
    created_by: str | None


class ImageConfigView(Model):
    architecture: str
    os: str
    created: str | None
    user: str | None
    env: list[str]
    entrypoint: list[str] | None
    cmd: list[str] | None
    working_dir: str | None
    exposed_ports: list[str]
    labels: dict[str, str]


class ArtifactDetail(Model):
    artifact: ArtifactSummary
    subject: str | None
    sboms: list[str]
    package_count: int
    findings_by_severity: dict[str, int]
    scan: ScanView | None
    revocations: list[RevocationView]
    layers: list[Layer] | None
    config: ImageConfigView | None
    store_note: str | None


# -- channels and revocations ---------------------------------------------------------------


class PromoteRequest(Model):
    ref: Text512
    reason: Text4000
    require_channel: Text64 | None = None


class RollbackRequest(Model):
    repository: Text255 | None = None
    reason: Text4000 = "rollback"


class RevokeRequest(Model):
    ref: Text512
    reason: Text4000
    cascade: bool = False


# -- tokens ---------------------------------------------------------------------------------


class TokenCreate(Model):
    name: Text100
    role: Literal["reader", "builder", "admin"]
    expires_at: AwareDatetime | None = None


class TokenCreated(TokenInfo):
    token: str = Field(description="The raw token: shown once, never stored.")


# -- recording (builders) -------------------------------------------------------------------


class PackageIn(Model):
    purl: Text2048
    type: Text20
    name: Text255
    version: Version
    source_name: Text255 | None = None
    source_version: Text255 | None = None


class FindingIn(Model):
    vuln_id: Text128
    severity: Text20
    package_purl: Text2048 | None = None
    installed_version: Text255 | None = None
    fixed_version: Text255 | None = None
    aliases: list[Text128] = Field(default=[], max_length=100)


class ScanIn(Model):
    passed: bool
    scanner_version: Text64
    vulnerability_db: Text1024 | None = None
    packages: int = Field(ge=0, le=10_000_000)
    violations: int = Field(ge=0, le=10_000_000)
    findings: list[FindingIn] = Field(default=[], max_length=100_000)


class BuildIn(Model):
    recipe_name: Text255
    recipe_version: Text128
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    status: Literal["succeeded", "failed", "running"] = "succeeded"
    builder_id: Text255 = "bakery"
    host: Text255 = "unknown"
    recipe_digest: Digest | None = None
    lock_digest: Digest | None = None
    git_repo: Text1024 | None = None
    git_commit: GitCommit | None = None
    source_date_epoch: int | None = Field(default=None, ge=0, le=2**53)
    log_digest: Digest | None = None


class ParentIn(Model):
    digest: Digest
    relation: Literal["recipe", "image"]


class SbomIn(Model):
    digest: Digest
    media_type: Text200
    size: int = Field(ge=0, le=2**53)


class RecordRequest(Model):
    """An artifact and what is known about it: what ``bakery bake --registry-url`` sends."""

    digest: Digest
    media_type: Text200
    size: int = Field(ge=0, le=2**53)
    kind: Literal["image", "disk", "sbom", "attestation", "signature"] = "image"
    name: Text255 | None = None
    created_at: AwareDatetime | None = None
    tags: list[Text512] = Field(default=[], max_length=100)
    parents: list[ParentIn] = Field(default=[], max_length=100)
    build: BuildIn | None = None
    scan: ScanIn | None = None
    packages: list[PackageIn] = Field(default=[], max_length=100_000)
    sboms: list[SbomIn] = Field(default=[], max_length=100)


class RecordedView(Model):
    digest: str
    audit_entry: int | None
    created: bool


class SignatureIn(Model):
    kind: Literal["signature", "attestation"] = "signature"
    key_id: Text255
    predicate_type: Text255 | None = None
    signature_digest: Digest | None = None
    verified_at: AwareDatetime | None = None


class AuditEntryRef(Model):
    audit_entry: int
