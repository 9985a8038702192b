"""Channels: named pointers of a repository (``golden/debian-base`` → ``prod``).

Every change is a new :class:`~bakery.registry.models.ChannelAssignment`: ``promote`` points
a channel at an artifact that is signed, scanned, passing its policy and not revoked (and,
optionally, was in another channel first); ``rollback`` returns to the assignment before the
current one; a revocation makes channels that point at the revoked artifact ``fallback`` to
their last good assignment. The history answers "what did prod point at on 1 March?".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import PromotionRefused, UserError
from bakery.oci.layout import validate_ref_name
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import Covered, cover
from bakery.registry.current import revoked_ids
from bakery.registry.db import Registry, now
from bakery.registry.promotion import refusals
from bakery.registry.refs import check_channel, check_text, repository_of, resolve
from bakery.registry.tags import repository
from bakery.registry.views import Assignment, ChannelView

MAX_REASON = 4000


def _reason(text: str, actor: str) -> str:
    check_text(actor, "actor", limit=255)
    return check_text(text, "reason", limit=MAX_REASON)


def find_channel(session: Session, name: str, repo: str | None) -> m.Channel:
    """The channel ``name`` of ``repo``; without ``repo``, the only channel of that name."""
    check_channel(name)
    query = select(m.Channel).where(m.Channel.name == name)
    if repo is not None:
        validate_ref_name(repo)
        query = query.join(m.Repository).where(m.Repository.name == repo)
    found = session.scalars(query).all()
    if not found:
        where = f" of {repo}" if repo else ""
        raise UserError(f"no channel {name!r}{where}", hint="promote an artifact to create it")
    if len(found) > 1:
        names = sorted(_repo_name(session, c) for c in found)
        raise UserError(
            f"channel {name!r} exists in {len(found)} repositories",
            hint="name one with --repository: " + ", ".join(names[:5]),
        )
    return found[0]


def _repo_name(session: Session, channel: m.Channel) -> str:
    return session.get_one(m.Repository, channel.repository_id).name


def current(session: Session, channel_id: int) -> m.ChannelAssignment | None:
    return session.scalars(
        select(m.ChannelAssignment)
        .where(m.ChannelAssignment.channel_id == channel_id)
        .order_by(m.ChannelAssignment.id.desc())
        .limit(1)
    ).first()


def _was_in(session: Session, artifact_id: int, repo_id: int, channel: str) -> bool:
    found = session.scalars(
        select(m.ChannelAssignment.id)
        .join(m.Channel, m.Channel.id == m.ChannelAssignment.channel_id)
        .where(
            m.Channel.repository_id == repo_id,
            m.Channel.name == channel,
            m.ChannelAssignment.artifact_id == artifact_id,
        )
        .limit(1)
    )
    return found.first() is not None


def promote(
    registry: Registry,
    ref: str,
    channel: str,
    *,
    reason: str,
    actor: str,
    require_channel: str | None = None,
) -> Assignment:
    """Point ``channel`` of REF's repository at REF; PromotionRefused when it may not go."""
    check_channel(channel)
    _reason(reason, actor)
    with registry.write() as session:
        artifact = resolve(session, ref)
        repo_name = repository_of(session, artifact, ref)
        repo = repository(session, repo_name)
        assert repo is not None
        reasons = refusals(session, artifact, repo_name, channel)
        if require_channel and not _was_in(
            session, artifact.id, repo.id, check_channel(require_channel)
        ):
            reasons.append(f"it was never in {require_channel}")
        if reasons:
            raise PromotionRefused(
                f"cannot promote {artifact.digest[:19]}… to {channel}: " + "; ".join(reasons),
                hint="sign it with a trusted key, fix its policy failures or pick another artifact",
            )
        row = session.scalars(
            select(m.Channel).where(m.Channel.repository_id == repo.id, m.Channel.name == channel)
        ).first()
        covered: list[Covered] = []
        if row is None:
            row = m.Channel(repository_id=repo.id, name=channel)
            session.add(row)
            session.flush()
            covered.append(cover(row))
        before = current(session, row.id)
        assignment = _assign(session, row, artifact.id, before, "promote", actor, reason)
        covered.append(cover(assignment))
        _audit(session, "promotion", actor, assignment, repo_name, channel, covered)
        return view(session, assignment)


def _assign(
    session: Session,
    channel: m.Channel,
    artifact_id: int | None,
    before: m.ChannelAssignment | None,
    action: str,
    actor: str,
    reason: str,
    rollback_to: int | None = None,
) -> m.ChannelAssignment:
    row = m.ChannelAssignment(
        channel_id=channel.id,
        artifact_id=artifact_id,
        previous_artifact_id=before.artifact_id if before else None,
        rollback_to_id=rollback_to if action != "promote" else (before.id if before else None),
        action=action,
        actor=actor,
        reason=reason,
        at=now(),
    )
    session.add(row)
    session.flush()
    return row


