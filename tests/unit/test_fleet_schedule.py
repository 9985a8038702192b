"""Baking a graph (bakery.pipeline.fleet) with a fake bake: order, parallelism and failures
that stop their branch only."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bakery.pipeline.fleet import Baked, Outcome, bake_graph
from bakery.recipe.graph import RecipeGraph
from tests.unit.test_recipe_graph import three_generations


class FakeBakes:
    """Records when each recipe started and ended; fails the recipes named in ``failing``."""

    def __init__(self, failing: Sequence[str] = ()) -> None:
        self.failing = {f"/tree/{path}" for path in failing}
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.log: list[tuple[str, str]] = []

    def __call__(self, path: Path) -> Baked:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.log.append(("start", path.name))
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            self.log.append(("end", path.name))
        if str(path) in self.failing:
            return Baked(error=f"{path.name} broke")
        return Baked(digest=f"sha256:{path.stem}")


class Events:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def started(self, name: str, running: Sequence[str]) -> None:
        self.lines.append(f"started {name}")

    def finished(self, outcome: Outcome, running: Sequence[str]) -> None:
        self.lines.append(f"{outcome.status} {outcome.name}")


def run(
    bakes: FakeBakes, jobs: int, selected: Sequence[str] | None = None
) -> tuple[dict[str, Outcome], Events]:
    graph = RecipeGraph.build(three_generations())
    events = Events()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = bake_graph(
            graph,
            graph.recipes if selected is None else selected,
            bakes,
            executor=pool,
            jobs=jobs,
            events=events,
        )
    assert [o.name for o in outcomes] == list(graph.order())
    return {o.name: o for o in outcomes}, events


def test_each_recipe_starts_after_its_base_ended_and_jobs_run_at_once() -> None:
    bakes = FakeBakes()
    outcomes, events = run(bakes, jobs=2)
    assert {o.status for o in outcomes.values()} == {"baked"}
    assert outcomes["t/leaf-b"].digest == "sha256:leaf-b"
    graph = RecipeGraph.build(three_generations())
    for child, edge in graph.bases.items():
        base_file = graph.recipes[edge.base].path.name
        child_file = graph.recipes[child].path.name
        assert bakes.log.index(("end", base_file)) < bakes.log.index(("start", child_file))
    assert bakes.most == 2
    assert len(events.lines) == 12


def test_one_job_at_a_time() -> None:
    bakes = FakeBakes()
    run(bakes, jobs=1)
    assert bakes.most == 1


def test_a_failure_skips_what_is_built_on_it_and_nothing_else() -> None:
    outcomes, events = run(FakeBakes(failing=["base/mid-a.yaml"]), jobs=2)
    assert {name: o.status for name, o in outcomes.items()} == {
        "t/root": "baked",
        "t/mid-a": "failed",
        "t/mid-b": "baked",
        "t/leaf-a1": "skipped",
        "t/leaf-a2": "skipped",
        "t/leaf-b": "baked",
    }
    assert outcomes["t/mid-a"].error == "mid-a.yaml broke"
    assert outcomes["t/leaf-a2"].error == "t/mid-a failed"
    assert "skipped t/leaf-a1" in events.lines and "started t/leaf-a1" not in events.lines


def test_only_the_selected_recipes_are_baked() -> None:
    bakes = FakeBakes()
    outcomes, _ = run(bakes, jobs=2, selected=["t/mid-b", "t/leaf-b"])
    assert {n for n, o in outcomes.items() if o.status == "baked"} == {"t/mid-b", "t/leaf-b"}
    assert {n for n, o in outcomes.items() if o.status == "unchanged"} == {
        "t/root",
        "t/mid-a",
        "t/leaf-a1",
        "t/leaf-a2",
    }
    assert [entry for entry in bakes.log if entry[0] == "start"] == [
        ("start", "mid-b.yaml"),
        ("start", "leaf-b.yaml"),
    ]


def test_a_task_that_dies_fails_its_branch() -> None:
    def dies(path: Path) -> Baked:
        if path.name == "root.yaml":
            raise RuntimeError("worker killed")
        return Baked(digest="sha256:x")

    graph = RecipeGraph.build(three_generations())
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = bake_graph(graph, graph.recipes, dies, executor=pool, jobs=2, events=Events())
    assert outcomes[0].status == "failed"
    assert outcomes[0].error == "the bake did not finish: RuntimeError: worker killed"
    assert {o.status for o in outcomes[1:]} == {"skipped"}
