"""The audit log covers what it shows: every column of every table, edited in turn, is caught
by ``audit verify`` (or refused by the database), except the few listed in ``NOT_COVERED``
with the reason they carry no history.

The registry is filled with every kind of write; each edit is made in a transaction that is
rolled back after the verification, so the cases do not disturb each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bakery.registry import models as m
from bakery.registry import promotion, tags, tokens, trust
from bakery.registry.audit.verify import verify_log
from bakery.registry.db import Registry, open_registry
from tests.evidence import TEST_KEY
from tests.integration.test_registry import _all_writes

pytestmark = pytest.mark.integration

#: (table, column) → why an edit of it is no tampering with history
NOT_COVERED = {
    **{
        ("audit_verifications", c.name): "records about the log (a verification's result), "
        "no part of it: a forged result is undone by running a verification"
        for c in m.AuditVerification.__table__.columns
    },
    ("tokens", "last_used_at"): "bookkeeping, written without an audit entry (at most once a "
    "minute per token)",
    ("audit_checkpoints", "at"): "when the checkpoint row was written, shown nowhere; what a "
    "checkpoint vouches for is its signed note (origin, size, root), which is checked",
}


@dataclass(frozen=True)
class Case:
    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


def _cases() -> list[Case]:
    return [
        Case(table.name, column.name)
        for table in m.Base.metadata.sorted_tables
        for column in table.columns
        if (table.name, column.name) not in NOT_COVERED
    ]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    store = tmp_path_factory.mktemp("tamper") / ".bakery"
    registry = open_registry(store)
    try:
        _all_writes(registry)  # bakes, trust, signatures, promotions, a revocation, a token
        tags.add_tag_rule(registry, "apps/*:1", actor="sec")
        _, info = tokens.create_token(registry, "leaver", "reader", actor="root")
        tokens.revoke_token(registry, info.id, actor="root")
        key = trust.trust_key(registry, TEST_KEY.public_key, "apps/*", actor="sec")
        trust.distrust_key(registry, key.id, reason="rotated", actor="sec")
        promotion.set_rule(
            registry, "golden/debian-base", "prod", required_keys=[], policy=None, actor="sec"
        )
        with registry.read() as session:
            assert verify_log(session, registry.signer.verifier).ok
        yield registry
    finally:
        registry.dispose()


def m_now() -> datetime:
    from bakery.registry.db import now

    return now()


def _changed(value: Any, column: Any) -> Any:
    """A different value of the column's type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return bytes([data[0] ^ 1]) + data[1:] if data else b"\x01"
    if isinstance(value, str):
        return value + "x" if len(value) < 60 else "x" + value[1:]
    python = column.type.python_type
    return {str: "forged", int: 1, bool: True, bytes: b"forged"}.get(python, m_now())


@pytest.mark.parametrize("case", _cases(), ids=str)
def test_every_edit_is_caught(filled: Registry, case: Case) -> None:
    table: Table = m.Base.metadata.tables[case.table]
    column = table.c[case.column]
    with filled.engine.connect() as connection:
        transaction = connection.begin()
        try:
            rows = connection.execute(select(table)).mappings().all()
            assert rows, f"the fixture wrote no {case.table} row: fill it"
            # a row whose value is set, when there is one (NULL → value is an edit too)
            row = next((r for r in rows if r[case.column] is not None), rows[0])
            keys = {c.name: row[c.name] for c in table.primary_key.columns}
            where = [table.c[name] == value for name, value in keys.items()]
            try:
                with connection.begin_nested():
                    connection.execute(
                        table.update()
                        .where(*where)
                        .values({case.column: _changed(row[case.column], column)})
                    )
            except IntegrityError:
                return  # the database itself refuses the edit
            with Session(bind=connection) as session:
                report = verify_log(session, filled.signer.verifier)
            assert not report.ok, f"editing {case} went unnoticed"
        finally:
            transaction.rollback()


def test_forging_an_entrys_actor_is_caught(filled: Registry, tmp_path: Path) -> None:
    with filled.engine.connect() as connection:
        transaction = connection.begin()
        try:
            entries = m.AuditEntry.__table__
            connection.execute(
                entries.update().where(entries.c.seq == 0).values(actor="someone else")
            )
            with Session(bind=connection) as session:
                report = verify_log(session, filled.signer.verifier)
        finally:
            transaction.rollback()
    assert any("actor column" in p for p in report.problems), report.problems
