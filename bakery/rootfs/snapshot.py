"""Filesystem snapshots of a rootfs and the diff between two of them (one layer's changes).

A snapshot maps each relative path to the parts of its ``lstat`` that change when the file does.
``st_ctime_ns`` moves on every content or metadata change and cannot be set from user space, so
comparing it (with the inode) catches edits that keep size and mtime.

Volatile paths never enter a snapshot, so they never reach a layer: apt lists and caches, logs,
``-old`` backups, ldconfig's aux-cache, and whatever is mounted over ``/dev``, ``/proc``, ``/sys``.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bakery.oci.securepath import secure_join
from bakery.oci.tarwriter import Change

#: directories whose whole content is volatile (the directory itself is kept)
_SKIP_ALL_CHILDREN = frozenset({"dev", "proc", "sys"})
#: directories where regular files are volatile but subdirectories are kept (nginx needs
#: /var/log/nginx to exist; apt recreates its partial/ dirs)
_SKIP_FILES_UNDER = ("var/log", "var/cache/apt", "var/lib/apt/lists")
_VOLATILE_FILES = frozenset(
    {
        "var/cache/ldconfig/aux-cache",
        "var/lib/dpkg/available-old",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/diversions-old",
        "var/lib/dpkg/statoverride-old",
        "var/cache/debconf/config.dat-old",
        "var/cache/debconf/templates.dat-old",
        "var/cache/debconf/passwords.dat-old",
        "etc/shadow-",
        "etc/gshadow-",
        "etc/passwd-",
        "etc/group-",
        "etc/subuid-",
        "etc/subgid-",
    }
)

#: files whose content is replaced by an empty file in every layer (first-boot identity)
EMPTIED_FILES = frozenset({"etc/machine-id", "var/lib/dbus/machine-id"})


@dataclass(frozen=True, slots=True)
class Entry:
    """What identifies a version of a path."""

    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


Snapshot = dict[str, Entry]


def is_volatile(rel: str, is_dir: bool) -> bool:
    """True when ``rel`` (a relative POSIX path) must never be put in a layer."""
    head, sep, _ = rel.partition("/")
    if sep and head in _SKIP_ALL_CHILDREN:
        return True
    if rel in _VOLATILE_FILES:
        return True
    if not is_dir:
        return any(rel.startswith(prefix + "/") for prefix in _SKIP_FILES_UNDER)
    return False


def purge_volatile(root: Path, epoch: int) -> None:
    """Make the rootfs look like its layers: delete volatile files, empty identity files.

    ``/dev``, ``/proc`` and ``/sys`` are emptied and get ``epoch`` as mtime: what was mounted or
    created there says something about the build host, not the image.

    After this, a rootfs built step by step and one materialised from the layers are the same
    to the next step (volatile content cannot leak into a later layer through a command).
    """
    # every path goes through secure_join: an image's symlink (var -> /) must never make us
    # delete anything outside the rootfs
    for top in _SKIP_ALL_CHILDREN:
        directory = secure_join(root, top)
        if directory.is_dir() and not directory.is_symlink():
            for child in directory.iterdir():
                _remove(child)
            if directory.lstat().st_mtime_ns != epoch * 10**9:  # untouched dirs stay out of layers
                os.utime(directory, (epoch, epoch), follow_symlinks=False)
    for prefix in _SKIP_FILES_UNDER:
        directory = secure_join(root, prefix)
        if directory.is_dir() and not directory.is_symlink():
            for dirpath, _, filenames in os.walk(directory):
                for name in filenames:
                    Path(dirpath, name).unlink()
    for rel in _VOLATILE_FILES:
        path = secure_join(root, rel)
        if path.is_file() or path.is_symlink():
            path.unlink()
    for rel in EMPTIED_FILES:
        path = secure_join(root, rel)
        if path.is_file() and not path.is_symlink() and path.stat().st_size:
            path.write_bytes(b"")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def take(root: Path) -> Snapshot:
    """Walk ``root`` (not following symlinks) and record every non-volatile path."""
    snap: Snapshot = {}
    for rel, st in _walk(os.fsencode(root), b""):
        snap[rel] = Entry(
            mode=st.st_mode,
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            ino=st.st_ino,
        )
    return snap


def _walk(root: bytes, prefix: bytes) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(os.path.join(root, prefix) if prefix else root) as it:
        entries = list(it)
    for entry in entries:
        rel_b = prefix + b"/" + entry.name if prefix else entry.name
        rel = os.fsdecode(rel_b)
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_volatile(rel, is_dir):
            continue
        yield rel, st
        if is_dir:
            yield from _walk(root, rel_b)


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    """The changes that turn ``before`` into ``after``: additions/modifications and whiteouts.

    A deletion is recorded once, at the topmost deleted path: a whiteout inside a directory that
    was itself deleted (or replaced by a non-directory) would be meaningless.
    """
    changes = [Change(path, "add") for path, e in after.items() if before.get(path) != e]
    for path in before:
        if path in after:
            continue
        parent = path.rpartition("/")[0]
        if parent == "" or (parent in after and after[parent].is_dir and before[parent].is_dir):
            changes.append(Change(path, "delete"))
    return changes


def everything(snap: Snapshot) -> list[Change]:
    """Every path of a snapshot as an addition (a base layer)."""
    return [Change(path, "add") for path in snap]
