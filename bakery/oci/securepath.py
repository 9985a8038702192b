"""Resolve a path inside a rootfs as if the rootfs were ``/`` (cyphar's filepath-securejoin).

Image content is hostile: a layer may hold ``lib -> /`` or ``x -> ../../..``, and a naive
``root / "lib/evil"`` would write to the host. :func:`secure_join` walks the path one component
at a time, expanding every symlink met in a *parent* component by hand: an absolute target
restarts from ``root``, ``..`` never climbs above ``root``. The final component is not followed
(the caller replaces or creates it), so the result is ``root/<dirs>/<name>`` where no
``<dirs>`` component is a symlink when it is computed.

The walk uses ``lstat``/``readlink`` on paths without symlinks, so it is safe against the
content of the tree, not against a concurrent process changing the tree meanwhile; Bakery only
runs it on trees nothing else writes to.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from pathlib import Path

from bakery.errors import UnsafeLayerError

MAX_SYMLINKS = 40


def secure_join(root: Path, path: str) -> Path:
    """``root`` joined with ``path`` resolved as if ``root`` were ``/``; see the module doc.

    Components ``""`` and ``.`` are skipped, ``..`` removes the last resolved component (and is
    a no-op at ``root``); trailing ``/`` or ``/.`` make the last name a parent (followed).
    Raises :class:`UnsafeLayerError` after :data:`MAX_SYMLINKS` symlinks.
    """
    base = os.fspath(root)
    resolved: list[str] = []
    pending = deque(path.split("/"))
    followed = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if not pending:  # the final component is never followed
            resolved.append(part)
            break
        target = _symlink_target("/".join([base, *resolved, part]))
        if target is None:
            resolved.append(part)
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise UnsafeLayerError(f"{path}: too many levels of symbolic links")
        if target.startswith("/"):
            resolved.clear()
        pending.extendleft(reversed(target.split("/")))
    return _checked(root, resolved, path)


def _symlink_target(path: str) -> str | None:
    """The target of ``path`` if it is a symlink; ``None`` if it is anything else or missing."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return None
    except (FileNotFoundError, NotADirectoryError):
        return None
    return os.readlink(path)


def _checked(root: Path, resolved: list[str], path: str) -> Path:
    """``root`` joined with plain names, verified to be ``root`` itself or below it."""
    result = root.joinpath(*resolved)
    if any(part in ("", ".", "..") or "/" in part for part in resolved) or not (
        result == root or result.is_relative_to(root)
    ):
        raise UnsafeLayerError(f"{path} resolves outside the root {root}")
    return result
