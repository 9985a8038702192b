"""Baking a recipe graph: each recipe after its base, ``jobs`` at a time.

The scheduler is independent of how one recipe is baked: ``task`` is called (through the given
executor, so in another process when it is a process pool) with a recipe's path and returns a
:class:`Baked`, never raising for a failed bake. A failure stops its branch only: every recipe
built on the failed one, directly or not, is skipped; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bakery.recipe.graph import RecipeGraph

__all__ = ["Baked", "FleetEvents", "Outcome", "bake_graph"]

Status = Literal["baked", "failed", "skipped", "unchanged"]


@dataclass(frozen=True)
class Baked:
    """What baking one recipe gave: its digest and result document, or a one-line error."""

    digest: str | None = None
    document: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One recipe of the graph after the run."""

    name: str
    path: Path
    status: Status
    seconds: float = 0.0
    digest: str | None = None
    #: why it failed, or (skipped) which base failed
    error: str | None = None
    document: Mapping[str, Any] | None = field(default=None, repr=False)


class FleetEvents(Protocol):
    """Progress of a run (the CLI renders it). Implementations must not raise."""

    def started(self, name: str, running: Sequence[str]) -> None: ...

    def finished(self, outcome: Outcome, running: Sequence[str]) -> None: ...


def bake_graph(
    graph: RecipeGraph,
    selected: Collection[str],
    task: Callable[[Path], Baked],
    *,
    executor: Executor,
    jobs: int,
    events: FleetEvents,
) -> list[Outcome]:
    """Bake the ``selected`` recipes of ``graph``; one outcome per recipe, in bake order."""
    return _Run(graph, frozenset(selected), task, executor, max(1, jobs), events).run()


class _Run:
    def __init__(
        self,
        graph: RecipeGraph,
        selected: frozenset[str],
        task: Callable[[Path], Baked],
        executor: Executor,
        jobs: int,
        events: FleetEvents,
    ) -> None:
        self.graph = graph
        self.task = task
        self.executor = executor
        self.jobs = jobs
        self.events = events
        self.order = graph.order()
        self.pending = [name for name in self.order if name in selected]
        self.outcomes: dict[str, Outcome] = {
            name: Outcome(name, graph.recipes[name].path, "unchanged")
            for name in self.order
            if name not in selected
        }
        self.running: dict[Future[Baked], tuple[str, float]] = {}

    def run(self) -> list[Outcome]:
        try:
            while self.pending or self.running:
                self._start_ready()
                if not self.running:  # nothing can start: every pending base failed
                    break
                done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(future)
        except BaseException:
            for future in self.running:
                future.cancel()
            raise
        return [self.outcomes[name] for name in self.order]

    def _start_ready(self) -> None:
        for name in list(self.pending):
            if len(self.running) >= self.jobs:
                return
            base = self.graph.base_of(name)
            if base is not None and (base in self.pending or self._is_running(base)):
                continue  # its base is baked first
            self.pending.remove(name)
            future = self.executor.submit(self.task, self.graph.recipes[name].path)
            self.running[future] = (name, time.monotonic())
            self.events.started(name, self._running_names())

    def _finish(self, future: Future[Baked]) -> None:
        name, start = self.running.pop(future)
        seconds = round(time.monotonic() - start, 3)
        path = self.graph.recipes[name].path
        try:
            baked = future.result()
        except Exception as exc:  # noqa: BLE001 - the worker died: this branch failed
            baked = Baked(error=f"the bake did not finish: {type(exc).__name__}: {exc}")
        if baked.error is None:
            outcome = Outcome(name, path, "baked", seconds, baked.digest, None, baked.document)
        else:
            outcome = Outcome(name, path, "failed", seconds, None, baked.error, baked.document)
        self.outcomes[name] = outcome
        self.events.finished(outcome, self._running_names())
        if outcome.status == "failed":
            self._skip_below(name)

    def _skip_below(self, failed: str) -> None:
        below = self.graph.closure([failed]) - {failed}
        for name in [n for n in self.pending if n in below]:
            self.pending.remove(name)
            path = self.graph.recipes[name].path
            skipped = Outcome(name, path, "skipped", error=f"{failed} failed")
            self.outcomes[name] = skipped
            self.events.finished(skipped, self._running_names())

    def _is_running(self, name: str) -> bool:
        return any(running == name for running, _ in self.running.values())

    def _running_names(self) -> list[str]:
        return [name for name, _ in self.running.values()]
