"""Acceptance: debian-base baked twice, from two checkouts, a minute apart, cache off → same digest."""

from __future__ import annotations

import json
import shutil
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

    # A step on top gives the same layer whether it runs on the fresh rootfs the bake kept
    # (checkout a) or on one re-materialised from the layers (checkout b: kept rootfs dropped).
    shutil.rmtree(tmp_path / "checkout-b/.bakery/rootfs")
    (tmp_path / "checkout-b/.bakery/rootfs").mkdir()
    derived = tmp_path / "derived.yaml"
    derived.write_text(
        "apiVersion: bakery.dev/v1\nname: test/derived\nversion: '1'\n"
        "base: {image: 'golden/debian-base:12'}\n"
        "steps:\n  - run: useradd -m tester && echo derived > /etc/derived && mkdir -p /srv/x\n"
    )
    results = []
    for name in ("checkout-a", "checkout-b"):
        done = bakery(
            "bake",
            derived,
            "--json",
            "--store",
            tmp_path / name / ".bakery",
            env={"SOURCE_DATE_EPOCH": "1700000000"},
        )
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))
    assert results[0]["steps_run"] == results[1]["steps_run"] == 1
    assert results[0]["layers"][-1]["diff_id"] == results[1]["layers"][-1]["diff_id"]
    assert results[0]["digest"] == results[1]["digest"]
