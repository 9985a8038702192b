"""Fixtures for integration tests: a session store with the golden recipes baked once, dockerd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bakery.registry.db import DB_FILE
from tests.conftest import RECIPES, bakery, require_root, require_tools

#: the session store is baked with this epoch; tests that reuse its cache must use it too
SDE = {"SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture(scope="session")
def session_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store") / ".bakery"


@pytest.fixture(scope="session")
def baked(session_store: Path) -> dict[str, dict[str, Any]]:
    """debian-base and nginx baked once per session (nginx inherits debian-base)."""
    require_root()
    require_tools("mmdebstrap", "bwrap", "pigz")
    results = {}
    # nginx first: it bakes its parent debian-base, whose own bake then re-emits the same tags
    for name in ("nginx", "debian-base"):
        done = bakery("bake", RECIPES / f"{name}.yaml", "--store", session_store, "--json", env=SDE)
        assert done.returncode == 0, done.stderr
        results[name] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="session")
def dockerd() -> None:
    """A running Docker engine: `.ci/run` starts one; outside CI the fixture starts it."""
    require_root()
    require_tools("docker", "dockerd")
    if _docker_ok():
        return
    log = open("/tmp/bakery-test-dockerd.log", "ab")  # noqa: SIM115 - lives as long as dockerd
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _docker_ok():
            return
        time.sleep(1)
    pytest.fail(
        "dockerd did not start within 60 s; see /tmp/bakery-test-dockerd.log", pytrace=False
    )


def _docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def private_store(baked: dict[str, dict[str, Any]], session_store: Path, tmp_path: Path) -> Path:
    """A copy of the baked session store that a test may re-tag (and record into) freely."""
    return clone_store(session_store, tmp_path / "private" / ".bakery")


def clone_store(source: Path, dest: Path, *, registry: bool = True) -> Path:
    """A copy of the store ``source`` at ``dest``: blobs and cache records hard-linked (they
    are immutable, replaced only by rename), the metadata registry's SQLite files copied
    (written in place), kept rootfs trees and work directories left out (mutated in place).
    ``registry=False`` leaves the registry out too, for a test that wants a fresh one."""

    def skipped(directory: str, names: list[str]) -> set[str]:
        if Path(directory) != source:
            return set()
        return {"rootfs", "work", *(n for n in names if n.startswith(DB_FILE) and not registry)}

    def link_or_copy(src: str, dst: str) -> None:
        if Path(src).name.startswith(DB_FILE):
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    shutil.copytree(source, dest, copy_function=link_or_copy, ignore=skipped)
    (dest / "work").mkdir(exist_ok=True)
    return dest


def copy_recipes(dest: Path) -> Path:
    """A private copy of recipes/ (tests that edit recipes or lock them)."""
    shutil.copytree(RECIPES, dest, ignore=shutil.ignore_patterns("*.lock"))
    return dest
