"""The local vulnerability database: OSV advisories in one SQLite file, laid out for matching,
and the severity data that rates them.

``advisories`` holds one row per OSV record (title, aliases, the record's own rating, the
rating in force and where it came from; the raw JSON only when asked for). ``affected`` holds
one row per matchable ``affected[]`` entry: the ecosystem split into family (``Debian``) and
release (``12``), the package name as matchers look it up (PyPI names PEP 503-normalised), the
ECOSYSTEM/SEMVER ranges with their events validated and already sorted in the ecosystem's
version order, and the explicit ``versions`` list. It is
clustered on ``(family, package_name)`` (a WITHOUT ROWID primary key), which is what
:mod:`bakery.scan.match` joins against: one package's entries are read in one sweep.

:func:`import_osv` loads a directory of ``*.json`` (recursively), one ``.json`` file, or an OSV
ecosystem zip (``Debian.zip``) in ONE transaction: killed or failing midway, it changes nothing.
Bad records are skipped and counted by reason; a record replaces the stored one with the same id
only when its ``modified`` time is newer.

Severity data, joined to advisories through their CVE ids (the record's id and aliases, e.g.
``DEBIAN-CVE-2024-5535`` and a DSA's ``upstream`` CVE ids; :func:`bakery.scan.severity.cve_ids`):
:func:`import_nvd` loads NVD's CVE JSON 2.0 (``nvd_cvss``: one CVSS rating per CVE, newer
``lastModified`` wins) and :func:`import_debian_tracker` the Debian security tracker's JSON
(``debian_urgency``: the urgency per CVE, source package and release codename). Both are one
transaction each and validate the whole document before writing: a malformed one is a
UserError naming the file and changes nothing.

The rating in force (``severity``, ``severity_source``, ``score``, ``vector``), first that
applies (a CVSS score beats a word; the record's own beats imported data):

1. the record's own CVSS vectors (``osv:cvss_v4|v3|v2``: newest version, highest score);
2. NVD's CVSS for any of its CVE ids (``nvd:cvss_v4.0|v3.1|v3.0|v2.0``; the highest);
3. the record's own severity words (``osv:ubuntu``, ``osv:database_specific``,
   ``osv:ecosystem_specific``, e.g. Debian's urgency as osv.dev carries it);
4. the Debian tracker's urgency for its CVE ids in the package and release the record names
   (``debian-tracker:urgency``; the highest);
5. else ``unknown`` from ``none``.

Every import re-rates every advisory, so the order of imports does not matter.
"""

from __future__ import annotations

import contextlib
import itertools
import json
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
from bakery.scan.severity import (
    DEBIAN_CODENAMES,
    UNRATED,
    Rating,
    cve_ids,
    rank,
    rating_of_record,
    urgency_level,
)
from bakery.scan.versions import (
    InvalidVersion,
    UnsupportedEcosystem,
    VersionKey,
    family_of,
    scheme_for,
)

