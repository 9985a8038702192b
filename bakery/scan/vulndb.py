"""The local vulnerability database: OSV advisories in one SQLite file, laid out for matching.

``advisories`` holds one row per OSV record (title, severity level, aliases; the raw JSON only
when asked for). ``affected`` holds one row per matchable ``affected[]`` entry: the ecosystem
split into family (``Debian``) and release (``12``), the package name as matchers look it up
(PyPI names PEP 503-normalised), the ECOSYSTEM/SEMVER ranges with their events validated and
already sorted in the ecosystem's version order, and the explicit ``versions`` list. It is
clustered on ``(family, package_name)`` (a WITHOUT ROWID primary key), which is what
:mod:`bakery.scan.match` joins against: one package's entries are read in one sweep.

:func:`import_osv` loads a directory of ``*.json`` (recursively), one ``.json`` file, or an OSV
ecosystem zip (``Debian.zip``) in ONE transaction: killed or failing midway, it changes nothing.
Bad records are skipped and counted by reason; a record replaces the stored one with the same id
only when its ``modified`` time is newer.

Severity level, first that applies: the highest CVSS v3.x base score of ``severity[]`` (computed
here exactly as the FIRST CVSS v3.0/v3.1 specifications define it; CVSS v2 and v4 vectors are
not scored), an ``Ubuntu`` priority, then ``database_specific.severity`` (GitHub's
LOW/MODERATE/HIGH/CRITICAL) and ``ecosystem_specific.urgency`` (Debian), else ``unknown``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import sqlite3
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from bakery.errors import StoreError, UserError
from bakery.scan.model import SEVERITY_ORDER, Severity
from bakery.scan.versions import (
    InvalidVersion,
    UnsupportedEcosystem,
    VersionKey,
    family_of,
    scheme_for,
)

SCHEMA_VERSION = "1"
#: how many skipped-record examples an :class:`ImportReport` keeps
MAX_EXAMPLES = 20
#: larger files are skipped: no OSV record comes near, and a zip member could be a bomb
MAX_RECORD_BYTES = 16 << 20
_BATCH = 2000
_TITLE_MAX = 120

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    modified_us INTEGER NOT NULL,
    published TEXT,
    withdrawn TEXT,
    summary TEXT NOT NULL,
    severity TEXT NOT NULL,
    aliases TEXT NOT NULL,
    raw TEXT
)""",
    """CREATE TABLE IF NOT EXISTS affected (
    advisory_id TEXT NOT NULL,
    entry INTEGER NOT NULL,
    ecosystem TEXT NOT NULL,
    family TEXT NOT NULL,
    release TEXT NOT NULL,
    package_name TEXT NOT NULL,
    ranges TEXT NOT NULL,
    versions TEXT NOT NULL,
    PRIMARY KEY (family, package_name, advisory_id, entry)
) WITHOUT ROWID""",  # clustered by package: a package's entries are read in one sweep
    "CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected (advisory_id)",
    "CREATE INDEX IF NOT EXISTS affected_by_release ON affected (family, release)",
)


# ---------------------------------------------------------------------------------------------
# Public results


@dataclass(frozen=True)
class ImportReport:
    """What an import did: records written, records already up to date, records skipped."""

    imported: int
    skipped: dict[str, int]  # reason → count
    examples: list[str]  # "<file>: <reason>", at most MAX_EXAMPLES
    unchanged: int = 0  # same or older ``modified`` than the stored record: left alone


@dataclass(frozen=True)
class DbStatus:
    """What the database holds."""

    counts_per_ecosystem: dict[str, int]  # OSV ecosystem string → advisories affecting it
    newest_modified: str | None
    total: int  # advisories in force (withdrawn ones excluded)
    withdrawn: int = 0


class AffectedRow(NamedTuple):
    """One stored ``affected[]`` entry, as the matcher reads it (see :func:`decode_ranges`)."""

    advisory_id: str
    ecosystem: str
    family: str
    release: str
    package_name: str
    ranges: str  # JSON: [[range type, [[event kind, version], ...sorted]], ...]
    versions: str  # JSON: [version, ...]


