"""Rendering for the CLI: live stage progress and summaries (rich, on stderr/stdout)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

from bakery.pipeline.publish import Published
from bakery.result import BakeResult, DiskResult


class ConsoleReporter:
    """One progress line per stage, with a spinner while it runs and its time when done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None

    def stage_started(self, recipe: str, stage: str, detail: str) -> None:
        self._stop()
        if self.console.is_terminal:
            self._status = self.console.status(f"[bold]{recipe}[/] {stage:<8} {detail}")
            self._status.start()

    def stage_done(self, recipe: str, stage: str, seconds: float, detail: str) -> None:
        self._stop()
        self.console.print(
            f"[green]✓[/] [bold]{recipe}[/] {stage:<8} [dim]{detail}[/] [cyan]{seconds:6.2f}s[/]",
            highlight=False,
        )

    def warning(self, message: str) -> None:
        self._stop()
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def bake_summary(result: BakeResult, published: Published | None = None) -> Table:
    """A short table of what a bake produced."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    size = sum(layer.size for layer in result.layers)
    cached = sum(1 for layer in result.layers if layer.cached)
    rows = [
        ("image", f"{result.name} {result.version}"),
        ("digest", result.digest),
        ("tags", ", ".join(result.tags) or "(none)"),
        ("layers", f"{len(result.layers)} ({cached} cached), {human_size(size)} compressed"),
        ("base", _base_line(result)),
        ("built", f"{result.steps_run} layers built, {result.steps_cached} from the cache"),
        ("tests", _tests_line(result)),
        ("scan", _scan_line(result)),
        ("locked", "yes" if result.locked else "no"),
        ("SOURCE_DATE_EPOCH", f"{result.source_date_epoch} (from {result.source_date_epoch_from})"),
        *(("disk", _disk_line(disk)) for disk in result.disks),
        ("time", f"{sum(s.seconds for s in result.stages):.2f}s"),
        *_published_rows(published),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _base_line(result: BakeResult) -> str:
    base = result.base
    parts = [base.kind]
    if base.name:
        parts.append(base.name)
    if base.digest:
        parts.append(base.digest[:19] + "…")
    return " ".join(parts)


def _scan_line(result: BakeResult) -> str:
    scan = result.scan
    if scan is None:
        return "off"
    found = ", ".join(f"{n} {category}" for category, n in scan.findings.items()) or "no findings"
    verdict = "policy passed" if scan.passed else "policy FAILED"
    return f"{scan.packages} packages, {found}; {verdict}"


def _tests_line(result: BakeResult) -> str:
    if not result.tests:
        return "none"
    cached = sum(1 for t in result.tests if t.cached)
    return f"{len(result.tests)} passed" + (f" ({cached} cached)" if cached else "")


def _disk_line(disk: DiskResult) -> str:
    """One disk output: its tags, format, boot mode, size and the reproducible raw digest."""
    tags = ", ".join(disk.tags) or disk.digest
    boot = f", {disk.boot} boot" if disk.boot else ""
    return f"{tags} ({disk.format}{boot}, {human_size(disk.file_size)}; raw {disk.raw_digest})"


def _published_rows(published: Published | None) -> list[tuple[str, str]]:
    """Rows saying how the image was signed, recorded and pushed."""
    if published is None:
        return []
    rows = []
    if published.signed_with:
        key = "development key" if published.development_key else "key"
        rows.append(
            (
                "signed",
                f"{key} {published.signed_with[:16]}…, "
                f"{len(published.predicate_types)} attestations",
            )
        )
    if published.audit_entry is not None:
        rows.append(("recorded", f"audit entry {published.audit_entry}"))
    if published.pushed_to:
        rows.append(
            (
                "pushed",
                f"{published.pushed_to} ({published.blobs_pushed} blobs sent, "
                f"{published.blobs_skipped} already there)",
            )
        )
    return rows


def bake_json(result: BakeResult, published: Sequence[Published] = ()) -> str:
    """The ``--json`` document of a bake; ``published``: what each recipe's publishing did."""
    data: dict[str, Any] = result.model_dump(mode="json", exclude={"lock"})
    data["published"] = [p.model_dump(mode="json") for p in published]
    return json.dumps(data, indent=2, sort_keys=False)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
