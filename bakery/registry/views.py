"""What the registry answers: one strict, frozen model per concept.

The queries return these; ``bakery serve`` returns them as its response models unchanged and
the CLI prints their JSON, so a field is declared here once and nowhere else. A model whose
fields are columns of a table is built from its row by :meth:`View.from_row`, which copies the
columns of the same name; the caller gives only what the row lacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, computed_field

from bakery.registry.models import Base

T = TypeVar("T")


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_row(cls, row: Base, /, **rest: Any) -> Self:
        """The columns of ``row`` that are fields here, and ``rest`` for the other fields."""
        columns = {k: v for k, v in row.content().items() if k in cls.model_fields}
        return cls.model_validate({**columns, **rest})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Page(View, Generic[T]):
    """One page of a list; ``total`` is the size of the whole list when it is known."""

    items: list[T]
    limit: int
    offset: int
    total: int | None = None


# -- artifacts and their parts ----------------------------------------------------------------


class ArtifactSummary(View):
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


class ScanView(View):
    """An artifact's latest scan."""

    passed: bool
    scanner_version: str
    vulnerability_db: str | None
    packages: int
    findings: int
    violations: int
    scanned_at: datetime


class PackageView(View):
    purl: str
    type: str
    name: str
    version: str
    source_name: str | None
    source_version: str | None


class FindingView(View):
    vuln_id: str
    severity: str
    package_purl: str | None
    installed_version: str | None
    fixed_version: str | None
    aliases: list[str]


class FindingsView(View):
    by_severity: dict[str, int]
    findings: list[FindingView]


class SignatureView(View):
    kind: str
    key_id: str
    predicate_type: str | None
    signature_digest: str | None
    verified_at: datetime | None
    recorded_at: datetime


class TrustedKeyView(View):
    """A key trusted for a repository pattern; ``withdrawn_at`` when it is trusted no more."""

    id: int
    pattern: str
    key_id: str
    public_key: str
    actor: str
    at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class ChannelRuleView(View):
    """What promotion to a channel demands: signatures by each required key and a signed scan
    whose findings pass ``policy`` (a scan policy's severity part, as JSON)."""

    repository: str
    channel: str
    required_keys: list[str]
    policy: dict[str, Any] | None
    actor: str
    at: datetime


class BuildRow(View):
    """A recorded bake (times as ISO 8601 text, ``Z`` for UTC)."""

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


class EdgeView(View):
    parent: str
    child: str
    relation: str


class ProvenanceView(View):
    builds: list[BuildRow]
    attestations: list[SignatureView]
    parents: list[EdgeView]


class LineageNode(View):
    """An artifact in a lineage walk; ``distance`` < 0 for ancestors, > 0 for descendants."""

    digest: str
    name: str | None
    distance: int
    channels: list[str]
    revoked: bool


class LineageView(View):
    nodes: list[LineageNode]
    edges: list[EdgeView]


# -- questions --------------------------------------------------------------------------------


class PackageHit(View):
    """An artifact containing a matching package."""

    digest: str
    artifact: str | None
    package: str
    version: str
    purl: str


class VulnHit(View):
    """An artifact affected by a vulnerability."""

    digest: str
    artifact: str | None
    vuln_id: str
    package: str | None
    installed_version: str | None
    severity: str
    fixed_version: str | None
    channels: list[str]
    revoked: bool


class EvidenceReport(View):
    """Images lacking evidence, and channels pointing at artifacts they should not.

    ``counts`` has the full number in each category; each list holds its first ``limit``
    digests (oldest first), so the report stays small at any scale.
    """

    images: int
    counts: dict[str, int]
    unsigned: list[str]
    no_sbom: list[str]
    no_provenance: list[str]
    unscanned: list[str]
    revoked_in_channel: list[str]
    failing_in_channel: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def complete(self) -> bool:
        return not any(self.counts.values())


class TagChange(View):
    """One event in a tag's history."""

    repository: str
    tag: str
    digest: str | None  # None: deleted
    action: str
    actor: str
    at: datetime


# -- channels and revocations -----------------------------------------------------------------


class Assignment(View):
    """One row of a channel's history, with digests instead of ids."""

    id: int
    repository: str
    channel: str
    digest: str | None
    previous: str | None
    action: str
    actor: str
    reason: str
    at: datetime


class ChannelView(View):
    repository: str
    channel: str
    current: Assignment | None


class RevocationView(View):
    digest: str
    name: str | None
    reason: str
    actor: str
    at: datetime
    cascade: bool
    direct: bool


class Revoked(View):
    """What a revocation did."""

    digest: str
    revoked: list[str]  # the artifact and, with cascade, its descendants
    channel_fallbacks: int  # assignments made because a channel pointed at one of them
    audit_entry: int


# -- tokens and the audit log -----------------------------------------------------------------


class TokenInfo(View):
    """A token as listed: never its secret. ``last_used_at`` is exact to a minute or so."""

    id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class AuditEntryView(View):
    seq: int
    kind: str
    actor: str
    at: datetime
    data: str


class ProofView(View):
    entry: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    root_hash: str
    checkpoint: str
    data: str
    verifies: bool


class VerifyView(View):
    ok: bool
    size: int
    root_hash: str
    checkpoints: int
    rows_checked: int
    consistent_with_size: int | None
    problems: list[str]


# -- audit verifications (the results of verifying the log, not part of it) ------------------


class VerificationView(View):
    """One verification of the audit log: ``running``, ``done`` (``ok`` says whether it found
    anything wrong; ``problems`` what) or ``failed`` (it could not finish; ``error`` says why).
    ``checked_size`` and ``root_hash`` are the tree it reached."""

    id: int
    state: str
    started_at: datetime
    finished_at: datetime | None
    started_by: str
    host: str
    ok: bool | None
    checked_size: int | None
    root_hash: str | None
    checkpoints: int | None
    rows_checked: int | None
    consistent_with_size: int | None
    problems: list[str]
    error: str | None


class VerificationStatus(View):
    """The last verification that finished, and the one in progress, if any."""

    latest: VerificationView | None
    running: VerificationView | None