class AdvisoryInfo(NamedTuple):
    """The parts of an advisory a finding shows."""

    id: str
    summary: str
    severity: Severity
    aliases: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# CVSS v3.x base score (FIRST CVSS v3.1 specification, section 7; v3.0 differs only in Roundup)

_CVSS3_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_CVSS3_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_CVSS3_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _roundup_v31(value: float) -> float:
    """CVSS v3.1 Roundup: the smallest one-decimal number ≥ value, free of float noise."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def _roundup_v30(value: float) -> float:
    """CVSS v3.0 Roundup, as that specification defines it."""
    return math.ceil(value * 10) / 10


def _parse_cvss3(vector: str) -> tuple[str, dict[str, str]] | None:
    """(minor version, base metrics) of a CVSS v3.x vector; None when malformed."""
    prefix, _, rest = vector.strip().partition("/")
    if prefix not in ("CVSS:3.0", "CVSS:3.1") or not rest:
        return None
    metrics: dict[str, str] = {}
    for part in rest.split("/"):
        name, sep, value = part.partition(":")
        if not sep or name in metrics:
            return None
        metrics[name] = value
    base = {name: metrics.get(name, "") for name in _CVSS3_BASE}
    valid = base["S"] in _CVSS3_PR and all(
        base[name] in weights for name, weights in _CVSS3_WEIGHTS.items()
    )
    return (prefix[-3:], base) if valid and base["PR"] in _CVSS3_PR["U"] else None


def cvss3_base_score(vector: str) -> float | None:
    """The CVSS v3.0/v3.1 base score of ``vector``, or None when it is not a valid v3 vector."""
    parsed = _parse_cvss3(vector)
    if parsed is None:
        return None
    version, m = parsed
    w = {name: weights[m[name]] for name, weights in _CVSS3_WEIGHTS.items()}
    scope_changed = m["S"] == "C"
    iss = 1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope_changed else 6.42 * iss
    exploitability = 8.22 * w["AV"] * w["AC"] * _CVSS3_PR[m["S"]][m["PR"]] * w["UI"]
    if impact <= 0:
        return 0.0
    total = impact + exploitability
    roundup = _roundup_v31 if version == "3.1" else _roundup_v30
    return roundup(min(1.08 * total if scope_changed else total, 10))


def level_for_score(score: float) -> Severity:
    """CVSS v3 qualitative rating; 0.0 ("None") maps to ``low``, the lowest level we have."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


_WORD_LEVELS: dict[str, Severity] = {
    "negligible": "low",
    "unimportant": "low",
    "low": "low",
    "moderate": "medium",
    "medium": "medium",
    "important": "high",
    "high": "high",
    "critical": "critical",
}


def _highest(levels: Iterable[Severity]) -> Severity | None:
    """The most severe of ``levels``, None when there are none."""
    return max(levels, key=SEVERITY_ORDER.index, default=None)


def _level_of_entry(entry: Any) -> Severity | None:
    """The level of one ``severity[]`` entry (CVSS v3 computed, Ubuntu priority mapped)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("score"), str):
        return None
    if entry.get("type") == "CVSS_V3":
        score = cvss3_base_score(entry["score"])
        return None if score is None else level_for_score(score)
    if entry.get("type") == "Ubuntu":
        return _WORD_LEVELS.get(entry["score"].lower())
    return None


def _word_level(block: Any, field_name: str) -> Severity | None:
    """A severity word such as ``HIGH`` or ``unimportant`` from a ``*_specific`` block."""
    if isinstance(block, dict) and isinstance(block.get(field_name), str):
        return _WORD_LEVELS.get(block[field_name].lower().rstrip("*"))
    return None


def severity_of(record: dict[str, Any]) -> Severity:
    """The record's severity level (see the module docstring for the order of sources)."""
    affected = [a for a in record.get("affected") or [] if isinstance(a, dict)]
    entries = list(record.get("severity") or [])
    if not entries:  # the schema allows per-package severity only when the top level has none
        entries = [e for a in affected for e in a.get("severity") or []]
    level = _highest(lvl for e in entries if (lvl := _level_of_entry(e)))
    if level is None:
        words = [_word_level(record.get("database_specific"), "severity")]
        words += [_word_level(a.get("database_specific"), "severity") for a in affected]
        words += [_word_level(a.get("ecosystem_specific"), "severity") for a in affected]
        words += [_word_level(a.get("ecosystem_specific"), "urgency") for a in affected]
        level = _highest(w for w in words if w)
    return level or "unknown"


