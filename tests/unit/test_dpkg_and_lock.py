"""Lockfile rendering, staleness, pin files and package-set comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakery.errors import LockError
from bakery.recipe.loader import load_recipe
from bakery.recipe.lock import (
    Lock,
    LockedBase,
    LockedPackage,
    LockedStep,
    read_lock,
    render_lock,
    write_lock,
)
from bakery.rootfs import dpkg
from bakery.rootfs.locking import plan_lock

PKG = LockedPackage(name="libc6", version="2.36-9+deb12u10", architecture="amd64", sha256="a" * 64)
CA = LockedPackage(name="ca-certificates", version="20230311", architecture="all", sha256="b" * 64)

RECIPE = """\
apiVersion: bakery.dev/v1
name: test/locky
version: "1"
base:
  debian: {suite: bookworm, packages: [ca-certificates]}
steps:
  - packages: [curl]
"""


def test_render_is_sorted_and_stable(tmp_path: Path) -> None:
    lock = Lock(recipe="x", base=LockedBase(kind="debian", fingerprint="f", packages=(CA, PKG)))
    text = render_lock(lock)
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    path = tmp_path / "x.lock"
    write_lock(lock, path)
    assert read_lock(path) == lock


def test_corrupt_lock_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text("{not json")
    with pytest.raises(LockError) as error:
        read_lock(path)
    assert "unreadable lockfile" in error.value.one_line()
    assert "bakery lock" in error.value.one_line()


def test_pin_preferences_pin_each_version() -> None:
    text = dpkg.pin_preferences([PKG, CA])
    assert "Package: libc6\nPin: version 2.36-9+deb12u10\nPin-Priority: 1001\n" in text
    assert text.index("ca-certificates") < text.index("libc6")


def test_compare_lists_every_kind_of_difference() -> None:
    other = PKG.model_copy(update={"sha256": "c" * 64})
    extra = LockedPackage(name="zlib1g", version="1", architecture="amd64", sha256="d" * 64)
    problems = dpkg.compare([PKG, CA], [other, extra])
    assert any("ca-certificates" in p and "not installed" in p for p in problems)
    assert any("zlib1g" in p and "not in the lock" in p for p in problems)
    assert any("libc6" in p and "sha256" in p for p in problems)
    assert dpkg.compare([PKG], [PKG]) == []


def _write(tmp_path: Path, text: str = RECIPE) -> Path:
    path = tmp_path / "locky.yaml"
    path.write_text(text)
    return path


def _current_lock(recipe: Path) -> Lock:
    plan = plan_lock(load_recipe(recipe), {}, locked=False)
    return Lock(
        recipe="test/locky",
        base=LockedBase(kind="debian", fingerprint=plan.base_fingerprint, packages=(CA, PKG)),
        steps=(
            LockedStep(
                index=0, kind="packages", fingerprint=plan.step_fingerprints[0], packages=(PKG,)
            ),
        ),
    )


def test_a_current_lock_pins_the_base_and_steps(tmp_path: Path) -> None:
    recipe = _write(tmp_path)
    write_lock(_current_lock(recipe), tmp_path / "locky.lock")
    plan = plan_lock(load_recipe(recipe), {}, locked=True)
    assert plan.using_lock
    assert plan.base_pins == (CA, PKG)
    assert plan.step_pins == {0: (PKG,)}


def test_a_stale_lock_is_refused_with_locked_and_ignored_without(tmp_path: Path) -> None:
    recipe = _write(tmp_path)
    write_lock(_current_lock(recipe), tmp_path / "locky.lock")
    _write(tmp_path, RECIPE.replace("[curl]", "[curl, less]"))
    with pytest.raises(LockError, match="stale: step 1 changed"):
        plan_lock(load_recipe(recipe), {}, locked=True)
    plan = plan_lock(load_recipe(recipe), {}, locked=False)
    assert not plan.using_lock and plan.warnings


def test_locked_without_a_lock_fails(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="does not exist"):
        plan_lock(load_recipe(_write(tmp_path)), {}, locked=True)
