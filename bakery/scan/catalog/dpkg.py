"""The dpkg cataloger: Debian and Ubuntu packages from ``/var/lib/dpkg``.

Reads ``/var/lib/dpkg/status`` and the distroless-style ``/var/lib/dpkg/status.d/*`` (one file
per package, no ``Status`` field, file lists in ``<name>.md5sums``). Fields are parsed by
python-debian, one paragraph at a time: its ``iter_paragraphs`` silently stops at the first
paragraph that holds no field, which would drop every package after a damaged one.

A package counts as installed when dpkg's state word (the last of ``Status``) is ``installed``
or a ``triggers-*`` state, whatever the selection (``hold ok installed`` is installed too).
Packages left ``unpacked``, ``half-configured`` or ``half-installed`` are skipped with a note.

Licences come from machine-readable (DEP-5) ``/usr/share/doc/<name>/copyright`` files: the
synopsis of every ``License`` field, translated from Debian's short names to SPDX
(``GPL-2+`` → ``GPL-2.0-or-later``) where SPDX has the licence, else as written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from debian import copyright as dep5
from debian.deb822 import Deb822, Packages
from debian.debian_support import Version
from packageurl import PackageURL

from bakery.scan.catalog import MIB, CatalogResult, OsRelease, Rootfs, blocks
from bakery.scan.licenses import spdx_from_debian
from bakery.scan.model import Package

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
INFO = "/var/lib/dpkg/info"
STATUS_LIMIT = 64 * MIB
LIST_LIMIT = 16 * MIB
COPYRIGHT_LIMIT = 4 * MIB
#: dpkg states in which a package is installed (configured, perhaps awaiting triggers)
INSTALLED = frozenset({"installed", "triggers-awaited", "triggers-pending"})
#: dpkg states in which a package's files are (partly) on disk but it is not installed
BROKEN = frozenset({"half-installed", "unpacked", "half-configured"})
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
#: the first line of a ``License`` field (deb822 field names are case-insensitive)
_LICENSE_FIELD = re.compile(r"^license[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)

# python-debian logs quirks of copyright files ("Fixing Format URL"); they are not ours to
# report, and without any handler Python would print them on stderr.
logging.getLogger("debian").addHandler(logging.NullHandler())


class DpkgCataloger:
    """Installed Debian packages, from the dpkg database."""

    name = "dpkg"

    def catalog(self, rootfs: Path) -> CatalogResult:
        """The installed packages of ``rootfs``'s dpkg database (none when it has none)."""
        fs = Rootfs(rootfs, self.name)
        status = fs.text(STATUS, limit=STATUS_LIMIT)
        status_d = [n for n in fs.listdir(STATUS_D) if not n.endswith(".md5sums")]
        if status is None and not status_d:
            return CatalogResult((), tuple(fs.notes))
        db = _Database(fs, fs.os_release(), frozenset(fs.listdir(INFO)))
        packages = [*db.from_status(status or ""), *db.from_status_d(status_d)]
        return CatalogResult(tuple(packages), tuple(fs.notes))


