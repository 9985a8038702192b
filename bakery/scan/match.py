"""Matching installed packages against the local vulnerability database.

Each package becomes one lookup: deb packages by their SOURCE package and source version in the
image's release (purl ``distro=debian-12`` → ecosystem ``Debian:12``; an advisory for plain
``Debian`` applies to every release), PyPI packages by PEP 503-normalised name, npm packages by
name. Packages that share a lookup (the binaries of one source) are evaluated once.

Version ranges follow the OSV evaluation algorithm exactly: events in version order,
``introduced`` ≤ v turns the range on, ``fixed`` ≤ v or ``last_affected`` < v turns it off,
``limit`` events bound the range; any range, or an equal entry of ``versions``, makes the
package affected. The fixed version reported is the smallest ``fixed`` above the installed
version that the advisory itself does not cover.

Speed: all stored entries for all packages come back from one indexed join. Every version
string is parsed once per call; a package's advisories are grouped by their stored range (many
advisories of one package were fixed by the same upload), and each group is evaluated once.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from packageurl import normalize_qualifiers

from bakery.errors import StoreError
from bakery.scan import vulndb
from bakery.scan.model import Finding, Package
from bakery.scan.severity import DEBIAN_CODENAMES
from bakery.scan.versions import InvalidVersion, VersionKey, VersionScheme, scheme_for
from bakery.scan.vulndb import AdvisoryInfo, AffectedRow

#: purl ``distro`` prefixes of the dpkg-based families, and Debian's codenames
_DPKG_DISTROS = {"debian": "Debian", "ubuntu": "Ubuntu"}
_DEBIAN_CODENAMES = {codename: release for release, codename in DEBIAN_CODENAMES.items()}


_FROM_START = ("introduced", "0")


@dataclass(frozen=True)
class MatchReport:
    """Findings; packages that could not be evaluated, by reason; ecosystems with no data.

    ``uncovered`` lists the ecosystems (``Debian:12``) of scanned packages for which the
    database holds no advisory at all: "no findings" there means "not checked".
    """

    findings: list[Finding]
    skipped: dict[str, int]
    uncovered: list[str]


@dataclass(frozen=True)
class _Target:
    """What one package is looked up as."""

    family: str  # OSV ecosystem family: Debian, Ubuntu, PyPI, npm
    release: str  # "12" for Debian:12; "" for ecosystems without releases
    name: str  # as stored: the source package, or the normalised PyPI name
    version: str


class _Range(NamedTuple):
    """One stored range, decoded: its events (but limits) and its limits, as keys."""

    scheme: VersionScheme
    events: tuple[tuple[str, VersionKey | None], ...]  # sorted; None = ``introduced: 0``
    limits: tuple[VersionKey | None, ...]  # None = ``limit: *``


class _Entry(NamedTuple):
    """One stored ``affected[]`` entry, decoded."""

    scheme: VersionScheme  # the ecosystem's own order
    ranges: tuple[_Range, ...]
    versions: tuple[str, ...]
    fixed: tuple[tuple[VersionKey, str], ...]  # every ``fixed`` event, ascending, in ``scheme``


@dataclass
class _Stored:
    """The stored entries for one (family, package name), grouped for evaluation.

    Advisories with one entry for the package (nearly all) are grouped by that entry's ranges
    and versions: many advisories of a package were fixed by the same upload, so one evaluation
    answers for all of them. Advisories with several entries are evaluated on their own.
    """

    family: str
    by_entry: dict[tuple[str, str], dict[str, list[str]]]  # (ranges, versions) → release → ids
    several: dict[str, list[AffectedRow]]  # advisory id → its entries


class _Unmatchable(Exception):
    """A package that cannot be looked up; the message is the report's reason."""


