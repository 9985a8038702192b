"""Opening the registry database: SQLite in the store by default, PostgreSQL by URL.

:func:`open_registry` creates the engine, applies the packaged Alembic migrations (under one
lock, so that processes opening a new database at once do not race) and returns a
:class:`Registry`. Writes go through :meth:`Registry.write`: one transaction that first takes
the audit log's head row (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on
PostgreSQL), so writers are serialised and every write's audit entries get consecutive leaf
numbers; when the transaction appended entries, a signed checkpoint of the new tree is stored
with them before the commit.

SQLite runs in WAL mode with a busy timeout and foreign keys on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DataError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from bakery.errors import RegistryDBError, UserError
from bakery.registry.audit.note import Signer, Verifier

DB_FILE = "bakery.db"
KEY_FILE = "audit.key"
TRUSTED_KEYS_FILE = "audit.trusted-keys"
BUSY_TIMEOUT_MS = 60_000
_MIGRATIONS = Path(__file__).parent / "migrations"
#: a fixed advisory lock id: "bakery" in ASCII
_PG_MIGRATION_LOCK = 0x62616B657279


def database_url(store_root: Path, url: str | None) -> str:
    """``url`` if given (e.g. ``postgresql+psycopg://…``), else SQLite in the store."""
    return url or f"sqlite:///{(store_root.absolute() / DB_FILE)}"


def now() -> datetime:
    """The current time, UTC, to the microsecond (what every row records)."""
    return datetime.now(UTC)


@dataclass
class Registry:
    """An open registry database and the key that signs its audit checkpoints."""

    engine: Engine
    signer: Signer
    host: str = field(default_factory=socket.gethostname)
    _writer: Engine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._writer = self.engine.execution_options(bakery_write=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        try:
            with Session(self.engine) as session, session.begin():
                yield session
                session.rollback()
        except DataError as exc:
            raise _bad_value(exc) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One serialised write transaction; checkpoints the audit log before committing."""
        from bakery.registry.audit.log import begin_write, finish_write

        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                begin_write(session)
                yield session
                finish_write(session, self.signer, now())
        except DataError as exc:
            raise _bad_value(exc) from exc
        except OperationalError as exc:
            raise RegistryDBError(
                f"the registry database failed: {str(exc.orig).strip()}",
                hint="check that the database is reachable and not locked by a stuck process",
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _bad_value(exc: DataError) -> UserError:
    """A value the database refuses (a NUL byte, an out-of-range number): the input is bad."""
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
    return UserError(f"the database refused a value: {first}", hint="check the arguments")


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys; BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enter_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        write = connection.get_execution_options().get("bakery_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enter_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, when another process is doing the same; so
    processes opening a new store together wait here, up to the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def make_engine(url: str, *, long_lived: bool = False) -> Engine:
    """An engine for ``url``, configured for the registry.

    ``long_lived`` (a server) checks each pooled PostgreSQL connection before use, so that a
    database restart costs no failed request; a CLI process opens its connections fresh and
    skips that round trip on every transaction.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(
            "the database URL is not valid",  # never echoed: it may hold a password
            hint="use e.g. postgresql+psycopg://user@host/db or sqlite:///path/bakery.db",
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(
            f"unsupported database {parsed.get_backend_name()!r}",
            hint="the registry runs on SQLite or PostgreSQL (postgresql+psycopg://…)",
        )
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _sqlite_setup(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=long_lived)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    target = head_revision()
    bind = engine.execution_options(bakery_write=True)
    with bind.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        if current == target:
            return
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def load_signer(store_root: Path) -> Signer:
    """The audit log's Ed25519 key, kept in the store (mode 0600); made on first use."""
    path = store_root / KEY_FILE
    if not path.exists():
        store_root.mkdir(parents=True, exist_ok=True)
        signer = Signer.generate("bakery.local/audit")
        # name the log after its key, so two stores' logs never share an origin
        signer = Signer(
            name=f"bakery.local/audit/{signer.verifier.hash.hex()}", private=signer.private
        )
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(signer.encode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic; another process may have won the race
        tmp.unlink()
    if path.stat().st_mode & 0o077:
        raise RegistryDBError(
            f"{path} is readable by others", hint=f"chmod 600 {path} (it signs the audit log)"
        )
    return Signer.decode(path.read_text(encoding="ascii"))


def trusted_verifiers(store_root: Path, signer: Signer) -> list[Verifier]:
    """This store's key, and the keys in ``<store>/audit.trusted-keys`` (one a line).

    Builders sharing one PostgreSQL database each sign checkpoints with their own store's key;
    list the others' verifier keys (``bakery audit key`` prints one) to verify their entries.
    """
    keys = [signer.verifier]
    path = store_root / TRUSTED_KEYS_FILE
    if path.exists():
        for line in path.read_text(encoding="ascii").splitlines():
            if line.strip() and not line.startswith("#"):
                keys.append(Verifier.decode(line))
    return keys


def open_registry(
    store_root: Path, url: str | None = None, *, long_lived: bool = False
) -> Registry:
    """Open (creating and migrating if needed) the registry of the store at ``store_root``.

    ``url`` selects another database (PostgreSQL: ``postgresql+psycopg://…``); the signing key
    of the audit log stays in the store either way. ``long_lived``: see :func:`make_engine`.
    """
    engine = make_engine(database_url(store_root, url), long_lived=long_lived)
    if engine.dialect.name == "sqlite":
        store_root.mkdir(parents=True, exist_ok=True)
    try:
        migrate(engine)
        signer = load_signer(store_root)
    except SQLAlchemyError as exc:
        engine.dispose()
        orig = getattr(exc, "orig", None) or exc
        raise RegistryDBError(
            f"cannot open the registry database: {str(orig).strip().splitlines()[0]}",
            hint="check --database-url / BAKERY_DATABASE_URL and that the server is running",
        ) from exc
    return Registry(engine=engine, signer=signer)