def _audit(
    session: Session,
    kind: str,
    actor: str,
    row: m.ChannelAssignment,
    repo: str,
    channel: str,
    covered: list[Covered],
) -> None:
    subject = {"repository": repo, "channel": channel, "artifact_id": row.artifact_id}
    append(session, kind=kind, actor=actor, at=row.at, subject=subject, rows=covered)


def rollback(
    registry: Registry, channel: str, *, repo: str | None, reason: str, actor: str
) -> Assignment:
    """Point ``channel`` back at the assignment before the current one (skipping revoked)."""
    _reason(reason, actor)
    with registry.write() as session:
        row = find_channel(session, channel, repo)
        now_row = current(session, row.id)
        target = _good_before(session, now_row)
        if now_row is None or target is None:
            raise UserError(
                f"channel {channel} has no earlier good assignment to roll back to",
                hint=f"`bakery channel history {channel}` shows its history",
            )
        assignment = _assign(
            session,
            row,
            target.artifact_id,
            now_row,
            "rollback",
            actor,
            reason,
            target.rollback_to_id,
        )
        repo_name = _repo_name(session, row)
        _audit(session, "rollback", actor, assignment, repo_name, channel, [cover(assignment)])
        return view(session, assignment)


def _good_before(session: Session, row: m.ChannelAssignment | None) -> m.ChannelAssignment | None:
    """Down the rollback stack from ``row``: the first assignment of a non-revoked artifact."""
    seen = 0
    target = (
        session.get(m.ChannelAssignment, row.rollback_to_id) if row and row.rollback_to_id else None
    )
    while target is not None and seen < 10_000:
        if target.artifact_id is not None and not revoked_ids(session, [target.artifact_id]):
            return target
        seen += 1
        target = (
            session.get(m.ChannelAssignment, target.rollback_to_id)
            if target.rollback_to_id
            else None
        )
    return None


def fall_back(session: Session, revoked: set[int], *, actor: str, reason: str) -> list[Covered]:
    """Channels now pointing at a revoked artifact go back to their last good assignment."""
    covered = []
    for channel in session.scalars(select(m.Channel).order_by(m.Channel.id)).all():
        row = current(session, channel.id)
        if row is None or row.artifact_id not in revoked:
            continue
        target = _good_before(session, row)
        assignment = _assign(
            session,
            channel,
            target.artifact_id if target else None,
            row,
            "fallback",
            actor,
            reason,
            target.rollback_to_id if target else None,
        )
        covered.append(cover(assignment))
    return covered


def view(session: Session, row: m.ChannelAssignment) -> Assignment:
    channel = session.get_one(m.Channel, row.channel_id)

    def digest(artifact_id: int | None) -> str | None:
        return session.get_one(m.Artifact, artifact_id).digest if artifact_id else None

    return Assignment.from_row(
        row,
        repository=_repo_name(session, channel),
        channel=channel.name,
        digest=digest(row.artifact_id),
        previous=digest(row.previous_artifact_id),
    )


def channel_view(session: Session, channel: m.Channel) -> ChannelView:
    """The channel and what it points at now."""
    now_row = current(session, channel.id)
    return ChannelView(
        repository=_repo_name(session, channel),
        channel=channel.name,
        current=view(session, now_row) if now_row else None,
    )


def list_channels(session: Session) -> list[ChannelView]:
    """Every channel of every repository, with what it points at now."""
    rows = session.scalars(
        select(m.Channel)
        .join(m.Repository, m.Repository.id == m.Channel.repository_id)
        .order_by(m.Repository.name, m.Channel.name)
    ).all()
    return [channel_view(session, channel) for channel in rows]


def history(session: Session, channel: str, repo: str | None = None) -> list[Assignment]:
    """Every assignment of the channel, newest first."""
    row = find_channel(session, channel, repo)
    rows = session.scalars(
        select(m.ChannelAssignment)
        .where(m.ChannelAssignment.channel_id == row.id)
        .order_by(m.ChannelAssignment.id.desc())
    ).all()
    return [view(session, r) for r in rows]


def pointed_at(
    session: Session, channel: str, at: datetime, repo: str | None = None
) -> Assignment | None:
    """The assignment in force at time ``at`` (None: the channel was empty then)."""
    row = find_channel(session, channel, repo)
    found = session.scalars(
        select(m.ChannelAssignment)
        .where(m.ChannelAssignment.channel_id == row.id, m.ChannelAssignment.at <= at)
        .order_by(m.ChannelAssignment.at.desc(), m.ChannelAssignment.id.desc())
        .limit(1)
    ).first()
    return view(session, found) if found is not None else None
