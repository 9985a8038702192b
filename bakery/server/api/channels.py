"""Channels (current, history, at a time; promote and roll back) and revocations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from bakery.registry import channels as ch
from bakery.registry.revocation import list_revocations, revoke
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


@router.get("/channels")
def channels(request: Request, _: Reader) -> list[s.ChannelView]:
    """Every channel of every repository, with what it points at now."""
    with registry(request).read() as session:
        return ch.list_channels(session)


@router.get("/channels/{channel}")
def channel(
    request: Request, _: Reader, channel: ChannelPath, repository: Repository = None
) -> s.ChannelView:
    """What the channel points at now."""
    with registry(request).read() as session:
        return ch.channel_view(session, ch.find_channel(session, channel, repository))


@router.get("/channels/{channel}/history")
def history(
    request: Request, _: Reader, channel: ChannelPath, repository: Repository = None
) -> list[s.Assignment]:
    """Every assignment of the channel, newest first: who, when, why, and what before."""
    with registry(request).read() as session:
        return ch.history(session, channel, repository)


@router.get("/channels/{channel}/at")
def pointed_at(
    request: Request,
    _: Reader,
    channel: ChannelPath,
    time: Annotated[AwareDatetime, Query(description="ISO 8601 with a zone")],
    repository: Repository = None,
) -> s.Assignment | None:
    """The assignment in force at ``time`` (null: the channel was empty then)."""
    with registry(request).read() as session:
        return ch.pointed_at(session, channel, time, repository)


@router.post("/channels/{channel}/promote", status_code=201)
def promote(
    request: Request, who: Admin, channel: ChannelPath, body: s.PromoteRequest
) -> s.Assignment:
    """Point the channel of REF's repository at REF: refused (409) unless it is signed,
    scanned, passing its policy and not revoked (admin)."""
    return ch.promote(
        registry(request),
        body.ref,
        channel,
        reason=body.reason,
        actor=who.actor,
        require_channel=body.require_channel,
    )


@router.post("/channels/{channel}/rollback", status_code=201)
def rollback(
    request: Request, who: Admin, channel: ChannelPath, body: s.RollbackRequest
) -> s.Assignment:
    """Point the channel back at its previous good assignment (admin)."""
    return ch.rollback(
        registry(request), channel, repo=body.repository, reason=body.reason, actor=who.actor
    )


@router.get("/revocations")
def revocations(
    request: Request, _: Reader, limit: Limit = 50, offset: Offset = 0
) -> s.Page[s.RevocationView]:
    """Revocations, newest first."""
    with registry(request).read() as session:
        return list_revocations(session, limit=limit, offset=offset)


@router.post("/revocations", status_code=201)
def revoke_artifact(request: Request, who: Admin, body: s.RevokeRequest) -> s.Revoked:
    """Revoke REF (with ``cascade``, everything built on it); channels fall back (admin)."""
    return revoke(
        registry(request), body.ref, reason=body.reason, actor=who.actor, cascade=body.cascade
    )