class _Decoder:
    """Version keys and decoded entries, each computed once per :func:`match_report` call."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, VersionKey | None]] = {}
        self.entries: dict[tuple[str, str, str], _Entry] = {}

    def key(self, scheme: VersionScheme, version: str) -> VersionKey | None:
        """The key of ``version`` in ``scheme``, None when it does not parse there."""
        known = self.keys.setdefault(scheme.name, {})
        if version not in known:
            try:
                known[version] = scheme.key(version)
            except InvalidVersion:
                known[version] = None
        return known[version]

    def stored_key(self, scheme: VersionScheme, version: str) -> VersionKey:
        """The key of a version that is known to parse (validated at import, or checked)."""
        parsed = self.key(scheme, version)
        if parsed is None:
            raise StoreError(f"the vulnerability database holds an invalid version {version!r}")
        return parsed

    def entry(self, family: str, ranges: str, versions: str) -> _Entry:
        """The decoded entry for stored ``ranges`` and ``versions`` JSON of an ecosystem."""
        cache_key = (family, ranges, versions)
        if cache_key not in self.entries:
            self.entries[cache_key] = self._decode(family, ranges, versions)
        return self.entries[cache_key]

    def _decode(self, family: str, ranges: str, versions: str) -> _Entry:
        """Parse stored ranges and versions into keys."""
        scheme = scheme_for(family)
        decoded, fixed = [], {}
        for range_type, events in vulndb.decode_ranges(ranges):
            range_scheme = scheme_for(family, range_type)
            decoded.append(self._range(range_scheme, events))
            for kind, version in events:
                fixed_key = self.key(scheme, version) if kind == "fixed" else None
                if fixed_key is not None:  # a SEMVER range's versions may not parse in scheme
                    fixed[version] = fixed_key
        ordered = tuple(sorted(((k, v) for v, k in fixed.items()), key=lambda kv: kv[0]))
        listed = tuple(vulndb.decode_versions(versions))
        return _Entry(scheme=scheme, ranges=tuple(decoded), versions=listed, fixed=ordered)

    def _range(self, scheme: VersionScheme, events: list[tuple[str, str]]) -> _Range:
        """One range's events and limits as keys."""
        keyed: list[tuple[str, VersionKey | None]] = []
        limits: list[VersionKey | None] = []
        for kind, version in events:
            if kind == "limit":
                limits.append(None if "*" in version else self.stored_key(scheme, version))
            elif (kind, version) == _FROM_START:
                keyed.append((kind, None))
            else:
                keyed.append((kind, self.stored_key(scheme, version)))
        return _Range(scheme=scheme, events=tuple(keyed), limits=tuple(limits))


class _Qualifiers:
    """purl qualifiers, parsed by packageurl once per distinct qualifier string."""

    def __init__(self) -> None:
        self.parsed: dict[str, dict[str, str]] = {}

    def distro(self, purl: str) -> str | None:
        """The ``distro`` qualifier of ``purl`` (split as packageurl splits it)."""
        query = purl.split("#", 1)[0].partition("?")[2]
        if query not in self.parsed:
            self.parsed[query] = normalize_qualifiers(query, encode=False) or {}
        return self.parsed[query].get("distro")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for an allocation-heavy, cycle-free stretch.

    Matching allocates several hundred thousand small tuples and objects, none in a reference
    cycle (reference counting frees them all); without the pause, the collector's repeated
    full passes cost about as much as the matching itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def match(db_path: Path, packages: Iterable[Package]) -> list[Finding]:
    """The vulnerabilities of ``packages`` known to the database at ``db_path``."""
    return match_report(db_path, packages).findings


def match_report(db_path: Path, packages: Iterable[Package]) -> MatchReport:
    """Like :func:`match`, also saying what could not be checked."""
    with _gc_paused():
        qualifiers = _Qualifiers()
        groups: dict[_Target, list[Package]] = defaultdict(list)
        skipped: Counter[str] = Counter()
        for package in packages:
            try:
                groups[_target(package, qualifiers)].append(package)
            except _Unmatchable as exc:
                skipped[str(exc)] += 1
        findings, uncovered = _match_groups(db_path, groups, skipped)
        findings.sort(key=lambda f: (f.package or "", f.id))
    return MatchReport(findings, dict(sorted(skipped.items())), uncovered)


