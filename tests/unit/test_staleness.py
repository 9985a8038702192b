"""Staleness (bakery.pipeline.staleness): each reason, from records such as a bake leaves,
without baking anything."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bakery.pipeline.staleness import (
    BakeRecord,
    RecipePlan,
    StoreState,
    inputs_of,
    plan_tree,
    read_record,
    record_path,
    write_record,
)
from bakery.recipe.graph import RecipeGraph
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.model import CopyStep
from bakery.recipe.tree import load_tree
from bakery.rootfs.inputs import CopySource, copy_sources

ROOT = "t/root"
CHILD = "t/child"
IMAGE_CHILD = "t/on-image"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


class Tree:
    """A recipe tree and a store in tmp dirs; ``bake`` leaves the record a bake would."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "recipes"
        self.store = tmp / "store"
        self.dir.mkdir()
        self.tags: dict[str, str] = {}
        self.write("root", ROOT, "scratch", "root.txt")
        self.write("child", CHILD, f"{{recipe: {ROOT}}}", "child.txt")
        self.write("on-image", IMAGE_CHILD, f"{{image: '{ROOT}:1'}}", "child.txt")
        (self.dir / "root.txt").write_text("root\n")
        (self.dir / "child.txt").write_text("child\n")

    def write(self, stem: str, name: str, base: str, copied: str) -> None:
        (self.dir / f"{stem}.yaml").write_text(
            f'apiVersion: bakery.dev/v1\nname: {name}\nversion: "1"\nbase: {base}\n'
            f"steps:\n  - copy: {{src: {copied}, dest: /{copied}}}\n"
            'outputs:\n  - oci: {tags: ["1"]}\n'
        )

    def graph(self) -> RecipeGraph:
        return RecipeGraph.build(load_tree(self.dir).recipes)

    def bake(self, name: str, made: str, base: str | None = None) -> None:
        """Record a bake of ``name`` that made ``made`` on ``base``; tag it; store its blob."""
        loaded = self.graph().recipes[name]
        inputs = inputs_of(loaded, _sources(loaded), base)
        record = BakeRecord(
            name=name,
            recipe=str(loaded.path),
            digest=made,
            config_digest=digest(999),
            tags=(f"{name}:1",),
            base_ref=f"{ROOT}:1" if base else None,
            inputs=inputs,
            fingerprint=inputs.fingerprint,
            finished_at=datetime.now(UTC),
        )
        write_record(self.store, record)
        blob = self.store / "oci" / "blobs" / "sha256" / made.partition(":")[2]
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(b"{}")
        self.tags[f"{name}:1"] = made

    def bake_all(self) -> None:
        self.bake(ROOT, digest(1))
        self.bake(CHILD, digest(2), base=digest(1))
        self.bake(IMAGE_CHILD, digest(3), base=digest(1))

    def plan(self, revoked: set[str] | None = None) -> dict[str, RecipePlan]:
        check = None if revoked is None else revoked.__contains__
        plans = plan_tree(self.graph(), StoreState(self.store, dict(self.tags)), check)
        return {plan.name: plan for plan in plans}


def _sources(loaded: LoadedRecipe) -> dict[int, list[CopySource]]:
    return {
        i: copy_sources(loaded, i, step)
        for i, step in enumerate(loaded.recipe.steps)
        if isinstance(step, CopyStep)
    }


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def reasons(plans: dict[str, RecipePlan]) -> dict[str, tuple[str, ...]]:
    return {name: plan.reasons for name, plan in plans.items()}


def test_never_baked_and_then_fresh(tree: Tree) -> None:
    plans = tree.plan()
    assert all(plan.stale for plan in plans.values())
    assert plans[ROOT].reasons == ("never baked",)
    assert plans[CHILD].reasons == ("never baked", f"base stale: {ROOT} will be rebaked")
    assert plans[IMAGE_CHILD].digest is None and plans[IMAGE_CHILD].fingerprint is None
    tree.bake_all()
    plans = tree.plan()
    assert reasons(plans) == {ROOT: (), CHILD: (), IMAGE_CHILD: ()}
    assert not any(plan.stale for plan in plans.values())
    assert plans[ROOT].fingerprint == plans[ROOT].baked_fingerprint
    assert plans[CHILD].digest == digest(2)
    assert plans[CHILD].base.kind == "recipe" and plans[CHILD].base.recipe == ROOT
    assert plans[ROOT].children == (CHILD, IMAGE_CHILD)


