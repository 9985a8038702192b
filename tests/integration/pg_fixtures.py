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

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"bakery_test_{os.getpid()}_{next(_counter)}"
        done = _as_postgres(
            PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        assert done.returncode == 0, done.stderr
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL 15 server for the session (fails with the install hint if missing)."""
    if os.geteuid() != 0:
        pytest.fail(
            "the PostgreSQL fixture runs the server as `postgres`: run as root", pytrace=False
        )
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.fail(f"PostgreSQL binaries are missing in {PG_BIN}: {INSTALL_HINT}", pytrace=False)
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(f"no `postgres` OS user: {INSTALL_HINT}", pytrace=False)
    directory = Path(tempfile.mkdtemp(prefix="bakery-pg-"))
    data = directory / "data"
    os.chown(directory, user.pw_uid, user.pw_gid)
    port = _free_port()
    done = _as_postgres(
        PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--no-locale", "--no-sync",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} "
        "-c fsync=on -c max_connections=100"
    )
    done = _as_postgres(
        PG_BIN / "pg_ctl", "-D", data, "-o", options, "-l", directory / "server.log", "-w", "start"
    )
    if done.returncode != 0:
        log = (directory / "server.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"PostgreSQL did not start: {done.stderr}\n{log}", pytrace=False)
    try:
        yield PostgresServer(directory, port)
    finally:
        _as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database()
