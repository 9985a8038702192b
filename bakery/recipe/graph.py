"""The recipe graph: which recipe of a tree is built on which, and in what order to bake them.

Pure: it takes loaded recipes and reads no file. A recipe has at most one base, so the graph
is a forest (unless it has a cycle, which is an error). There is an edge from a recipe to its
base when the base is

- ``base: {recipe: NAME}``: the recipe of that name, which must sit in the same directory
  (where the bake looks for it);
- ``base: {image: NAME:TAG}``: a recipe of the tree named NAME whose OCI outputs are tagged
  TAG (``NAME`` alone means ``NAME:latest``, as in the store). A digest reference is fixed
  content: no edge.

Bad trees are refused with the recipe's ``file:line``: two recipes with one name, a
``base: {recipe: …}`` that is not in the tree (or not beside its child), a cycle.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bakery.errors import RecipeError
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.model import ImageBase, Output, RecipeBase

__all__ = ["Edge", "RecipeGraph", "image_tags", "tag_candidates"]


@dataclass(frozen=True)
class Edge:
    """``child`` is built on ``base`` (a recipe of the tree) through ``ref``."""

    child: str
    base: str
    kind: Literal["recipe", "image"]
    #: as written in the child: a recipe name, or an image reference
    ref: str


@dataclass(frozen=True)
class RecipeGraph:
    """The recipes of a tree by name (sorted by path) and the edge to each one's base."""

    recipes: Mapping[str, LoadedRecipe]
    bases: Mapping[str, Edge]

    @classmethod
    def build(cls, loaded: Iterable[LoadedRecipe]) -> RecipeGraph:
        """The graph of ``loaded``; a RecipeError for duplicates, missing bases and cycles."""
        ordered = sorted(loaded, key=lambda item: str(item.path))
        recipes = _by_name(ordered)
        produced = {tag: name for name, item in recipes.items() for tag in image_tags(item)}
        bases: dict[str, Edge] = {}
        for name, item in recipes.items():
            edge = _edge(item, recipes, produced)
            if edge is not None:
                bases[name] = edge
        graph = cls(recipes=recipes, bases=bases)
        graph._refuse_cycles()
        return graph

    # -- queries ---------------------------------------------------------------------------

    def base_of(self, name: str) -> str | None:
        """The recipe of the tree that ``name`` is built on, if any."""
        edge = self.bases.get(name)
        return edge.base if edge is not None else None

    def children(self, name: str) -> tuple[str, ...]:
        """The recipes built directly on ``name``, in path order."""
        return tuple(child for child, edge in self.bases.items() if edge.base == name)

    def depth(self, name: str) -> int:
        """0 for a recipe with no base in the tree, else one more than its base's."""
        depth = 0
        base = self.base_of(name)
        while base is not None:
            depth += 1
            base = self.base_of(base)
        return depth

    def order(self) -> tuple[str, ...]:
        """Every recipe, each after its base: by generation, then by path."""
        position = {name: index for index, name in enumerate(self.recipes)}
        return tuple(sorted(self.recipes, key=lambda name: (self.depth(name), position[name])))

    def closure(self, names: Collection[str]) -> frozenset[str]:
        """``names`` and everything built on them, directly or not."""
        found = set(names)
        for name in self.order():  # a base comes before its children
            base = self.base_of(name)
            if base is not None and base in found:
                found.add(name)
        return frozenset(found)

    # -- checks ----------------------------------------------------------------------------

    def _refuse_cycles(self) -> None:
        done: set[str] = set()
        for start in self.recipes:
            path: list[str] = []
            name: str | None = start
            while name is not None and name not in done:
                if name in path:
                    cycle = [*path[path.index(name) :], name]
                    raise self._cycle_error(cycle)
                path.append(name)
                name = self.base_of(name)
            done.update(path)

    def _cycle_error(self, cycle: Sequence[str]) -> RecipeError:
        first = min(cycle[:-1], key=lambda name: str(self.recipes[name].path))
        at = cycle.index(first)
        shown = [*cycle[at:-1], *cycle[:at], first]
        edge = self.bases[first]
        loc = ("base", "recipe") if edge.kind == "recipe" else ("base", "image")
        return self.recipes[first].error_at(
            loc,
            f"inheritance cycle: {' → '.join(shown)}",
            hint="a recipe cannot be built, directly or not, on itself",
        )


def image_tags(item: LoadedRecipe) -> tuple[str, ...]:
    """The ``NAME:TAG`` references the OCI outputs of a recipe are tagged with."""
    name = item.recipe.name
    return tuple(
        f"{name}:{tag}"
        for output in item.recipe.outputs
        if isinstance(output, Output)
        for tag in output.oci.tags
    )


def tag_candidates(ref: str) -> tuple[str, ...]:
    """The tags a store reference may name: itself, and ``ref:latest`` when it has no tag."""
    return (ref,) if ":" in ref.rpartition("/")[2] else (ref, f"{ref}:latest")


def _by_name(ordered: Sequence[LoadedRecipe]) -> dict[str, LoadedRecipe]:
    recipes: dict[str, LoadedRecipe] = {}
    for item in ordered:
        name = item.recipe.name
        first = recipes.get(name)
        if first is not None:
            line = first.source.position(("name",)).line
            raise item.error_at(
                ("name",),
                f"two recipes are named '{name}': this one and {first.path}:{line}",
                hint="recipe names are image repositories: give each recipe its own",
            )
        recipes[name] = item
    return recipes


def _edge(
    item: LoadedRecipe, recipes: Mapping[str, LoadedRecipe], produced: Mapping[str, str]
) -> Edge | None:
    base = item.recipe.base
    name = item.recipe.name
    if isinstance(base, RecipeBase):
        parent = recipes.get(base.recipe)
        if parent is None:
            raise item.error_at(
                ("base", "recipe"),
                f"no recipe named '{base.recipe}' in the tree",
                hint="base.recipe names another recipe's `name:`, beside this one",
            )
        if parent.directory.resolve() != item.directory.resolve():
            raise item.error_at(
                ("base", "recipe"),
                f"recipe '{base.recipe}' is {parent.path}, not beside this recipe",
                hint="a base recipe must sit in the same directory; or build on its image: "
                f"base: {{image: {image_tags(parent)[0] if image_tags(parent) else base.recipe}}}",
            )
        return Edge(child=name, base=base.recipe, kind="recipe", ref=base.recipe)
    if isinstance(base, ImageBase) and "@" not in base.image:
        for candidate in tag_candidates(base.image):
            if candidate in produced:
                return Edge(child=name, base=produced[candidate], kind="image", ref=base.image)
    return None