def _match_groups(
    db_path: Path, groups: dict[_Target, list[Package]], skipped: Counter[str]
) -> tuple[list[Finding], list[str]]:
    """The findings for the grouped packages, and the scanned ecosystems with no advisories."""
    conn = vulndb.connect(db_path)
    try:
        stored = _stored_by_package(conn, groups)
        verdicts = _evaluate_all(groups, stored, skipped)
        info = vulndb.advisories(conn, {advisory for v in verdicts.values() for advisory in v})
        uncovered = _uncovered(conn, groups)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the vulnerability database {db_path} is damaged: {exc}") from exc
    finally:
        conn.close()
    findings = [
        _finding(package, target.version, info[advisory_id], fixed)
        for target, verdict in verdicts.items()
        for advisory_id, fixed in verdict.items()
        for package in groups[target]
    ]
    return findings, uncovered


def _target(package: Package, qualifiers: _Qualifiers) -> _Target:
    """The lookup for one package; raises _Unmatchable with the reason it has none."""
    if package.type == "pypi":
        return _Target("PyPI", "", vulndb.lookup_name("PyPI", package.name), package.version)
    if package.type == "npm":
        return _Target("npm", "", package.name, package.version)
    if package.type == "deb":
        family, release = _deb_release(package.purl, qualifiers)
        name = package.source_name or package.name
        return _Target(family, release, name, package.source_version or package.version)
    raise _Unmatchable(f"{package.type} packages are not supported")


def _deb_release(purl: str, qualifiers: _Qualifiers) -> tuple[str, str]:
    """(family, release) from a deb purl's ``distro`` qualifier: ``debian-12`` → Debian, 12."""
    try:
        distro = qualifiers.distro(purl)
    except ValueError as exc:
        raise _Unmatchable("deb packages with invalid purl qualifiers") from exc
    if not distro:
        raise _Unmatchable("deb packages without a distro qualifier (release unknown)")
    distro_id, _, version = distro.lower().partition("-")
    family = _DPKG_DISTROS.get(distro_id)
    if family == "Debian":  # debian-12, debian-12.5 (a point release is Debian:12), debian-bookworm
        release = _DEBIAN_CODENAMES.get(version, version.split(".")[0])
    elif family == "Ubuntu":
        release = version
    elif distro_id in _DEBIAN_CODENAMES:
        family, release = "Debian", _DEBIAN_CODENAMES[distro_id]
    else:
        raise _Unmatchable(f"deb packages of an unsupported distro ({distro_id})")
    if not release:
        raise _Unmatchable(f"deb packages without a release in their distro ({distro})")
    return family, release


def _stored_by_package(
    conn: sqlite3.Connection, groups: dict[_Target, list[Package]]
) -> dict[tuple[str, str], _Stored]:
    """Every stored entry for the targets' (family, name), from one query, grouped."""
    rows: dict[tuple[str, str], list[AffectedRow]] = defaultdict(list)
    for row in vulndb.affected_rows(conn, {(t.family, t.name) for t in groups}):
        rows[(row.family, row.package_name)].append(row)
    return {key: _group(key[0], package_rows) for key, package_rows in rows.items()}


def _group(family: str, rows: list[AffectedRow]) -> _Stored:
    """Group one package's entries (see :class:`_Stored`)."""
    entries_per_advisory = Counter(row.advisory_id for row in rows)
    stored = _Stored(family=family, by_entry={}, several={})
    for row in rows:
        if entries_per_advisory[row.advisory_id] > 1:
            stored.several.setdefault(row.advisory_id, []).append(row)
        else:
            releases = stored.by_entry.setdefault((row.ranges, row.versions), {})
            releases.setdefault(row.release, []).append(row.advisory_id)
    return stored


def _uncovered(conn: sqlite3.Connection, groups: dict[_Target, list[Package]]) -> list[str]:
    """The scanned ecosystems the database has no advisory for."""
    ecosystems = {(t.family, t.release) for t in groups}
    missing = [(f, r) for f, r in ecosystems if not vulndb.covers(conn, f, r)]
    return sorted(f"{family}:{release}" if release else family for family, release in missing)