# ---------------------------------------------------------------------------------------------
# Parsing one OSV record


class _Skip(Exception):
    """A record that cannot be imported; ``reason`` is the report's key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


_Row = tuple[str, int, str, str, str, str, str, str]


@dataclass
class _Record:
    """A validated record, ready to write."""

    id: str
    modified: str
    modified_us: int
    published: str | None
    withdrawn: str | None
    summary: str
    severity: Severity
    aliases: list[str]
    raw: str | None
    rows: list[_Row] = field(default_factory=list)


_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def _timestamp_us(value: Any, what: str) -> int:
    """Microseconds since the epoch of an RFC 3339 timestamp; naive times are taken as UTC."""
    if not isinstance(value, str):
        raise _Skip(f"missing {what}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Skip(f"bad {what} timestamp", value) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _title(record: dict[str, Any], record_id: str) -> str:
    """``summary``, else the first line of ``details`` (shortened), else the id."""
    summary = record.get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary.strip()
    details = record.get("details")
    if isinstance(details, str) and details.strip():
        line = details.strip().splitlines()[0].strip()
        return line if len(line) <= _TITLE_MAX else line[: _TITLE_MAX - 3].rstrip() + "..."
    return record_id


def _aliases(record: dict[str, Any]) -> list[str]:
    """``aliases`` and ``upstream`` ids (Debian records keep their CVE ids in ``upstream``)."""
    ids = [*(record.get("aliases") or []), *(record.get("upstream") or [])]
    return sorted({i for i in ids if isinstance(i, str)})


def _event(raw: Any) -> tuple[str, str]:
    """(kind, version) of one event; exactly one known kind with a string value."""
    if isinstance(raw, dict) and len(raw) == 1:
        kind, version = next(iter(raw.items()))
        if kind in _EVENT_KINDS and isinstance(version, str) and version:
            return kind, version
    raise _Skip("malformed range", json.dumps(raw)[:80])


def _sorted_events(events: list[tuple[str, str]], ecosystem: str, range_type: str) -> list[Any]:
    """Events in version order (stable): ``introduced: 0`` first, ``limit: *`` last."""
    scheme = scheme_for(ecosystem, range_type)
    first = [e for e in events if e == ("introduced", "0")]
    last = [e for e in events if e[0] == "limit" and "*" in e[1]]
    middle: list[tuple[VersionKey, tuple[str, str]]] = []
    for event in events:
        if event not in first and event not in last:
            try:
                middle.append((scheme.key(event[1]), event))
            except InvalidVersion as exc:
                raise _Skip("bad version in a range", exc.message) from exc
    middle.sort(key=lambda pair: pair[0])
    return [*first, *(e for _, e in middle), *last]


def _ranges(entry: dict[str, Any], ecosystem: str) -> list[Any]:
    """The entry's ECOSYSTEM and SEMVER ranges, validated and sorted (GIT ranges dropped)."""
    out: list[Any] = []
    for rng in entry.get("ranges") or []:
        if not isinstance(rng, dict) or not isinstance(rng.get("events"), list):
            raise _Skip("malformed range", json.dumps(rng)[:80])
        range_type = rng.get("type")
        if range_type not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges need the repository's commit graph; OSV lists versions too
        events = [_event(e) for e in rng["events"]]
        out.append([range_type, _sorted_events(events, ecosystem, range_type)])
    return out


def lookup_name(family: str, name: str) -> str:
    """The package name as stored and looked up: PEP 503-normalised for PyPI, else as is."""
    return str(canonicalize_name(name)) if family == "PyPI" else name


