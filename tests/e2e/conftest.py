"""Browser fixtures: Debian's Chromium driven by Python Playwright (never a downloaded
browser), and the directory where the run leaves its screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
#: what works on these machines: no sandbox as root, no GPU, and no background traffic
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``$BAKERY_ARTIFACTS/e2e`` or ``test-artifacts/e2e`` at the repository root, emptied."""
    root = Path(os.environ.get("BAKERY_ARTIFACTS") or REPO / "test-artifacts")
    directory = root / "e2e"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "no /usr/bin/chromium: apt-get install -y chromium (or make setup)", pytrace=False
        )
    with sync_playwright() as playwright:
        # launch() gives every run a new, empty profile (its own --user-data-dir)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def allowed_statuses() -> set[int]:
    """HTTP statuses a test expects pages to answer with (error pages, a refused sign-in)."""
    return {401}


@pytest.fixture
def page(browser: Browser, allowed_statuses: set[int]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    allowed = tuple(f"status of {status} " for status in allowed_statuses)
    unexpected = [e for e in errors if not any(a in e for a in allowed)]
    assert unexpected == [], f"the browser reported errors (CSP violations?): {unexpected}"
