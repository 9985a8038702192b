"""Revocation: an artifact (and, with ``cascade``, everything built on it) may not be used.

:func:`is_revoked` is what ``verify``, ``promote`` and a bake on a revoked base ask. Revoking
makes every channel that points at a revoked artifact fall back to its last good assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import Covered, cover
from bakery.registry.channels import fall_back
from bakery.registry.current import revoked_ids
from bakery.registry.db import Registry, now
from bakery.registry.lineage import walk
from bakery.registry.refs import check_digest, check_text, resolve
from bakery.registry.views import Page, RevocationView, Revoked

MAX_REASON = 4000


def is_revoked(registry: Registry, digest: str) -> bool:
    """True when the artifact ``digest`` was revoked (directly or by a cascade)."""
    check_digest(digest)
    with registry.read() as session:
        found = session.scalars(
            select(m.Revocation.id)
            .join(m.Artifact, m.Artifact.id == m.Revocation.artifact_id)
            .where(m.Artifact.digest == digest)
            .limit(1)
        ).first()
    return found is not None


def ensure_not_revoked(registry: Registry, digest: str, *, what: str = "artifact") -> None:
    """Raise a UserError naming the revocation when ``digest`` is revoked (bases, verify)."""
    check_digest(digest)
    with registry.read() as session:
        row = session.execute(
            select(m.Revocation.reason, m.Revocation.actor, m.Revocation.at)
            .join(m.Artifact, m.Artifact.id == m.Revocation.artifact_id)
            .where(m.Artifact.digest == digest)
            .order_by(m.Revocation.id)
            .limit(1)
        ).first()
    if row is not None:
        raise revoked_error(what, digest, *row)


def revoked_error(what: str, digest: str, reason: str, actor: str, at: datetime) -> UserError:
    """The error that refuses a revoked artifact, naming the revocation."""
    return UserError(
        f"{what} {digest} is revoked ({reason}; by {actor} at {at:%Y-%m-%d %H:%M} UTC)",
        hint="use a newer, unrevoked artifact",
    )


def revoke(registry: Registry, ref: str, *, reason: str, actor: str, cascade: bool) -> Revoked:
    """Revoke REF (with ``cascade``, every descendant too); channels fall back."""
    check_text(reason, "reason", limit=MAX_REASON)
    check_text(actor, "actor", limit=255)
    with registry.write() as session:
        artifact = resolve(session, ref)
        at = now()
        targets = [artifact.id]
        if cascade:
            targets += [node for node, _ in walk(session, artifact.id, up=False)]
        already = revoked_ids(session, targets)
        covered: list[Covered] = []
        cause: int | None = None
        digests = []
        for artifact_id in targets:
            digests.append(session.get_one(m.Artifact, artifact_id).digest)
            if artifact_id in already:
                continue
            row = m.Revocation(
                artifact_id=artifact_id,
                reason=reason,
                actor=actor,
                at=at,
                cascade=cascade,
                cause_id=cause,
            )
            session.add(row)
            session.flush()
            cause = cause or row.id
            covered.append(cover(row))
        if not covered:
            raise UserError(f"{artifact.digest} is already revoked")
        covered += fall_back(session, set(targets), actor=actor, reason=f"revoked: {reason}")
        subject = {"digest": artifact.digest, "cascade": cascade, "count": len(targets)}
        seq = append(session, kind="revocation", actor=actor, at=at, subject=subject, rows=covered)
        fallbacks = sum(1 for c in covered if c.table == "channel_assignments")
        return Revoked(
            digest=artifact.digest, revoked=digests, channel_fallbacks=fallbacks, audit_entry=seq
        )


def revocations_of(session: Session, artifact_id: int) -> list[RevocationView]:
    """The artifact's revocations, oldest first."""
    rows = session.scalars(
        select(m.Revocation)
        .where(m.Revocation.artifact_id == artifact_id)
        .order_by(m.Revocation.id)
    ).all()
    return _views(session, rows)


def list_revocations(session: Session, *, limit: int, offset: int) -> Page[RevocationView]:
    """Revocations, newest first."""
    total = session.execute(select(func.count()).select_from(m.Revocation)).scalar_one()
    rows = session.scalars(
        select(m.Revocation).order_by(m.Revocation.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(items=_views(session, rows), limit=limit, offset=offset, total=total)


def _views(session: Session, rows: Sequence[m.Revocation]) -> list[RevocationView]:
    views = []
    for row in rows:
        artifact = session.get_one(m.Artifact, row.artifact_id)
        direct = row.cause_id is None
        views.append(
            RevocationView.from_row(row, digest=artifact.digest, name=artifact.name, direct=direct)
        )
    return views
