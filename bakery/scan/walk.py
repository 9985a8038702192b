"""A safe, streamed walk of an image rootfs, shared by the content scanners.

Image content is hostile. The walk never follows a symlink: ``os.walk`` runs with
``followlinks=False``, so every directory it enters is a real directory below the rootfs and
every path it yields is ``rootfs/<real dirs>/<name>``; a symlink (to ``/``, to ``..``, to itself)
is yielded as a ``symlink`` entry and left alone, so symlink loops cannot trap it. The
pseudo-filesystems ``/proc``, ``/sys`` and ``/dev`` are not entered. Entries that cannot be
listed or ``lstat``-ed, and regular files larger than ``max_size``, are skipped and recorded in
:attr:`FileWalk.notes`, never raised: a scan reports what it could not look at.

Readers open what the walk yields with :func:`open_no_follow`, which refuses a final symlink (a
file swapped for a symlink after the walk looked at it is not followed either).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FileKind = Literal["file", "dir", "symlink", "other"]

#: Top-level directories that hold kernel pseudo-filesystems at run time, never image content.
SKIPPED_TOP_DIRS = frozenset({"proc", "sys", "dev"})

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of the rootfs: where it is, its ``lstat`` and what kind of entry it is."""

    path: str  # relative to the rootfs, "/"-separated, e.g. "etc/passwd"
    host_path: str  # the path on the host, rootfs/<path>
    stat: os.stat_result
    kind: FileKind

    @property
    def image_path(self) -> str:
        """The absolute path inside the image, e.g. ``/etc/passwd``."""
        return "/" + self.path


class FileWalk(Iterator[FileEntry]):
    """The entries of a rootfs in walk order; :attr:`notes` grows as entries are skipped."""

    def __init__(self, rootfs: Path, max_size: int) -> None:
        self.rootfs = rootfs
        self.max_size = max_size
        self.notes: list[str] = []
        self._entries = self._walk()

    def __next__(self) -> FileEntry:
        return next(self._entries)

    def _walk(self) -> Iterator[FileEntry]:
        """Every entry below the rootfs except the skipped top-level directories."""
        root = os.fspath(self.rootfs)
        for dirpath, dirnames, filenames in os.walk(root, onerror=self._unlistable):
            rel_dir = os.path.relpath(dirpath, root)
            prefix = "" if rel_dir == "." else rel_dir + "/"
            if not prefix:
                dirnames[:] = [name for name in dirnames if name not in SKIPPED_TOP_DIRS]
            dirnames.sort()
            for name in (*dirnames, *sorted(filenames)):
                entry = self._entry(dirpath, prefix + name)
                if entry is not None:
                    yield entry

    def _entry(self, dirpath: str, rel: str) -> FileEntry | None:
        """The entry for ``rel``, or None (with a note) if it vanished or is too large."""
        host_path = os.path.join(dirpath, os.path.basename(rel))
        try:
            info = os.lstat(host_path)
        except OSError as exc:
            self.notes.append(f"/{rel}: cannot stat: {exc.strerror}")
            return None
        kind = _kind(info.st_mode)
        if kind == "file" and info.st_size > self.max_size:
            self.notes.append(
                f"/{rel}: skipped, {info.st_size} bytes is above the {self.max_size} byte limit"
            )
            return None
        return FileEntry(rel, host_path, info, kind)

    def _unlistable(self, error: OSError) -> None:
        """Record a directory ``os.walk`` could not list (it carries on with the rest)."""
        where = os.path.relpath(error.filename, self.rootfs) if error.filename else "?"
        shown = "/" if where == "." else "/" + where
        self.notes.append(f"{shown}: cannot list directory: {error.strerror}")


def walk_files(rootfs: Path, *, max_size: int) -> FileWalk:
    """Walk ``rootfs`` lazily, never following a symlink; see the module doc.

    Directories come before the files they contain, names sorted, so the order is stable.
    """
    return FileWalk(rootfs, max_size)


def open_no_follow(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``; OSError if it is anything else.

    The final component is not followed (``O_NOFOLLOW``) and a FIFO or device does not block
    (``O_NONBLOCK``): the descriptor is checked to be a regular file before it is returned.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _kind(mode: int) -> FileKind:
    """The kind of entry an ``lstat`` mode describes."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"
