"""Deterministic, streamed layer tars (standards.md §7): the same tree gives the same bytes.

The tar is built from a list of :class:`Change` s against a rootfs directory:

* entries are sorted bytewise by their tar name (directories are named with a trailing ``/``,
  as tar does), so parents come before their children; every ancestor directory of a change
  is emitted explicitly, once; an opaque marker comes right after its directory;
* mtimes are integers clamped to SOURCE_DATE_EPOCH; atime/ctime are dropped; uid/gid are the
  numeric ids, uname/gname empty; the mode keeps setuid/setgid/sticky;
* headers are POSIX ustar, preceded by a PAX extended header only when needed (a name or link
  target that is not ASCII or longer than 100 bytes, an id, size or mtime out of the octal
  fields' range) and for extended attributes (``SCHILY.xattr.*``); records are sorted by key;
* a regular file with several links in the layer is stored once, at its first name in sorted
  order; the others are hardlinks to that name.

Headers are encoded here (:class:`TarHeader`) rather than by ``tarfile.TarInfo.tobuf``, for two
reasons: ``tobuf`` costs ~25 µs an entry (as much as everything else together on a tree of
small files), and its bytes differ between CPython releases (newer ones leave the device fields
of non-device entries NUL where older ones wrote ``0000000``), which would tie our diff_ids to
the Python version. ``tarfile`` stays the reference: the tests check that our headers are the
bytes ``tobuf(PAX_FORMAT)`` gives on the project's Python, and read our tars back with it and
with GNU tar.

File content is streamed by :class:`_BlockWriter` straight from the file into a reused 1 MiB
buffer, so a file is never held in memory and ``out`` receives few, large writes. The rootfs
must not change while it is archived; a file that shrinks meanwhile is an error.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, Protocol
from zlib import adler32

from bakery.errors import StoreError

CHUNK = 1 << 20
BLOCK = 512
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: extended attributes never archived: ACLs (``system.*``), overlayfs internals, and SELinux
#: labels, which belong to the build host rather than to the image
_SKIPPED_XATTRS = ("system.", "trusted.overlay.", "security.selinux")
_ZEROS = bytes(2 * BLOCK)

REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
PAXTYPE = b"x"
_TYPES = {
    stat.S_IFREG: REGTYPE,
    stat.S_IFLNK: SYMTYPE,
    stat.S_IFCHR: CHRTYPE,
    stat.S_IFBLK: BLKTYPE,
    stat.S_IFDIR: DIRTYPE,
    stat.S_IFIFO: FIFOTYPE,
}
# name mode uid gid size mtime chksum type linkname magic+version uname gname devmajor devminor
# prefix, padding: the POSIX ustar header block
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_MAGIC = b"ustar\x0000"
_PAX_NAME = b"././@PaxHeader"

ChangeKind = Literal["add", "delete", "opaque"]


class SupportsWrite(Protocol):
    """Anything bytes can be written to; ``write`` must consume ``data`` before returning."""

    def write(self, data: bytes | memoryview, /) -> object: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One path of a layer.

    ``path`` is relative and POSIX (``usr/bin/env``: no leading ``/`` or ``./``, no ``.`` or
    ``..``). ``add``: the path exists in the rootfs, emit it (a directory alone, its children
    are separate changes); ``delete``: emit a whiteout; ``opaque``: the directory hides every
    lower-layer child (it must exist in the rootfs).
    """

    path: str
    kind: ChangeKind

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"malformed layer path {self.path!r}: want a/b/c, no . or ..")
        if self.kind not in ("add", "delete", "opaque"):
            raise ValueError(f"unknown change kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class LayerStats:
    """What was written: the number of tar entries and the size of the (uncompressed) tar."""

    entries: int
    bytes: int


@dataclass(slots=True)
class TarHeader:
    """The metadata of one tar entry, encoded by :meth:`encode`."""

    name: bytes
    type: bytes = REGTYPE
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: bytes = b""
    device: tuple[int, int] | None = None
    #: extended attributes, name → value
    xattrs: dict[bytes, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The header block(s): a PAX extended header when needed, then the ustar block."""
        records = {b"SCHILY.xattr." + k: v for k, v in self.xattrs.items()}
        name = _text(self.name, b"path", records)
        linkname = _text(self.linkname, b"linkpath", records)
        major = minor = b""
        if self.device is not None:
            major, minor = _device(self.device[0]), _device(self.device[1])
        block = _USTAR.pack(
            name,
            b"%07o\0" % (self.mode & 0o7777),
            _octal(self.uid, 8, b"uid", records),
            _octal(self.gid, 8, b"gid", records),
            _octal(self.size, 12, b"size", records),
            _octal(self.mtime, 12, b"mtime", records),
            b"        ",  # the checksum field counts as spaces
            self.type,
            linkname,
            _MAGIC,
            b"",
            b"",
            major,
            minor,
            b"",
        )
        block = block[:148] + b"%06o\0 " % _byte_sum(block) + block[156:]
        return _pax(records) + block if records else block


def _byte_sum(block: bytes) -> int:
    """The sum of the bytes of a 512-byte block (the tar checksum), at C speed: the low half
    of Adler-32 is 1 + the byte sum mod 65521, exact for 256 bytes (at most 65280)."""
    return (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2


def _text(value: bytes, key: bytes, records: dict[bytes, bytes]) -> bytes:
    """A 100-byte name field. A value that is longer or not ASCII goes to a PAX record, and the
    field gets its first 100 characters with ``?`` for each non-ASCII one (as tarfile does)."""
    if value.isascii():
        if len(value) > 100:
            records[key] = value
        return value
    records[key] = value
    return value.decode("utf-8", "surrogateescape").encode("ascii", "replace")


def _octal(value: int, width: int, key: bytes, records: dict[bytes, bytes]) -> bytes:
    """A numeric field; a value out of its octal range goes to a PAX record (field 0)."""
    if not 0 <= value < 8 ** (width - 1):
        records[key] = b"%d" % value
        value = 0
    return b"%0*o\0" % (width - 1, value)


def _device(number: int) -> bytes:
    """A device number field (Linux majors and minors always fit)."""
    if not 0 <= number < 8**7:
        raise StoreError(f"device number {number} does not fit a tar header")
    return b"%07o\0" % number


def _pax(records: dict[bytes, bytes]) -> bytes:
    """A PAX extended header (``x``) holding ``records`` sorted by key, padded to blocks."""
    items = sorted(records.items())
    if any(not _is_utf8(records.get(key, b"")) for key in (b"path", b"linkpath")):
        items.insert(0, (b"hdrcharset", b"BINARY"))
    payload = b"".join(_pax_record(key, value) for key, value in items)
    header = TarHeader(_PAX_NAME, PAXTYPE, mode=0, size=len(payload)).encode()
    return header + payload + _ZEROS[: -len(payload) % BLOCK]


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``"<length> <key>=<value>\\n"`` where length counts the whole record, itself included."""
    rest = len(key) + len(value) + 3
    length = rest + len(str(rest))
    if len(str(length)) != len(str(rest)):
        length += 1
    return b"%d %s=%s\n" % (length, key, value)


def _is_utf8(value: bytes) -> bool:
    """True when ``value`` decodes as UTF-8."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _BlockWriter:
    """Batches the tar stream into 1 MiB writes; file content is read straight into the batch."""

    def __init__(self, out: SupportsWrite) -> None:
        self._out = out
        self._buf = bytearray(CHUNK)
        self._view = memoryview(self._buf)
        self._pos = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` (a header, padding or an overridden content) to the stream."""
        if self._pos + len(data) > CHUNK:
            self.flush()
        if len(data) > CHUNK:
            self._out.write(data)
        else:
            self._buf[self._pos : self._pos + len(data)] = data
            self._pos += len(data)
        self.total += len(data)

    def copy_fd(self, fd: int, size: int, name: str) -> None:
        """Append exactly ``size`` bytes read from ``fd`` plus the padding to a 512-byte block."""
        remaining = size
        while remaining:
            if self._pos == CHUNK:
                self.flush()
            want = min(remaining, CHUNK - self._pos)
            got = os.readv(fd, [self._view[self._pos : self._pos + want]])
            if got == 0:
                raise StoreError(f"{name} shrank while it was being archived")
            self._pos += got
            self.total += got
            remaining -= got
        self.pad(size)

    def pad(self, size: int) -> None:
        """Zero-fill after ``size`` bytes of content up to the next block boundary."""
        if size % BLOCK:
            self.write(_ZEROS[: BLOCK - size % BLOCK])

    def flush(self) -> None:
        """Hand the batch to ``out``."""
        if self._pos:
            self._out.write(self._view[: self._pos])
            self._pos = 0


class _Stat(NamedTuple):
    """The parts of an ``lstat`` a header needs. A tuple of ints, unlike ``os.stat_result``,
    is untracked by the garbage collector, whose passes over a plan of 100k stat results
    otherwise cost a fifth of the run time."""

    st_mode: int
    st_uid: int
    st_gid: int
    st_size: int
    st_mtime_ns: int
    st_nlink: int
    st_dev: int
    st_ino: int
    st_rdev: int


class _Item(NamedTuple):
    """One entry to emit: ``st`` is None for a whiteout or an opaque marker."""

    key: bytes
    rank: int  # 1 for an opaque marker, which sorts right after its directory
    name: bytes
    rel: str
    path: bytes
    st: _Stat | None


def write_layer_tar(
    root: Path,
    changes: Iterable[Change],
    out: SupportsWrite,
    *,
    source_date_epoch: int,
    content_override: Callable[[str], bytes | None] | None = None,
) -> LayerStats:
    """Write the layer tar of ``changes`` against ``root`` to ``out``; see the module doc.

    ``content_override(path)`` may return the content to store for a regular file instead of
    what is on disk (e.g. ``b""`` for ``etc/machine-id``); ``None`` keeps the file's own.
    Raises :class:`StoreError` when a change names a path that is missing, or whose ancestor
    is not a directory, or that a layer cannot represent (a ``.wh.`` name).
    """
    root_b = os.fsencode(root)
    plan = _plan(root_b, changes)
    writer = _BlockWriter(out)
    first_link: dict[tuple[int, int], bytes] = {}
    for item in plan:
        if item.st is None:
            writer.write(TarHeader(item.name, mtime=source_date_epoch).encode())
        elif not stat.S_ISREG(item.st.st_mode):
            writer.write(_header(item, source_date_epoch, _xattrs(item.path)).encode())
        else:
            override = content_override(item.rel) if content_override is not None else None
            if override is not None:
                header = _header(item, source_date_epoch, _xattrs(item.path))
                header.size = len(override)
                writer.write(header.encode())
                writer.write(override)
                writer.pad(len(override))
            else:
                _write_regular(writer, item, source_date_epoch, first_link)
    writer.write(_ZEROS)
    writer.flush()
    return LayerStats(entries=len(plan), bytes=writer.total)


def _plan(root: bytes, changes: Iterable[Change]) -> list[_Item]:
    """Stat every path to emit and return the entries in tar order."""
    adds: set[str] = set()
    dirs: set[str] = set()  # paths that must be directories; with every ancestor of one
    whiteouts: set[str] = set()
    opaques: set[str] = set()
    for change in changes:
        rel = change.path
        if rel.startswith(WHITEOUT_PREFIX) or "/" + WHITEOUT_PREFIX in rel:
            raise StoreError(f"{rel}: a name starting with '.wh.' cannot be in a layer")
        _add_ancestors(rel, dirs)
        if change.kind == "delete":
            parent, _, base = rel.rpartition("/")
            whiteouts.add(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base)
        elif change.kind == "opaque":
            dirs.add(rel)
            opaques.add(rel)
        else:
            adds.add(rel)
    plan: list[_Item] = []
    for rel in dirs | adds:
        name = os.fsencode(rel)
        path = root + b"/" + name
        st = _lstat(path, rel)
        is_dir = stat.S_ISDIR(st.st_mode)
        if rel in dirs and not is_dir:
            raise StoreError(f"{rel} is not a directory in {os.fsdecode(root)}, but must be one")
        if is_dir:
            name += b"/"
        if not stat.S_ISSOCK(st.st_mode):
            plan.append(_Item(name, 0, name, rel, path, st))
    for rel in whiteouts:
        name = os.fsencode(rel)
        plan.append(_Item(name, 0, name, rel, b"", None))
    for rel in opaques:
        directory = os.fsencode(rel) + b"/"
        marker = directory + OPAQUE_MARKER.encode()
        plan.append(_Item(directory, 1, marker, rel, b"", None))
    plan.sort(key=lambda item: (item.key, item.rank))
    return plan


def _add_ancestors(path: str, dirs: set[str]) -> None:
    """Add ``a`` and ``a/b`` to ``dirs`` for ``a/b/c``, stopping at one already there."""
    parent = path.rpartition("/")[0]
    while parent and parent not in dirs:
        dirs.add(parent)
        parent = parent.rpartition("/")[0]


def _lstat(path: bytes, rel: str) -> _Stat:
    """``lstat`` of a change's path, or a StoreError saying it is gone."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise StoreError(
            f"{rel} is in the layer's changes but {os.fsdecode(path)} does not exist"
        ) from None
    return _Stat(
        st.st_mode,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime_ns,
        st.st_nlink,
        st.st_dev,
        st.st_ino,
        st.st_rdev,
    )


def _header(item: _Item, sde: int, xattrs: dict[bytes, bytes]) -> TarHeader:
    """The normalised header of a rootfs object (``item.st`` is its lstat)."""
    st = item.st
    assert st is not None
    kind = stat.S_IFMT(st.st_mode)
    header = TarHeader(
        item.name,
        _TYPES[kind],
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_size if kind == stat.S_IFREG else 0,
        min(st.st_mtime_ns // 1_000_000_000, sde),
        xattrs=xattrs,
    )
    if kind == stat.S_IFLNK:
        header.linkname = os.readlink(item.path)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        header.device = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return header


def _xattrs(target: bytes | int) -> dict[bytes, bytes]:
    """The extended attributes of a path (never followed) or an open fd that go in a layer."""
    follow = isinstance(target, int)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    found: dict[bytes, bytes] = {}
    for attr in names:
        if attr.startswith(_SKIPPED_XATTRS):
            continue
        try:
            found[os.fsencode(attr)] = os.getxattr(target, attr, follow_symlinks=follow)
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
    return found


def _write_regular(
    writer: _BlockWriter, item: _Item, sde: int, first_link: dict[tuple[int, int], bytes]
) -> None:
    """Emit a regular file: its content, or a hardlink to its first name in this layer."""
    st = item.st
    assert st is not None
    if st.st_nlink > 1:
        first = first_link.setdefault((st.st_dev, st.st_ino), item.name)
        if first != item.name:
            header = _header(item, sde, _xattrs(item.path))
            header.type, header.linkname, header.size = LNKTYPE, first, 0
            writer.write(header.encode())
            return
    fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or now.st_size < st.st_size:
            raise StoreError(f"{os.fsdecode(item.path)} changed while it was being archived")
        writer.write(_header(item, sde, _xattrs(fd)).encode())
        writer.copy_fd(fd, st.st_size, os.fsdecode(item.path))
    finally:
        os.close(fd)
