"""API tokens with roles (reader, builder, admin). Only a salted scrypt hash is stored.

A token reads ``bkr_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is
checked against ``scrypt(secret, salt)`` in constant time. The raw token is returned once, by
:func:`create_token`, and never stored or logged.

A token expires, by default :data:`DEFAULT_LIFETIME` after it was made, unless its maker asks
for no expiry. :func:`revoke_token` ends it early: the row keeps ``revoked_at`` and
``revoked_by`` (it is never deleted) and the audit log gets an entry covering the row's new
state. ``last_used_at`` is bookkeeping (:func:`record_use`), never audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update

from bakery.errors import ReferenceNotFound, UserError
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
_ID = re.compile(r"[0-9a-f]{16}")
_LIFETIME = re.compile(r"([1-9][0-9]{0,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: how long a token lasts when its maker says nothing
DEFAULT_LIFETIME = timedelta(days=90)
#: how long the first admin token, made by ``bakery serve --init-admin-token``, lasts
BOOTSTRAP_LIFETIME = timedelta(hours=24)
#: the longest lifetime a duration may give (longer: ask for no expiry)
MAX_LIFETIME = timedelta(days=3650)
#: last use is written at most this often per token
LAST_USE_EVERY = timedelta(minutes=1)

State = Literal["active", "expired", "revoked"]


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT)


def _info(row: m.Token) -> TokenInfo:
    return TokenInfo.from_row(
        row,
        id=row.token_id,
        created_by=row.actor,
        # left out of the row's audited content (m.Token.content) while NULL, or always
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


def parse_lifetime(text: str) -> timedelta:
    """A lifetime such as ``30d``, ``12h``, ``90m`` or ``2w``."""
    parsed = _LIFETIME.fullmatch(text.strip())
    if parsed is None:
        raise UserError(f"{text[:40]!r} is not a lifetime", hint="e.g. 90m, 12h, 30d or 2w")
    lifetime = timedelta(**{_UNITS[parsed.group(2)]: int(parsed.group(1))})
    if lifetime > MAX_LIFETIME:
        raise UserError(f"{text} is longer than 10 years", hint="ask for no expiry instead")
    return lifetime


def state(info: TokenInfo, at: datetime) -> State:
    """Whether the token may be used at ``at``."""
    if info.revoked_at is not None:
        return "revoked"
    if info.expires_at is not None and info.expires_at <= at:
        return "expired"
    return "active"


def create_token(
    registry: Registry,
    name: str,
    role: str,
    *,
    actor: str,
    expires_at: datetime | timedelta | None = DEFAULT_LIFETIME,
) -> tuple[str, TokenInfo]:
    """A new token: (the raw token, shown once; what is kept about it).

    ``expires_at``: a time, a lifetime from now, or None for a token that never expires.
    """
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
            expires_at=at + expires_at if isinstance(expires_at, timedelta) else expires_at,
        )
        session.add(row)
        session.flush()
        subject = {"token_id": token_id, "name": name, "role": role}
        append(session, kind="token", actor=actor, at=at, subject=subject, rows=[cover(row)])
        return f"{PREFIX}_{token_id}_{secret}", _info(row)


def revoke_token(registry: Registry, token_id: str, *, actor: str) -> TokenInfo:
    """Revoke the token ``token_id`` (the ID ``tokens list`` shows) now, for good."""
    check_text(actor, "actor", limit=255)
    if _ID.fullmatch(token_id) is None:
        raise UserError(
            f"{token_id[:40]!r} is not a token ID", hint="16 hex digits, as `tokens list` shows"
        )
    with registry.write() as session:
        row = session.scalars(select(m.Token).where(m.Token.token_id == token_id)).first()
        if row is None:
            raise ReferenceNotFound(f"no token {token_id}", hint="see `bakery tokens list`")
        if row.revoked_at is not None:
            raise UserError(
                f"token {token_id} was revoked already, at {row.revoked_at:%Y-%m-%d %H:%M} UTC"
                f" by {row.revoked_by}"
            )
        at = now()
        row.revoked_at = at
        row.revoked_by = actor
        session.flush()
        subject = {"token_id": token_id, "name": row.name, "role": row.role}
        append(session, kind="token-revoke", actor=actor, at=at, subject=subject, rows=[cover(row)])
        return _info(row)


def list_tokens(registry: Registry) -> list[TokenInfo]:
    with registry.read() as session:
        return [_info(r) for r in session.scalars(select(m.Token).order_by(m.Token.id))]


def find_token(registry: Registry, token_id: str) -> TokenInfo | None:
    """The token ``token_id`` as it is now (one indexed read), revoked or not; None if gone."""
    with registry.read() as session:
        row = session.scalars(select(m.Token).where(m.Token.token_id == token_id)).first()
        return None if row is None else _info(row)


def identify(registry: Registry, raw: str) -> TokenInfo | None:
    """The token whose secret ``raw`` holds, whatever its :func:`state`; None when ``raw`` is
    malformed, names no token or holds a wrong secret."""
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
        return _info(row)


def authenticate(registry: Registry, raw: str, *, at: datetime | None = None) -> TokenInfo | None:
    """The token ``raw`` is, when it is valid, not revoked and not expired; None otherwise."""
    info = identify(registry, raw)
    if info is None or state(info, at or now()) != "active":
        return None
    return info


def record_use(registry: Registry, info: TokenInfo, at: datetime) -> bool:
    """Note that the token was used at ``at``, unless it was noted less than
    :data:`LAST_USE_EVERY` before (then nothing is written). True when a row was written."""
    if info.last_used_at is not None and at - info.last_used_at < LAST_USE_EVERY:
        return False
    with registry.write() as session:
        done = session.execute(
            update(m.Token)
            .where(
                m.Token.token_id == info.id,
                or_(m.Token.last_used_at.is_(None), m.Token.last_used_at < at - LAST_USE_EVERY),
            )
            .values(last_used_at=at)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]
