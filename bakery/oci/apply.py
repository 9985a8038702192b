"""Apply an uncompressed layer tar to a rootfs directory, safely (OCI image-spec layer.md).

Layers are hostile input. Every name is normalised lexically (leading ``/`` and ``./``
stripped; a ``..`` that would climb above the root fails the whole apply) and then resolved
with :func:`~bakery.oci.securepath.secure_join`, so a symlink already in the rootfs (``lib ->
usr/lib`` or ``evil -> /``) is followed *inside* the root and nothing is ever written
outside it. Hardlink targets get the same treatment. Device nodes are dropped with a warning.

OCI semantics: ``.wh.<name>`` deletes ``<name>``; ``<dir>/.wh..wh..opq`` deletes whatever in
``<dir>`` this layer did not write (wherever the marker sits in the tar); markers are never
materialised. An entry replaces what is at its path, except a directory over a directory,
which only gets the new attributes. Directory modes and mtimes are set at the end, because
creating children changes them.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bakery.errors import StoreError, UnsafeLayerError
from bakery.oci.securepath import secure_join
from bakery.oci.tarwriter import OPAQUE_MARKER, WHITEOUT_PREFIX

CHUNK = 1 << 20
#: tarfile's stream buffer: it copies the unread rest of it on every header read, so 1 MiB
#: would cost more than it saves
_TAR_BUFSIZE = 64 << 10
_XATTR_PREFIX = "SCHILY.xattr."
#: overlayfs metadata in an image could fake whiteouts once the rootfs is an overlay lower dir
_REFUSED_XATTRS = ("trusted.overlay.",)


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """How many tar entries were read, and what was dropped or could not be set."""

    entries: int
    warnings: list[str] = field(default_factory=list)


def apply_layer(
    tar_stream: BinaryIO,
    root: Path,
    *,
    on_warning: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Apply the uncompressed layer tar read from ``tar_stream`` to the directory ``root``.

    Raises :class:`UnsafeLayerError` for an entry that tries to leave ``root`` (the rootfs is
    then half-applied and must be discarded) and :class:`StoreError` for an unreadable tar or
    a filesystem error.
    """
    applier = _Applier(root, on_warning)
    try:
        with tarfile.open(fileobj=tar_stream, mode="r|", bufsize=_TAR_BUFSIZE) as tar:
            for member in tar:
                applier.apply(tar, member)
    except tarfile.TarError as e:
        raise StoreError(f"cannot read layer tar: {e}") from e
    applier.finish()
    return ApplyReport(applier.entries, applier.warnings)


