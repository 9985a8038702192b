"""Audit verification is a job, not a page view: reading the audit page or the API runs no
verification (counters prove it); an admin starts one, which runs in the background, one at a
time per service, and its result lands in ``audit_verifications`` where every replica and the
CLI see it. On SQLite and on a real PostgreSQL server.

The service runs in this process (uvicorn on 127.0.0.1 in a thread, real HTTP), so the tests
can read its counters: ``bakery.registry.audit.verify.RUNS`` (every verification this process
runs) and ``app.state.audit_jobs.runs`` (those the service started).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import func, select, text

from bakery.cli.main import cli
from bakery.errors import ReferenceNotFound
from bakery.registry import models as m
from bakery.registry.audit import jobs
from bakery.registry.audit.log import log_size
from bakery.registry.audit.verify import RUNS, VERIFIED_CHECKPOINT, VerifyReport
from bakery.registry.db import Registry, open_registry, trusted_verifiers
from bakery.server.app import create_app
from bakery.server.config import ServerConfig
from tests.integration.pg_fixtures import postgres_server
from tests.integration.server_fixtures import (
    free_port,
    make_tokens,
    plant,
    verify_now,
)

pytestmark = pytest.mark.integration
__all__ = ["postgres_server"]

READERS = 100


@dataclass
class Service:
    """A ``bakery serve`` app in this process: its URL, app, registry, tokens and store."""

    url: str
    app: FastAPI
    registry: Registry
    tokens: dict[str, str]
    store: Path
    database_url: str | None

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def session_cookie(self, role: str) -> dict[str, str]:
        """Sign in to the UI with the ``role`` token: the session cookie."""
        response = httpx.post(
            self.url + "/login", data={"token": self.tokens[role], "next": "/audit"}, timeout=60
        )
        assert response.status_code == 303, response.text
        return {"bakery_session": response.cookies["bakery_session"]}

    @property
    def jobs(self) -> jobs.VerificationJobs:
        runner: jobs.VerificationJobs = self.app.state.audit_jobs
        return runner

    def rows(self) -> int:
        with self.registry.read() as session:
            return session.execute(
                select(func.count()).select_from(m.AuditVerification)
            ).scalar_one()

    def counters(self) -> tuple[int, int, int]:
        """(verifications run by this process, started by the service, recorded)."""
        return RUNS.value, self.jobs.runs, self.rows()


def serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def stop(server: uvicorn.Server, thread: threading.Thread, app: FastAPI) -> None:
    server.should_exit = True
    thread.join(30)
    assert app.state.audit_jobs.wait(60), "a verification was still running"


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    store = tmp_path / ".bakery"
    registry = open_registry(store, url, long_lived=True)
    try:
        plant(registry, store)
        tokens = make_tokens(registry)
        app = create_app(ServerConfig(store_root=store, database_url=url), registry)
        server, thread, base = serve(app)
        try:
            yield Service(base, app, registry, tokens, store, url)
        finally:
            stop(server, thread, app)
    finally:
        registry.dispose()


def _heading(html: str) -> str:
    found = re.search(r'<h2 id="verify-h">([^<]*)</h2>', html)
    assert found, html[:2000]
    return found.group(1)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Verifications started by the service wait until the event is set."""
    opened = threading.Event()
    real = jobs.verify_log

    def held(*args: Any, **kwargs: Any) -> VerifyReport:
        assert opened.wait(60), "the gate was never opened"
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "verify_log", held)
    return opened


# -- the acceptance test ----------------------------------------------------------------------


def test_100_concurrent_reads_run_no_verification_and_an_admin_post_runs_one(
    service: Service,
) -> None:
    reader_cookie = service.session_cookie("reader")
    admin_cookie = service.session_cookie("admin")
    before = service.counters()
    assert before[1:] == (0, 0)
    start = threading.Barrier(2 * READERS, timeout=60)

    def read(i: int) -> tuple[int, str]:
        start.wait()
        if i % 2:
            cookie = reader_cookie if i % 4 == 1 else admin_cookie
            response = httpx.get(service.url + "/audit", cookies=cookie, timeout=60)
        else:
            role = "reader" if i % 4 == 0 else "admin"
            headers = {"Authorization": f"Bearer {service.tokens[role]}"}
            path = (
                "/api/v1/audit/verifications/latest" if i % 8 < 4 else "/api/v1/audit/verifications"
            )
            response = httpx.get(service.url + path, headers=headers, timeout=60)
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=2 * READERS) as pool:
        answers = list(pool.map(read, range(2 * READERS)))
    assert [status for status, _ in answers] == [200] * (2 * READERS)
    pages = [body for i, (_, body) in enumerate(answers) if i % 2]
    assert len(pages) == READERS
    assert {_heading(page) for page in pages} == {"Verification: never run"}
    assert service.counters() == before  # nothing ran, nothing was recorded

    with service.client("reader") as reader:
        refused = reader.post("/api/v1/audit/verifications")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert reader.get("/api/v1/audit/verifications/latest").json() == {
            "latest": None,
            "running": None,
        }
    assert service.counters() == before

    with service.client("admin") as admin:
        job = verify_now(admin)
    assert service.jobs.wait(30)
    assert service.counters() == (before[0] + 1, 1, 1)  # exactly one
    assert job["state"] == "done" and job["ok"] is True and job["problems"] == []
    assert job["started_by"].startswith("test-admin (token ")
    assert job["finished_at"] >= job["started_at"]
    with service.client("reader") as reader:
        state = reader.get("/api/v1/audit/verifications/latest").json()
    assert state == {"latest": job, "running": None}
    with service.registry.read() as session:
        assert job["checked_size"] == log_size(session) and job["checked_size"] > 10
    assert (service.store / VERIFIED_CHECKPOINT).exists()

    page = httpx.get(service.url + "/audit", cookies=reader_cookie, timeout=60).text
    assert _heading(page) == "Verification: verified"
    assert job["root_hash"] in page and "test-admin" in page
    assert 'id="verify-form"' not in page  # a reader gets no button
    assert service.counters() == (before[0] + 1, 1, 1)


