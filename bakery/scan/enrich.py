"""Importing severity data into the vulnerability database: NVD and the Debian security tracker.

:func:`import_nvd` takes NVD's CVE JSON 2.0 (a yearly feed file ``nvdcve-2.0-2024.json``,
gzipped or not, an API response, or a directory of them); :func:`import_debian_tracker` the
Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json). Each
reads and validates every file before it opens the database: a malformed one is a UserError
naming the file, and nothing is written. The writes are one transaction that ends by re-rating
every advisory (:func:`bakery.scan.vulndb.rerate`).

:func:`detect_format` tells the three formats ``bakery db import`` accepts apart.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from bakery.errors import UserError
from bakery.scan import vulndb
from bakery.scan.severity import (
    BadDocument,
    NvdEntry,
    TrackerEntry,
    parse_debian_tracker,
    parse_nvd,
)

Format = Literal["osv", "nvd", "debian-tracker"]
#: the most a (decompressed) severity document may hold: NVD's biggest yearly feed is ~0.5 GiB
MAX_DOCUMENT_BYTES = 2 << 30
_MAX_NOTES = vulndb.MAX_EXAMPLES
_T = TypeVar("_T")


@dataclass(frozen=True)
class EnrichmentReport:
    """What an import of severity data did."""

    imported: int  # entries written (NVD CVEs; tracker (CVE, package, release) urgencies)
    unchanged: int  # NVD CVEs whose stored lastModified is the same or newer
    rerated: int  # advisories whose rating in force changed
    notes: list[str] = field(default_factory=list)  # metrics ignored, at most MAX_EXAMPLES


def detect_format(source: Path) -> Format:
    """What ``source`` holds: a zip is OSV; a directory, what its first document is (NVD's
    feeds are ``*.json.gz``); a file, what its content is."""
    if zipfile.is_zipfile(source):
        return "osv"
    if source.is_dir():
        first = min(source.rglob("*.json"), default=None)
        if first is None:
            return "nvd" if next(source.rglob("*.json.gz"), None) is not None else "osv"
        try:
            return "nvd" if detect_format(first) == "nvd" else "osv"
        except UserError:  # a bad record among OSV records is skipped and counted
            return "osv"
    try:
        document = json.loads(_read(source))
    except ValueError as exc:
        raise UserError(f"{source}: not valid JSON ({exc})") from exc
    if isinstance(document, dict) and "vulnerabilities" in document:
        return "nvd"
    if isinstance(document, dict) and "id" in document:
        return "osv"
    if isinstance(document, dict) and _looks_like_tracker(document):
        return "debian-tracker"
    raise UserError(
        f"{source}: neither an OSV record, NVD CVE JSON nor Debian security tracker JSON",
        hint="pass --format osv, nvd or debian-tracker to be told what is wrong with it",
    )


def _looks_like_tracker(document: dict[str, object]) -> bool:
    """The first package's first issue has ``releases``."""
    issues = next(iter(document.values()), None)
    first = next(iter(issues.values()), None) if isinstance(issues, dict) else None
    return isinstance(first, dict) and "releases" in first


def import_nvd(db_path: Path, source: Path) -> EnrichmentReport:
    """Import NVD CVE JSON 2.0 from a file (``.json`` or ``.json.gz``) or a directory of them."""
    files = _files(source, ("*.json", "*.json.gz"), "NVD CVE JSON")
    latest: dict[str, NvdEntry] = {}
    notes: list[str] = []
    for path in files:
        entries, file_notes = _parsed(path, parse_nvd, "NVD CVE JSON 2.0")
        notes += [f"{path.name}: {note}" for note in file_notes]
        for entry in entries:
            known = latest.get(entry.cve_id)
            if known is None or entry.last_modified >= known.last_modified:
                latest[entry.cve_id] = entry
    with vulndb.writing(db_path) as conn:
        imported, unchanged = _write_nvd(conn, list(latest.values()))
        rerated = vulndb.rerate(conn)
    return EnrichmentReport(imported, unchanged, rerated, notes[:_MAX_NOTES])


def _write_nvd(conn: sqlite3.Connection, entries: list[NvdEntry]) -> tuple[int, int]:
    """Replace the stored rating of each CVE unless the stored one is as new; (written, not)."""
    stored = dict(
        conn.execute(
            "SELECT cve_id, last_modified FROM nvd_cvss"
            " WHERE cve_id IN (SELECT value FROM json_each(?))",
            (json.dumps([e.cve_id for e in entries]),),
        )
    )
    newer = [
        e
        for e in entries
        if e.cve_id not in stored or not e.last_modified or e.last_modified > stored[e.cve_id]
    ]
    conn.executemany("DELETE FROM nvd_cvss WHERE cve_id = ?", [(e.cve_id,) for e in newer])
    conn.executemany(
        "INSERT INTO nvd_cvss VALUES (?, ?, ?)",
        [(e.cve_id, e.last_modified, e.rating.to_json()) for e in newer if e.rating is not None],
    )
    return len(newer), len(entries) - len(newer)


def import_debian_tracker(db_path: Path, source: Path) -> EnrichmentReport:
    """Import the Debian security tracker's JSON (one file, ``.json`` or ``.json.gz``).

    Each (CVE, source package, release) urgency replaces the stored one.
    """
    (path,) = _files(source, (), "Debian security tracker JSON")
    entries: list[TrackerEntry] = _parsed(path, parse_debian_tracker, "Debian tracker JSON")
    with vulndb.writing(db_path) as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO debian_urgency VALUES (?, ?, ?, ?)",
            [(e.cve_id, e.package, e.release, e.urgency) for e in entries],
        )
        rerated = vulndb.rerate(conn)
    return EnrichmentReport(len(entries), 0, rerated)


def _files(source: Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    """``source`` itself, or the files matching ``patterns`` below it (a directory)."""
    if source.is_file():
        return [source]
    if source.is_dir() and patterns:
        found = sorted({p for pattern in patterns for p in source.rglob(pattern) if p.is_file()})
        if found:
            return found
        raise UserError(f"no {' or '.join(patterns)} files in {source}")
    if source.exists():
        raise UserError(f"{source} is not a file of {what}")
    raise UserError(f"{source} does not exist")


def _parsed(path: Path, parse: Callable[[bytes], _T], what: str) -> _T:
    """``parse`` of the file's bytes; a malformed document is a UserError naming the file."""
    try:
        return parse(_read(path))
    except BadDocument as exc:
        raise UserError(f"{path}: {exc}", hint=f"is it {what}? nothing was imported") from exc


def _read(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped; UserError if it cannot be read."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UserError(f"{path} is larger than {MAX_DOCUMENT_BYTES >> 30} GiB")
    return data
