"""Lockfiles pin exactly; the step cache reruns only what changed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import bakery
from tests.integration.conftest import SDE, copy_recipes


def _json(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_lock_pins_every_package_and_a_locked_bake_reuses_it(
    tmp_path: Path, baked: dict[str, Any], private_store: Path
) -> None:
    recipes = copy_recipes(tmp_path / "recipes")
    recipe = recipes / "debian-base.yaml"
    done = bakery("lock", recipe, "--store", private_store, env=SDE)
    assert done.returncode == 0, done.stderr
    lock_path = recipes / "debian-base.lock"
    text = lock_path.read_text()
    lock = json.loads(text)
    packages = lock["base"]["packages"]
    assert len(packages) > 80
    assert [p["name"] for p in packages] == sorted(p["name"] for p in packages)
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) for p in packages)
    assert {"ca-certificates", "libc6", "apt"} <= {p["name"] for p in packages}
    assert text == json.dumps(lock, indent=2, sort_keys=True) + "\n"

    again = bakery("lock", recipe, "--store", private_store, env=SDE)
    assert "unchanged" in again.stdout and lock_path.read_text() == text

    locked = _json(bakery("bake", recipe, "--locked", "--json", "--store", private_store, env=SDE))
    assert locked["locked"] is True
    assert locked["steps_run"] == 0
    # same image (config and layers); the manifest differs only in git annotations (copy is no repo)
    assert locked["config_digest"] == baked["debian-base"]["config_digest"]
    assert [x["digest"] for x in locked["layers"]] == [
        x["digest"] for x in baked["debian-base"]["layers"]
    ]


def test_locked_bake_refuses_a_stale_lock(
    tmp_path: Path, baked: dict[str, Any], private_store: Path
) -> None:
    recipes = copy_recipes(tmp_path / "recipes")
    recipe = recipes / "debian-base.yaml"
    assert bakery("lock", recipe, "--store", private_store, env=SDE).returncode == 0
    recipe.write_text(
        recipe.read_text().replace(
            "packages: [ca-certificates]", "packages: [ca-certificates, less]"
        )
    )
    done = bakery("bake", recipe, "--locked", "--store", private_store, env=SDE)
    assert done.returncode == 2, done.stderr
    assert "stale" in done.stderr and "bakery lock" in done.stderr
    assert "Traceback" not in done.stderr


def test_locked_bake_installs_exactly_the_lock(
    tmp_path: Path, baked: dict[str, Any], private_store: Path
) -> None:
    """A lock whose .deb sha256 does not match what apt downloads fails the locked bake."""
    recipes = copy_recipes(tmp_path / "recipes")
    recipe = recipes / "debian-base.yaml"
    assert bakery("lock", recipe, "--store", private_store, env=SDE).returncode == 0
    lock_path = recipes / "debian-base.lock"
    lock = json.loads(lock_path.read_text())
    victim = next(p for p in lock["base"]["packages"] if p["name"] == "ca-certificates")
    victim["sha256"] = "0" * 64
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    done = bakery("bake", recipe, "--locked", "--no-cache", "--store", tmp_path / "fresh", env=SDE)
    assert done.returncode == 2, done.stderr
    assert "ca-certificates" in done.stderr and "sha256" in done.stderr


def test_lock_of_an_inheriting_recipe_pins_base_digest_and_step_packages(
    tmp_path: Path, baked: dict[str, Any], private_store: Path
) -> None:
    recipes = copy_recipes(tmp_path / "recipes")
    assert bakery("lock", recipes / "nginx.yaml", "--store", private_store, env=SDE).returncode == 0
    lock = json.loads((recipes / "nginx.lock").read_text())
    assert lock["base"]["kind"] == "recipe"
    assert lock["base"]["config_digest"] == baked["debian-base"]["config_digest"]
    step = next(s for s in lock["steps"] if s["kind"] == "packages")
    assert "nginx-light" in {p["name"] for p in step["packages"]}
    copies = [s for s in lock["steps"] if s["kind"] == "copy"]
    assert [f["path"] for s in copies for f in s["files"]] == [
        "files/nginx/nginx.conf",
        "files/nginx/index.html",
    ]


def test_rebake_runs_nothing_and_changing_a_step_reruns_only_it_and_later(
    tmp_path: Path, baked: dict[str, Any], private_store: Path
) -> None:
    recipes = copy_recipes(tmp_path / "recipes")
    recipe = recipes / "nginx.yaml"
    warm = _json(bakery("bake", recipe, "--json", "--store", private_store, env=SDE))
    assert warm["steps_run"] == 0
    assert warm["config_digest"] == baked["nginx"]["config_digest"]

    (recipes / "files/nginx/index.html").write_text("<p>Changed. Baked by Bakery.</p>\n")
    changed = _json(bakery("bake", recipe, "--json", "--store", private_store, env=SDE))
    # own layers: packages, copy nginx.conf, copy index.html (changed), run (after it)
    own = [layer for layer in changed["layers"] if not layer["inherited"]]
    assert [layer["cached"] for layer in own] == [True, True, False, False]
    assert changed["steps_run"] == 2
    assert changed["config_digest"] != warm["config_digest"]
