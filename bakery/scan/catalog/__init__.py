"""Catalogers: find the packages installed in an extracted image rootfs.

Each cataloger reads one kind of package database (dpkg, apk, Python metadata, npm
``package.json``) from a rootfs directory, never from a recipe, and returns
:class:`~bakery.scan.model.Package` values plus *notes*: one line for everything it skipped or
could not read, so that a damaged database is visible instead of silently incomplete.

Image content is hostile. Every file is opened through :class:`Rootfs`, which resolves the path
with :func:`~bakery.oci.securepath.secure_join` (a symlink in the image, absolute or relative,
is followed *inside* the rootfs and never reaches the host), refuses anything but a regular
file, and reads at most a size cap. Trees are walked without following symlinks.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bakery.errors import UnsafeLayerError, UserError
from bakery.oci.securepath import secure_join
from bakery.scan.model import Package

MIB = 1 << 20
#: the os-release(5) locations, in the order the spec says to try them
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
OS_RELEASE_LIMIT = 64 << 10
#: top-level directories of kernel pseudo-filesystems at run time: never image content
PSEUDO_FILESYSTEMS = frozenset({"proc", "sys", "dev"})


#: a walk of a rootfs: ``(image directory, subdirectory names, other names)`` per directory
Listing = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
#: the listings made during one :func:`catalog_rootfs` call, by rootfs (None outside one)
_LISTINGS: ContextVar[dict[Path, Listing] | None] = ContextVar("_LISTINGS", default=None)


@dataclass(frozen=True, slots=True)
class CatalogResult:
    """What catalogers found: the packages, and one note per thing skipped or unreadable."""

    packages: tuple[Package, ...] = ()
    notes: tuple[str, ...] = ()


class Cataloger(Protocol):
    """Finds the packages of one package manager in an extracted image rootfs."""

    name: str

    def catalog(self, rootfs: Path) -> CatalogResult:
        """The packages installed in ``rootfs`` (a directory), with notes on what was skipped."""
        ...


@dataclass(frozen=True, slots=True)
class OsRelease:
    """The distribution of an image, from os-release(5): ``ID`` and a version for purls."""

    id: str | None
    version_id: str | None

    def distro(self) -> str | None:
        """The purl ``distro`` qualifier, e.g. ``debian-12`` (None when either part is unknown)."""
        return f"{self.id}-{self.version_id}" if self.id and self.version_id else None


@dataclass
class Rootfs:
    """Read-only access to an extracted image rootfs that never leaves it.

    Paths are image paths (``/var/lib/dpkg/status``). Whatever cannot be read becomes a note
    prefixed with the cataloger's name, and the read returns ``None``.
    """

    root: Path
    cataloger: str
    notes: list[str] = field(default_factory=list)

    def note(self, path: str, problem: str) -> None:
        """Record that ``path`` was skipped, and why."""
        self.notes.append(f"{self.cataloger}: {path}: {problem}")

    def read(self, path: str, *, limit: int, missing_ok: bool = True) -> bytes | None:
        """The content of the regular file at image path ``path``, or ``None`` with a note.

        Symlinks are followed, inside the rootfs only. A missing file gives ``None`` and a note
        only when ``missing_ok`` is false. Anything but a regular file (a FIFO, a device) is
        never opened, and a file larger than ``limit`` bytes is not read.
        """
        try:
            return self._read_regular(path, secure_join(self.root, path.rstrip("/") + "/."), limit)
        except (FileNotFoundError, NotADirectoryError):
            if not missing_ok:
                self.note(path, "not found")
        except UnsafeLayerError:
            self.note(path, "too many levels of symbolic links (a symlink loop?); skipped")
        except OSError as e:
            self.note(path, f"cannot read: {e.strerror}; skipped")
        return None

    def _read_regular(self, path: str, host: Path, limit: int) -> bytes | None:
        """Read ``host`` (no symlink) if it is a regular file of at most ``limit`` bytes."""
        info = os.lstat(host)
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as file:
                data = file.read(limit + 1)
            if len(data) <= limit:
                return data
        if not stat.S_ISREG(info.st_mode):
            self.note(path, "not a regular file; skipped")
        else:
            self.note(path, f"larger than the {limit} bytes read for such a file; skipped")
        return None

    def text(self, path: str, *, limit: int, missing_ok: bool = True) -> str | None:
        """Like :meth:`read`, decoded as UTF-8; invalid bytes are replaced, with a note."""
        data = self.read(path, limit=limit, missing_ok=missing_ok)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.note(path, "not valid UTF-8; invalid bytes replaced")
            return data.decode("utf-8", "replace")

    def listdir(self, path: str) -> list[str]:
        """The sorted names in the directory at image path ``path`` (``[]`` if it is missing)."""
        try:
            return sorted(os.listdir(secure_join(self.root, path.rstrip("/") + "/.")))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except UnsafeLayerError:
            self.note(path, "too many levels of symbolic links (a symlink loop?); skipped")
        except OSError as e:
            self.note(path, f"cannot list directory: {e.strerror}; skipped")
        return []

    def walk(self) -> Listing:
        """Every directory of the rootfs, parents first, as ``(image path, subdirectory names,
        other names)`` sorted. Symlinks are left out and never followed, nor even stat-ed
        (``os.walk`` would stat their targets on the host to tell directories apart, so what
        it lists would depend on the host). ``/proc``, ``/sys`` and ``/dev`` are skipped.

        During a :func:`catalog_rootfs` call the tree is listed once for all catalogers.
        """
        shared = _LISTINGS.get()
        if shared is None:
            return self._list()
        if self.root not in shared:
            shared[self.root] = self._list()
        return shared[self.root]

    def _list(self) -> Listing:
        """The walk: depth first, in sorted order, through real directories only."""
        listing = []
        pending = ["/"]
        while pending:
            directory = pending.pop()
            dirs, others = self._scan(directory)
            if directory == "/":
                dirs = tuple(name for name in dirs if name not in PSEUDO_FILESYSTEMS)
            listing.append((directory, dirs, others))
            pending.extend(posixpath.join(directory, name) for name in reversed(dirs))
        return tuple(listing)

    def _scan(self, directory: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The subdirectories and the other entries, symlinks excepted, of a directory that
        the walk reached through real directories (so joining paths is safe)."""
        dirs, others = [], []
        try:
            with os.scandir(os.path.join(self.root, directory.lstrip("/"))) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        dirs.append(entry.name)
                    elif not entry.is_symlink():
                        others.append(entry.name)
        except OSError as e:
            self.note(directory, f"cannot list directory: {e.strerror}; skipped")
        return tuple(sorted(dirs)), tuple(sorted(others))

    def os_release(self) -> OsRelease:
        """The image's ``ID`` and ``VERSION_ID`` (else ``VERSION_CODENAME``) from os-release."""
        for path in OS_RELEASE_PATHS:
            text = self.text(path, limit=OS_RELEASE_LIMIT)
            if text is not None:
                fields = parse_os_release(text)
                version = fields.get("VERSION_ID") or fields.get("VERSION_CODENAME")
                return OsRelease(fields.get("ID", "").lower() or None, version or None)
        self.note(OS_RELEASE_PATHS[0], "not found; purls carry no distro qualifier")
        return OsRelease(None, None)


