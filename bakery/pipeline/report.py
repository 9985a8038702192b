"""How the engine tells the outside world what it is doing (the CLI renders it)."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives progress events. Implementations must not raise."""

    def stage_started(self, recipe: str, stage: str, detail: str) -> None: ...

    def stage_done(self, recipe: str, stage: str, seconds: float, detail: str) -> None: ...

    def warning(self, message: str) -> None: ...


class SilentReporter:
    """Discards every event (library use, tests)."""

    def stage_started(self, recipe: str, stage: str, detail: str) -> None:
        return None

    def stage_done(self, recipe: str, stage: str, seconds: float, detail: str) -> None:
        return None

    def warning(self, message: str) -> None:
        return None
