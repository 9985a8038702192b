"""A bake killed at any point leaves a store whose every tag resolves to complete, valid blobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import bakery, require_root

BIG = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def big_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    with (root / "big.bin").open("wb") as f:
        for _ in range(BIG // (1 << 20)):
            f.write(os.urandom(1 << 20))
    (root / "small.txt").write_text("small\n")
    recipe = root / "big.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/big\nversion: '1'\nbase: scratch\n"
        "steps:\n  - copy: {src: small.txt, dest: /small.txt}\n  - copy: {src: big.bin, dest: /big.bin}\n"
    )
    return recipe


def _start(recipe: Path, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bakery", "bake", str(recipe), "--store", str(store), "--no-scan"],
        env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _check(store: Path) -> None:
    done = bakery("store", "check", "--store", store, "--json")
    problems = json.loads(done.stdout) if done.stdout.strip() else []
    errors = [p for p in problems if p["severity"] == "error"]
    assert done.returncode == 0 and not errors, (done.stderr, errors)


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5, 4.0])
def test_sigkill_at_any_point_leaves_a_consistent_store(
    tmp_path: Path, big_recipe: Path, delay: float
) -> None:
    require_root()
    store = tmp_path / ".bakery"
    # a previous good image in the store, which must survive
    first = bakery(
        "bake", big_recipe, "--store", store, "--no-scan", env={"SOURCE_DATE_EPOCH": "1"}
    )
    assert first.returncode == 0, first.stderr
    proc = _start(big_recipe, store)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _check(store)
    tags = json.loads(bakery("images", "--store", store, "--json").stdout)
    assert "test/big:1" in {t["tag"] for t in tags}
    again = bakery(
        "bake", big_recipe, "--store", store, "--no-scan", env={"SOURCE_DATE_EPOCH": "1700000000"}
    )
    assert again.returncode == 0, again.stderr
    _check(store)
    assert not [p for p in (store / "work").iterdir() if p.is_dir()]


def test_sigint_exits_130_and_leaves_a_consistent_store(tmp_path: Path, big_recipe: Path) -> None:
    require_root()
    store = tmp_path / ".bakery"
    proc = _start(big_recipe, store)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), stderr
    assert b"Traceback" not in stderr
    _check(store)


def test_store_check_detects_damage(tmp_path: Path, big_recipe: Path) -> None:
    require_root()
    store = tmp_path / ".bakery"
    assert bakery("bake", big_recipe, "--store", store, "--no-scan").returncode == 0
    index = json.loads((store / "oci/index.json").read_text())
    manifest_hex = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((store / "oci/blobs/sha256" / manifest_hex).read_text())
    layer = store / "oci/blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.write_bytes(bytes(data))
    (store / "oci/blobs/sha256" / manifest["config"]["digest"].split(":")[1]).unlink()
    done = bakery("store", "check", "--store", store)
    assert done.returncode == 1
    assert manifest["layers"][0]["digest"].split(":")[1] in done.stdout
    assert manifest["config"]["digest"].split(":")[1] in done.stdout