def collect(
    rootfs: Path,
    cataloger: str,
    find: Callable[[Rootfs], Iterable[str]],
    parse: Callable[[Rootfs, str], Package | None],
) -> CatalogResult:
    """Run ``parse`` on every path ``find`` yields; keep the packages and the notes."""
    fs = Rootfs(rootfs, cataloger)
    packages = [package for path in find(fs) if (package := parse(fs, path)) is not None]
    return CatalogResult(tuple(packages), tuple(fs.notes))


def parse_os_release(text: str) -> dict[str, str]:
    """The ``KEY=value`` assignments of an os-release(5) file, values unquoted as by a shell."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.isidentifier() or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        fields[key] = " ".join(words)
    return fields


def blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """The blank-line separated blocks of ``text`` (deb822 paragraphs, apk database entries),
    each with the 1-based number of its first line. Whitespace-only lines separate too."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not block:
                first = number
            block.append(line)
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def sort_key(package: Package) -> tuple[str, str, str, str, str, str]:
    """The order of packages in results: type, name, version, architecture, then location."""
    return (
        package.type,
        package.name,
        package.version,
        package.architecture or "",
        package.location,
        package.purl,
    )


def catalog_rootfs(rootfs: Path) -> CatalogResult:
    """Run every registered cataloger over ``rootfs``: packages sorted and deduplicated.

    Raises :class:`~bakery.errors.UserError` when ``rootfs`` is not a directory.
    """
    if not rootfs.is_dir():
        raise UserError(f"{rootfs} is not a directory", hint="pass an extracted image rootfs")
    packages: set[Package] = set()
    notes: list[str] = []
    token = _LISTINGS.set({})
    try:
        for cataloger in CATALOGERS:
            result = cataloger.catalog(rootfs)
            packages.update(result.packages)
            notes.extend(result.notes)
    finally:
        _LISTINGS.reset(token)
    return CatalogResult(tuple(sorted(packages, key=sort_key)), tuple(notes))


# The catalogers import the helpers above, so they are imported (and registered) last.
from bakery.scan.catalog.apk import ApkCataloger  # noqa: E402
from bakery.scan.catalog.dpkg import DpkgCataloger  # noqa: E402
from bakery.scan.catalog.npm import NpmCataloger  # noqa: E402
from bakery.scan.catalog.python import PythonCataloger  # noqa: E402

#: every cataloger :func:`catalog_rootfs` runs, in this order
CATALOGERS: tuple[Cataloger, ...] = (
    DpkgCataloger(),
    ApkCataloger(),
    PythonCataloger(),
    NpmCataloger(),
)
