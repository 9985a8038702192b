"""API tokens (admin): list, create, revoke. The raw token is returned once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request

from bakery.errors import UserError
from bakery.registry.tokens import create_token, list_tokens, revoke_token
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Admin, registry

router = APIRouter(tags=["tokens"], responses=ERRORS)
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The token's ID.")]


@router.get("/tokens")
def tokens(request: Request, _: Admin) -> list[s.TokenInfo]:
    """Every token, revoked and expired ones too (never its secret), with its last use."""
    return list_tokens(registry(request))


@router.post("/tokens", status_code=201)
def new_token(request: Request, who: Admin, body: s.TokenCreate) -> s.TokenCreated:
    """Create a token; the response holds the raw token, which is never shown again.

    It expires at ``expires_at``, after the service's default lifetime when that is not
    given, or never with ``no_expiry``."""
    expires: datetime | timedelta | None = None
    if body.no_expiry and body.expires_at is not None:
        raise UserError("give expires_at or no_expiry, not both")
    if body.expires_at is not None:
        if body.expires_at <= datetime.now(UTC):
            raise UserError("expires_at is in the past", hint="give a future time")
        expires = body.expires_at
    elif not body.no_expiry:
        expires = request.app.state.config.token_lifetime
    raw, info = create_token(
        registry(request), body.name, body.role, actor=who.actor, expires_at=expires
    )
    return s.TokenCreated(**info.model_dump(), token=raw)


@router.delete("/tokens/{token_id}")
def revoke(request: Request, who: Admin, token_id: TokenId) -> s.TokenInfo:
    """Revoke a token for good: every later request with it gets 401. The row stays (with
    when and by whom) and the revocation is an audit log entry."""
    return revoke_token(registry(request), token_id, actor=who.actor)
