"""Severity: CVSS v2/v3.0/v3.1/v4.0 scoring, the NVD and Debian tracker parsers and imports
(malformed input: a clear error naming the file, nothing written), the join to OSV advisories
through their CVE ids, and the acceptance: a rootfs with a planted old libssl3 fails the
default policy once the real Debian 12 advisories are imported with their enrichment."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bakery.errors import UserError
from bakery.oci.model import ImageConfig
from bakery.scan import vulndb
from bakery.scan.enrich import detect_format, import_debian_tracker, import_nvd
from bakery.scan.match import match
from bakery.scan.policy import DEFAULT_POLICY, parse_policy, render_table
from bakery.scan.severity import (
    BadDocument,
    parse_debian_tracker,
    parse_nvd,
    rating_of_record,
    score_vector,
    urgency_level,
)
from bakery.scan.stage import ScanOptions, scan_image
from tests.unit.test_match import deb
from tests.unit.test_vulndb import REAL, dump, osv, write_records

DATA = Path(__file__).resolve().parents[1] / "data"
NVD = DATA / "nvd-cve-2.0-excerpt.json"
TRACKER = DATA / "debian-tracker-excerpt.json"
TODAY = date(2026, 12, 1)


# --- CVSS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vector", "version", "score", "level"),
    [
        ("AV:N/AC:L/Au:N/C:P/I:N/A:N", "2.0", 5.0, "medium"),  # CVE-2014-0160 on NVD
        ("AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10.0, "high"),  # v2 has no critical
        ("AV:L/AC:H/Au:N/C:N/I:P/A:N", "2.0", 1.2, "low"),
        ("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", "2.0", 7.5, "high"),  # NVD's old notation
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, "high"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 9.8, "critical"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", "3.1", 9.1, "critical"),  # CVE-2024-5535
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "3.1", 7.8, "high"),  # CVE-2023-4911
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, "critical"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "4.0", 0.0, "low"),
    ],
)
def test_cvss_vectors_of_every_version(vector: str, version: str, score: float, level: str) -> None:
    scored = score_vector(vector)
    assert (scored.version, scored.score, scored.level) == (version, score, level)


def test_a_malformed_vector_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"malformed CVSS vector 'CVSS:3\.1/AV:X.*AV:X"):
        score_vector("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    with pytest.raises(ValueError, match="unsupported CVSS version"):
        score_vector("CVSS:5.0/AV:N")
    with pytest.raises(ValueError, match="empty CVSS vector"):
        score_vector("  ")


def test_a_record_with_a_malformed_vector_gets_a_note_not_a_crash() -> None:
    record = osv("X-1", "Debian:12", "foo", [{"introduced": "0"}])
    record["severity"] = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"},
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"},
    ]
    rating, notes = rating_of_record(record)
    assert (rating.level, rating.source, rating.score) == ("medium", "osv:cvss_v2", 5.0)
    assert len(notes) == 1 and "CVSS_V3 ignored: malformed CVSS vector" in notes[0]
    assert "Missing mandatory" in notes[0]


def test_importing_a_record_with_a_malformed_vector_reports_the_note(tmp_path: Path) -> None:
    record = osv("GHSA-1", "PyPI", "foo", [{"introduced": "0"}, {"fixed": "1.0"}])
    record["severity"] = [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]
    report = vulndb.import_osv(tmp_path / "db.sqlite", write_records(tmp_path / "src", [record]))
    assert report.imported == 1
    assert report.notes == [
        "GHSA-1.json: CVSS_V4 ignored: malformed CVSS vector 'CVSS:4.0/AV:N': Missing mandatory metrics \"AC, AT, PR, UI, VC, VI, VA, SC, SI, SA\""
    ]


# --- NVD -----------------------------------------------------------------------------------


def test_nvd_excerpt_is_parsed() -> None:
    entries, notes = parse_nvd(NVD.read_bytes())
    assert notes == []
    got = {
        e.cve_id: (e.rating.level, e.rating.source, e.rating.score) if e.rating else None
        for e in entries
    }
    assert got == {
        "CVE-2023-4911": ("high", "nvd:cvss_v3.1", 7.8),
        "CVE-2023-5363": ("high", "nvd:cvss_v3.1", 7.5),
        "CVE-2024-5535": ("critical", "nvd:cvss_v3.1", 9.1),
        "CVE-2024-6119": ("high", "nvd:cvss_v3.1", 7.5),  # a Secondary (CISA-ADP) metric only
        "CVE-2014-0160": ("high", "nvd:cvss_v3.1", 7.5),  # v3.1 before its v2 metric
    }


def nvd_doc(*items: dict[str, Any]) -> bytes:
    return json.dumps(
        {"format": "NVD_CVE", "version": "2.0", "vulnerabilities": list(items)}
    ).encode()


def metric(vector: str, kind: str = "Primary", **data: Any) -> dict[str, Any]:
    return {"source": "x", "type": kind, "cvssData": {"vectorString": vector, **data}}


def test_nvd_metric_choice_newest_version_then_primary_then_score() -> None:
    v31_high = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
    v31_crit = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
    v40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N"  # 0.0
    items = [
        {
            "cve": {
                "id": "CVE-1",
                "metrics": {"cvssMetricV31": [metric(v31_crit, "Secondary"), metric(v31_high)]},
            }
        },
        {
            "cve": {
                "id": "CVE-2",
                "metrics": {
                    "cvssMetricV31": [metric(v31_crit)],
                    "cvssMetricV40": [metric(v40, "Secondary")],
                },
            }
        },
        {
            "cve": {
                "id": "CVE-3",
                "metrics": {"cvssMetricV2": [metric("AV:N/AC:L/Au:N/C:P/I:N/A:N")]},
            }
        },
        {"cve": {"id": "CVE-4", "metrics": {}}},
        {"cve": {"id": "CVE-5"}},
        {
            "cve": {
                "id": "CVE-6",
                "metrics": {
                    "cvssMetricV31": [metric("CVSS:3.1/AV:N/AC:L")],
                    "cvssMetricV2": [metric("AV:N/AC:L/Au:N/C:C/I:C/A:C")],
                },
            }
        },
    ]
    entries, notes = parse_nvd(nvd_doc(*items))
    got = {e.cve_id: (e.rating.source, e.rating.score) if e.rating else None for e in entries}
    assert got == {
        "CVE-1": ("nvd:cvss_v3.1", 7.5),  # NVD's own (Primary) before a CNA's higher one
        "CVE-2": ("nvd:cvss_v4.0", 0.0),  # the newest version wins
        "CVE-3": ("nvd:cvss_v2.0", 5.0),
        "CVE-4": None,
        "CVE-5": None,
        "CVE-6": ("nvd:cvss_v2.0", 10.0),  # the malformed v3.1 metric is ignored, with a note
    }
    assert len(notes) == 1 and notes[0].startswith("CVE-6: cvssMetricV31 ignored: malformed")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", 'no "vulnerabilities" list'),
        (b'{"vulnerabilities": {}}', 'no "vulnerabilities" list'),
        (b'{"vulnerabilities": [{"id": "CVE-1"}]}', r"vulnerabilities\[0\]: expected"),
        (
            b'{"vulnerabilities": [{"cve": {"id": "CVE-1", "metrics": []}}]}',
            "metrics is not an object",
        ),
        (
            b'{"vulnerabilities": [{"cve": {"id": "CVE-1", "metrics": {"cvssMetricV31": [{"cvssData": {}}]}}}]}',
            "without cvssData.vectorString",
        ),
    ],
)
def test_malformed_nvd_documents(document: bytes, message: str) -> None:
    with pytest.raises(BadDocument, match=message):
        parse_nvd(document)


# --- Debian tracker ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "level"),
    [
        ("unimportant", "low"),
        ("low", "low"),
        ("low**", "low"),
        ("medium", "medium"),
        ("medium**", "medium"),
        ("high", "high"),
        ("high**", "high"),
        ("High*", "high"),
        ("not yet assigned", "unknown"),
        ("end-of-life", "unknown"),
        ("", "unknown"),
        ("something new", "unknown"),
    ],
)
def test_tracker_urgencies(urgency: str, level: str) -> None:
    assert urgency_level(urgency) == level


def test_tracker_excerpt_is_parsed() -> None:
    entries = parse_debian_tracker(TRACKER.read_bytes())
    got = {(e.package, e.cve_id, e.release): e.urgency for e in entries}
    assert got[("glibc", "CVE-2025-0395", "bookworm")] == "low**"
    assert got[("openssl", "CVE-2023-5363", "bookworm")] == "not yet assigned"
    assert got[("util-linux", "CVE-2024-28085", "bookworm")] == "unimportant"
    assert not [key for key in got if key[1].startswith("TEMP-")]
    assert len(entries) == 17


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"{}", "expected {package: {CVE id"),
        (b'{"vulnerabilities": []}', "vulnerabilities: expected an object of CVE ids"),
        (
            b'{"openssl": {"CVE-2024-1": {"scope": "remote"}}}',
            'openssl/CVE-2024-1: expected an object with "releases"',
        ),
        (
            b'{"openssl": {"CVE-2024-1": {"releases": {"bookworm": {"urgency": 3}}}}}',
            "releases.bookworm has no string urgency",
        ),
    ],
)
def test_malformed_tracker_documents(document: bytes, message: str) -> None:
    with pytest.raises(BadDocument, match=message):
        parse_debian_tracker(document)


# --- imports and the join through aliases ---------------------------------------------------


@pytest.fixture
def real_db(tmp_path: Path) -> Path:
    db = tmp_path / "vulndb.sqlite"
    assert vulndb.import_osv(db, REAL).imported == 30
    return db


def ratings(db: Path) -> dict[str, tuple[str, str, float | None]]:
    with sqlite3.connect(db) as conn:
        return {
            row[0]: (row[1], row[2], row[3])
            for row in conn.execute("SELECT id, severity, severity_source, score FROM advisories")
        }


def test_the_debian_records_alone_are_unrated(real_db: Path) -> None:
    assert set(ratings(real_db).values()) == {("unknown", "none", None)}


def test_nvd_and_tracker_rate_the_debian_records_through_their_cve_ids(real_db: Path) -> None:
    report = import_nvd(real_db, NVD)
    assert (report.imported, report.unchanged, report.rerated) == (5, 0, 4)
    assert import_debian_tracker(real_db, TRACKER).rerated == 2
    got = ratings(real_db)
    assert got["DSA-5532-1"] == ("high", "nvd:cvss_v3.1", 7.5)  # upstream CVE-2023-5363
    assert got["DSA-5764-1"] == ("high", "nvd:cvss_v3.1", 7.5)  # CVE-2024-6119
    assert got["DEBIAN-CVE-2024-5535"] == ("critical", "nvd:cvss_v3.1", 9.1)  # by its own id
    assert got["DSA-5514-1"] == ("high", "nvd:cvss_v3.1", 7.8)  # glibc CVE-2023-4911
    # no NVD data: the tracker's urgency for the package in bookworm
    assert got["DEBIAN-CVE-2025-0395"] == ("low", "debian-tracker:urgency", None)  # low**
    assert got["DSA-5650-1"] == ("low", "debian-tracker:urgency", None)  # unimportant
    # "not yet assigned" rates nothing; no data at all: unknown
    assert got["DSA-5678-1"] == ("unknown", "none", None)
    findings = match(real_db, [deb("libssl3", "3.0.11-1~deb12u1", source="openssl")])
    assert {(f.id, f.severity, f.severity_source) for f in findings} == {
        ("DSA-5532-1", "high", "nvd:cvss_v3.1"),
        ("DSA-5764-1", "high", "nvd:cvss_v3.1"),
        ("DEBIAN-CVE-2024-5535", "critical", "nvd:cvss_v3.1"),
    }


def test_the_order_of_imports_does_not_matter(tmp_path: Path, real_db: Path) -> None:
    import_nvd(real_db, NVD)
    import_debian_tracker(real_db, TRACKER)
    other = tmp_path / "other.sqlite"
    import_debian_tracker(other, TRACKER)
    import_nvd(other, NVD)
    vulndb.import_osv(other, REAL)
    assert dump(other) == dump(real_db)


def test_the_tracker_urgency_of_another_release_does_not_apply(tmp_path: Path) -> None:
    records = [
        osv(
            "DEBIAN-CVE-2024-0001",
            "Debian:12",
            "foo",
            [{"introduced": "0"}],
            upstream=["CVE-2024-0001"],
        ),
        osv(
            "DEBIAN-CVE-2024-0002",
            "Debian:11",
            "foo",
            [{"introduced": "0"}],
            upstream=["CVE-2024-0001"],
        ),
        osv(
            "DEBIAN-CVE-2024-0003",
            "Debian:12",
            "bar",
            [{"introduced": "0"}],
            upstream=["CVE-2024-0001"],
        ),
    ]
    db = tmp_path / "db.sqlite"
    vulndb.import_osv(db, write_records(tmp_path / "src", records))
    tracker = {
        "foo": {
            "CVE-2024-0001": {
                "releases": {
                    "bookworm": {"urgency": "high**"},
                    "bullseye": {"urgency": "unimportant"},
                }
            }
        }
    }
    (tmp_path / "tracker.json").write_text(json.dumps(tracker))
    import_debian_tracker(db, tmp_path / "tracker.json")
    got = ratings(db)
    assert got["DEBIAN-CVE-2024-0001"] == ("high", "debian-tracker:urgency", None)
    assert got["DEBIAN-CVE-2024-0002"] == ("low", "debian-tracker:urgency", None)
    assert got["DEBIAN-CVE-2024-0003"] == ("unknown", "none", None)  # another package


def test_the_records_own_cvss_beats_nvd_and_nvd_beats_words(tmp_path: Path) -> None:
    own = "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N"  # 3.5 low
    records = [
        osv(
            "GHSA-own",
            "PyPI",
            "a",
            [{"introduced": "0"}],
            aliases=["CVE-2024-5535"],
            severity=[{"type": "CVSS_V3", "score": own}],
        ),
        osv(
            "GHSA-word",
            "PyPI",
            "b",
            [{"introduced": "0"}],
            aliases=["CVE-2024-5535"],
            database_specific={"severity": "LOW"},
        ),
        osv(
            "GHSA-none",
            "PyPI",
            "c",
            [{"introduced": "0"}],
            database_specific={"severity": "MODERATE"},
        ),
    ]
    db = tmp_path / "db.sqlite"
    vulndb.import_osv(db, write_records(tmp_path / "src", records))
    import_nvd(db, NVD)
    got = ratings(db)
    assert got["GHSA-own"] == ("low", "osv:cvss_v3", 3.5)
    assert got["GHSA-word"] == ("critical", "nvd:cvss_v3.1", 9.1)
    assert got["GHSA-none"] == ("medium", "osv:database_specific", None)


def test_an_older_nvd_entry_does_not_replace_a_newer_one(real_db: Path, tmp_path: Path) -> None:
    import_nvd(real_db, NVD)
    older = {
        "cve": {
            "id": "CVE-2024-5535",
            "lastModified": "2024-06-28T00:00:00.000",
            "metrics": {"cvssMetricV31": [metric("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")]},
        }
    }
    feed = tmp_path / "nvdcve-2.0-2024.json.gz"
    feed.write_bytes(gzip.compress(nvd_doc(older)))
    assert detect_format(feed) == "nvd"
    report = import_nvd(real_db, feed)
    assert (report.imported, report.unchanged, report.rerated) == (0, 1, 0)
    assert ratings(real_db)["DEBIAN-CVE-2024-5535"] == ("critical", "nvd:cvss_v3.1", 9.1)


@pytest.mark.parametrize("kind", ["nvd", "tracker"])
def test_a_malformed_file_is_one_error_naming_it_and_nothing_is_imported(
    real_db: Path, tmp_path: Path, kind: str
) -> None:
    import_nvd(real_db, NVD)
    before = dump(real_db)
    directory = tmp_path / "feeds"
    directory.mkdir()
    good = json.loads(NVD.read_text())
    (directory / "a-good.json").write_text(json.dumps(good))
    bad = directory / "b-bad.json"
    bad.write_text(NVD.read_text()[:-200] if kind == "nvd" else '{"openssl": {"CVE-2024-1": []}}')
    load = import_nvd if kind == "nvd" else import_debian_tracker
    source = directory if kind == "nvd" else bad
    with pytest.raises(UserError) as caught:
        load(real_db, source)
    assert str(bad) in caught.value.message and "\n" not in caught.value.one_line()
    assert dump(real_db) == before


def test_a_failed_first_enrichment_leaves_no_database(tmp_path: Path) -> None:
    bad = tmp_path / "tracker.json"
    bad.write_text('{"openssl": 1}')
    with pytest.raises(UserError, match=r"tracker\.json: openssl: expected an object of CVE ids"):
        import_debian_tracker(tmp_path / "db.sqlite", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracker.json"]


def test_formats_are_told_apart(tmp_path: Path) -> None:
    assert detect_format(NVD) == "nvd"
    assert detect_format(TRACKER) == "debian-tracker"
    assert detect_format(REAL) == "osv"
    assert detect_format(REAL / "DSA-5532-1.json") == "osv"
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "nvdcve-2.0-2024.json.gz").write_bytes(gzip.compress(NVD.read_bytes()))
    assert detect_format(feeds) == "nvd"
    (feeds / "nvdcve-2.0-2023.json").write_bytes(NVD.read_bytes())
    assert detect_format(feeds) == "nvd"
    records = write_records(tmp_path / "records", [osv("X-1", "PyPI", "x", [{"introduced": "0"}])])
    (records / "0-junk.json").write_text("{")  # sorted first: still an OSV directory
    assert detect_format(records) == "osv"
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    with pytest.raises(UserError, match="neither an OSV record, NVD CVE JSON nor Debian"):
        detect_format(other)
    other.write_text("{")
    with pytest.raises(UserError, match=r"other\.json: not valid JSON"):
        detect_format(other)


# --- acceptance: a planted libssl3 fails the default policy ----------------------------------

PLANTED_STATUS = """Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6000
Maintainer: Debian OpenSSL Team
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: {version}
Description: Secure Sockets Layer toolkit - shared libraries

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12000
Maintainer: GNU Libc Maintainers
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u14
Description: GNU C Library: Shared libraries
"""


def rootfs(root: Path, libssl3: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
        "VERSION_CODENAME=bookworm\n"
    )
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(PLANTED_STATUS.format(version=libssl3))
    return root


def scan(root: Path, db: Path, policy_text: str | None = None) -> Any:
    policy = DEFAULT_POLICY if policy_text is None else parse_policy(policy_text, Path("p.yaml"))
    config = ImageConfig.model_validate(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"User": "app"},
        }
    )
    return scan_image(
        root, config, options=ScanOptions(vulndb=db, policy=policy, today=TODAY)
    ).result


OPENSSL_IDS = {"DSA-5532-1", "DSA-5764-1", "DEBIAN-CVE-2024-5535"}


def test_planted_libssl3_fails_the_default_policy_after_enrichment(
    real_db: Path, tmp_path: Path
) -> None:
    import_debian_tracker(real_db, TRACKER)
    import_nvd(real_db, NVD)
    result = scan(rootfs(tmp_path / "planted", "3.0.11-1~deb12u1"), real_db)
    vulns = [f for f in result.findings if f.category == "vulnerability"]
    assert {f.id for f in vulns} == OPENSSL_IDS  # libc6 at deb12u14 is patched against all
    assert not result.policy.passed
    failing = {v.subject: v.severity for v in result.policy.violations}
    assert failing == {
        "DSA-5532-1": "high",
        "DSA-5764-1": "high",
        "DEBIAN-CVE-2024-5535": "critical",
    }
    table = render_table(result.policy, result.findings)
    assert table.startswith("Policy FAILED: 3 violations")
    assert "Findings: 3 (critical 1, high 2, medium 0, low 0, unknown 0)" in table
    critical, high = table.index("  CRITICAL: 1"), table.index("  HIGH: 2")
    assert (
        critical
        < table.index("DEBIAN-CVE-2024-5535  fixed in 3.0.15-1~deb12u1  nvd:cvss_v3.1  FAILS")
        < high
    )
    assert (
        high
        < table.index("    libssl3 3.0.11-1~deb12u1: 2")
        < table.index("DSA-5532-1 (CVE-2023-5363)  fixed in 3.0.11-1~deb12u2")
    )


def test_planted_libssl3_fails_unenriched_too_as_unknown_with_a_fix(
    real_db: Path, tmp_path: Path
) -> None:
    result = scan(rootfs(tmp_path / "planted", "3.0.11-1~deb12u1"), real_db)
    assert {v.subject for v in result.policy.violations} == OPENSSL_IDS
    assert {v.severity for v in result.policy.violations} == {"unknown"}
    assert "unknownSeverity: fail" in result.policy.violations[0].message
    passing = scan(
        rootfs(tmp_path / "lenient", "3.0.11-1~deb12u1"),
        real_db,
        "apiVersion: bakery.dev/v1\nkind: Policy\nunknownSeverity: pass\n",
    )
    assert passing.policy.passed


def test_waivers_accept_the_planted_findings(real_db: Path, tmp_path: Path) -> None:
    import_nvd(real_db, NVD)
    allow = "".join(
        f"  - {{id: {i}, reason: 'rebuild scheduled (CAB-7)', expires: 2027-01-31}}\n"
        for i in sorted(OPENSSL_IDS)
    )
    result = scan(
        rootfs(tmp_path / "planted", "3.0.11-1~deb12u1"),
        real_db,
        f"apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n{allow}",
    )
    assert result.policy.passed and len(result.policy.allowed) == 3
    assert "allowed" in render_table(result.policy, result.findings)


def test_a_patched_libssl3_passes(real_db: Path, tmp_path: Path) -> None:
    import_debian_tracker(real_db, TRACKER)
    import_nvd(real_db, NVD)
    result = scan(rootfs(tmp_path / "patched", "3.0.17-1~deb12u2"), real_db)
    assert result.findings == [] and result.policy.passed
