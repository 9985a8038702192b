"""The local store, ``./.bakery/`` by default: everything a bake keeps on one machine.

``oci/``    OCI image layout: the content-addressed store of images and artifacts
``cache/``  the step cache (small JSON records pointing at layer blobs in ``oci/``)
``work/``   per-bake work directories (a rootfs being built); removed when a bake ends
``rootfs/`` the last few finished rootfs trees, by chain id: a later bake that must run a step
            on top of the same layers takes one instead of re-applying every layer
``keys/``   the development signing key pair (``cosign.key``, ``cosign.pub``), made on first use
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
from typing import TYPE_CHECKING

from bakery.errors import StoreError

if TYPE_CHECKING:  # imported by Store.open: DEFAULT_STORE alone (for --help) needs no pydantic
    from bakery.oci.layout import OCILayout

DEFAULT_STORE = Path(".bakery")
#: a work directory with no lock file yet may be one being created this instant
STALE_UNLOCKED_SECONDS = 60
#: how many finished rootfs trees to keep for reuse
KEEP_ROOTFS = 2


@dataclass(frozen=True)
class Store:
    """Paths and the OCI layout of one local store."""

    root: Path
    oci: OCILayout

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open (creating if needed) the store at ``root``."""
        from bakery.oci.layout import OCILayout

        root = root.absolute()
        try:
            for sub in ("cache", "work", "rootfs"):
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

    @property
    def vulndb_path(self) -> Path:
        """The local vulnerability database (``bakery db import`` fills it)."""
        return self.root / "vulndb.sqlite"

    @property
    def keys_dir(self) -> Path:
        """Where the development signing key pair lives (created on first use, mode 0700)."""
        return self.root / "keys"

    @property
    def rootfs_root(self) -> Path:
        return self.root / "rootfs"

    def take_rootfs(self, chain_id: str, dest: Path) -> bool:
        """Move the kept rootfs of ``chain_id`` to ``dest`` (one atomic rename); False if none.

        Two bakes may race for it: the rename succeeds for exactly one of them.
        """
        try:
            (self.rootfs_root / _hex(chain_id)).rename(dest)
        except FileNotFoundError:
            return False
        return True

    def keep_rootfs(self, chain_id: str, src: Path) -> None:
        """Keep a finished rootfs for reuse; drop the oldest beyond :data:`KEEP_ROOTFS`."""
        target = self.rootfs_root / _hex(chain_id)
        if target.exists():
            return  # the work directory (and this copy) is removed with the bake
        src.rename(target)
        os.utime(target)
        kept = sorted(self.rootfs_root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP_ROOTFS:]:
            # rename first so that a half-deleted tree is never taken for a valid one
            doomed = self.work_root / f"evicted-{old.name}"
            with contextlib.suppress(FileNotFoundError):
                old.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)

    @contextlib.contextmanager
    def work_dir(self) -> Iterator[Path]:
        """A fresh work directory, held under a lock and removed afterwards.

        Directories left by a killed bake (no lock held) are removed first.
        """
        self.remove_stale_work()
        name = uuid.uuid4().hex
        path = self.work_root / name
        # the lock is taken before the directory has it: a concurrent sweep never finds a live
        # bake's lock free (the lock file starts beside it: sweeps look at directories only)
        lock = self.work_root / f".{name}.lock"
        lock_fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            path.mkdir()
            os.rename(lock, path / ".lock")
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            os.close(lock_fd)

    def remove_stale_work(self) -> None:
        """Remove work directories whose bake is gone (its lock is free)."""
        for entry in self.work_root.iterdir():
            if not entry.is_dir():
                continue
            try:
                fd = os.open(entry / ".lock", os.O_RDWR)
            except FileNotFoundError:
                # another bake may remove its own directory (or an evicted rootfs) meanwhile
                with contextlib.suppress(FileNotFoundError):
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


def _hex(digest: str) -> str:
    return digest.split(":", 1)[-1]
