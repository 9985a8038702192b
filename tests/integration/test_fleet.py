"""`bakery plan DIR` and `bakery bake DIR [--changed] [--jobs N]` on a tree of scratch recipes
(fast: no Debian), through the real CLI: staleness after a change, rebaking exactly the stale
recipes, failures that stop their branch only, and bad trees."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bakery
from tests.integration.conftest import SDE

ROOT, MID_A, MID_B = "t/root", "t/mid-a", "t/mid-b"
LEAF_A1, LEAF_A2, LEAF_B = "t/leaf-a1", "t/leaf-a2", "t/leaf-b"
ALL = {ROOT, MID_A, MID_B, LEAF_A1, LEAF_A2, LEAF_B}


def write_recipe(path: Path, name: str, base: str, copied: str, extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'apiVersion: bakery.dev/v1\nname: {name}\nversion: "1"\nbase: {base}\n'
        f"steps:\n  - copy: {{src: {copied}, dest: /{name.replace('/', '-')}.txt}}\n"
        '  - user: "65534:65534"\n'
        'outputs:\n  - oci: {tags: ["1"], compression: zstd}\n' + extra
    )
    (path.parent / copied).write_text(f"{name}\n")


def six_recipes(tmp_path: Path) -> Path:
    """Three generations: root; mid-a (recipe base), mid-b (image base, another directory);
    leaf-a1 (recipe base), leaf-a2 (image base), leaf-b (recipe base). A policy and a
    non-recipe YAML file sit among them."""
    tree = tmp_path / "tree"
    write_recipe(tree / "base" / "root.yaml", ROOT, "scratch", "root.txt")
    write_recipe(tree / "base" / "mid-a.yaml", MID_A, f"{{recipe: {ROOT}}}", "mid-a.txt")
    write_recipe(tree / "apps" / "mid-b.yaml", MID_B, f"{{image: '{ROOT}:1'}}", "mid-b.txt")
    write_recipe(tree / "base" / "leaf-a1.yaml", LEAF_A1, f"{{recipe: {MID_A}}}", "leaf-a1.txt")
    write_recipe(tree / "apps" / "leaf-a2.yaml", LEAF_A2, f"{{image: '{MID_A}:1'}}", "leaf-a2.txt")
    write_recipe(tree / "apps" / "leaf-b.yaml", LEAF_B, f"{{recipe: {MID_B}}}", "leaf-b.txt")
    (tree / "apps" / "policy.yaml").write_text("apiVersion: bakery.dev/v1\nkind: Policy\n")
    (tree / "compose.yaml").write_text("services: {}\n")
    return tree


def plan(tree: Path, store: Path) -> dict[str, dict[str, Any]]:
    done = bakery("plan", tree, "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    return {entry["name"]: entry for entry in json.loads(done.stdout)}


def bake_tree(tree: Path, store: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    done = bakery("bake", tree, "--store", store, "--json", *args, env=SDE)
    assert "Traceback" not in done.stderr
    return done.returncode, {r["name"]: r for r in json.loads(done.stdout)}, done.stderr


def stale(plans: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, entry in plans.items() if entry["stale"]}


def baked(results: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, result in results.items() if result["status"] == "baked"}


def test_a_change_marks_what_depends_on_it_stale_and_bake_changed_rebakes_exactly_that(
    tmp_path: Path,
) -> None:
    tree, store = six_recipes(tmp_path), tmp_path / ".bakery"
    first = plan(tree, store)
    assert stale(first) == ALL
    assert first[ROOT]["reasons"] == ["never baked"] and first[ROOT]["digest"] is None
    assert first[MID_B]["base"] == {"kind": "image", "ref": f"{ROOT}:1", "recipe": ROOT}
    assert first[LEAF_A1]["base"] == {"kind": "recipe", "ref": MID_A, "recipe": MID_A}
    assert set(first[MID_A]["children"]) == {LEAF_A1, LEAF_A2}

    code, results, stderr = bake_tree(tree, store, "--jobs", "2", "--no-sign")
    assert code == 0, stderr
    assert baked(results) == ALL
    assert "▶ t/root started" in stderr and "✓ t/leaf-b baked sha256:" in stderr
    fresh = plan(tree, store)
    assert stale(fresh) == set()
    assert {name: entry["digest"] for name, entry in fresh.items()} == {
        name: result["digest"] for name, result in results.items()
    }
    assert results[MID_A]["result"]["base"]["digest"] == results[ROOT]["digest"]

    # the root changes: all six are stale, and exactly those are rebaked
    (tree / "base" / "root.txt").write_text("a new root\n")
    after_root = plan(tree, store)
    assert stale(after_root) == ALL
    assert after_root[ROOT]["reasons"] == ["file changed: root.txt"]
    assert after_root[LEAF_A1]["reasons"] == [f"base stale: {MID_A} will be rebaked"]
    code, results, stderr = bake_tree(tree, store, "--changed", "--jobs", "2", "--no-sign")
    assert code == 0, stderr
    assert baked(results) == ALL
    assert results[ROOT]["reasons"] == ["file changed: root.txt"]
    assert stale(plan(tree, store)) == set()

    # a leaf changes: only it is stale, and only it is rebaked
    with (tree / "apps" / "leaf-a2.yaml").open("a") as f:
        f.write("description: a leaf, changed\n")
    after_leaf = plan(tree, store)
    assert stale(after_leaf) == {LEAF_A2}
    assert after_leaf[LEAF_A2]["reasons"] == ["recipe changed"]
    code, results, stderr = bake_tree(tree, store, "--changed", "--no-sign")
    assert code == 0, stderr
    assert baked(results) == {LEAF_A2}
    assert {r["status"] for name, r in results.items() if name != LEAF_A2} == {"unchanged"}
    assert stale(plan(tree, store)) == set()

    # nothing stale: nothing baked
    code, results, stderr = bake_tree(tree, store, "--changed", "--no-sign")
    assert code == 0 and baked(results) == set() and "nothing to bake" in stderr


def test_a_rebuilt_base_and_a_revoked_base_make_the_children_stale(tmp_path: Path) -> None:
    tree, store = six_recipes(tmp_path), tmp_path / ".bakery"
    code, _, stderr = bake_tree(tree, store, "--no-sign")
    assert code == 0, stderr
    # the root changed and was baked alone: its children were baked on its old image
    (tree / "base" / "root.txt").write_text("a new root\n")
    alone = bakery("bake", tree / "base" / "root.yaml", "--store", store, "--no-sign", env=SDE)
    assert alone.returncode == 0, alone.stderr
    plans = plan(tree, store)
    assert stale(plans) == {MID_A, MID_B, LEAF_A1, LEAF_A2, LEAF_B}
    assert plans[MID_B]["reasons"][0].startswith(f"base rebuilt: {ROOT}:1 was sha256:")
    assert plans[LEAF_B]["reasons"] == [f"base stale: {MID_B} will be rebaked"]
    code, _, stderr = bake_tree(tree, store, "--changed", "--no-sign")
    assert code == 0, stderr
    assert stale(plan(tree, store)) == set()

    revoked = bakery("revoke", f"{MID_A}:1", "--reason", "test", "--store", store)
    assert revoked.returncode == 0, revoked.stderr
    plans = plan(tree, store)
    assert stale(plans) == {LEAF_A1, LEAF_A2}
    assert plans[LEAF_A2]["reasons"] == [
        f"base revoked: {MID_A}:1 {plans[MID_A]['digest']}",
    ]


def test_a_failure_stops_its_branch_only_and_every_failure_is_listed(tmp_path: Path) -> None:
    tree, store = six_recipes(tmp_path), tmp_path / ".bakery"
    failing_test = "tests:\n  - file: {path: /nowhere, exists: true}\n"
    write_recipe(
        tree / "base" / "mid-a.yaml", MID_A, f"{{recipe: {ROOT}}}", "mid-a.txt", failing_test
    )
    write_recipe(
        tree / "apps" / "leaf-b.yaml", LEAF_B, f"{{recipe: {MID_B}}}", "leaf-b.txt", failing_test
    )
    code, results, stderr = bake_tree(tree, store, "--jobs", "2", "--no-sign", "--no-record")
    assert code == 1
    assert {name: r["status"] for name, r in results.items()} == {
        ROOT: "baked",
        MID_B: "baked",
        MID_A: "failed",
        LEAF_A1: "skipped",
        LEAF_A2: "skipped",
        LEAF_B: "failed",
    }
    assert "1 of 1 image tests failed for t/mid-a" in results[MID_A]["error"]
    assert "\n" not in results[MID_A]["error"]
    assert results[LEAF_A1]["error"] == f"{MID_A} failed"
    assert "✗ t/mid-a failed: " in stderr and "↷ t/leaf-a1 skipped: t/mid-a failed" in stderr
    last = stderr.strip().splitlines()[-1]
    assert last == "error: 2 of 6 recipes failed (t/mid-a, t/leaf-b); 2 built on them skipped"
    assert stale(plan(tree, store)) == {MID_A, LEAF_A1, LEAF_A2, LEAF_B}

    human = bakery("bake", tree, "--store", store, "--no-sign", "--no-record", env=SDE)
    assert human.returncode == 1
    assert "2 failed:" in human.stdout
    assert f"{MID_A} ({tree / 'base' / 'mid-a.yaml'}): 1 of 1 image tests failed" in human.stdout


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "a.yaml": ("t/a", "{recipe: t/b}"),
                "b.yaml": ("t/b", "{image: 't/a:1'}"),
            },
            r"a.yaml:4:\d+: inheritance cycle: t/a → t/b → t/a",
        ),
        (
            {"a.yaml": ("t/a", "{recipe: t/missing}")},
            r"a.yaml:4:\d+: no recipe named 't/missing' in the tree",
        ),
        (
            {"one.yaml": ("t/same", "scratch"), "sub/two.yaml": ("t/same", "scratch")},
            r"sub/two.yaml:2:\d+: two recipes are named 't/same': this one and \S+/one.yaml:2",
        ),
    ],
    ids=["cycle", "missing-base", "duplicate-name"],
)
def test_a_bad_tree_is_one_line_with_file_and_line(
    tmp_path: Path, files: dict[str, tuple[str, str]], expected: str
) -> None:
    tree = tmp_path / "tree"
    for path, (name, base) in files.items():
        write_recipe(tree / path, name, base, "f.txt")
    for command in (("plan", tree), ("bake", tree, "--changed")):
        done = bakery(*command, "--store", tmp_path / ".bakery", env=SDE)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ")
        assert re.search(expected, lines[0]), lines[0]
    assert not (tmp_path / ".bakery" / "plans").exists()


def test_directory_options_are_for_directories(tmp_path: Path) -> None:
    tree = six_recipes(tmp_path)
    one = bakery("bake", tree / "base" / "root.yaml", "--changed", env=SDE)
    assert one.returncode == 2 and "--changed and --jobs are for a directory" in one.stderr
    pushed = bakery("bake", tree, "--push", "127.0.0.1:5000/x", env=SDE)
    assert pushed.returncode == 2 and "--push takes one recipe, not a directory" in pushed.stderr
