"""The registry's tables, as typed SQLAlchemy 2 models.

Facts are append-only rows: a tag move is a new :class:`TagEvent`, a promotion a new
:class:`ChannelAssignment`, a revocation a new :class:`Revocation`; the current state is the
latest row. That keeps every row an audit entry covers unchanged forever, so an edit is
detected (:mod:`bakery.registry.audit.log`).

Scale: packages are normalised (one row per purl) and linked to artifacts through
:class:`ArtifactPackage`, keyed ``(package_id, artifact_id)`` without a rowid on SQLite, so
"which artifacts contain X" is a range scan on ``packages (type, name, version_key)`` followed
by index-only scans of the links. ``version_key`` sorts in the ecosystem's own order
(:mod:`bakery.registry.versionkey`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ArtifactKind = Literal["image", "disk", "sbom", "attestation", "signature"]
BuildStatus = Literal["succeeded", "failed", "running"]
#: how a child is built on its parent: recipe inheritance, or an image base
Relation = Literal["recipe", "image"]
ARTIFACT_KINDS: tuple[str, ...] = get_args(ArtifactKind)
BUILD_STATUSES: tuple[str, ...] = get_args(BuildStatus)
RELATIONS: tuple[str, ...] = get_args(Relation)
ROLES = ("reader", "builder", "admin")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive (UTC) so that both databases agree exactly."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _choice(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_valid")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    #: columns added after rows of the table were first covered by audit entries: left out
    #: of :meth:`content` while NULL, so that a row covered before the column existed still
    #: hashes the same after the migration that added it
    LATE_COLUMNS: ClassVar[frozenset[str]] = frozenset()

    def content(self) -> dict[str, Any]:
        """Every column's value (what an audit entry's row hash covers)."""
        values = {c.key: getattr(self, c.key) for c in self.__mapper__.column_attrs}
        return {k: v for k, v in values.items() if v is not None or k not in self.LATE_COLUMNS}


class Artifact(Base):
    """Anything content-addressed in the store: an image, a disk image, an SBOM, a signature."""

    __tablename__ = "artifacts"
    __table_args__ = (_choice("kind", ARTIFACT_KINDS),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(100), unique=True)
    media_type: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(255))
    #: what an SBOM, signature or attestation artifact is about
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"), index=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Repository(Base):
    """An image name without its tag, e.g. ``golden/nginx``."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class TagEvent(Base):
    """A tag set to an artifact, or deleted (``artifact_id`` NULL); the latest event wins."""

    __tablename__ = "tag_events"
    __table_args__ = (
        _choice("action", ("set", "delete")),
        Index(None, "repository_id", "tag", "id"),
        Index(None, "artifact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    tag: Mapped[str] = mapped_column(String(128))
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    action: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class TagRule(Base):
    """Tags whose ``repository:tag`` matches ``pattern`` (a glob) can never move or go."""

    __tablename__ = "tag_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(255), unique=True)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Build(Base):
    """One bake: what it was made from, by whom, where and when."""

    __tablename__ = "builds"
    __table_args__ = (
        _choice("status", BUILD_STATUSES),
        Index(None, "recipe_name", "id"),
        Index(None, "git_commit"),
        Index(None, "artifact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    recipe_name: Mapped[str] = mapped_column(String(255))
    recipe_version: Mapped[str] = mapped_column(String(128))
    recipe_digest: Mapped[str | None] = mapped_column(String(100))
    lock_digest: Mapped[str | None] = mapped_column(String(100))
    git_repo: Mapped[str | None] = mapped_column(String(1024))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    builder_id: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    source_date_epoch: Mapped[int | None] = mapped_column(BigInteger)
    log_digest: Mapped[str | None] = mapped_column(String(100))


class LineageEdge(Base):
    """``parent`` is the base ``child`` was built on (recipe inheritance or an image base)."""

    __tablename__ = "lineage"
    __table_args__ = (
        _choice("relation", RELATIONS),
        Index(None, "parent_id", "child_id"),
    )

    child_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(10))


class Package(Base):
    """One distinct package (by purl) found in some artifact's SBOM."""

    __tablename__ = "packages"
    __table_args__ = (
        Index(None, "type", "name", "version_key"),
        Index(None, "type", "source_name", "version_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purl: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    version_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    source_name: Mapped[str | None] = mapped_column(String(255))
    source_version: Mapped[str | None] = mapped_column(String(255))


class ArtifactPackage(Base):
    """An artifact contains a package."""

    __tablename__ = "artifact_packages"
    __table_args__ = (Index(None, "artifact_id"), {"sqlite_with_rowid": False})

    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)


class Scan(Base):
    """A scan of an artifact and its policy verdict (the latest one counts)."""

    __tablename__ = "scans"
    __table_args__ = (Index(None, "artifact_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"))
    passed: Mapped[bool] = mapped_column(Boolean)
    scanner_version: Mapped[str] = mapped_column(String(64))
    vulnerability_db: Mapped[str | None] = mapped_column(String(1024))
    packages: Mapped[int] = mapped_column(Integer)
    findings: Mapped[int] = mapped_column(Integer)
    violations: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Finding(Base):
    """A vulnerability found in an artifact (other findings stay in the scan result)."""

    __tablename__ = "findings"
    __table_args__ = (Index(None, "vuln_id"), Index(None, "artifact_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"))
    vuln_id: Mapped[str] = mapped_column(String(128))
    package_purl: Mapped[str | None] = mapped_column(String(2048))
    installed_version: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(20))
    fixed_version: Mapped[str | None] = mapped_column(String(255))


class FindingAlias(Base):
    """Another id of a finding's vulnerability (a CVE for a DSA, ...)."""

    __tablename__ = "finding_aliases"
    __table_args__ = (Index(None, "alias"),)

    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)


class Signature(Base):
    """A signature or attestation of an artifact, and when it was last verified."""

    __tablename__ = "signatures"
    __table_args__ = (
        _choice("kind", ("signature", "attestation")),
        Index(None, "artifact_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"))
    kind: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str] = mapped_column(String(255))
    predicate_type: Mapped[str | None] = mapped_column(String(255))
    signature_digest: Mapped[str | None] = mapped_column(String(100))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    LATE_COLUMNS = frozenset({"predicate"})

    #: the verified predicate of a scan attestation (JSON), which promotion judges
    predicate: Mapped[str | None] = mapped_column(Text)


class Channel(Base):
    """A named pointer of a repository, e.g. ``golden/debian-base`` → ``prod``."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("repository_id", "name"), Index(None, "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    name: Mapped[str] = mapped_column(String(128))


class ChannelAssignment(Base):
    """The channel now points at ``artifact_id`` (NULL: nothing left to point at).

    ``previous_artifact_id`` is what it pointed at before; ``rollback_to_id`` the assignment a
    rollback from this one returns to (a stack, so repeated rollbacks walk back in time).
    """

    __tablename__ = "channel_assignments"
    __table_args__ = (
        _choice("action", ("promote", "rollback", "fallback")),
        Index(None, "channel_id", "id"),
        Index(None, "channel_id", "at"),
        Index(None, "artifact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    previous_artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    rollback_to_id: Mapped[int | None] = mapped_column(ForeignKey("channel_assignments.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Revocation(Base):
    """An artifact may no longer be used; ``cause_id`` is the revocation a cascade came from."""

    __tablename__ = "revocations"
    __table_args__ = (Index(None, "artifact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    cascade: Mapped[bool] = mapped_column(Boolean)
    cause_id: Mapped[int | None] = mapped_column(ForeignKey("revocations.id"))


class TrustedKey(Base):
    """A public key the registry verifies signatures of ``pattern``'s repositories with.

    ``pattern`` is a repository name, ``team/*`` (every repository under ``team/``) or ``*``.
    A key stops being trusted by a :class:`KeyDistrust` row, never by an edit.
    """

    __tablename__ = "trusted_keys"
    __table_args__ = (Index(None, "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class KeyDistrust(Base):
    """The trusted key ``trusted_key_id`` is trusted no more."""

    __tablename__ = "key_distrusts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trusted_key_id: Mapped[int] = mapped_column(ForeignKey("trusted_keys.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelRule(Base):
    """What promotion to ``channel`` of ``repository`` demands; the newest row is in force.

    ``required_keys`` (JSON list of key ids): each must have signed the image; ``policy``
    (JSON, a scan policy's severity part) judges the findings of the signed scan attestation.
    """

    __tablename__ = "channel_rules"
    __table_args__ = (Index(None, "repository", "channel", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(128))
    required_keys: Mapped[str] = mapped_column(Text)
    policy: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Token(Base):
    """An API token: only a salted scrypt hash of its secret is kept.

    Unlike the facts above, a token row changes in place: ``last_used_at`` is bookkeeping,
    left out of what audit entries cover; a revocation sets ``revoked_at`` and ``revoked_by``
    and is covered by its own audit entry (``audit verify`` checks a token row against the
    latest entry that covers it, :data:`bakery.registry.audit.rows.UPDATED_IN_PLACE`).
    """

    __tablename__ = "tokens"
    __table_args__ = (_choice("role", ROLES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: written at most once a minute (never covered by the audit log)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(255))

    #: covered only once set: a row covered before they existed (migration 0002) or before
    #: its revocation hashes as it did then
    LATE_COLUMNS = frozenset({"revoked_at", "revoked_by"})

    def content(self) -> dict[str, Any]:
        """What an audit entry covers: every column but ``last_used_at``."""
        values = super().content()
        del values["last_used_at"]
        return values


class AuditEntry(Base):
    """One leaf of the audit log: ``data`` is the exact bytes hashed into the tree."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditNode(Base):
    """The hash of a perfect subtree: ``pos = level << 48 | index``."""

    __tablename__ = "audit_nodes"

    pos: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of the log at ``size`` entries."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index(None, "size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditHead(Base):
    """One row: the log's size and right edge (its perfect subtrees' hashes, largest first).

    Every write transaction locks it first, which serialises writers.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


#: a verification run: in progress, finished (``ok`` says what it found), or unable to finish
VerificationState = Literal["running", "done", "failed"]
VERIFICATION_STATES: tuple[str, ...] = get_args(VerificationState)


class AuditVerification(Base):
    """One run of the audit log's verification, by the service's job or ``bakery audit verify``.

    It records *about* the log and is no part of it: no audit entry covers its rows, writing
    one appends nothing to the log, and the verifier never reads this table. ``host`` and
    ``pid`` name the process that runs it, so a run whose process died can be closed.
    """

    __tablename__ = "audit_verifications"
    __table_args__ = (_choice("state", VERIFICATION_STATES), Index(None, "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    checked_size: Mapped[int | None] = mapped_column(BigInteger)
    root_hash: Mapped[str | None] = mapped_column(String(64))
    checkpoints: Mapped[int | None] = mapped_column(Integer)
    rows_checked: Mapped[int | None] = mapped_column(BigInteger)
    consistent_with_size: Mapped[int | None] = mapped_column(BigInteger)
    #: JSON list of what was found wrong (empty when ``ok``)
    problems: Mapped[str | None] = mapped_column(Text)
    #: why a ``failed`` run could not finish
    error: Mapped[str | None] = mapped_column(Text)