def test_one_at_a_time_and_a_running_one_is_shown(service: Service, gate: threading.Event) -> None:
    admin_cookie = service.session_cookie("admin")
    with service.client("admin") as admin:
        first = admin.post("/api/v1/audit/verifications")
        second = admin.post("/api/v1/audit/verifications")
        assert first.status_code == second.status_code == 202
        job = first.json()
        assert job["state"] == "running" and job["ok"] is None
        assert second.json()["id"] == job["id"]  # the running one, not a second
        assert first.headers["location"] == f"/api/v1/audit/verifications/{job['id']}"
        state = admin.get("/api/v1/audit/verifications/latest").json()
        assert state["latest"] is None and state["running"]["id"] == job["id"]
        page = httpx.get(service.url + "/audit", cookies=admin_cookie, timeout=60).text
        assert 'id="verify-running"' in page and "Show the running verification" in page
        assert service.jobs.running == job["id"] and service.jobs.runs == 1
        gate.set()
        assert service.jobs.wait(60)
        done = admin.get(f"/api/v1/audit/verifications/{job['id']}").json()
        assert done["state"] == "done" and done["ok"] is True
        assert service.jobs.running is None
        again = verify_now(admin)  # the lock is free again: a new run
    assert again["id"] == job["id"] + 1 and service.rows() == 2 and service.jobs.runs == 2


