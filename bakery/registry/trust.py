"""Trusted keys: the public keys the registry verifies a repository's signatures with.

The registry records a signature or attestation only after verifying it with a key trusted
for the artifact's repository (:mod:`bakery.registry.signatures`), and promotion counts only
evidence by keys still trusted (:mod:`bakery.registry.promotion`). Trusting a key and
withdrawing that trust are audit entries; a withdrawal is a new row, never an edit.

A pattern is a repository name (``golden/nginx``), a prefix (``golden/*``) or ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.db import Registry, now
from bakery.registry.refs import check_text, repository_of, resolve
from bakery.registry.views import TrustedKeyView
from bakery.sign.keys import PublicKey

_PATTERN = re.compile(r"\*|[a-z0-9][a-z0-9._/-]{0,200}(/\*)?")


def check_pattern(pattern: str) -> str:
    if _PATTERN.fullmatch(pattern) is None or "//" in pattern:
        raise UserError(
            f"{pattern[:80]!r} is not a repository pattern",
            hint="a repository (golden/nginx), every one under a prefix (golden/*) or *",
        )
    return pattern


def matches(pattern: str, repository: str) -> bool:
    """Whether ``pattern`` covers ``repository``."""
    if pattern == "*":
        return True
    if pattern.endswith("/*"):
        return repository.startswith(pattern[:-1])
    return pattern == repository


@dataclass(frozen=True)
class Trusted:
    """A key in force for a repository: its row and the parsed key."""

    row: m.TrustedKey
    key: PublicKey


def trusted_for(session: Session, repository: str) -> list[Trusted]:
    """The keys trusted for ``repository`` now (distrusted ones left out), oldest first."""
    rows = session.scalars(
        select(m.TrustedKey)
        .outerjoin(m.KeyDistrust, m.KeyDistrust.trusted_key_id == m.TrustedKey.id)
        .where(m.KeyDistrust.id.is_(None))
        .order_by(m.TrustedKey.id)
    ).all()
    return [
        Trusted(row, PublicKey.from_pem(row.public_key.encode(), source=f"trusted key {row.id}"))
        for row in rows
        if matches(row.pattern, repository)
    ]


def trust_key(
    registry: Registry, public_key: PublicKey, pattern: str, *, actor: str
) -> TrustedKeyView:
    """Trust ``public_key`` for the repositories of ``pattern`` (a no-op when it already is)."""
    check_pattern(pattern)
    check_text(actor, "actor", limit=255)
    with registry.write() as session:
        existing = _in_force(session, public_key.key_id, pattern)
        if existing is not None:
            return _view(existing, None)
        row = m.TrustedKey(
            pattern=pattern,
            key_id=public_key.key_id,
            public_key=public_key.pem().decode("ascii"),
            actor=actor,
            at=now(),
        )
        session.add(row)
        session.flush()
        subject = {"key_id": row.key_id, "pattern": pattern}
        append(session, kind="trust", actor=actor, at=row.at, subject=subject, rows=[cover(row)])
        return _view(row, None)


def trust_on_first_use(
    registry: Registry, ref: str, key: PublicKey, *, actor: str
) -> TrustedKeyView | None:
    """Trust ``key`` for REF's repository when no key is trusted for it yet (the embedded
    registry's default: the first key to sign a repository there); None when one was."""
    with registry.read() as session:
        artifact = resolve(session, ref)
        repository = repository_of(session, artifact, artifact.digest)
        if trusted_for(session, repository):
            return None
    return trust_key(registry, key, repository, actor=actor)


def distrust_key(registry: Registry, trusted_id: int, *, reason: str, actor: str) -> TrustedKeyView:
    """Withdraw the trust ``trusted_id`` (a :class:`~bakery.registry.models.TrustedKey` id)."""
    check_text(reason, "reason")
    check_text(actor, "actor", limit=255)
    with registry.write() as session:
        row = session.get(m.TrustedKey, trusted_id)
        if row is None:
            raise UserError(f"no trusted key {trusted_id}", hint="see `bakery trust list`")
        if _withdrawn(session, row.id) is not None:
            raise UserError(f"trusted key {trusted_id} was already withdrawn")
        gone = m.KeyDistrust(trusted_key_id=row.id, reason=reason, actor=actor, at=now())
        session.add(gone)
        session.flush()
        subject = {"key_id": row.key_id, "pattern": row.pattern}
        append(
            session, kind="distrust", actor=actor, at=gone.at, subject=subject, rows=[cover(gone)]
        )
        return _view(row, gone)


def list_trusted(session: Session) -> list[TrustedKeyView]:
    """Every key ever trusted, with its withdrawal when there was one."""
    rows = session.execute(
        select(m.TrustedKey, m.KeyDistrust)
        .outerjoin(m.KeyDistrust, m.KeyDistrust.trusted_key_id == m.TrustedKey.id)
        .order_by(m.TrustedKey.id)
    ).all()
    return [_view(key, gone) for key, gone in rows]


def _in_force(session: Session, key_id: str, pattern: str) -> m.TrustedKey | None:
    return session.scalars(
        select(m.TrustedKey)
        .outerjoin(m.KeyDistrust, m.KeyDistrust.trusted_key_id == m.TrustedKey.id)
        .where(
            m.TrustedKey.key_id == key_id,
            m.TrustedKey.pattern == pattern,
            m.KeyDistrust.id.is_(None),
        )
    ).first()


def _withdrawn(session: Session, trusted_id: int) -> m.KeyDistrust | None:
    return session.scalars(
        select(m.KeyDistrust).where(m.KeyDistrust.trusted_key_id == trusted_id)
    ).first()


def _view(row: m.TrustedKey, gone: m.KeyDistrust | None) -> TrustedKeyView:
    return TrustedKeyView.from_row(
        row,
        withdrawn_at=gone.at if gone else None,
        withdrawn_by=gone.actor if gone else None,
    )
