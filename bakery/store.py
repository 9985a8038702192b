"""The local store, ``./.bakery/`` by default: everything a bake keeps on one machine.

``oci/``    OCI image layout: the content-addressed store of images and artifacts
``cache/``  the step cache (small JSON records pointing at layer blobs in ``oci/``)
``work/``   per-bake work directories (a rootfs being built); removed when a bake ends
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import StoreError
from bakery.oci.layout import OCILayout

DEFAULT_STORE = Path(".bakery")
#: a work directory with no lock file yet may be one being created this instant
STALE_UNLOCKED_SECONDS = 60


@dataclass(frozen=True)
class Store:
    """Paths and the OCI layout of one local store."""

    root: Path
    oci: OCILayout

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open (creating if needed) the store at ``root``."""
        root = root.absolute()
        try:
            for sub in ("cache", "work"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store at {root}: {e.strerror}") from e
        return cls(root=root, oci=OCILayout.open(root / "oci", create=True))

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def work_root(self) -> Path:
        return self.root / "work"

    @contextlib.contextmanager
    def work_dir(self) -> Iterator[Path]:
        """A fresh work directory, held under a lock and removed afterwards.

        Directories left by a killed bake (no lock held) are removed first.
        """
        self.remove_stale_work()
        path = self.work_root / uuid.uuid4().hex
        path.mkdir()
        lock_fd = os.open(path / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            os.close(lock_fd)

    def remove_stale_work(self) -> None:
        """Remove work directories whose bake is gone (its lock is free)."""
        for entry in self.work_root.iterdir():
            if not entry.is_dir():
                continue
            try:
                fd = os.open(entry / ".lock", os.O_RDWR)
            except FileNotFoundError:
                if time.time() - entry.stat().st_mtime > STALE_UNLOCKED_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live bake owns it
            finally:
                os.close(fd)
            shutil.rmtree(entry, ignore_errors=True)