def release_of(ecosystem: str) -> str:
    """The release of an ecosystem: ``Debian:12`` → ``12``, ``Ubuntu:22.04:LTS`` → ``22.04``."""
    _, _, release = ecosystem.partition(":")
    return release.removesuffix(":LTS") if family_of(ecosystem) == "Ubuntu" else release


def _affected_row(entry: Any, record_id: str, position: int) -> _Row | None:
    """One ``affected`` table row, None for an entry without a package (GIT-only entries).

    Raises UnsupportedEcosystem, or _Skip for a malformed range or a bad version in one.
    """
    package = entry.get("package") if isinstance(entry, dict) else None
    ecosystem = package.get("ecosystem") if isinstance(package, dict) else None
    name = package.get("name") if isinstance(package, dict) else None
    if not isinstance(ecosystem, str) or not isinstance(name, str) or not name:
        return None
    scheme_for(ecosystem)  # raises UnsupportedEcosystem before any range is read
    versions = [v for v in entry.get("versions") or [] if isinstance(v, str)]
    family = family_of(ecosystem)
    return (
        record_id,
        position,
        ecosystem,
        family,
        release_of(ecosystem),
        lookup_name(family, name),
        json.dumps(_ranges(entry, ecosystem), separators=(",", ":")),
        json.dumps(versions, separators=(",", ":")),
    )


def _affected_rows(record: dict[str, Any], record_id: str) -> list[_Row]:
    """Rows for every supported entry; a record with none at all is skipped with the reason.

    Entries of unsupported ecosystems next to supported ones are left out (a GitHub advisory
    may name a PyPI and a Maven package); a bad range anywhere skips the whole record.
    """
    entries = record.get("affected")
    if not isinstance(entries, list) or not entries:
        raise _Skip("missing affected")
    rows: list[_Row] = []
    unsupported: list[str] = []
    for position, entry in enumerate(entries):
        try:
            row = _affected_row(entry, record_id, position)
        except UnsupportedEcosystem as exc:
            unsupported.append(exc.family)
            continue
        if row is not None:
            rows.append(row)
    if rows:
        return rows
    if unsupported:
        raise _Skip(f"unsupported ecosystem {unsupported[0]}")
    raise _Skip("missing affected package")


def _parse_record(data: bytes, *, keep_raw: bool = False) -> _Record:
    """Validate one OSV JSON document; raises _Skip with the reason it cannot be imported."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _Skip("malformed JSON", str(exc)[:80]) from exc
    if not isinstance(record, dict):
        raise _Skip("not an OSV record", "top level is not an object")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise _Skip("missing id")
    parsed = _Record(
        id=record_id,
        modified=str(record.get("modified")),
        modified_us=_timestamp_us(record.get("modified"), "modified"),
        published=record["published"] if isinstance(record.get("published"), str) else None,
        withdrawn=record["withdrawn"] if isinstance(record.get("withdrawn"), str) else None,
        summary=_title(record, record_id),
        severity=severity_of(record),
        aliases=_aliases(record),
        raw=json.dumps(record, separators=(",", ":")) if keep_raw else None,
    )
    if parsed.withdrawn is None:  # a withdrawn record is kept (newer wins) but never matches
        parsed.rows = _affected_rows(record, record_id)
    return parsed


# ---------------------------------------------------------------------------------------------
# Reading a source: directory, single file, or zip


def _source_entries(source: Path) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of every ``.json`` in ``source``; bytes None when it cannot be read.

    Checks the source before returning, so that a wrong path fails before the database is
    opened (and created).
    """
    if source.is_dir():
        return _dir_entries(source)
    if zipfile.is_zipfile(source):
        return _zip_entries(source)
    if source.is_file() and source.suffix == ".json":
        return iter([(source.name, _read_file(source))])
    if source.exists():
        raise UserError(
            f"{source} is neither a directory, a .json file nor a zip",
            hint="pass a directory of OSV .json files or an ecosystem zip such as Debian.zip",
        )
    raise UserError(f"{source} does not exist")


