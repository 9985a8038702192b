"""A real PostgreSQL server for the registry tests: initdb + pg_ctl on a free loopback port.

The server runs as the ``postgres`` OS user (tests run as root) in a temporary directory, is
started once per session and stopped at its end. Each test gets a database of its own.
Missing binaries fail the test with the install hint; nothing is skipped.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = "apt-get install postgresql (or make setup)"
_counter = itertools.count()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, argv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


class PostgresServer:
    """A running server: ``url(db)`` gives a SQLAlchemy URL."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def stop(self) -> None:
        if self.data.exists():
            _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"bakery_test_{os.getpid()}_{next(_counter)}"
        done = _as_postgres(
            PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        assert done.returncode == 0, done.stderr
        return self.url(name)


class MissingPostgres(RuntimeError):
    """PostgreSQL cannot be started here (binaries or the OS user missing, not root)."""


def start_server(extra_options: str = "") -> PostgresServer:
    """initdb and start a server as ``postgres`` in a fresh /tmp directory; stop() it after."""
    if os.geteuid() != 0:
        raise MissingPostgres("the PostgreSQL server runs as `postgres`: run as root")
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        raise MissingPostgres(f"PostgreSQL binaries are missing in {PG_BIN}: {INSTALL_HINT}")
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise MissingPostgres(f"no `postgres` OS user: {INSTALL_HINT}") from None
    directory = Path(tempfile.mkdtemp(prefix="bakery-pg-"))
    os.chown(directory, user.pw_uid, user.pw_gid)
    server = PostgresServer(directory, _free_port())
    done = _as_postgres(
        PG_BIN / "initdb",
        "-D",
        server.data,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    )
    if done.returncode != 0:
        raise MissingPostgres(f"initdb failed: {done.stderr}")
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={server.port} "
        f"-c unix_socket_directories={directory} -c max_connections=100 {extra_options}"
    )
    done = _as_postgres(
        PG_BIN / "pg_ctl",
        "-D",
        server.data,
        "-o",
        options,
        "-l",
        directory / "server.log",
        "-w",
        "start",
    )
    if done.returncode != 0:
        log = (directory / "server.log").read_text(errors="replace")[-2000:]
        server.stop()
        raise MissingPostgres(f"PostgreSQL did not start: {done.stderr}\n{log}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL 15 server for the session (fails with the install hint if missing)."""
    try:
        server = start_server()
    except MissingPostgres as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database()
