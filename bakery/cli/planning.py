"""``bakery plan DIR``: the recipe graph of a directory, and what is stale in it and why.

Kept apart from :mod:`bakery.cli.commands` so that planning imports neither the bake engine
nor the registry's database layer (unless the store has a registry to ask about revocations).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import click
from rich.markup import escape

from bakery.cli.options import err, out, store_option
from bakery.pipeline.staleness import RecipePlan, Revoked, StoreState, plan_tree, plans_json
from bakery.recipe.graph import RecipeGraph
from bakery.recipe.tree import RecipeTree, load_tree

#: the registry's database file in a store (``bakery.registry.db.DB_FILE``; not imported here:
#: SQLAlchemy would double the time of a plan that has no registry to ask)
REGISTRY_DB_FILE = "bakery.db"

directory_argument = click.argument(
    "directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
database_url_option = click.option(
    "--database-url",
    envvar="BAKERY_DATABASE_URL",
    help="Ask this registry database (env BAKERY_DATABASE_URL) whether bases are revoked, "
    "instead of the store's SQLite.",
)


@dataclass(frozen=True)
class Planned:
    """A directory's recipes, their graph and the plan of each (in bake order)."""

    tree: RecipeTree
    graph: RecipeGraph
    plans: list[RecipePlan]

    def stale(self) -> list[str]:
        return [plan.name for plan in self.plans if plan.stale]


def load_graph(directory: Path) -> tuple[RecipeTree, RecipeGraph]:
    """The recipes under ``directory`` and their graph (bad trees raise RecipeError)."""
    tree = load_tree(directory)
    return tree, RecipeGraph.build(tree.recipes)


def plan_directory(directory: Path, store_dir: Path, database_url: str | None) -> Planned:
    """What is stale under ``directory`` against the store at ``store_dir``."""
    tree, graph = load_graph(directory)
    store = StoreState.read(store_dir.absolute())
    with _revocations(store.root, database_url) as revoked:
        plans = plan_tree(graph, store, revoked)
    return Planned(tree=tree, graph=graph, plans=plans)


@contextmanager
def _revocations(store_root: Path, database_url: str | None) -> Iterator[Revoked | None]:
    """Asks the metadata registry (read only) whether a digest is revoked; None without one."""
    if database_url is None and not (store_root / REGISTRY_DB_FILE).is_file():
        yield None
        return
    from bakery.registry.db import open_registry
    from bakery.registry.revocation import is_revoked

    registry = open_registry(store_root, database_url)
    try:
        yield partial(is_revoked, registry)
    finally:
        registry.dispose()


@click.command("plan")
@directory_argument
@store_option
@database_url_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per recipe, on stdout.")
def plan_command(directory: Path, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Show the recipes under DIR in bake order, and which are stale and why.

    A recipe is stale when it was never baked, when its recipe, a copied file or its lock
    changed since its last bake, when its base was rebuilt (or will be: a stale base), is not
    in the store or is revoked in the metadata registry. `bakery bake DIR --changed` bakes
    exactly the stale ones.
    """
    planned = plan_directory(directory, store_dir, database_url)
    if as_json:
        click.echo(plans_json(planned.plans))
        return
    render_plan(planned)


def render_plan(planned: Planned) -> None:
    """One line per recipe (indented under its base), then a count."""
    graph = planned.graph
    for plan in planned.plans:
        indent = "  " * graph.depth(plan.name)
        if plan.stale:
            state, why = "[yellow]stale[/]", escape("; ".join(plan.reasons))
        else:
            state, why = "[green]fresh[/]", f"last bake {plan.digest}"
        base = f" [dim](on {escape(plan.base.ref)})[/]" if plan.base.ref else ""
        out.print(f"{indent}[bold]{plan.name}[/]{base} {state}: {why}", highlight=False)
    stale = len(planned.stale())
    out.print(f"{stale} of {len(planned.plans)} recipes stale under {planned.tree.root}")
    if planned.tree.skipped:
        names = ", ".join(str(p.relative_to(planned.tree.root)) for p in planned.tree.skipped)
        err.print(f"skipped {len(planned.tree.skipped)} YAML files that are not recipes: {names}")