def _dir_entries(source: Path) -> Iterator[tuple[str, bytes | None]]:
    """(relative name, bytes) of every ``*.json`` file below ``source``, in name order."""
    for path in sorted(source.rglob("*.json")):
        if path.is_file():
            yield str(path.relative_to(source)), _read_file(path)


def _read_file(path: Path) -> bytes | None:
    """The file's bytes, None when it cannot be read or is too big to be one OSV record."""
    try:
        return None if path.stat().st_size > MAX_RECORD_BYTES else path.read_bytes()
    except OSError:
        return None


def _zip_entries(source: Path) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of the ``.json`` members of a zip; bytes None for a damaged member."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{source} is not a readable zip: {exc}") from exc
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:  # what the member claims; read() checks it
                yield info.filename, None
                continue
            try:
                yield info.filename, archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
                yield info.filename, None


# ---------------------------------------------------------------------------------------------
# The database


def connect(db_path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the database (autocommit mode: transactions are explicit) and check its schema.

    Without ``create``, a missing file is a UserError rather than an empty database, so that a
    scan never silently runs against no advisories.
    """
    if not create and not db_path.is_file():
        raise UserError(
            f"no vulnerability database at {db_path}",
            hint="import OSV advisories first (for example osv.dev's Debian.zip)",
        )
    try:
        conn = sqlite3.connect(db_path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the vulnerability database {db_path}: {exc}") from exc
    try:
        _prepare(conn, create)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(
            f"the vulnerability database {db_path} is damaged: {exc}",
            hint="delete it and import the advisories again",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, create: bool) -> None:
    """WAL mode; create the schema when asked; refuse another schema version."""
    conn.execute("PRAGMA journal_mode=WAL")
    if create:
        with _transaction(conn):
            for statement in _SCHEMA:  # not executescript(), which commits first
                conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] != SCHEMA_VERSION:
        raise StoreError(
            f"vulnerability database schema {row[0] if row else 'unknown'} is not supported "
            f"(expected {SCHEMA_VERSION})",
            hint="delete the database and import the advisories again",
        )


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class _Importer:
    """Collects validated records and writes them in batches inside the import transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.stored: dict[str, int] = dict(conn.execute("SELECT id, modified_us FROM advisories"))
        self.pending: dict[str, _Record] = {}
        self.imported = self.unchanged = 0
        self.skipped: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, name: str, data: bytes | None, keep_raw: bool) -> None:
        """Validate one document and queue it if it is newer than what is stored."""
        try:
            if data is None:
                raise _Skip("unreadable or oversized file")
            record = _parse_record(data, keep_raw=keep_raw)
        except _Skip as skip:
            self.skipped[skip.reason] += 1
            if len(self.examples) < MAX_EXAMPLES:
                detail = f" ({skip.detail})" if skip.detail else ""
                self.examples.append(f"{name}: {skip.reason}{detail}")
            return
        if self.stored.get(record.id, -1) >= record.modified_us:
            self.unchanged += 1
            return
        self.stored[record.id] = record.modified_us
        self.pending[record.id] = record
        self.imported += 1
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Replace the pending records: old affected rows out, advisory and new rows in."""
        records = list(self.pending.values())
        self.pending.clear()
        self.conn.executemany(
            "DELETE FROM affected WHERE advisory_id = ?", [(r.id,) for r in records]
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.id,
                    r.modified,
                    r.modified_us,
                    r.published,
                    r.withdrawn,
                    r.summary,
                    r.severity,
                    json.dumps(r.aliases),
                    r.raw,
                )
                for r in records
            ],
        )
        self.conn.executemany(
            "INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row for r in records for row in r.rows],
        )

    def report(self) -> ImportReport:
        """The import's counts."""
        return ImportReport(
            imported=self.imported,
            skipped=dict(sorted(self.skipped.items())),
            examples=list(self.examples),
            unchanged=self.unchanged,
        )


