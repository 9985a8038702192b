"""Work directories of concurrent bakes (bakery.store): one bake cleaning up after killed bakes
must not trip over a directory another bake removes at that moment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bakery.store import Store


def test_a_work_directory_removed_while_stale_ones_are_swept_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "store")
    gone = store.work_root / "evicted-0123"  # listed, then removed by the bake that made it
    gone.mkdir()
    listed = list(store.work_root.iterdir())
    gone.rmdir()
    real_iterdir = Path.iterdir

    def iterdir(self: Path) -> Iterator[Path]:
        return iter(listed) if self == store.work_root else real_iterdir(self)

    monkeypatch.setattr(Path, "is_dir", lambda self: True)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    store.remove_stale_work()  # FileNotFoundError before the fix


def test_a_live_bake_keeps_its_work_directory(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    with store.work_dir() as mine:
        store.remove_stale_work()
        assert mine.is_dir()
    assert not mine.exists()


def test_a_sweep_at_any_moment_of_a_new_bake_leaves_its_directory_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another bake sweeps right after each step of this one making its work directory (an
    flock conflicts between two opens of one file in one process too, as between bakes)."""
    store = Store.open(tmp_path / "store")
    real_open, real_mkdir = os.open, Path.mkdir

    def sweeping_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, **kwargs)
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            store.remove_stale_work()
        return fd

    def sweeping_mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        real_mkdir(self, *args, **kwargs)
        if self.parent == store.work_root:
            store.remove_stale_work()

    monkeypatch.setattr(os, "open", sweeping_open)
    monkeypatch.setattr(Path, "mkdir", sweeping_mkdir)
    with store.work_dir() as mine:
        assert mine.is_dir() and (mine / ".lock").is_file()
        store.remove_stale_work()
        assert mine.is_dir()
    assert list(store.work_root.iterdir()) == []
