"""API tokens (admin): list and create. The raw token is returned once."""

from __future__ import annotations

from fastapi import APIRouter, Request

from bakery.registry.tokens import create_token, list_tokens
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Admin, registry

router = APIRouter(tags=["tokens"], responses=ERRORS)


@router.get("/tokens")
def tokens(request: Request, _: Admin) -> list[s.TokenInfo]:
    """Every token (never its secret)."""
    return list_tokens(registry(request))


@router.post("/tokens", status_code=201)
def new_token(request: Request, who: Admin, body: s.TokenCreate) -> s.TokenCreated:
    """Create a token; the response holds the raw token, which is never shown again."""
    raw, info = create_token(
        registry(request), body.name, body.role, actor=who.actor, expires_at=body.expires_at
    )
    return s.TokenCreated(**info.model_dump(), token=raw)
