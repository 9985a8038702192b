"""The web UI in real headless Chromium: pages render, search finds a planted package, a
promotion made through the API appears in the channel history, a revoked token's session ends,
an admin starts an audit verification from the audit page; screenshots of every page."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.integration.server_fixtures import PLANTED, LiveServer, live_server

pytestmark = pytest.mark.integration
__all__ = ["live_server"]


def shot(page: Page, screenshots: Path, name: str) -> None:
    path = screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def check_accessible(page: Page) -> None:
    """One h1, a language, a main landmark, and a label for every visible input."""
    assert page.locator("h1").count() == 1
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("main#main").count() == 1
    for field in page.locator("input:not([type=hidden])").all():
        field_id = field.get_attribute("id")
        assert field_id and page.locator(f"label[for='{field_id}']").count() == 1


def sign_in(page: Page, server: LiveServer, next_path: str = "/", role: str = "reader") -> None:
    page.goto(server.url + next_path)
    expect(page).to_have_url(f"{server.url}/login?next=" + quote(next_path, safe=""))
    page.fill("#token", server.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url(server.url + next_path)
    page.wait_for_load_state()


def verify_from_the_audit_page(page: Page, server: LiveServer, expected: str) -> None:
    """Press the audit page's button (an admin's session), then reload until the run ends."""
    page.click("#verify-form button")
    page.wait_for_url(server.url + "/audit")
    deadline = time.monotonic() + 60
    while page.locator("#verify-running").count():
        assert time.monotonic() < deadline, "the verification did not end in 60 s"
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator("h2#verify-h")).to_have_text(expected)


def test_sign_in_and_dashboard(page: Page, live_server: LiveServer, screenshots: Path) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_have_text("Sign in")
    check_accessible(page)
    page.fill("#token", "bkr_0000000000000000_" + "A" * 43)
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_contain_text("not valid")
    shot(page, screenshots, "01-login-refused")
    page.fill("#token", live_server.tokens["reader"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
    check_accessible(page)
    expect(page.locator("section", has_text="Recent bakes").locator("tbody tr")).to_have_count(5)
    cookie = next(c for c in page.context.cookies() if c["name"] == "bakery_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert live_server.tokens["reader"].split("_", 2)[2] not in cookie["value"]
    shot(page, screenshots, "02-dashboard")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(live_server.url + "/channels")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_a_revoked_token_is_signed_out(page: Page, live_server: LiveServer) -> None:
    """A session signed in with a token ends when the token is revoked, at the next page."""
    with live_server.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": "e2e", "role": "reader"}).json()
    page.goto(live_server.url + "/")
    page.fill("#token", made["token"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
    with live_server.client("admin") as admin:
        assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    page.goto(live_server.url + "/channels")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.fill("#token", made["token"])
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_contain_text("the token was revoked")


def test_artifact_page_with_lineage_graph(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    p = live_server.planted
    sign_in(page, live_server, f"/artifacts/{p.nginx}")
    expect(page.locator("h1")).to_contain_text("golden/nginx")
    check_accessible(page)
    graph = page.locator("svg.lineage")
    expect(graph).to_have_count(1)
    expect(graph.locator("g.node")).to_have_count(3)
    expect(graph.locator("g.node.focus")).to_contain_text("golden/nginx")
    expect(graph.locator("line.edge")).to_have_count(2)
    for heading in ("Lineage", "Provenance", "Layers and config", "Findings by severity",
                    "Signatures and attestations", "SBOM packages"):  # fmt: skip
        expect(page.locator("h2", has_text=heading)).to_have_count(1)
    expect(page.locator("#packages")).to_contain_text(PLANTED)
    expect(page.locator("#findings")).to_contain_text("CVE-2023-44487")
    expect(page.locator("#provenance")).to_contain_text("golden/nginx 1.22")
    shot(page, screenshots, "03-artifact")
    graph.locator("g.node", has_text="golden/debian-base").click()
    expect(page).to_have_url(f"{live_server.url}/artifacts/{p.base}")
    expect(page.locator("#signatures")).to_contain_text("https://slsa.dev/provenance/v1")
    expect(page.locator("#findings .sev-high").first).to_be_visible()
    shot(page, screenshots, "04-artifact-base")


def test_search_finds_the_planted_package(
    page: Page, live_server: LiveServer, screenshots: Path, allowed_statuses: set[int]
) -> None:
    allowed_statuses.add(400)  # the bad range below gets an error page
    sign_in(page, live_server, "/search")
    check_accessible(page)
    page.fill("#name", PLANTED)
    page.fill("#versions", ">=1.2,<2")
    page.click("form.search button")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("golden/nginx")
    expect(rows.first).to_contain_text("1.2.3-1")
    shot(page, screenshots, "05-search")
    page.fill("#name", "openssl")
    page.fill("#versions", "<3.0.13")
    page.click("form.search button")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text("golden/debian-base")
    page.fill("#versions", "about 3")
    page.click("form.search button")
    expect(page.locator(".alert")).to_contain_text("not a version constraint")


def test_promotion_through_the_api_appears_in_history(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    p = live_server.planted
    reason = "e2e: canary release of nginx"
    with live_server.client("admin") as admin:
        done = admin.post(
            "/api/v1/channels/canary/promote", json={"ref": p.nginx, "reason": reason}
        )
    assert done.status_code == 201, done.text
    sign_in(page, live_server, "/channels")
    row = page.locator("tr", has_text="canary")
    expect(row).to_contain_text("golden/nginx")
    row.locator("a", has_text="canary").click()
    expect(page.locator("h1")).to_contain_text("canary")
    check_accessible(page)
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text(reason)
    expect(history.first).to_contain_text("promote")
    expect(history.first).to_contain_text("test-admin")
    page.fill("#at", "2000-01-01T00:00Z")
    page.click("form.search button")
    expect(page.locator("#then")).to_contain_text("did not exist yet")
    page.fill("#at", "2100-01-01T00:00Z")
    page.click("form.search button")
    expect(page.locator("#then")).to_contain_text("pointed at sha256:")
    expect(page.locator("#then")).to_contain_text("promote by test-admin")
    shot(page, screenshots, "06-channel-history")
    page.goto(f"{live_server.url}/vulnerabilities?id=CVE-2023-44487")
    expect(page.locator("#impact tbody tr")).to_have_count(1)
    expect(page.locator("#impact")).to_contain_text("golden/nginx@canary")
    shot(page, screenshots, "07-vulnerability-impact")


def test_audit_log_page_shows_verification(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    sign_in(page, live_server, "/audit")
    # reading the page runs nothing, and a reader cannot start a run
    expect(page.locator("h2#verify-h")).to_have_text("Verification: never run")
    expect(page.locator("#verify-form")).to_have_count(0)
    check_accessible(page)
    page.click("text=Sign out")
    sign_in(page, live_server, "/audit", role="admin")
    expect(page.locator("h2#verify-h")).to_have_text("Verification: never run")
    verify_from_the_audit_page(page, live_server, "Verification: verified")
    expect(page.locator("#last-verification")).to_contain_text("test-admin")
    check_accessible(page)
    expect(page.locator("#entries tbody tr").first).to_be_visible()
    shot(page, screenshots, "08-audit")
    page.goto(live_server.url + "/artifacts")
    expect(page.locator("tbody tr")).to_have_count(5)
    shot(page, screenshots, "09-artifacts")
    page.goto(f"{live_server.url}/artifacts/{live_server.planted.real}")
    layers = page.locator("#layers")
    expect(layers.locator("tbody tr")).to_have_count(1)
    expect(layers).to_contain_text("bakery: copy files/hello.txt")
    expect(layers).to_contain_text("linux/amd64")
    expect(layers).to_contain_text("org.example.team=platform")
    shot(page, screenshots, "10-artifact-layers")


def test_ui_refuses_open_redirects_and_api_cookies(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login?next=//evil.example/")
    page.fill("#token", live_server.tokens["reader"])
    page.click("button[type=submit]")
    expect(page).to_have_url(live_server.url + "/")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # the UI session is no API credential
    response = httpx.get(live_server.url + "/api/v1/artifacts", cookies=cookies)
    assert response.status_code == 401


def test_tampering_shows_on_the_audit_page(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    """Runs last: edits a recorded row behind the service's back; the next verification an
    admin starts from the audit page says so."""
    with sqlite3.connect(live_server.store / "bakery.db") as db:
        db.execute(
            "UPDATE artifacts SET size = size + 1 WHERE digest = ?", (live_server.planted.tool,)
        )
    sign_in(page, live_server, "/audit", role="admin")
    expect(page.locator("h2#verify-h")).to_have_text("Verification: verified")  # the last run
    verify_from_the_audit_page(page, live_server, "Verification: FAILED")
    expect(page.locator("ul.problems")).to_contain_text("artifacts row")
    expect(page.locator("ul.problems")).to_contain_text("was edited")
    shot(page, screenshots, "11-audit-tampered")
