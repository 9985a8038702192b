"""The service's typed request and response models (strict, frozen, no extra fields).

What the service answers about the registry is the registry's own types
(:mod:`bakery.registry.views`), re-exported here; this module adds only what is the service's
alone: request bodies, an artifact's detail with its layers and config from the store, health.
What builders record is the registry's own :class:`~bakery.registry.facts.ArtifactFact`, and
what recording answers its :class:`~bakery.registry.facts.Recorded`; the constrained field
types are the registry's too (:mod:`bakery.registry.fields`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bakery.registry.fields import Digest, Text64, Text100, Text255, Text512, Text4000
from bakery.registry.views import (
    ArtifactSummary,
    Assignment,
    AuditEntryView,
    BuildRow,
    ChannelRuleView,
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
    TrustedKeyView,
    VerificationStatus,
    VerificationView,
    VerifyView,
    VulnHit,
)
from bakery.sign.evidence import SignedObject

__all__ = [
    "ArtifactDetail",
    "ArtifactSummary",
    "Assignment",
    "AuditEntryRef",
    "AuditEntryView",
    "BuildRow",
    "ChannelRuleRequest",
    "ChannelRuleView",
    "ChannelView",
    "EdgeView",
    "EvidenceReport",
    "FindingView",
    "FindingsView",
    "Health",
    "ImageConfigView",
    "Layer",
    "LineageNode",
    "LineageView",
    "PackageHit",
    "PackageView",
    "Page",
    "PromoteRequest",
    "ProofView",
    "ProvenanceView",
    "RevocationView",
    "RevokeRequest",
    "Revoked",
    "RollbackRequest",
    "ScanView",
    "SignatureView",
    "SignedObject",
    "TagCheck",
    "TagCheckRequest",
    "TokenCreate",
    "TokenCreated",
    "TokenInfo",
    "TrustKeyRequest",
    "TrustedKeyView",
    "VerificationStatus",
    "VerificationView",
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
    """A new token expires at ``expires_at``; without it, after the service's default lifetime
    (90 days unless ``bakery serve --token-lifetime`` says otherwise); never with
    ``no_expiry``."""

    name: Text100
    role: Literal["reader", "builder", "admin"]
    expires_at: AwareDatetime | None = None
    no_expiry: bool = False


class TokenCreated(TokenInfo):
    token: str = Field(description="The raw token: shown once, never stored.")


# -- recording (builders) -------------------------------------------------------------------


class TrustKeyRequest(Model):
    """Trust a public key (PEM, ECDSA P-256) for a repository, ``team/*`` or ``*``."""

    public_key: Annotated[str, Field(min_length=1, max_length=4096)]
    pattern: Text255


class ChannelRuleRequest(Model):
    """What promotion to a channel demands: each key id in ``required_keys`` must have signed
    the image; ``policy`` (a scan policy document) judges its signed scan findings."""

    required_keys: list[Text64] = Field(default_factory=list, max_length=16)
    policy: dict[str, Any] | None = None


class TagCheckRequest(Model):
    """Tags a bake is about to set: ``repo:tag`` → the digest it would point at."""

    tags: dict[Text512, Digest] = Field(max_length=1000)


class TagCheck(Model):
    """The tags that may not be set (immutable, pointing elsewhere); empty: all may."""

    immovable: list[str]


class AuditEntryRef(Model):
    """The audit entry a write made; None when there was nothing new to record."""

    audit_entry: int | None
