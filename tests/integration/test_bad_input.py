"""Bad input gets one clear line, a meaningful exit code, no traceback, and a consistent store."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import CliResult, bakery, require_root, require_tools

HEADER = 'apiVersion: bakery.dev/v1\nname: test/bad\nversion: "1"\n'


def _recipe(tmp_path: Path, body: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _bake(recipe: Path, store: Path, *extra: str) -> CliResult:
    return bakery("bake", recipe, "--store", store, *extra, env={"SOURCE_DATE_EPOCH": "1700000000"})


def _assert_clean_failure(done: CliResult, code: int, *fragments: str) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)
    return error_lines[0]


def _assert_store_untouched(store: Path) -> None:
    if not store.exists():
        return
    tags = json.loads(bakery("images", "--store", store, "--json").stdout)
    assert all(not t["tag"].startswith("test/") for t in tags), tags
    check = bakery("store", "check", "--store", store)
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (HEADER + "base: scratch\nsteps: [\n", "bad.yaml:"),
        (HEADER + "base: scratch\nstesp: []\n", "bad.yaml:5:1"),
        (HEADER + "base: scratch\nsteps:\n  - copy: {src: a, dst: /a}\n", "bad.yaml:6:"),
        (HEADER + "base: {debian: {suite: 12}}\n", "bad.yaml:4:"),
        (HEADER + "base: {debian: {variant: minbase}}\n", "suite"),
    ],
    ids=["malformed-yaml", "unknown-key", "unknown-nested-key", "wrong-type", "missing-field"],
)
def test_malformed_recipes(tmp_path: Path, body: str, fragment: str) -> None:
    store = tmp_path / ".bakery"
    done = _bake(_recipe(tmp_path, body), store)
    _assert_clean_failure(done, 2, fragment)
    _assert_store_untouched(store)


def test_unknown_key_names_allowed_keys(tmp_path: Path) -> None:
    done = _bake(
        _recipe(tmp_path, HEADER + "base: scratch\nsteps:\n  - copy: {src: a, dst: /a}\n"),
        tmp_path / "s",
    )
    line = _assert_clean_failure(done, 2, "dst")
    assert "dest" in line and "src" in line


@pytest.mark.parametrize(
    "src",
    ["../outside.txt", "/etc/passwd", "link-out", "missing.txt"],
    ids=["dotdot", "absolute", "symlink-out", "missing-file"],
)
def test_copy_sources_must_stay_in_the_recipe_directory(tmp_path: Path, src: str) -> None:
    require_root()
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (recipe_dir / "link-out").symlink_to(tmp_path / "outside.txt")
    recipe = _recipe(
        recipe_dir, HEADER + f"base: scratch\nsteps:\n  - copy: {{src: '{src}', dest: /x}}\n"
    )
    store = tmp_path / ".bakery"
    _assert_clean_failure(_bake(recipe, store), 2, "bad.yaml:")
    _assert_store_untouched(store)


def test_unknown_base_reference(tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    recipe = _recipe(tmp_path, HEADER + "base: {image: 'nope/nothing:1'}\n")
    _assert_clean_failure(_bake(recipe, store), 2, "nope/nothing:1")
    _assert_store_untouched(store)


def test_inheritance_cycle(tmp_path: Path) -> None:
    a = _recipe(
        tmp_path,
        "apiVersion: bakery.dev/v1\nname: test/a\nversion: '1'\nbase: {recipe: test/b}\n",
        "a.yaml",
    )
    _recipe(
        tmp_path,
        "apiVersion: bakery.dev/v1\nname: test/b\nversion: '1'\nbase: {recipe: test/a}\n",
        "b.yaml",
    )
    store = tmp_path / ".bakery"
    _assert_clean_failure(_bake(a, store), 2, "cycle", "test/a", "test/b")
    _assert_store_untouched(store)


def test_malformed_source_date_epoch(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, HEADER + "base: scratch\n")
    done = bakery("bake", recipe, "--store", tmp_path / "s", env={"SOURCE_DATE_EPOCH": "yesterday"})
    _assert_clean_failure(done, 2, "SOURCE_DATE_EPOCH")


def test_failing_run_step_shows_its_last_lines(
    tmp_path: Path, baked: dict, session_store: Path
) -> None:
    require_tools("bwrap")
    script = "for i in $(seq 1 40); do echo line-$i; done; exit 7"
    body = "apiVersion: bakery.dev/v1\nname: test/fails\nversion: '1'\nbase: {image: 'golden/debian-base:12'}\n"
    body += f"steps:\n  - run: '{script}'\n"
    store = session_store
    done = _bake(_recipe(tmp_path, body), store)
    assert done.returncode == 1, done.stderr
    assert "exit code 7" in done.stderr
    assert "line-40" in done.stderr and "line-21" in done.stderr and "line-20\n" not in done.stderr
    assert "Traceback" not in done.stderr
    _assert_store_untouched(store)


def test_unknown_package(tmp_path: Path, baked: dict, session_store: Path) -> None:
    body = "apiVersion: bakery.dev/v1\nname: test/unknown-pkg\nversion: '1'\nbase: {image: 'golden/debian-base:12'}\n"
    body += "steps:\n  - packages: [no-such-package-bakery]\n"
    store = session_store
    done = _bake(_recipe(tmp_path, body), store)
    _assert_clean_failure(done, 1, "unknown package", "no-such-package-bakery")
    _assert_store_untouched(store)


def test_failing_image_test_tags_nothing(tmp_path: Path) -> None:
    require_root()
    (tmp_path / "hello.txt").write_text("hi\n")
    body = HEADER + "base: scratch\nsteps:\n  - copy: {src: hello.txt, dest: /hello.txt}\n"
    body += "tests:\n  - name: greets in French\n    file: {path: /hello.txt, contains: bonjour}\n"
    store = tmp_path / ".bakery"
    done = _bake(_recipe(tmp_path, body), store)
    _assert_clean_failure(done, 1, "greets in French", "bonjour")
    _assert_store_untouched(store)