def import_osv(db_path: Path, source: Path, *, keep_raw: bool = False) -> ImportReport:
    """Import OSV records from ``source`` (directory, ``.json`` file or zip) in one transaction.

    Either every accepted record is written or, if anything fails or the process dies, nothing
    is. ``keep_raw`` also stores each record's JSON (several times the size of the database).
    """
    entries = _source_entries(source)
    first = next(entries, None)
    if first is None:
        raise UserError(f"no .json files in {source}")
    created = not db_path.exists()
    try:
        return _import(db_path, itertools.chain([first], entries), keep_raw)
    except BaseException:
        if created:  # a failed first import leaves no empty database to scan against
            for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
                path.unlink(missing_ok=True)
        raise


def _import(
    db_path: Path, entries: Iterable[tuple[str, bytes | None]], keep_raw: bool
) -> ImportReport:
    """Write every accepted entry in one transaction, then fold the WAL into the database."""
    conn = connect(db_path, create=True)
    try:
        with _transaction(conn):
            importer = _Importer(conn)
            for name, data in entries:
                importer.add(name, data, keep_raw)
            importer.flush()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return importer.report()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot write the vulnerability database {db_path}: {exc}") from exc
    finally:
        conn.close()


def status(db_path: Path) -> DbStatus:
    """Advisories per ecosystem, the newest ``modified`` time, and totals."""
    conn = connect(db_path)
    try:
        per_ecosystem = conn.execute(
            "SELECT ecosystem, COUNT(DISTINCT advisory_id) FROM affected "
            "GROUP BY ecosystem ORDER BY ecosystem"
        ).fetchall()
        newest = conn.execute(
            "SELECT modified FROM advisories ORDER BY modified_us DESC LIMIT 1"
        ).fetchone()
        total, withdrawn = conn.execute(
            "SELECT COUNT(*) - COUNT(withdrawn), COUNT(withdrawn) FROM advisories"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the vulnerability database {db_path} is damaged: {exc}") from exc
    finally:
        conn.close()
    return DbStatus(
        counts_per_ecosystem=dict(per_ecosystem),
        newest_modified=newest[0] if newest else None,
        total=total,
        withdrawn=withdrawn,
    )


# ---------------------------------------------------------------------------------------------
# Queries for the matcher


def affected_rows(
    conn: sqlite3.Connection, packages: Iterable[tuple[str, str]]
) -> Iterator[AffectedRow]:
    """Every stored entry for the given (family, lookup name) pairs: one keyed query per family.

    The names go in as one JSON array parameter (``json_each``), so the query walks the
    clustered primary key once per name and never scans the table.
    """
    names: dict[str, list[str]] = defaultdict(list)
    for family, name in packages:
        names[family].append(name)
    for family in sorted(names):
        cursor = conn.execute(
            "SELECT advisory_id, ecosystem, family, release, package_name, ranges, versions"
            " FROM affected WHERE family = ? AND package_name IN (SELECT value FROM json_each(?))",
            (family, json.dumps(sorted(set(names[family])))),
        )
        yield from map(AffectedRow._make, cursor)


def covers(conn: sqlite3.Connection, family: str, release: str) -> bool:
    """Whether any advisory applies to the ecosystem ``family`` (``:release``)."""
    row = conn.execute(
        "SELECT 1 FROM affected WHERE family = ? AND release IN (?, '') LIMIT 1", (family, release)
    ).fetchone()
    return row is not None


def decode_ranges(ranges: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """An :class:`AffectedRow`'s ranges: (range type, events sorted in version order)."""
    return [(range_type, [(k, v) for k, v in events]) for range_type, events in json.loads(ranges)]


def decode_versions(versions: str) -> list[str]:
    """An :class:`AffectedRow`'s explicit ``versions`` list (usually empty: no JSON to parse)."""
    return [] if versions == "[]" else [str(v) for v in json.loads(versions)]


def advisories(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, AdvisoryInfo]:
    """Title, severity and aliases of the given advisories (ids as one JSON array parameter)."""
    cursor = conn.execute(
        "SELECT id, summary, severity, aliases FROM advisories"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(ids))),),
    )
    return {
        row[0]: AdvisoryInfo(
            id=row[0],
            summary=row[1],
            severity=row[2] if row[2] in SEVERITY_ORDER else "unknown",
            aliases=tuple(json.loads(row[3])),
        )
        for row in cursor
    }
