"""Severity: CVSS vectors scored, and the three places a severity comes from.

Pure functions, bytes and typed values in and out; :mod:`bakery.scan.vulndb` stores what they
return and joins it to the advisories.

- :func:`score_vector` scores a CVSS v2, v3.0, v3.1 or v4.0 vector with the ``cvss`` library
  (Red Hat Product Security's, which implements each FIRST specification) and rates it: v3 and
  v4 by their own qualitative scale (``None`` is rated ``low``, the lowest level we have), v2 by
  NVD's (0-3.9 low, 4-6.9 medium, 7-10 high). A malformed vector raises :class:`BadVector`
  whose message says what is wrong with it.
- :func:`rating_of_record`: an OSV record's own severity (``severity[]`` CVSS vectors, then its
  severity words), with the notes of vectors it could not score.
- :func:`parse_nvd`: NVD's CVE JSON 2.0 (a feed file or an API response): one CVSS rating per
  CVE id.
- :func:`parse_debian_tracker`: the Debian security tracker's JSON: the urgency of each (CVE,
  source package, release).

A malformed document (not the format it claims to be) raises :class:`BadDocument`, which names
the place inside it; the importer turns that into a one-line error naming the file.

The Debian tracker's urgencies (:data:`DEBIAN_URGENCY`): ``unimportant`` → low (the security
team judged it no real risk for Debian, e.g. the vulnerable code is not built), ``low`` → low,
``medium`` → medium, ``high`` → high. The trailing ``*`` or ``**`` the tracker puts on some
urgencies (``low**``) is ignored: the same level. ``not yet assigned`` and ``end-of-life`` (no
security support for the package in that release) say nothing about the vulnerability: unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from bakery.scan.model import SEVERITY_ORDER, Severity

#: where a severity came from when nothing rated it
NO_SOURCE = "none"

#: the tracker's urgency words (lowercase, ``*`` suffixes removed) → severity
DEBIAN_URGENCY: dict[str, Severity] = {
    "unimportant": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "not yet assigned": "unknown",
    "end-of-life": "unknown",
}

#: severity words of OSV records (Ubuntu priorities, GitHub's database_specific, Debian urgency)
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

_RATINGS: dict[str, Severity] = {
    "none": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}

#: Debian releases and their codenames (the tracker names releases by codename)
DEBIAN_CODENAMES = {
    "8": "jessie",
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
}

CvssVersion = Literal["2.0", "3.0", "3.1", "4.0"]
_CVE = re.compile(r"(?:^|-)(CVE-\d{4}-\d{4,})$")


class BadVector(ValueError):
    """A CVSS vector that cannot be scored; the message says why."""


class BadDocument(ValueError):
    """A document that is not in the format it should be; the message says where and why."""


@dataclass(frozen=True)
class CvssScore:
    """A scored CVSS vector."""

    version: CvssVersion
    vector: str
    score: float
    level: Severity


@dataclass(frozen=True)
class Rating:
    """A severity, where it came from, and the CVSS score and vector behind it (if any)."""

    level: Severity
    source: str  # "osv:cvss_v3", "nvd:cvss_v3.1", "debian-tracker:urgency", "none", ...
    score: float | None = None
    vector: str | None = None

    def to_json(self) -> str:
        """The rating as stored."""
        return json.dumps([self.level, self.source, self.score, self.vector])

    @classmethod
    def from_json(cls, text: str) -> Rating:
        """A rating as stored by :meth:`to_json`."""
        level, source, score, vector = json.loads(text)
        return cls(level if level in SEVERITY_ORDER else "unknown", source, score, vector)


UNRATED = Rating("unknown", NO_SOURCE)


def rank(rating: Rating) -> tuple[int, float]:
    """Sort key: level first, then score (a rating without a score ranks below one with)."""
    return SEVERITY_ORDER.index(rating.level), -1.0 if rating.score is None else rating.score


# ---------------------------------------------------------------------------------------------
# CVSS


def score_vector(vector: str) -> CvssScore:
    """Score and rate a CVSS v2, v3.0, v3.1 or v4.0 base vector (its prefix says which).

    v2 vectors carry no prefix (``AV:N/AC:L/Au:N/C:P/I:P/A:P``; ``CVSS:2.0/`` and NVD's
    parentheses are accepted). Temporal and environmental metrics are parsed but the base
    score is what is returned. Raises :class:`BadVector`.
    """
    text = vector.strip() if isinstance(vector, str) else ""
    if not text:
        raise BadVector("empty CVSS vector")
    try:
        if text.startswith("CVSS:4.0/"):
            v4 = CVSS4(text)
            return _rated("4.0", text, v4.base_score, v4.severity)
        if text.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(text)
            version: CvssVersion = "3.1" if text.startswith("CVSS:3.1/") else "3.0"
            return _rated(version, text, v3.base_score, v3.severities()[0])
        if text.startswith("CVSS:"):
            if not text.startswith("CVSS:2.0/"):
                raise BadVector(f"unsupported CVSS version in {text!r}")
            text = text.removeprefix("CVSS:2.0/")
        v2 = CVSS2(text.removeprefix("(").removesuffix(")"))
        return _rated("2.0", vector.strip(), v2.base_score, v2.severities()[0])
    except CVSSError as exc:
        raise BadVector(f"malformed CVSS vector {vector.strip()!r}: {exc}") from exc


def _rated(version: CvssVersion, vector: str, score: Decimal, rating: str) -> CvssScore:
    """A :class:`CvssScore` from the library's score and qualitative rating."""
    return CvssScore(version, vector, float(score), _RATINGS.get(str(rating).lower(), "unknown"))