@dataclass
class _Database:
    """One reading of a dpkg database: the rootfs, its distribution, the names in ``info/``
    and the licences of the copyright texts parsed so far (packages of one source often
    ship the same file)."""

    fs: Rootfs
    distro: OsRelease
    info: frozenset[str]
    copyrights: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def from_status(self, text: str) -> Iterator[Package]:
        """The installed packages of the status file, with their ``info/*.list`` files."""
        for line, lines in blocks(text):
            paragraph = Packages(lines)
            if _installed(self.fs, f"{STATUS}:{line}", paragraph, status_required=True):
                files = self.list_files(paragraph["Package"], paragraph.get("Architecture"))
                yield self.package(STATUS, paragraph, files)

    def from_status_d(self, names: list[str]) -> Iterator[Package]:
        """The packages of distroless ``status.d/<name>`` files, with ``<name>.md5sums``."""
        for name in names:
            path = f"{STATUS_D}/{name}"
            for line, lines in blocks(self.fs.text(path, limit=STATUS_LIMIT) or ""):
                paragraph = Packages(lines)
                if _installed(self.fs, f"{path}:{line}", paragraph, status_required=False):
                    yield self.package(path, paragraph, self.md5sums_files(f"{path}.md5sums"))

    def package(self, path: str, paragraph: Packages, files: tuple[str, ...]) -> Package:
        """The :class:`Package` of a valid, installed paragraph read from ``path``."""
        name, version = paragraph["Package"], paragraph["Version"]
        arch = paragraph.get("Architecture") or None
        qualifiers = {k: v for k, v in (("arch", arch), ("distro", self.distro.distro())) if v}
        purl = PackageURL("deb", self.distro.id or "debian", name, version, qualifiers)
        return Package(
            type="deb",
            name=name,
            version=version,
            purl=purl.to_string(),
            architecture=arch,
            source_name=paragraph.source,
            source_version=str(paragraph.source_version),
            licenses=self.licenses(name),
            files=files,
            location=path,
        )

    def list_files(self, name: str, arch: str | None) -> tuple[str, ...]:
        """The files (not directories) a package installed: ``info/<name>[:<arch>].list``."""
        for stem in (f"{name}:{arch}", name) if arch else (name,):
            if f"{stem}.list" in self.info:
                text = self.fs.text(f"{INFO}/{stem}.list", limit=LIST_LIMIT)
                return files_only(line.strip() for line in (text or "").splitlines())
        return ()

    def md5sums_files(self, path: str) -> tuple[str, ...]:
        """The files of a status.d package, from its md5sums (``<md5>  <relative path>``)."""
        text = self.fs.text(path, limit=LIST_LIMIT)
        entries = (line.partition("  ")[2].strip() for line in (text or "").splitlines())
        return files_only("/" + entry.lstrip("/") for entry in entries if entry)

    def licenses(self, name: str) -> tuple[str, ...]:
        """The licences a package declares in a machine-readable copyright file, or ``()``."""
        text = self.fs.text(f"/usr/share/doc/{name}/copyright", limit=COPYRIGHT_LIMIT)
        if text is None:
            return ()
        if text not in self.copyrights:
            self.copyrights[text] = tuple(
                dict.fromkeys(spdx_from_debian(name) for name in dep5_licenses(text))
            )
        return self.copyrights[text]


def _installed(fs: Rootfs, where: str, paragraph: Packages, *, status_required: bool) -> bool:
    """Whether a paragraph is a valid record of an installed package (else a note if useful).

    ``status.d`` files have no ``Status`` field: they record installed packages only.
    """
    problem = _invalid(paragraph)
    if problem is not None:
        fs.note(where, f"{problem}; paragraph skipped")
        return False
    words = paragraph.get("Status", "").split()
    if not words and not status_required:
        return True
    if len(words) != 3:
        fs.note(where, f"package {paragraph['Package']}: invalid Status {words}; skipped")
        return False
    if words[2] in BROKEN:
        fs.note(where, f"package {paragraph['Package']} is {words[2]}, not installed; skipped")
    return words[2] in INSTALLED


def _invalid(paragraph: Packages) -> str | None:
    """Why a paragraph is not a valid binary package record, or ``None`` if it is."""
    name = paragraph.get("Package")
    if not name:
        return "no Package field"
    if not _NAME.fullmatch(name):
        return f"invalid package name {name!r}"
    try:
        Version(paragraph.get("Version", ""))
        paragraph.source_version  # noqa: B018 - parses the version in Source: name (version)
    except ValueError as e:
        return f"package {name}: {e}"
    return None


def files_only(paths: Iterable[str]) -> tuple[str, ...]:
    """The sorted absolute paths that are not the parent of another one in ``paths``.

    dpkg lists every directory a package touches, shared ones (``/usr``) included; those are
    not its files. (A directory the package creates empty is kept: nothing shows it is one.)
    """
    listed = {p for p in paths if p.startswith("/") and p != "/."}
    parents = {p.rpartition("/")[0] for p in listed}
    return tuple(sorted(listed - parents))


def dep5_licenses(text: str) -> tuple[str, ...]:
    """The distinct ``License`` synopses of a DEP-5 copyright file, in order of appearance;
    ``()`` when the file is not machine-readable (its header paragraph has no ``Format``).

    python-debian parses the header; ``License`` fields are then found by a regex. (Parsing
    every paragraph with python-debian costs 0.4 ms per copyright file, and its
    ``debian.copyright.Copyright`` 3 ms: longer than Trivy's whole scan of an image.)
    """
    header = next(blocks(text), None)
    if header is None or not _has_format(Deb822(header[1])):
        return ()
    found: dict[str, None] = {}
    for value in _LICENSE_FIELD.findall(text):
        licence = dep5.License.from_str(value)
        if licence is not None and licence.synopsis.strip():
            found[licence.synopsis.strip()] = None
    return tuple(found)


def _has_format(header: Deb822) -> bool:
    """Whether a copyright header declares a format, i.e. the file is machine-readable."""
    return "Format" in header or "Format-Specification" in header
