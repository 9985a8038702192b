"""Work directories of concurrent bakes (bakery.store): one bake cleaning up after killed bakes
must not trip over a directory another bake removes at that moment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
