"""Channels (current, history, at a time; promote and roll back) and revocations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from bakery.registry import channels as ch
from bakery.registry import models as m
from bakery.registry.revocation import revoke
from bakery.server import reads
from bakery.server import schemas as s
from bakery.server.deps import (
    CHANNEL_PATTERN,
    ERRORS,
    Admin,
    Limit,
    Offset,
    Reader,
    Repository,
    registry,
)

router = APIRouter(tags=["channels"], responses=ERRORS)

ChannelPath = Annotated[str, Path(pattern=CHANNEL_PATTERN, description="e.g. prod")]


def _view(assignment: ch.Assignment) -> s.AssignmentView:
    return s.AssignmentView.model_validate(assignment.to_json())


@router.get("/channels")
def channels(request: Request, _: Reader) -> list[s.ChannelView]:
    """Every channel of every repository, with what it points at now."""
    with registry(request).read() as session:
        return reads.list_channels(session)


@router.get("/channels/{channel}")
def channel(
    request: Request, _: Reader, channel: ChannelPath, repository: Repository = None
) -> s.ChannelView:
    """What the channel points at now."""
    with registry(request).read() as session:
        row = ch.find_channel(session, channel, repository)
        now_row = ch.current(session, row.id)
        current = reads.assignment_view(session, now_row) if now_row else None
        repo = session.get_one(m.Repository, row.repository_id).name
    return s.ChannelView(repository=repo, channel=channel, current=current)


@router.get("/channels/{channel}/history")
def history(
    request: Request, _: Reader, channel: ChannelPath, repository: Repository = None
) -> list[s.AssignmentView]:
    """Every assignment of the channel, newest first: who, when, why, and what before."""
    with registry(request).read() as session:
        return [_view(a) for a in ch.history(session, channel, repository)]


@router.get("/channels/{channel}/at")
def pointed_at(
    request: Request,
    _: Reader,
    channel: ChannelPath,
    time: Annotated[AwareDatetime, Query(description="ISO 8601 with a zone")],
    repository: Repository = None,
) -> s.AssignmentView | None:
    """The assignment in force at ``time`` (null: the channel was empty then)."""
    with registry(request).read() as session:
        found = ch.pointed_at(session, channel, time, repository)
    return _view(found) if found else None


@router.post("/channels/{channel}/promote", status_code=201)
def promote(
    request: Request, who: Admin, channel: ChannelPath, body: s.PromoteRequest
) -> s.AssignmentView:
    """Point the channel of REF's repository at REF: refused (409) unless it is signed,
    scanned, passing its policy and not revoked (admin)."""
    done = ch.promote(
        registry(request),
        body.ref,
        channel,
        reason=body.reason,
        actor=who.actor,
        require_channel=body.require_channel,
    )
    return _view(done)


@router.post("/channels/{channel}/rollback", status_code=201)
def rollback(
    request: Request, who: Admin, channel: ChannelPath, body: s.RollbackRequest
) -> s.AssignmentView:
    """Point the channel back at its previous good assignment (admin)."""
    done = ch.rollback(
        registry(request), channel, repo=body.repository, reason=body.reason, actor=who.actor
    )
    return _view(done)


@router.get("/revocations")
def revocations(
    request: Request, _: Reader, limit: Limit = 50, offset: Offset = 0
) -> s.Page[s.RevocationView]:
    """Revocations, newest first."""
    with registry(request).read() as session:
        return reads.list_revocations(session, limit=limit, offset=offset)


@router.post("/revocations", status_code=201)
def revoke_artifact(request: Request, who: Admin, body: s.RevokeRequest) -> s.RevokedView:
    """Revoke REF (with ``cascade``, everything built on it); channels fall back (admin)."""
    done = revoke(
        registry(request), body.ref, reason=body.reason, actor=who.actor, cascade=body.cascade
    )
    return s.RevokedView.model_validate(done.to_json())
