"""The on-disk rootfs of a bake in progress, beside its scratch directory.

It is made only when a step, a test or the scan needs it: when every step hits the cache, no
rootfs is ever built. Made, it is the store's kept tree of the same chain id if there is one,
else the layers so far applied from the store (safely: nothing escapes the root).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from bakery.oci.digest import chain_id
from bakery.oci.model import Descriptor
from bakery.rootfs import snapshot
from bakery.rootfs.layers import apply_layers
from bakery.store import Store


class WorkTree:
    """``rootfs/`` and ``scratch/`` under one of the store's work directories."""

    def __init__(self, directory: Path, store: Store, *, warn: Callable[[str], None]) -> None:
        self.rootfs = directory / "rootfs"
        self.scratch = directory / "scratch"
        self.scratch.mkdir()
        self._store = store
        self._warn = warn
        #: the rootfs matches the layers so far
        self.valid = False
        #: its snapshot, when the last step took one (the next step's "before")
        self.current: snapshot.Snapshot | None = None

    def made(self, snap: snapshot.Snapshot) -> None:
        """A step changed the rootfs in place: it is valid, as ``snap`` shows it."""
        self.valid, self.current = True, snap

    def invalidate(self) -> None:
        """A cached layer was added without touching the rootfs: it is stale now."""
        self.valid, self.current = False, None

    def materialize(self, layers: Sequence[tuple[str, Descriptor]]) -> Path:
        """Make the rootfs match ``layers`` (diff_id, blob), unless it already does."""
        if self.valid:
            return self.rootfs
        if self.rootfs.exists():
            shutil.rmtree(self.rootfs)
        if not self._store.take_rootfs(chain_id([d for d, _ in layers]), self.rootfs):
            self.rootfs.mkdir(mode=0o755)
            apply_layers(
                self._store.oci, [desc for _, desc in layers], self.rootfs, on_warning=self._warn
            )
        self.valid, self.current = True, None
        return self.rootfs

    def keep(self, layers: Sequence[tuple[str, Descriptor]]) -> None:
        """Hand a valid finished rootfs to the store, keyed by its chain id."""
        if self.valid:
            self._store.keep_rootfs(chain_id([d for d, _ in layers]), self.rootfs)