# ---------------------------------------------------------------------------------------------
# An OSV record's own severity

_OSV_CVSS = ("CVSS_V2", "CVSS_V3", "CVSS_V4")


def rating_of_record(record: dict[str, Any]) -> tuple[Rating, list[str]]:
    """The record's own severity, and notes about vectors it could not score.

    First that applies: the CVSS vectors of ``severity[]`` (the per-package ones when the top
    level has none), the newest CVSS version present, the highest score of that version; then
    severity words: an ``Ubuntu`` priority, ``database_specific.severity`` (GitHub's
    LOW/MODERATE/HIGH/CRITICAL), ``ecosystem_specific`` ``severity`` or ``urgency`` (Debian's
    urgency); else unknown.
    """
    affected = [a for a in record.get("affected") or [] if isinstance(a, dict)]
    entries = [e for e in record.get("severity") or [] if isinstance(e, dict)]
    if not entries:  # the schema allows per-package severity only when the top level has none
        entries = [e for a in affected for e in a.get("severity") or [] if isinstance(e, dict)]
    notes: list[str] = []
    scored: list[CvssScore] = []
    for entry in entries:
        kind, text = entry.get("type"), entry.get("score")
        if kind in _OSV_CVSS and isinstance(text, str):
            try:
                scored.append(score_vector(text))
            except BadVector as exc:
                notes.append(f"{kind} ignored: {exc}")
    if scored:
        newest = max(s.version for s in scored)
        best = max((s for s in scored if s.version == newest), key=lambda s: s.score)
        source = f"osv:cvss_v{best.version.split('.')[0]}"  # as the vector says, not the type
        return Rating(best.level, source, best.score, best.vector), notes
    return _word_rating(record, entries, affected), notes


def _word_rating(
    record: dict[str, Any], entries: list[dict[str, Any]], affected: list[dict[str, Any]]
) -> Rating:
    """The most severe severity word of the record, with the field it came from."""
    found: list[Rating] = []
    for entry in entries:
        if entry.get("type") == "Ubuntu" and isinstance(entry.get("score"), str):
            found += _word(entry["score"], "osv:ubuntu")
    found += _word_in(record.get("database_specific"), "severity", "osv:database_specific")
    for block in affected:
        found += _word_in(block.get("database_specific"), "severity", "osv:database_specific")
        found += _word_in(block.get("ecosystem_specific"), "severity", "osv:ecosystem_specific")
        found += _word_in(block.get("ecosystem_specific"), "urgency", "osv:ecosystem_specific")
    return max(found, key=rank, default=UNRATED)


def _word_in(block: Any, field_name: str, source: str) -> list[Rating]:
    """The rating of a severity word in a ``*_specific`` block (none when absent or unknown)."""
    if isinstance(block, dict) and isinstance(block.get(field_name), str):
        return _word(block[field_name], source)
    return []


def _word(text: str, source: str) -> list[Rating]:
    """``[Rating]`` for a known severity word (``*`` suffixes ignored), else ``[]``."""
    level = _WORD_LEVELS.get(text.strip().lower().rstrip("*"))
    return [Rating(level, source)] if level else []


def cve_ids(ids: Iterable[str]) -> set[str]:
    """The CVE ids among advisory ids and aliases (``DEBIAN-CVE-2024-5535`` → its CVE id)."""
    return {m.group(1) for i in ids if (m := _CVE.search(i.upper()))}


# ---------------------------------------------------------------------------------------------
# NVD CVE JSON 2.0

#: NVD's metric lists, newest CVSS version first, with the version they hold
NVD_METRICS: tuple[tuple[str, CvssVersion], ...] = (
    ("cvssMetricV40", "4.0"),
    ("cvssMetricV31", "3.1"),
    ("cvssMetricV30", "3.0"),
    ("cvssMetricV2", "2.0"),
)


@dataclass(frozen=True)
class NvdEntry:
    """One CVE of an NVD document: its rating (None: no scorable metric) and lastModified."""

    cve_id: str
    last_modified: str
    rating: Rating | None


