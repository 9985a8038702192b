"""Audit verifications as recorded runs: started on purpose, their results kept in the database.

A verification (:func:`bakery.registry.audit.verify.verify_log`) reads the whole log, so it is
never a side effect of reading its result. Each run is a row of ``audit_verifications``:
inserted ``running`` when it starts, then ``done`` with what it found, or ``failed`` when it
could not finish. Every service replica and the CLI read the same rows. The table records
*about* the log and is no part of it: writing a row appends no audit entry, and the verifier
never reads it.

``bakery audit verify`` runs one in the foreground (:func:`verify_and_record`); the service
runs them in a background thread, one at a time per process (:class:`VerificationJobs`). The
check reads one consistent snapshot (REPEATABLE READ on PostgreSQL; a SQLite read transaction
is one already), so writes made meanwhile cannot look like tampering.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bakery.errors import BakeryError, ReferenceNotFound
from bakery.registry import models as m
from bakery.registry.audit.note import Verifier
from bakery.registry.audit.verify import VerifyReport, verify_log
from bakery.registry.views import Page, VerificationStatus, VerificationView

log = logging.getLogger("bakery.registry.audit")

ABANDONED = "abandoned: the process that ran it ended before it finished"


class Registry(Protocol):
    """What a verification needs of the open registry (:class:`bakery.registry.db.Registry`)."""

    engine: Engine
    host: str

    def write(self) -> AbstractContextManager[Session]: ...


def now() -> datetime:
    return datetime.now(UTC)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _close_abandoned(session: Session, host: str) -> None:
    """Mark ``failed`` the runs of this host whose process is gone, or is this one (a run of
    this process is only begun when none of its own is going on)."""
    rows = session.scalars(
        select(m.AuditVerification).where(
            m.AuditVerification.state == "running", m.AuditVerification.host == host
        )
    ).all()
    for row in rows:
        if row.pid == os.getpid() or not _pid_alive(row.pid):
            row.state, row.finished_at, row.error = "failed", now(), ABANDONED


def begin(registry: Registry, started_by: str) -> int:
    """Record a run as ``running`` (closing this host's abandoned ones first); its id."""
    with registry.write() as session:
        _close_abandoned(session, registry.host)
        row = m.AuditVerification(
            state="running",
            started_at=now(),
            started_by=started_by,
            host=registry.host,
            pid=os.getpid(),
            problems="[]",
        )
        session.add(row)
        session.flush()
        return row.id


def finish(registry: Registry, job_id: int, report: VerifyReport) -> None:
    """Record what run ``job_id`` found."""
    with registry.write() as session:
        session.execute(
            update(m.AuditVerification)
            .where(m.AuditVerification.id == job_id)
            .values(
                state="done",
                finished_at=now(),
                ok=report.ok,
                checked_size=report.size,
                root_hash=report.root.hex(),
                checkpoints=report.checkpoints,
                rows_checked=report.rows_checked,
                consistent_with_size=report.consistent_with,
                problems=json.dumps(report.problems),
            )
        )


def fail(registry: Registry, job_id: int, error: str) -> None:
    """Record that run ``job_id`` could not finish, and why."""
    with registry.write() as session:
        session.execute(
            update(m.AuditVerification)
            .where(m.AuditVerification.id == job_id)
            .values(state="failed", finished_at=now(), error=error[:2000])
        )


@contextlib.contextmanager
def _snapshot(registry: Registry) -> Iterator[Session]:
    """A read-only session that sees one state of the database throughout."""
    engine = registry.engine
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    with Session(engine) as session, session.begin():
        yield session
        session.rollback()


def check(registry: Registry, keys: Sequence[Verifier], trusted: Path) -> VerifyReport:
    """Verify the log against (and, when it is sound, advance) the trust anchor ``trusted``."""
    with _snapshot(registry) as session:
        return verify_log(session, keys, trusted=trusted)


def _why(exc: BaseException) -> str:
    """What a failed run records: never a traceback, never a database URL."""
    if isinstance(exc, BakeryError):
        return exc.one_line()
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SQLAlchemyError):
        return "the registry database failed (see the log)"
    return "internal error (see the log)"