def _evaluate_all(
    groups: dict[_Target, list[Package]],
    stored: dict[tuple[str, str], _Stored],
    skipped: Counter[str],
) -> dict[_Target, dict[str, str | None]]:
    """For every affected target: advisory id → fixed version (None: no fix)."""
    decoder = _Decoder()
    verdicts: dict[_Target, dict[str, str | None]] = {}
    for target, packages in groups.items():
        entries = stored.get((target.family, target.name))
        if entries is None:
            continue
        if decoder.key(scheme_for(target.family), target.version) is None:
            skipped[f"{target.family} packages with an invalid version"] += len(packages)
            continue
        verdict = _evaluate(target, entries, decoder)
        if verdict:
            verdicts[target] = verdict
    return verdicts


def _evaluate(target: _Target, stored: _Stored, decoder: _Decoder) -> dict[str, str | None]:
    """advisory id → fixed version for the advisories that affect one target."""
    releases = ("", target.release) if target.release else ("",)
    verdict: dict[str, str | None] = {}
    for (ranges, versions), by_release in stored.by_entry.items():
        ids = [i for release in releases for i in by_release.get(release, ())]
        if ids:
            entry = decoder.entry(stored.family, ranges, versions)
            affected, fixed = _verdict([entry], target.version, decoder)
            if affected:
                verdict.update(dict.fromkeys(ids, fixed))
    for advisory_id, rows in stored.several.items():
        entries = [
            decoder.entry(stored.family, row.ranges, row.versions)
            for row in rows
            if row.release in releases
        ]
        affected, fixed = _verdict(entries, target.version, decoder) if entries else (False, None)
        if affected:
            verdict[advisory_id] = fixed
    return verdict


def _verdict(entries: list[_Entry], version: str, decoder: _Decoder) -> tuple[bool, str | None]:
    """(affected, fixed version) over an advisory's entries for one installed version."""
    if not _affects(entries, version, decoder):
        return False, None
    installed = decoder.stored_key(entries[0].scheme, version)
    candidates = {v: k for entry in entries for k, v in entry.fixed if k > installed}
    for fixed in sorted(candidates, key=candidates.__getitem__):
        if not _affects(entries, fixed, decoder):
            return True, fixed
    return True, None


def _affects(entries: list[_Entry], version: str, decoder: _Decoder) -> bool:
    """OSV ``IsVulnerable``: ``version`` lies in a range or equals a listed version."""
    for entry in entries:
        for rng in entry.ranges:
            installed = decoder.key(rng.scheme, version)
            if installed is not None and _in_range(installed, rng):
                return True
        if entry.versions and _listed(entry, version, decoder):
            return True
    return False


def _in_range(installed: VersionKey, rng: _Range) -> bool:
    """OSV ``IncludedInRanges`` for one range (events sorted at import)."""
    if rng.limits and not any(limit is None or installed < limit for limit in rng.limits):
        return False
    vulnerable = False
    for kind, event in rng.events:
        if event is None:  # introduced: 0
            vulnerable = True
        elif event > installed:
            break  # sorted: no later event applies to the installed version
        elif kind == "introduced":
            vulnerable = True
        elif kind == "fixed" or (kind == "last_affected" and installed > event):
            vulnerable = False
    return vulnerable


def _listed(entry: _Entry, version: str, decoder: _Decoder) -> bool:
    """``version`` is in the entry's ``versions`` list, as written or as an equal version."""
    if version in entry.versions:
        return True
    installed = decoder.key(entry.scheme, version)
    return installed is not None and any(
        decoder.key(entry.scheme, listed) == installed for listed in entry.versions
    )


def _finding(package: Package, version: str, info: AdvisoryInfo, fixed: str | None) -> Finding:
    """The finding for one affected package."""
    return Finding(
        category="vulnerability",
        id=info.id,
        severity=info.severity,
        title=info.summary,
        package=package.purl,
        installed_version=version,
        fixed_version=fixed,
        aliases=info.aliases,
        severity_source=info.severity_source,
        detail=f"fixed in {fixed}" if fixed else "no fix available",
    )
