"""The service's typed request and response models (strict, frozen, no extra fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)]
#: printable text without control characters (no NUL: PostgreSQL refuses it)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


Text20 = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=_PRINTABLE)]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_PRINTABLE)]
Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
Text255 = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_PRINTABLE)]
Text512 = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=_PRINTABLE)]
Text1024 = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=_PRINTABLE)]
Text2048 = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=_PRINTABLE)]
Text4000 = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=_PRINTABLE)]
Version = Annotated[str, StringConstraints(max_length=255, pattern=_PRINTABLE)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Page(Model, Generic[T]):
    """One page of a list; ``total`` is the size of the whole list when it is known."""

    items: list[T]
    limit: int
    offset: int
    total: int | None = None


class Health(Model):
    status: Literal["ok"]
    database: str


# -- artifacts ------------------------------------------------------------------------------


class ArtifactSummary(Model):
    digest: str
    name: str | None
    kind: str
    media_type: str
    size: int
    created_at: datetime | None
    recorded_at: datetime
    tags: list[str]
    channels: list[str]
    revoked: bool


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


class ScanView(Model):
    passed: bool
    scanner_version: str
    vulnerability_db: str | None
    packages: int
    findings: int
    violations: int
    scanned_at: datetime


class RevocationView(Model):
    digest: str
    name: str | None
    reason: str
    actor: str
    at: datetime
    cascade: bool
    direct: bool


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


class PackageView(Model):
    purl: str
    type: str
    name: str
    version: str
    source_name: str | None
    source_version: str | None


class FindingView(Model):
    vuln_id: str
    severity: str
    package_purl: str | None
    installed_version: str | None
    fixed_version: str | None
    aliases: list[str]


class FindingsView(Model):
    by_severity: dict[str, int]
    findings: list[FindingView]


class SignatureView(Model):
    kind: str
    key_id: str
    predicate_type: str | None
    signature_digest: str | None
    verified_at: datetime | None
    recorded_at: datetime


class BuildView(Model):
    id: int
    digest: str | None
    recipe: str
    version: str
    status: str
    git_repo: str | None
    git_commit: str | None
    builder_id: str
    host: str
    started_at: str | None
    finished_at: str | None
    source_date_epoch: int | None
    recipe_digest: str | None
    lock_digest: str | None


class EdgeView(Model):
    parent: str
    child: str
    relation: str


class ProvenanceView(Model):
    builds: list[BuildView]
    attestations: list[SignatureView]
    parents: list[EdgeView]


class LineageNodeView(Model):
    digest: str
    name: str | None
    distance: int
    channels: list[str]
    revoked: bool


class LineageView(Model):
    nodes: list[LineageNodeView]
    edges: list[EdgeView]


# -- queries --------------------------------------------------------------------------------


class PackageHitView(Model):
    digest: str
    artifact: str | None
    package: str
    version: str
    purl: str


class VulnHitView(Model):
    digest: str
    artifact: str | None
    vuln_id: str
    package: str | None
    installed_version: str | None
    severity: str
    fixed_version: str | None
    channels: list[str]
    revoked: bool


class EvidenceView(Model):
    images: int
    counts: dict[str, int]
    unsigned: list[str]
    no_sbom: list[str]
    no_provenance: list[str]
    unscanned: list[str]
    revoked_in_channel: list[str]
    failing_in_channel: list[str]
    complete: bool


# -- channels and revocations ---------------------------------------------------------------


class AssignmentView(Model):
    id: int
    repository: str
    channel: str
    digest: str | None
    previous: str | None
    action: str
    actor: str
    reason: str
    at: datetime


class ChannelView(Model):
    repository: str
    channel: str
    current: AssignmentView | None


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


class RevokedView(Model):
    digest: str
    revoked: list[str]
    channel_fallbacks: int
    audit_entry: int


# -- tokens ---------------------------------------------------------------------------------


class TokenCreate(Model):
    name: Text100
    role: Literal["reader", "builder", "admin"]
    expires_at: AwareDatetime | None = None


class TokenView(Model):
    id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None


class TokenCreated(TokenView):
    token: str = Field(description="The raw token: shown once, never stored.")


# -- audit ----------------------------------------------------------------------------------


class AuditEntryView(Model):
    seq: int
    kind: str
    actor: str
    at: datetime
    data: str


class ProofView(Model):
    entry: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    root_hash: str
    checkpoint: str
    data: str
    verifies: bool


class VerifyView(Model):
    ok: bool
    size: int
    root_hash: str
    checkpoints: int
    rows_checked: int
    consistent_with_size: int | None
    problems: list[str]


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
    git_commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4,64}$")] | None = None
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
