"""Acceptance: debian-base baked twice, from two checkouts, a minute apart, cache off → same digest."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO, bakery, require_root, require_tools

MIN_APART_SECONDS = 60


def _checkout(dest: Path) -> Path:
    done = subprocess.run(
        ["git", "clone", "-q", str(REPO), str(dest)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git clone failed: {done.stderr}"
    return dest


def test_debian_base_is_bit_identical_across_checkouts_and_time(tmp_path: Path) -> None:
    require_root()
    require_tools("mmdebstrap", "bwrap", "pigz", "git")
    digests = []
    started = []
    for name in ("checkout-a", "checkout-b"):
        if started:
            wait = MIN_APART_SECONDS - (time.monotonic() - started[0])
            if wait > 0:
                time.sleep(wait)
        started.append(time.monotonic())
        checkout = _checkout(tmp_path / name)
        done = bakery(
            "bake",
            "recipes/debian-base.yaml",
            "--no-cache",
            "--json",
            "--store",
            checkout / ".bakery",
            cwd=checkout,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["steps_cached"] == 0
        digests.append((result["digest"], [layer["diff_id"] for layer in result["layers"]]))
    assert started[1] - started[0] >= MIN_APART_SECONDS
    assert digests[0] == digests[1], f"not reproducible: {digests}"
