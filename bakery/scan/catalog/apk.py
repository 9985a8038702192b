"""The apk cataloger: Alpine (and Wolfi) packages from ``/lib/apk/db/installed``.

The database is blocks of ``X:value`` lines separated by blank lines (apk-tools
``src/database.c``): ``P`` name, ``V`` version, ``A`` architecture, ``L`` licence, ``o`` origin
(the source package), ``F`` a directory and ``R`` a file in the last ``F``. Other keys (checksums,
dependencies, permissions, ...) are ignored. No library parses it, so this module does, line by
line: a block without a name or version is skipped with a note; other blocks are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packageurl import PackageURL

from bakery.scan.catalog import MIB, CatalogResult, OsRelease, Rootfs, blocks
from bakery.scan.model import Package

INSTALLED = "/lib/apk/db/installed"
INSTALLED_LIMIT = 64 * MIB
_LINE = re.compile(r"([A-Za-z]):(.*)")


@dataclass
class _Entry:
    """The fields of one database block that a :class:`Package` needs."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    directory: str = ""
    malformed: int = 0


class ApkCataloger:
    """Installed Alpine packages, from the apk database."""

    name = "apk"

    def catalog(self, rootfs: Path) -> CatalogResult:
        """The installed packages of ``rootfs``'s apk database (none when it has none)."""
        fs = Rootfs(rootfs, self.name)
        text = fs.text(INSTALLED, limit=INSTALLED_LIMIT)
        if text is None:
            return CatalogResult((), tuple(fs.notes))
        distro = fs.os_release()
        packages = []
        for line, lines in blocks(text):
            package = _package(fs, f"{INSTALLED}:{line}", _parse_entry(lines), distro)
            if package is not None:
                packages.append(package)
        return CatalogResult(tuple(packages), tuple(fs.notes))


def _parse_entry(lines: list[str]) -> _Entry:
    """One database block: its single-valued fields, and files as absolute paths."""
    entry = _Entry()
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            entry.malformed += 1
            continue
        key, value = match.groups()
        if key == "F":
            entry.directory = value.strip("/")
        elif key == "R":
            entry.files.append("/" + "/".join(p for p in (entry.directory, value) if p))
        else:
            entry.fields.setdefault(key, value)
    return entry


def _package(fs: Rootfs, where: str, entry: _Entry, distro: OsRelease) -> Package | None:
    """The :class:`Package` of a database block, or ``None`` (with a note) if it is invalid."""
    name, version = entry.fields.get("P", "").strip(), entry.fields.get("V", "").strip()
    if not name or not version:
        fs.note(where, "entry without a P: name and a V: version; skipped")
        return None
    if entry.malformed:
        fs.note(where, f"package {name}: {entry.malformed} malformed lines ignored")
    arch = entry.fields.get("A", "").strip() or None
    licence = entry.fields.get("L", "").strip()
    qualifiers = {k: v for k, v in (("arch", arch), ("distro", distro.distro())) if v}
    purl = PackageURL("apk", distro.id or "alpine", name, version, qualifiers)
    return Package(
        type="apk",
        name=name,
        version=version,
        purl=purl.to_string(),
        architecture=arch,
        source_name=entry.fields.get("o", "").strip() or name,
        source_version=version,
        licenses=(licence,) if licence else (),
        files=tuple(sorted(set(entry.files))),
        location=INSTALLED,
    )
