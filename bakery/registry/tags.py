"""Repositories and tags, with full history and immutability rules.

A tag's history is its :class:`~bakery.registry.models.TagEvent` rows; the latest one says
where it points now. A tag whose ``repository:tag`` matches a rule's glob (e.g.
``golden/*:1.*``) may be set once and never moved or deleted.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import ImmutableTag, UserError
from bakery.oci.layout import validate_ref_name
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.db import Registry, now
from bakery.registry.views import TagChange


def split_ref(ref: str) -> tuple[str, str]:
    """``golden/nginx:1.22`` → (``golden/nginx``, ``1.22``); a missing tag is ``latest``."""
    validate_ref_name(ref)
    head, _, last = ref.rpartition("/")
    name, sep, tag = last.partition(":")
    if not sep:
        tag = "latest"
    return (f"{head}/{name}" if head else name), tag


def repository(session: Session, name: str, *, create: bool = True) -> m.Repository | None:
    """The repository row of ``name`` (made when ``create``)."""
    row = session.scalars(select(m.Repository).where(m.Repository.name == name)).first()
    if row is None and create:
        row = m.Repository(name=name)
        session.add(row)
        session.flush()
    return row


def current_tag(session: Session, repository_id: int, tag: str) -> m.TagEvent | None:
    """The latest event of a tag (its ``artifact_id`` is None when deleted)."""
    return session.scalars(
        select(m.TagEvent)
        .where(m.TagEvent.repository_id == repository_id, m.TagEvent.tag == tag)
        .order_by(m.TagEvent.id.desc())
        .limit(1)
    ).first()


def is_immutable(session: Session, repo: str, tag: str) -> bool:
    return protects(session.scalars(select(m.TagRule.pattern)).all(), f"{repo}:{tag}")


def protects(patterns: Sequence[str], ref: str) -> bool:
    """Whether one of the rules' ``patterns`` makes ``repository:tag`` immutable."""
    return any(fnmatch.fnmatchcase(ref, p) for p in patterns)


def record_tag(
    session: Session, ref: str, artifact_id: int, *, actor: str, at: datetime
) -> m.TagEvent | None:
    """Point ``ref`` at the artifact; None when it already does. Refuses immutable moves."""
    repo_name, tag = split_ref(ref)
    repo = repository(session, repo_name)
    assert repo is not None
    latest = current_tag(session, repo.id, tag)
    if latest is not None and latest.artifact_id == artifact_id:
        return None
    if (
        latest is not None
        and latest.artifact_id is not None
        and is_immutable(session, repo_name, tag)
    ):
        raise ImmutableTag(
            f"{repo_name}:{tag} is immutable and already points at another artifact",
            hint="bake under a new tag (immutable tags are never moved)",
        )
    event = m.TagEvent(
        repository_id=repo.id, tag=tag, artifact_id=artifact_id, action="set", actor=actor, at=at
    )
    session.add(event)
    session.flush()
    return event


def immovable(session: Session, moves: Mapping[str, str]) -> list[str]:
    """The tags of ``moves`` (``repo:tag`` → digest) that a rule protects and that point at
    another artifact now: setting them would move an immutable tag."""
    refused = []
    for ref, digest in moves.items():
        repo_name, tag = split_ref(ref)
        repo = repository(session, repo_name, create=False)
        latest = current_tag(session, repo.id, tag) if repo is not None else None
        if latest is None or latest.artifact_id is None:
            continue
        now_at = session.get_one(m.Artifact, latest.artifact_id).digest
        if now_at != digest and is_immutable(session, repo_name, tag):
            refused.append(f"{repo_name}:{tag} (at {now_at[:19]}…)")
    return refused


def ensure_movable(registry: Registry, moves: Mapping[str, str]) -> None:
    """ImmutableTag, before anything is tagged, when a tag of ``moves`` may not move."""
    with registry.read() as session:
        refused = immovable(session, moves)
    if refused:
        raise immutable_error(refused)


def immutable_error(refused: Sequence[str]) -> ImmutableTag:
    return ImmutableTag(
        f"immutable tag{'s' if len(refused) > 1 else ''} would move: " + ", ".join(refused),
        hint="bake under a new tag (immutable tags are never moved)",
    )


def delete_tag(session: Session, ref: str, *, actor: str, at: datetime) -> m.TagEvent:
    """Delete a tag (history is kept). Refuses immutable tags."""
    repo_name, tag = split_ref(ref)
    repo = repository(session, repo_name, create=False)
    latest = current_tag(session, repo.id, tag) if repo is not None else None
    if repo is None or latest is None or latest.artifact_id is None:
        raise UserError(f"no tag {repo_name}:{tag} in the registry")
    if is_immutable(session, repo_name, tag):
        raise ImmutableTag(f"{repo_name}:{tag} is immutable and cannot be deleted")
    event = m.TagEvent(
        repository_id=repo.id, tag=tag, artifact_id=None, action="delete", actor=actor, at=at
    )
    session.add(event)
    session.flush()
    return event


def add_rule(session: Session, pattern: str, *, actor: str, at: datetime) -> m.TagRule:
    """Make tags matching ``pattern`` (a glob over ``repository:tag``) immutable."""
    if not pattern or len(pattern) > 255 or ":" not in pattern:
        raise UserError(
            f"{pattern!r} is not a tag rule", hint="a glob over REPOSITORY:TAG, e.g. 'golden/*:1.*'"
        )
    rule = m.TagRule(pattern=pattern, actor=actor, at=at)
    session.add(rule)
    session.flush()
    return rule


def tag_history(session: Session, ref: str) -> list[TagChange]:
    """Every event of tag ``repository:tag``, or of every tag of ``repository``; newest first."""
    validate_ref_name(ref)
    head, _, last = ref.rpartition("/")
    name, sep, tag = last.partition(":")
    repo_name = f"{head}/{name}" if head else name
    query = (
        select(m.TagEvent, m.Repository.name, m.Artifact.digest)
        .join(m.Repository, m.Repository.id == m.TagEvent.repository_id)
        .outerjoin(m.Artifact, m.Artifact.id == m.TagEvent.artifact_id)
        .where(m.Repository.name == repo_name)
        .order_by(m.TagEvent.id.desc())
    )
    if sep:
        query = query.where(m.TagEvent.tag == tag)
    return [
        TagChange.from_row(event, repository=repo, digest=digest)
        for event, repo, digest in session.execute(query)
    ]


def add_tag_rule(registry: Registry, pattern: str, *, actor: str) -> int:
    """Make tags matching ``pattern`` immutable; returns the audit entry's number."""
    with registry.write() as session:
        at = now()
        rule = add_rule(session, pattern, actor=actor, at=at)
        subject = {"pattern": pattern}
        return append(
            session, kind="tag-rule", actor=actor, at=at, subject=subject, rows=[cover(rule)]
        )


def remove_tag(registry: Registry, ref: str, *, actor: str) -> int:
    """Delete a tag (its history stays); returns the audit entry's number."""
    with registry.write() as session:
        at = now()
        event = delete_tag(session, ref, actor=actor, at=at)
        subject = {"tag": ref}
        return append(
            session, kind="tag-delete", actor=actor, at=at, subject=subject, rows=[cover(event)]
        )


def tag_rules(session: Session) -> list[str]:
    return list(session.scalars(select(m.TagRule.pattern).order_by(m.TagRule.id)))