SCHEMA_VERSION = "2"
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
    raw TEXT,
    own_rating TEXT NOT NULL,
    severity_source TEXT NOT NULL,
    score REAL,
    vector TEXT
)""",
    """CREATE TABLE IF NOT EXISTS nvd_cvss (
    cve_id TEXT PRIMARY KEY,
    last_modified TEXT NOT NULL,
    rating TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS debian_urgency (
    cve_id TEXT NOT NULL,
    package TEXT NOT NULL,
    release TEXT NOT NULL,
    urgency TEXT NOT NULL,
    PRIMARY KEY (cve_id, package, release)
) WITHOUT ROWID""",
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
    notes: list[str] = field(default_factory=list)  # e.g. vectors ignored, at most MAX_EXAMPLES


@dataclass(frozen=True)
class DbStatus:
    """What the database holds."""

    counts_per_ecosystem: dict[str, int]  # OSV ecosystem string → advisories affecting it
    newest_modified: str | None
    total: int  # advisories in force (withdrawn ones excluded)
    withdrawn: int = 0
    nvd_cves: int = 0  # CVEs with an NVD CVSS rating
    debian_urgencies: int = 0  # (CVE, package, release) urgencies of the Debian tracker
    by_source: dict[str, int] = field(default_factory=dict)  # severity_source → advisories


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
    severity_source: str = UNRATED.source


def severity_of(record: dict[str, Any]) -> Severity:
    """The record's own severity level (see :func:`bakery.scan.severity.rating_of_record`)."""
    return rating_of_record(record)[0].level


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
    rating: Rating
    aliases: list[str]
    raw: str | None
    rows: list[_Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
    rating, notes = rating_of_record(record)
    parsed = _Record(
        id=record_id,
        modified=str(record.get("modified")),
        modified_us=_timestamp_us(record.get("modified"), "modified"),
        published=record["published"] if isinstance(record.get("published"), str) else None,
        withdrawn=record["withdrawn"] if isinstance(record.get("withdrawn"), str) else None,
        summary=_title(record, record_id),
        rating=rating,
        aliases=_aliases(record),
        raw=json.dumps(record, separators=(",", ":")) if keep_raw else None,
        notes=notes,
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
        self.notes: list[str] = []

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
        for note in record.notes:
            if len(self.notes) < MAX_EXAMPLES:
                self.notes.append(f"{name}: {note}")
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
            "INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.id,
                    r.modified,
                    r.modified_us,
                    r.published,
                    r.withdrawn,
                    r.summary,
                    r.rating.level,  # until _rerate: the record's own
                    json.dumps(r.aliases),
                    r.raw,
                    r.rating.to_json(),
                    r.rating.source,
                    r.rating.score,
                    r.rating.vector,
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
            notes=list(self.notes),
        )


@contextlib.contextmanager
def writing(db_path: Path) -> Iterator[sqlite3.Connection]:
    """The database (created if need be) inside one write transaction, for an importer.

    When the block ends, every advisory is re-rated (:func:`rerate`) and the transaction
    committed; if it raises, nothing is written, and a database this call created is removed.
    """
    created = not db_path.exists()
    try:
        conn = connect(db_path, create=True)
        try:
            with _transaction(conn):
                yield conn
                rerate(conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot write the vulnerability database {db_path}: {exc}") from exc
        finally:
            conn.close()
    except BaseException:
        if created:
            _remove(db_path)
        raise


def _remove(db_path: Path) -> None:
    """Delete the database and its WAL files."""
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        path.unlink(missing_ok=True)


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
            _remove(db_path)
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
            rerate(conn)
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
        nvd_cves = conn.execute("SELECT COUNT(*) FROM nvd_cvss").fetchone()[0]
        urgencies = conn.execute("SELECT COUNT(*) FROM debian_urgency").fetchone()[0]
        by_source = conn.execute(
            "SELECT severity_source, COUNT(*) FROM advisories WHERE withdrawn IS NULL"
            " GROUP BY severity_source ORDER BY severity_source"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the vulnerability database {db_path} is damaged: {exc}") from exc
    finally:
        conn.close()
    return DbStatus(
        counts_per_ecosystem=dict(per_ecosystem),
        newest_modified=newest[0] if newest else None,
        total=total,
        withdrawn=withdrawn,
        nvd_cves=nvd_cves,
        debian_urgencies=urgencies,
        by_source=dict(by_source),
    )


# ---------------------------------------------------------------------------------------------
# Ratings in force


def rerate(conn: sqlite3.Connection) -> int:
    """Set every advisory's rating in force (module doc), inside the caller's transaction.

    Returns how many advisories changed rating.
    """
    rows = conn.execute(
        "SELECT id, aliases, own_rating, severity, severity_source, score, vector FROM advisories"
    ).fetchall()
    cves = {row[0]: sorted(cve_ids([row[0], *json.loads(row[1])])) for row in rows}
    wanted = json.dumps(sorted({cve for ids in cves.values() for cve in ids}))
    nvd = {
        cve: Rating.from_json(rating)
        for cve, rating in conn.execute(
            "SELECT cve_id, rating FROM nvd_cvss WHERE cve_id IN (SELECT value FROM json_each(?))",
            (wanted,),
        )
    }
    urgencies: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for cve, package, release, urgency in conn.execute(
        "SELECT cve_id, package, release, urgency FROM debian_urgency"
        " WHERE cve_id IN (SELECT value FROM json_each(?))",
        (wanted,),
    ):
        urgencies[(cve, package)][release] = urgency
    debian: dict[str, set[tuple[str, str]]] = defaultdict(set)
    if urgencies:
        for advisory_id, release, name in conn.execute(
            "SELECT advisory_id, release, package_name FROM affected WHERE family = 'Debian'"
        ):
            debian[advisory_id].add((release, name))
    changes = []
    for advisory_id, _, own, *current in rows:
        tracker = [
            Rating(urgency_level(urgency), "debian-tracker:urgency")
            for release, name in sorted(debian.get(advisory_id, ()))
            for cve in cves[advisory_id]
            for urgency in _urgencies(urgencies.get((cve, name), {}), release)
        ]
        nvd_ratings = [nvd[cve] for cve in cves[advisory_id] if cve in nvd]
        rating = in_force(Rating.from_json(own), nvd_ratings, tracker)
        fields = (rating.level, rating.source, rating.score, rating.vector)
        if tuple(current) != fields:
            changes.append((*fields, advisory_id))
    conn.executemany(
        "UPDATE advisories SET severity = ?, severity_source = ?, score = ?, vector = ?"
        " WHERE id = ?",
        changes,
    )
    return len(changes)


def _urgencies(by_release: dict[str, str], release: str) -> list[str]:
    """The urgencies for an advisory's release (``12`` → bookworm; any for plain ``Debian``)."""
    if not release:
        return list(by_release.values())
    codename = DEBIAN_CODENAMES.get(release)
    return [by_release[codename]] if codename in by_release else []


def in_force(own: Rating, nvd: Iterable[Rating], tracker: Iterable[Rating]) -> Rating:
    """The rating in force: own CVSS, NVD CVSS, own words, tracker urgency (module doc)."""
    if own.score is not None:
        return own
    best = max(nvd, key=rank, default=None)
    if best is not None:
        return best
    if own.level != "unknown":
        return own
    urgent = max((r for r in tracker if r.level != "unknown"), key=rank, default=None)
    return urgent or UNRATED


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
        "SELECT id, summary, severity, aliases, severity_source FROM advisories"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(ids))),),
    )
    return {
        row[0]: AdvisoryInfo(
            id=row[0],
            summary=row[1],
            severity=row[2] if row[2] in SEVERITY_ORDER else "unknown",
            aliases=tuple(json.loads(row[3])),
            severity_source=row[4],
        )
        for row in cursor
    }