def test_a_run_that_cannot_finish_is_recorded_failed(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> VerifyReport:
        raise RuntimeError("secret detail: postgresql://user:pw@db/x")

    monkeypatch.setattr(jobs, "verify_log", broken)
    with service.client("admin") as admin:
        job = verify_now(admin)
        state = admin.get("/api/v1/audit/verifications/latest").json()
    assert job["state"] == "failed" and job["ok"] is None
    assert job["error"] == "internal error (see the log)"  # nothing of the exception leaks
    assert state["latest"] == job and state["running"] is None
    cookie = service.session_cookie("reader")
    page = httpx.get(service.url + "/audit", cookies=cookie, timeout=60).text
    assert _heading(page) == "Verification: could not finish" and "secret detail" not in page
    assert service.jobs.running is None


def test_tampering_shows_in_the_recorded_result(service: Service) -> None:
    with service.registry.engine.begin() as connection:
        connection.execute(text("UPDATE artifacts SET size = size + 1 WHERE id = 1"))
    with service.client("admin") as admin:
        job = verify_now(admin)
    assert job["state"] == "done" and job["ok"] is False
    assert any("artifacts row" in p and "was edited" in p for p in job["problems"])
    page = httpx.get(service.url + "/audit", cookies=service.session_cookie("reader")).text
    assert _heading(page) == "Verification: FAILED" and "was edited" in page


# -- the UI's button --------------------------------------------------------------------------


def test_the_ui_button_needs_an_admin_session_and_its_form_token(service: Service) -> None:
    admin_cookie = service.session_cookie("admin")
    reader_cookie = service.session_cookie("reader")
    page = httpx.get(service.url + "/audit", cookies=admin_cookie).text
    found = re.search(r'name="form_token" value="([0-9a-f]{64})"', page)
    assert found and 'id="verify-form"' in page
    token = found.group(1)
    reader_page = httpx.get(service.url + "/audit", cookies=reader_cookie).text
    reader_token = re.search(r'name="form_token" value="([0-9a-f]{64})"', reader_page)
    assert reader_token is None  # no form for a reader at all
    before = service.counters()

    def post(cookie: dict[str, str] | None, form: dict[str, str]) -> httpx.Response:
        return httpx.post(service.url + "/audit/verifications", cookies=cookie, data=form)

    refused = [
        post(admin_cookie, {}),  # no form token: a forged cross-site form
        post(admin_cookie, {"form_token": "0" * 64}),
        post(reader_cookie, {"form_token": token}),  # another session's token
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert "admin role" not in refused[0].text and "came from elsewhere" in refused[0].text
    assert post(None, {"form_token": token}).status_code == 303  # to the login form
    assert service.counters() == before

    done = post(admin_cookie, {"form_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/audit"
    assert service.jobs.wait(60)
    assert service.counters() == (before[0] + 1, before[1] + 1, before[2] + 1)
    page = httpx.get(service.url + "/audit", cookies=admin_cookie).text
    assert _heading(page) == "Verification: verified"


def test_a_readers_ui_post_is_refused(service: Service) -> None:
    cookie = service.session_cookie("reader")
    # a reader cannot get a form token from the page; even with the right one it is refused
    key: bytes = service.app.state.session_key
    token = hmac.new(key, b"form:" + cookie["bakery_session"].encode(), hashlib.sha256).hexdigest()
    before = service.counters()
    response = httpx.post(
        service.url + "/audit/verifications", cookies=cookie, data={"form_token": token}
    )
    assert response.status_code == 403 and "needs the admin role" in response.text
    assert service.counters() == before


# -- shared results: replicas, the CLI --------------------------------------------------------


def test_every_replica_and_the_cli_see_the_same_results(service: Service) -> None:
    other = open_registry(service.store, service.database_url, long_lived=True)
    app = create_app(
        ServerConfig(store_root=service.store, database_url=service.database_url), other
    )
    server, thread, url = serve(app)
    try:
        with service.client("admin") as admin:
            job = verify_now(admin)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {service.tokens['reader']}"}
        ) as replica:
            assert replica.get("/api/v1/audit/verifications/latest").json()["latest"] == job
        argv = ["audit", "verify", "--store", str(service.store), "--actor", "cli-person"]
        if service.database_url:
            argv += ["--database-url", service.database_url]
        result = CliRunner().invoke(cli, [*argv, "--json"])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        assert printed["ok"] is True and printed["verification"] == job["id"] + 1
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {service.tokens['reader']}"}
        ) as replica:
            latest = replica.get("/api/v1/audit/verifications/latest").json()["latest"]
            listed = replica.get("/api/v1/audit/verifications").json()
        assert latest["id"] == printed["verification"] and latest["started_by"] == "cli-person"
        assert latest["root_hash"] == printed["root_hash"] == job["root_hash"]
        assert [v["id"] for v in listed["items"]] == [latest["id"], job["id"]]
        assert listed["total"] == 2
        assert app.state.audit_jobs.runs == 0  # the replica only read
    finally:
        stop(server, thread, app)
        other.dispose()


def test_a_failing_cli_run_is_recorded_and_exits_1(service: Service) -> None:
    with service.registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    argv = ["audit", "verify", "--store", str(service.store)]
    if service.database_url:
        argv += ["--database-url", service.database_url]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1 and "audit entries 3..3 are missing" in result.output
    with service.client("reader") as reader:
        latest = reader.get("/api/v1/audit/verifications/latest").json()["latest"]
    assert latest["state"] == "done" and latest["ok"] is False
    assert "audit entries 3..3 are missing" in latest["problems"]


# -- the table is about the log, not in it ----------------------------------------------------


def _verify(registry: Registry, store: Path) -> tuple[VerifyReport, int]:
    keys = trusted_verifiers(store, registry.signer)
    return jobs.verify_and_record(registry, keys, store / VERIFIED_CHECKPOINT, started_by="t")


def test_recording_appends_nothing_and_the_verifier_ignores_the_table(service: Service) -> None:
    registry, store = service.registry, service.store
    with registry.read() as session:
        size = log_size(session)
    first, _ = _verify(registry, store)
    second, _ = _verify(registry, store)
    assert first.ok and second.ok and first.size == second.size == size
    with registry.read() as session:
        assert log_size(session) == size  # recording a result wrote no audit entry
    # editing and deleting results is no tampering with the log
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE audit_verifications SET ok = false, problems = '[\"x\"]'"))
        connection.execute(text("DELETE FROM audit_verifications WHERE id = 1"))
    third, run = _verify(registry, store)
    assert third.ok, third.problems
    with registry.read() as session:
        assert jobs.get(session, run).ok is True
        with pytest.raises(ReferenceNotFound, match="no audit verification 1"):
            jobs.get(session, 1)


def test_a_run_whose_process_died_is_closed(service: Service) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with service.registry.write() as session:
        for pid, host in ((gone.pid, service.registry.host), (os.getpid(), service.registry.host),
                          (gone.pid, "another-host")):  # fmt: skip
            session.add(
                m.AuditVerification(
                    state="running",
                    started_at=jobs.now(),
                    started_by="crashed",
                    host=host,
                    pid=pid,
                    problems="[]",
                )
            )
    with service.client("admin") as admin:
        assert admin.get("/api/v1/audit/verifications/latest").json()["running"] is not None
        job = verify_now(admin)
        listed = admin.get("/api/v1/audit/verifications").json()["items"]
    states = {v["id"]: (v["state"], v["error"]) for v in listed}
    assert states[1] == ("failed", jobs.ABANDONED) and states[2] == ("failed", jobs.ABANDONED)
    assert states[3] == ("running", None)  # another host's run: not ours to judge
    assert states[job["id"]] == ("done", None)
