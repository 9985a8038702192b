"""``bakery bake DIR``: every recipe of a directory (or, with ``--changed``, the stale ones),
each after its base, ``--jobs`` at a time.

Each recipe is baked by :func:`bake_in_worker` in a worker process (a spawned process pool):
bakes are processes, as the store's locking expects, with a recorder of their own. Progress
lines go to stderr (running, done, skipped, failed), a summary to stdout (or ``--json``: one
result per recipe), and every failure is listed at the end with its one-line error.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from bakery.cli.baking import BakeSettings, bake_recipe
from bakery.cli.options import err, out
from bakery.cli.planning import load_graph, plan_directory
from bakery.cli.render import ConsoleReporter, bake_json
from bakery.errors import BakeryError, BuildError
from bakery.pipeline.fleet import Baked, Outcome, bake_graph
from bakery.pipeline.staleness import RecipePlan

_MARKS = {"baked": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]↷[/]"}


def bake_tree(
    directory: Path, settings: BakeSettings, *, changed: bool, jobs: int, as_json: bool
) -> None:
    """Bake the recipes under ``directory``; raise a BuildError naming the failed ones."""
    plans: dict[str, RecipePlan] = {}
    if changed:
        planned = plan_directory(directory, settings.store_dir, settings.database_url)
        graph = planned.graph
        plans = {plan.name: plan for plan in planned.plans}
        selected = graph.closure(planned.stale())
    else:
        graph = load_graph(directory)[1]
        selected = frozenset(graph.recipes)
    if not selected:
        err.print(f"nothing to bake: the {len(graph.recipes)} recipes under {directory} are fresh")
    task = partial(bake_in_worker, settings)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked state
    workers = max(1, min(jobs, len(selected)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        outcomes = bake_graph(
            graph, selected, task, executor=pool, jobs=jobs, events=_Progress(err)
        )
    if as_json:
        click.echo(json.dumps([_outcome_json(o, plans.get(o.name)) for o in outcomes], indent=2))
    else:
        _summary(outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        skipped = sum(1 for o in outcomes if o.status == "skipped")
        raise BuildError(
            f"{len(failed)} of {len(selected)} recipes failed ({', '.join(o.name for o in failed)})"
            + (f"; {skipped} built on them skipped" if skipped else "")
        )


def bake_in_worker(settings: BakeSettings, recipe: Path) -> Baked:
    """Bake one recipe of the directory (in a worker process); its failure as one line."""
    console = Console(stderr=True, highlight=False, soft_wrap=True, force_terminal=False)
    try:
        result, published = bake_recipe(
            recipe, settings, ConsoleReporter(console), publish_parents=False
        )
    except BakeryError as exc:
        console.print(f"error: {recipe}: {exc.one_line()}", markup=False)
        return Baked(error=_first_line(exc))
    except Exception as exc:  # noqa: BLE001 - a bug: its crash log, and this branch fails
        from bakery.cli import crashlog

        now = datetime.now(UTC)
        line = crashlog.report(
            exc, ["bake", str(recipe)], environ=os.environ, now=now, pid=os.getpid()
        )
        return Baked(error=f"internal error: {line}")
    document: dict[str, Any] = json.loads(bake_json(result, published))
    return Baked(digest=result.digest, document=document)


def _first_line(exc: BakeryError) -> str:
    """The error on one line: a table after its first line (a policy's) stays in the log."""
    lines = exc.message.strip().splitlines() or [type(exc).__name__]
    more = " (details above)" if len(lines) > 1 else ""
    return lines[0].rstrip(":") + more + (f" (hint: {exc.hint})" if exc.hint else "")


class _Progress:
    """One line per event: started (with what is running), baked, failed, skipped."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, name: str, running: Sequence[str]) -> None:
        self.console.print(
            f"[cyan]▶[/] [bold]{name}[/] started [dim](running: {', '.join(running)})[/]",
            highlight=False,
        )

    def finished(self, outcome: Outcome, running: Sequence[str]) -> None:
        mark = _MARKS.get(outcome.status, "")
        if outcome.status == "baked":
            detail = f"baked {outcome.digest} in {outcome.seconds:.1f}s"
        elif outcome.status == "failed":
            detail = f"failed: {escape(outcome.error or '')}"
        else:
            detail = f"skipped: {outcome.error}"
        tail = f" [dim](running: {', '.join(running)})[/]" if running else ""
        self.console.print(f"{mark} [bold]{outcome.name}[/] {detail}{tail}", highlight=False)


def _summary(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        what = {
            "baked": f"baked {outcome.digest} ({outcome.seconds:.1f}s)",
            "unchanged": "fresh, not baked",
            "skipped": f"skipped: {outcome.error}",
            "failed": "failed",
        }[outcome.status]
        out.print(f"{_MARKS.get(outcome.status, '·')} [bold]{outcome.name}[/] {what}")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        out.print(f"[red]{len(failed)} failed:[/]")
        for outcome in failed:
            out.print(f"  [bold]{outcome.name}[/] ({outcome.path}): {escape(outcome.error or '')}")


def _outcome_json(outcome: Outcome, plan: RecipePlan | None) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "path": str(outcome.path),
        "status": outcome.status,
        "seconds": outcome.seconds,
        "digest": outcome.digest,
        "error": outcome.error,
        "reasons": list(plan.reasons) if plan is not None else [],
        "result": outcome.document,
    }