def normalise(name: str) -> str:
    """A tar name as a clean relative path (``""`` for the root itself).

    ``/`` and ``.`` components are dropped and ``..`` is applied lexically; one that would climb
    above the root raises :class:`UnsafeLayerError`.
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise UnsafeLayerError(f"layer entry {name!r} points outside the root")
    return "/".join(parts)


class _Applier:
    """The state of one apply: what this layer wrote, and the directory attributes to set."""

    def __init__(self, root: Path, on_warning: Callable[[str], None] | None) -> None:
        self.root = root
        self.entries = 0
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._as_root = os.geteuid() == 0
        self._written: set[str] = set()
        self._dirs: dict[str, tuple[int, float]] = {}

    def warn(self, message: str) -> None:
        """Record a warning and pass it on."""
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """Apply one tar entry."""
        self.entries += 1
        name = normalise(member.name)
        if not name:
            return  # the root directory itself: its attributes are the caller's
        base = name.rpartition("/")[2]
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(name, base)
            else:
                self._entry(tar, member, name)
        except OSError as e:
            raise StoreError(f"cannot apply layer entry {member.name!r}: {e}") from e

    def finish(self) -> None:
        """Set directory modes and mtimes, deepest first."""
        for path in sorted(self._dirs, reverse=True):
            mode, mtime = self._dirs[path]
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    continue
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed later in the layer
            Path(path).chmod(mode)
            os.utime(path, (mtime, mtime), follow_symlinks=False)

    def _whiteout(self, name: str, base: str) -> None:
        """Apply a whiteout or an opaque marker."""
        parent = secure_join(self.root, name).parent
        if base == OPAQUE_MARKER:
            if _is_dir(str(parent)):
                self._clear(str(parent))
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            self.warn(f"ignored AUFS metadata {name}")
            return
        victim = base[len(WHITEOUT_PREFIX) :]
        if victim in ("", ".", ".."):
            raise UnsafeLayerError(f"layer entry {name!r} is a malformed whiteout")
        _remove(str(parent / victim))

    def _clear(self, directory: str) -> None:
        """Remove what this layer did not write below ``directory`` (an opaque marker)."""
        with os.scandir(directory) as it:
            children = list(it)
        for child in children:
            if child.path not in self._written:
                _remove(child.path)
            elif child.is_dir(follow_symlinks=False):
                self._clear(child.path)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        """Create (or replace) the filesystem object of a non-whiteout entry."""
        target = secure_join(self.root, name)
        self._make_parents(target.parent, name)
        path = str(target)
        if member.isdir():
            self._directory(member, path)
        elif member.isreg():
            self._regular(tar, member, path)
        elif member.issym():
            _remove(path)
            Path(path).symlink_to(member.linkname)
            self._attributes(member, path, chmod=False)
        elif member.islnk():
            self._hardlink(member, name, path)
        elif member.isfifo():
            _remove(path)
            os.mkfifo(path, 0o600)
            self._attributes(member, path, chmod=True)
        elif member.ischr() or member.isblk():
            self.warn(f"dropped device node {name}")
            return
        else:
            self.warn(f"skipped {name}: unsupported tar entry type {member.type!r}")
            return
        self._written.add(path)
        if not member.isdir():
            self._dirs.pop(path, None)

    def _make_parents(self, parent: Path, name: str) -> None:
        """Create the missing directories of ``parent`` (0755, root-owned), inside the root."""
        if _is_dir(str(parent)):
            return
        current = self.root
        for part in parent.relative_to(self.root).parts:
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                current.mkdir(0o755)
                current.chmod(0o755)
                if self._as_root:
                    os.lchown(current, 0, 0)
                self._written.add(str(current))  # an opaque marker later must keep it
                continue
            if not stat.S_ISDIR(mode):
                raise UnsafeLayerError(f"layer entry {name!r}: {current} is not a directory")

    def _directory(self, member: tarfile.TarInfo, path: str) -> None:
        """A directory: created unless one is already there; mode and mtime set by finish()."""
        if not _is_dir(path):
            _remove(path)
            Path(path).mkdir(0o700)
        self._dirs[path] = (member.mode & 0o7777, member.mtime)
        self._attributes(member, path, chmod=False, mtime=False)

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        """A regular file: replace what is there and stream the content in."""
        _remove(path)
        source = tar.extractfile(member)
        assert source is not None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            while chunk := source.read(CHUNK):
                _write_all(fd, chunk)
            self._attributes(member, fd, chmod=True)
        finally:
            os.close(fd)

    def _hardlink(self, member: tarfile.TarInfo, name: str, path: str) -> None:
        """A hardlink to a non-directory already in the root (resolved like any name)."""
        link = normalise(member.linkname)
        source = secure_join(self.root, link)
        try:
            source_mode = os.lstat(source).st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise UnsafeLayerError(
                f"layer entry {name!r} is a hardlink to {member.linkname!r}, which does not exist"
            ) from None
        if stat.S_ISDIR(source_mode):
            raise UnsafeLayerError(f"layer entry {name!r} is a hardlink to a directory")
        if str(source) == path:
            return
        _remove(path)
        os.link(source, path, follow_symlinks=False)

    def _attributes(
        self, member: tarfile.TarInfo, target: str | int, *, chmod: bool, mtime: bool = True
    ) -> None:
        """Owner, then mode (chown clears setuid), xattrs (chown clears capabilities), mtime.

        ``target`` is an open fd or a path (a path is never followed).
        """
        follow = isinstance(target, int)
        if self._as_root:
            os.chown(target, member.uid, member.gid, follow_symlinks=follow)
        if chmod and isinstance(target, int):
            os.fchmod(target, member.mode & 0o7777)
        elif chmod and isinstance(target, str):
            Path(target).chmod(member.mode & 0o7777)
        self._xattrs(member, target, follow)
        if mtime:
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=follow)

    def _xattrs(self, member: tarfile.TarInfo, target: str | int, follow: bool) -> None:
        """Set the entry's ``SCHILY.xattr.*`` records, warning about those that fail."""
        for key, value in sorted(member.pax_headers.items()):
            if not key.startswith(_XATTR_PREFIX):
                continue
            attr = key[len(_XATTR_PREFIX) :]
            if attr.startswith(_REFUSED_XATTRS):
                self.warn(f"ignored extended attribute {attr} of {member.name}")
                continue
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(target, attr, raw, follow_symlinks=follow)
            except OSError as e:
                self.warn(f"cannot set extended attribute {attr} of {member.name}: {e.strerror}")


def _is_dir(path: str) -> bool:
    """True when ``path`` is a directory (not a symlink to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _remove(path: str) -> None:
    """Remove whatever is at ``path`` (a directory recursively, symlinks not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        Path(path).unlink()


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
