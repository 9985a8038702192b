"""API tokens with roles (reader, builder, admin). Only a salted scrypt hash is stored.

A token reads ``bkr_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is
checked against ``scrypt(secret, salt)`` in constant time. The raw token is returned once, by
:func:`create_token`, and never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import select

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.db import Registry, now
from bakery.registry.refs import check_text
from bakery.registry.views import TokenInfo

PREFIX = "bkr"
#: scrypt cost: 16 MiB, ~40 ms a check on this class of machine
SCRYPT = {"n": 1 << 14, "r": 8, "p": 1, "maxmem": 64 << 20, "dklen": 32}
_TOKEN = re.compile(rf"{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@/-]{0,99}")


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT)


def _info(row: m.Token) -> TokenInfo:
    return TokenInfo.from_row(row, id=row.token_id, created_by=row.actor)


def create_token(
    registry: Registry, name: str, role: str, *, actor: str, expires_at: datetime | None = None
) -> tuple[str, TokenInfo]:
    """A new token: (the raw token, shown once; what is kept about it)."""
    if role not in m.ROLES:
        raise UserError(f"{role!r} is not a role", hint="reader, builder or admin")
    if _NAME.fullmatch(name) is None:
        raise UserError(f"{name[:40]!r} is not a token name", hint="letters, digits, ' ._@/-'")
    check_text(actor, "actor", limit=255)
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    with registry.write() as session:
        at = now()
        row = m.Token(
            token_id=token_id,
            name=name,
            role=role,
            salt=salt,
            secret_hash=_hash(secret, salt),
            actor=actor,
            created_at=at,
            expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        subject = {"token_id": token_id, "name": name, "role": role}
        append(session, kind="token", actor=actor, at=at, subject=subject, rows=[cover(row)])
        return f"{PREFIX}_{token_id}_{secret}", _info(row)


def list_tokens(registry: Registry) -> list[TokenInfo]:
    with registry.read() as session:
        return [_info(r) for r in session.scalars(select(m.Token).order_by(m.Token.id))]


def authenticate(registry: Registry, raw: str, *, at: datetime | None = None) -> TokenInfo | None:
    """The token ``raw`` is, when it is valid and not expired; None otherwise."""
    parsed = _TOKEN.fullmatch(raw.strip())
    if parsed is None:
        return None
    token_id, secret = parsed.groups()
    with registry.read() as session:
        row = session.scalars(select(m.Token).where(m.Token.token_id == token_id)).first()
        if row is None or not hmac.compare_digest(
            _hash(secret, bytes(row.salt)), bytes(row.secret_hash)
        ):
            return None
        if row.expires_at is not None and row.expires_at <= (at or now()):
            return None
        return _info(row)
