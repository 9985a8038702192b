"""Trusted keys and channel rules: what the service verifies evidence with, and what
promotion demands (admins change them; every change is an audit entry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError

from bakery.errors import UserError
from bakery.registry.promotion import rule_for, set_rule
from bakery.registry.trust import distrust_key, list_trusted, trust_key
from bakery.scan.policy import Policy
from bakery.server import schemas as s
from bakery.server.deps import CHANNEL_PATTERN, ERRORS, REPOSITORY_PATTERN, Admin, Reader, registry
from bakery.sign.keys import PublicKey

router = APIRouter(tags=["trust"], responses=ERRORS)

RepositoryQuery = Annotated[str, Query(max_length=255, pattern=REPOSITORY_PATTERN)]
ChannelQuery = Annotated[str, Query(pattern=CHANNEL_PATTERN)]


@router.get("/trusted-keys")
def trusted_keys(request: Request, _: Reader) -> list[s.TrustedKeyView]:
    """Every key ever trusted, and when its trust was withdrawn."""
    with registry(request).read() as session:
        return list_trusted(session)


@router.post("/trusted-keys", status_code=201)
def add_trusted_key(request: Request, who: Admin, body: s.TrustKeyRequest) -> s.TrustedKeyView:
    """Trust a public key (PEM, ECDSA P-256) for a repository, ``team/*`` or ``*`` (admin)."""
    key = PublicKey.from_pem(body.public_key.encode(), source="public_key")
    return trust_key(registry(request), key, body.pattern, actor=who.actor)


@router.delete("/trusted-keys/{trusted_id}")
def withdraw_trusted_key(
    request: Request,
    who: Admin,
    trusted_id: Annotated[int, Path(ge=1, le=2**62)],
    reason: Annotated[str, Query(min_length=1, max_length=4000)] = "withdrawn",
) -> s.TrustedKeyView:
    """Trust the key no more: its signatures stop counting for promotion (admin)."""
    return distrust_key(registry(request), trusted_id, reason=reason, actor=who.actor)


@router.get("/channel-rules")
def channel_rule(
    request: Request, _: Reader, repository: RepositoryQuery, channel: ChannelQuery
) -> s.ChannelRuleView | None:
    """The rule in force for promotion to ``channel`` of ``repository`` (null: none set)."""
    with registry(request).read() as session:
        return rule_for(session, repository, channel)


@router.put("/channel-rules")
def put_channel_rule(
    request: Request,
    who: Admin,
    repository: RepositoryQuery,
    channel: ChannelQuery,
    body: s.ChannelRuleRequest,
) -> s.ChannelRuleView:
    """Set what promotion to ``channel`` of ``repository`` demands (admin)."""
    policy = None
    if body.policy is not None:
        try:
            policy = Policy.model_validate(body.policy)
        except ValidationError as e:
            raise UserError(f"the policy is not a scan policy: {e.errors()[0]['msg']}") from e
    return set_rule(
        registry(request),
        repository,
        channel,
        required_keys=list(body.required_keys),
        policy=policy,
        actor=who.actor,
    )
