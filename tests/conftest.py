"""Shared test helpers: running the real CLI, and failing (never skipping) on missing tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: every test in a directory, home, store and docker config of its own (tests/isolation.py)
pytest_plugins = ("pytester", "tests.isolation")

REPO = Path(__file__).resolve().parent.parent
RECIPES = REPO / "recipes"

INSTALL_HINTS = {
    "mmdebstrap": "apt-get install -y mmdebstrap",
    "bwrap": "apt-get install -y bubblewrap",
    "pigz": "apt-get install -y pigz",
    "skopeo": "apt-get install -y skopeo",
    "umoci": "apt-get install -y umoci",
    "docker": "apt-get install -y docker.io",
    "dockerd": "apt-get install -y docker.io",
    "git": "apt-get install -y git",
    "sarif-multitool": "bash scripts/install-sarif-multitool.sh",
    "cosign": "bash scripts/install-sid-tools.sh cosign",
    "docker-registry": "apt-get install -y docker-registry",
    "psql": "apt-get install -y postgresql",
    "crane": "bash scripts/install-sid-tools.sh crane",
    "docker-compose": "bash scripts/install-sid-tools.sh docker-compose",
}


@pytest.fixture(autouse=True, scope="session")
def _crash_logs_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A bug hit by any test (in process or in a `bakery` subprocess) writes its crash log under
    pytest's tmp dir, never the real ~/.cache; the failing test's stderr names the file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BAKERY_CRASH_DIR", str(tmp_path_factory.mktemp("crash-logs")))
        yield


def require_tools(*tools: str) -> None:
    """Fail the test with an install hint when a tool is missing (CI must install it)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        hints = "; ".join(INSTALL_HINTS.get(t, f"install {t}") for t in missing)
        pytest.fail(f"missing tools {missing}: {hints} (or run `make setup`)", pytrace=False)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "integration tests need root (mmdebstrap --mode=root, bwrap, chown); run as root",
            pytrace=False,
        )


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def bakery(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> CliResult:
    """Run the real ``bakery`` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("NO_COLOR", "1")
    proc = subprocess.run(
        [sys.executable, "-m", "bakery", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