def verify_and_record(
    registry: Registry, keys: Sequence[Verifier], trusted: Path, *, started_by: str
) -> tuple[VerifyReport, int]:
    """Run one verification now, in this thread, and record it (``bakery audit verify``)."""
    job_id = begin(registry, started_by)
    try:
        report = check(registry, keys, trusted)
    except BaseException as exc:
        with contextlib.suppress(BakeryError, SQLAlchemyError):
            fail(registry, job_id, _why(exc))
        raise
    finish(registry, job_id, report)
    return report, job_id


class VerificationJobs:
    """The service's verifications: each in a background thread, one at a time here;
    checked against ``keys`` and the trust anchor file ``trusted``.

    :meth:`start` begins one, or answers the one already going on in this process; ``runs``
    counts those this object started.
    """

    def __init__(self, registry: Registry, keys: Sequence[Verifier], trusted: Path) -> None:
        self._registry = registry
        self._keys = list(keys)
        self._trusted = trusted
        self._mutex = threading.Lock()
        self._running: int | None = None
        self._thread: threading.Thread | None = None
        self.runs = 0

    @property
    def running(self) -> int | None:
        """The id of the run going on in this process, if any."""
        with self._mutex:
            return self._running

    def start(self, started_by: str) -> int:
        """Start a verification in the background (or find the one running); its id."""
        with self._mutex:
            if self._running is not None:
                return self._running
            job_id = begin(self._registry, started_by)
            thread = threading.Thread(
                target=self._run, args=(job_id,), name=f"audit-verify-{job_id}", daemon=True
            )
            self._running, self._thread = job_id, thread
            self.runs += 1
            thread.start()
        return job_id

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end; False if it is still going after ``timeout``."""
        with self._mutex:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, job_id: int) -> None:
        try:
            finish(self._registry, job_id, check(self._registry, self._keys, self._trusted))
        except Exception as exc:
            if isinstance(exc, BakeryError):
                log.error("audit verification %d failed: %s", job_id, exc.one_line())
            else:
                log.exception("audit verification %d failed", job_id)
            try:
                fail(self._registry, job_id, _why(exc))
            except (BakeryError, SQLAlchemyError):
                log.exception("audit verification %d: its failure was not recorded", job_id)
        finally:
            with self._mutex:
                self._running = None


# -- reading the results ---------------------------------------------------------------------


def _view(row: m.AuditVerification) -> VerificationView:
    return VerificationView.from_row(row, problems=json.loads(row.problems or "[]"))


def status(session: Session) -> VerificationStatus:
    """The last verification that finished, and the newest one still running."""
    table = m.AuditVerification
    latest = session.scalars(
        select(table)
        .where(table.state != "running")
        .order_by(table.finished_at.desc(), table.id.desc())
        .limit(1)
    ).first()
    running = session.scalars(
        select(table).where(table.state == "running").order_by(table.id.desc()).limit(1)
    ).first()
    return VerificationStatus(
        latest=None if latest is None else _view(latest),
        running=None if running is None else _view(running),
    )


def get(session: Session, job_id: int) -> VerificationView:
    row = session.get(m.AuditVerification, job_id)
    if row is None:
        raise ReferenceNotFound(
            f"no audit verification {job_id}", hint="GET /api/v1/audit/verifications lists them"
        )
    return _view(row)


def list_verifications(session: Session, *, limit: int, offset: int) -> Page[VerificationView]:
    """Verifications, newest first."""
    table = m.AuditVerification
    total = session.execute(select(func.count()).select_from(table)).scalar_one()
    rows = session.scalars(select(table).order_by(table.id.desc()).limit(limit).offset(offset))
    return Page(items=[_view(r) for r in rows], limit=limit, offset=offset, total=total)
