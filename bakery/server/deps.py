"""What every handler shares: the open registry, the callers' roles, pagination bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request

from bakery.registry.db import Registry
from bakery.server.auth import Principal, require
from bakery.server.errors import ErrorBody

MAX_PAGE = 500
MAX_OFFSET = 1_000_000
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
REPOSITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$"

Reader = Annotated[Principal, Depends(require("reader"))]
Builder = Annotated[Principal, Depends(require("builder"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
Repository = Annotated[
    str | None,
    Query(max_length=255, pattern=REPOSITORY_PATTERN, description="When several have it."),
]

#: the error responses every API route may give, documented once for the OpenAPI spec
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad input"),
        (401, "Missing, invalid, expired or revoked token"),
        (403, "The token's role is too small"),
        (404, "Not found"),
        (413, "Body too large"),
        (422, "Invalid request"),
    )
}


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def store_root(request: Request) -> Path:
    root: Path = request.app.state.config.store_root
    return root
