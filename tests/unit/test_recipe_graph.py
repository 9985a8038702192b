"""The recipe graph (bakery.recipe.graph) and finding a tree's recipes (bakery.recipe.tree):
edges, bake order, cycles, duplicates and missing bases. Nothing is baked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import RecipeError, UserError
from bakery.recipe.graph import RecipeGraph
from bakery.recipe.loader import LoadedRecipe, parse_recipe
from bakery.recipe.tree import load_tree


def recipe(path: str, name: str, base: str = "scratch", tags: str = '["1"]') -> LoadedRecipe:
    """A recipe as if read from ``/tree/PATH`` (no file is read)."""
    text = (
        "apiVersion: bakery.dev/v1\n"
        f"name: {name}\n"
        'version: "1"\n'
        f"base: {base}\n"
        f"outputs:\n  - oci: {{tags: {tags}}}\n"
    )
    return parse_recipe(text, Path("/tree") / path)


def three_generations() -> list[LoadedRecipe]:
    return [
        recipe("base/root.yaml", "t/root"),
        recipe("base/mid-a.yaml", "t/mid-a", "{recipe: t/root}"),
        recipe("apps/mid-b.yaml", "t/mid-b", "{image: 't/root:1'}"),
        recipe("base/leaf-a1.yaml", "t/leaf-a1", "{recipe: t/mid-a}"),
        recipe("apps/leaf-a2.yaml", "t/leaf-a2", "{image: 't/mid-a:1'}"),
        recipe("apps/leaf-b.yaml", "t/leaf-b", "{recipe: t/mid-b}"),
    ]


def test_recipe_and_image_bases_are_edges_and_bases_come_first() -> None:
    graph = RecipeGraph.build(reversed(three_generations()))
    assert {child: (e.base, e.kind) for child, e in graph.bases.items()} == {
        "t/mid-a": ("t/root", "recipe"),
        "t/mid-b": ("t/root", "image"),
        "t/leaf-a1": ("t/mid-a", "recipe"),
        "t/leaf-a2": ("t/mid-a", "image"),
        "t/leaf-b": ("t/mid-b", "recipe"),
    }
    # by generation, then by path
    assert graph.order() == (
        "t/root",
        "t/mid-b",
        "t/mid-a",
        "t/leaf-a2",
        "t/leaf-b",
        "t/leaf-a1",
    )
    order = graph.order()
    for child, edge in graph.bases.items():
        assert order.index(edge.base) < order.index(child)
    assert [graph.depth(name) for name in order] == [0, 1, 1, 2, 2, 2]
    assert graph.children("t/mid-a") == ("t/leaf-a2", "t/leaf-a1")  # by path


def test_closure_is_a_recipe_and_everything_built_on_it() -> None:
    graph = RecipeGraph.build(three_generations())
    assert graph.closure(["t/mid-a"]) == {"t/mid-a", "t/leaf-a1", "t/leaf-a2"}
    assert graph.closure(["t/root"]) == set(graph.recipes)
    assert graph.closure(["t/leaf-b"]) == {"t/leaf-b"}
    assert graph.closure([]) == set()


def test_image_bases_match_output_tags_only() -> None:
    graph = RecipeGraph.build(
        [
            recipe("a.yaml", "t/a", tags='["1", latest]'),
            recipe("bare.yaml", "t/bare", "{image: t/a}"),  # t/a means t/a:latest
            recipe("other-tag.yaml", "t/other-tag", "{image: 't/a:2'}"),  # not a tag t/a makes
            recipe("foreign.yaml", "t/foreign", "{image: 'golden/debian-base:12'}"),
            recipe("pinned.yaml", "t/pinned", "{image: 't/a@sha256:" + "0" * 64 + "'}"),
        ]
    )
    assert {child: edge.base for child, edge in graph.bases.items()} == {"t/bare": "t/a"}


def test_a_cycle_is_one_line_naming_it_at_the_recipe_line() -> None:
    with pytest.raises(RecipeError) as caught:
        RecipeGraph.build(
            [
                recipe("a.yaml", "t/a", "{recipe: t/c}"),
                recipe("b.yaml", "t/b", "{recipe: t/a}"),
                recipe("c.yaml", "t/c", "{image: 't/b:1'}"),
                recipe("d.yaml", "t/d", "{recipe: t/a}"),  # on the cycle, not in it
            ]
        )
    message = caught.value.one_line()
    assert "\n" not in message
    assert message.startswith("/tree/a.yaml:4:")
    assert "inheritance cycle: t/a → t/c → t/b → t/a" in message


def test_a_recipe_built_on_its_own_image_is_a_cycle() -> None:
    with pytest.raises(RecipeError, match=r"inheritance cycle: t/a → t/a"):
        RecipeGraph.build([recipe("a.yaml", "t/a", "{image: 't/a:1'}")])


def test_two_recipes_with_one_name_name_both_files() -> None:
    with pytest.raises(RecipeError) as caught:
        RecipeGraph.build([recipe("x/one.yaml", "t/same"), recipe("y/two.yaml", "t/same")])
    message = caught.value.one_line()
    assert message.startswith("/tree/y/two.yaml:2:")
    assert "two recipes are named 't/same'" in message and "/tree/x/one.yaml:2" in message


def test_a_base_recipe_missing_from_the_tree_is_an_error_at_its_line() -> None:
    with pytest.raises(RecipeError) as caught:
        RecipeGraph.build([recipe("a.yaml", "t/a", "{recipe: t/nowhere}")])
    assert caught.value.one_line().startswith("/tree/a.yaml:4:")
    assert "no recipe named 't/nowhere' in the tree" in caught.value.one_line()


def test_a_base_recipe_must_sit_beside_its_child() -> None:
    with pytest.raises(RecipeError, match=r"recipe 't/a' is /tree/x/a.yaml, not beside"):
        RecipeGraph.build([recipe("x/a.yaml", "t/a"), recipe("y/b.yaml", "t/b", "{recipe: t/a}")])


def test_a_tree_holds_recipes_only(tmp_path: Path) -> None:
    head = 'apiVersion: bakery.dev/v1\nversion: "1"\nbase: scratch\n'
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.yaml").write_text(head + "name: t/a\n")
    (tmp_path / "sub" / "b.yml").write_text("# a comment\n" + head + "name: t/b\n")
    (tmp_path / "sub" / "policy.yaml").write_text("apiVersion: bakery.dev/v1\nkind: Policy\n")
    (tmp_path / "sub" / "compose.yaml").write_text("services: {db: {image: postgres}}\n")
    (tmp_path / ".hidden" / "c.yaml").write_text(head + "name: t/c\n")
    (tmp_path / "a.lock").write_text("{}\n")
    (tmp_path / "notes.txt").write_text(head)
    tree = load_tree(tmp_path)
    assert [r.recipe.name for r in tree.recipes] == ["t/a", "t/b"]
    assert sorted(p.name for p in tree.skipped) == ["compose.yaml", "policy.yaml"]


def test_a_broken_recipe_in_a_tree_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        'apiVersion: bakery.dev/v1\nname: t/bad\nversion: "1"\nbase: scratch\nstepz: []\n'
    )
    with pytest.raises(RecipeError, match=r"bad\.yaml:5:1: unknown key 'stepz'"):
        load_tree(tmp_path)


def test_a_tree_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a directory"):
        load_tree(tmp_path / "missing")