def parse_nvd(data: bytes) -> tuple[list[NvdEntry], list[str]]:
    """The CVEs of an NVD CVE JSON 2.0 document, and notes about metrics that were ignored.

    Each CVE is rated by the newest CVSS version NVD lists for it (v4.0, v3.1, v3.0, v2); within
    a version, NVD's own (``Primary``) metric before a CNA's (``Secondary``), then the highest
    score. Scores are computed from ``vectorString``; a metric whose vector does not parse is
    ignored with a note. Raises :class:`BadDocument` when the document is not NVD CVE JSON.
    """
    document = _load(data)
    if not isinstance(document, dict) or not isinstance(document.get("vulnerabilities"), list):
        raise BadDocument('not NVD CVE JSON 2.0: no "vulnerabilities" list at the top level')
    entries: list[NvdEntry] = []
    notes: list[str] = []
    for position, item in enumerate(document["vulnerabilities"]):
        cve = item.get("cve") if isinstance(item, dict) else None
        where = f"vulnerabilities[{position}]"
        if not isinstance(cve, dict) or not isinstance(cve.get("id"), str) or not cve["id"]:
            raise BadDocument(f'{where}: expected {{"cve": {{"id": ...}}}}')
        metrics = cve.get("metrics", {})
        if not isinstance(metrics, dict):
            raise BadDocument(f"{where} ({cve['id']}): metrics is not an object")
        last_modified = cve.get("lastModified")
        rating = _nvd_rating(cve["id"], metrics, notes, where)
        entries.append(NvdEntry(cve["id"], str(last_modified or ""), rating))
    return entries, notes


def _nvd_rating(
    cve_id: str, metrics: dict[str, Any], notes: list[str], where: str
) -> Rating | None:
    """The chosen rating of one CVE's metrics (see :func:`parse_nvd`)."""
    for key, version in NVD_METRICS:
        listed = metrics.get(key, [])
        if not isinstance(listed, list):
            raise BadDocument(f"{where} ({cve_id}): metrics.{key} is not a list")
        candidates: list[tuple[bool, float, CvssScore]] = []
        for metric in listed:
            vector = _vector_of(metric, f"{where} ({cve_id}): metrics.{key}")
            try:
                scored = score_vector(vector)
            except BadVector as exc:
                notes.append(f"{cve_id}: {key} ignored: {exc}")
                continue
            if scored.version != version:
                notes.append(f"{cve_id}: {key} ignored: a CVSS {scored.version} vector")
                continue
            candidates.append((metric.get("type") == "Primary", scored.score, scored))
        if candidates:
            best = max(candidates, key=lambda c: (c[0], c[1]))[2]
            return Rating(best.level, f"nvd:cvss_v{version}", best.score, best.vector)
    return None


def _vector_of(metric: Any, where: str) -> str:
    """``cvssData.vectorString`` of one NVD metric; BadDocument when the shape is wrong."""
    data = metric.get("cvssData") if isinstance(metric, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("vectorString"), str):
        raise BadDocument(f"{where}: a metric without cvssData.vectorString")
    vector: str = data["vectorString"]
    return vector


# ---------------------------------------------------------------------------------------------
# The Debian security tracker's JSON


@dataclass(frozen=True)
class TrackerEntry:
    """The tracker's urgency for one CVE in one source package and release (codename)."""

    cve_id: str
    package: str
    release: str
    urgency: str  # as published, lowercased ("low**", "not yet assigned")


def urgency_level(urgency: str) -> Severity:
    """The severity of a tracker urgency (see the module doc); unknown for other words."""
    return DEBIAN_URGENCY.get(urgency.strip().lower().rstrip("*").strip(), "unknown")


def parse_debian_tracker(data: bytes) -> list[TrackerEntry]:
    """Every (CVE, package, release) urgency of the tracker's JSON.

    The document is ``{package: {CVE id: {"description", "scope", "debianbug", "releases":
    {codename: {"status", "repositories", "fixed_version", "urgency", ...}}}}}``; ids that are
    not CVE ids (``TEMP-…``) are left out. Raises :class:`BadDocument` when it is not that.
    """
    document = _load(data)
    if not isinstance(document, dict) or not document:
        raise BadDocument("not Debian security tracker JSON: expected {package: {CVE id: ...}}")
    return list(_tracker_entries(document))


def _tracker_entries(document: dict[str, Any]) -> Iterator[TrackerEntry]:
    """Validate and flatten the tracker's document."""
    for package, issues in document.items():
        if not isinstance(issues, dict):
            raise BadDocument(f"{package}: expected an object of CVE ids")
        for issue_id, issue in issues.items():
            where = f"{package}/{issue_id}"
            releases = issue.get("releases") if isinstance(issue, dict) else None
            if not isinstance(releases, dict):
                raise BadDocument(f'{where}: expected an object with "releases"')
            for release, state in releases.items():
                urgency = state.get("urgency", "") if isinstance(state, dict) else None
                if not isinstance(urgency, str):
                    raise BadDocument(f"{where}: releases.{release} has no string urgency")
                if _CVE.fullmatch(issue_id):
                    yield TrackerEntry(issue_id, package, release, urgency.strip().lower())


def _load(data: bytes) -> Any:
    """JSON, or BadDocument saying where it is not."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BadDocument(f"not valid JSON: {exc.msg} ({where})") from exc
    except (ValueError, RecursionError) as exc:
        raise BadDocument(f"not valid JSON: {exc}") from exc