def test_a_changed_recipe_makes_it_and_what_is_built_on_it_stale(tree: Tree) -> None:
    tree.bake_all()
    with (tree.dir / "root.yaml").open("a") as f:
        f.write("description: changed\n")
    assert reasons(tree.plan()) == {
        ROOT: ("recipe changed",),
        CHILD: (f"base stale: {ROOT} will be rebaked",),
        IMAGE_CHILD: (f"base stale: {ROOT} will be rebaked",),
    }


def test_a_changed_copied_file_and_a_lock(tree: Tree) -> None:
    tree.bake_all()
    (tree.dir / "child.txt").write_text("changed\n")
    (tree.dir / "root.lock").write_text("{}\n")
    plans = reasons(tree.plan())
    assert plans[ROOT] == ("lock added",)
    assert plans[CHILD] == ("file changed: child.txt", f"base stale: {ROOT} will be rebaked")
    tree.bake_all()
    (tree.dir / "root.lock").write_text('{"changed": 1}\n')
    assert reasons(tree.plan())[ROOT] == ("lock changed",)
    (tree.dir / "root.lock").unlink()
    assert reasons(tree.plan())[ROOT] == ("lock removed",)


def test_a_base_rebuilt_since_the_child_was_baked(tree: Tree) -> None:
    tree.bake_all()
    tree.bake(ROOT, digest(7))  # e.g. `bakery bake root.yaml` at a new git revision
    plans = reasons(tree.plan())
    assert plans[ROOT] == ()
    rebuilt = f"base rebuilt: {ROOT}:1 was {digest(1)}, now {digest(7)}"
    assert plans[CHILD] == (rebuilt,)
    assert plans[IMAGE_CHILD] == (rebuilt,)


def test_a_revoked_base_and_a_missing_image(tree: Tree) -> None:
    tree.bake_all()
    assert reasons(tree.plan(revoked={digest(2)})) == {ROOT: (), CHILD: (), IMAGE_CHILD: ()}
    plans = reasons(tree.plan(revoked={digest(1)}))
    assert plans[CHILD] == (f"base revoked: {ROOT}:1 {digest(1)}",)
    assert plans[IMAGE_CHILD] == (f"base revoked: {ROOT}:1 {digest(1)}",)
    (tree.store / "oci" / "blobs" / "sha256" / digest(3).partition(":")[2]).unlink()
    assert reasons(tree.plan())[IMAGE_CHILD] == (
        f"image missing: its last bake {digest(3)} is not in the store",
    )


def test_an_image_base_not_in_the_store(tree: Tree) -> None:
    tree.bake_all()
    del tree.tags[f"{ROOT}:1"]
    assert reasons(tree.plan())[IMAGE_CHILD] == (f"base missing: {ROOT}:1 is not in the store",)


def test_records_live_in_the_store_by_name_and_unreadable_ones_count_as_none(tree: Tree) -> None:
    tree.bake(ROOT, digest(1))
    path = record_path(tree.store, ROOT)
    assert path == tree.store / "plans" / "t" / "root.json"
    assert read_record(tree.store, ROOT) is not None
    path.write_text("{not json")
    assert read_record(tree.store, ROOT) is None
    assert tree.plan()[ROOT].reasons == ("never baked",)


def test_a_store_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    state = StoreState.read(tmp_path / "nowhere")
    assert state.tags == {} and state.resolve("t/root:1") is None
    assert not (tmp_path / "nowhere").exists()


def test_the_plan_looks_for_the_registry_where_the_registry_keeps_it() -> None:
    from bakery.cli.planning import REGISTRY_DB_FILE
    from bakery.registry.db import DB_FILE

    assert REGISTRY_DB_FILE == DB_FILE
