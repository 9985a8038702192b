"""The local vulnerability DB: importing real Debian 12 OSV records, bad input, crash safety,
severity levels."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bakery.errors import StoreError, UserError
from bakery.scan import vulndb
from bakery.scan.severity import BadVector, score_vector
from bakery.scan.vulndb import import_osv, severity_of, status

REAL = Path("/work/shared/data/osv-debian12")
REPO = Path(__file__).resolve().parents[2]


def real_records() -> list[dict[str, Any]]:
    """The real Debian 12 OSV records shipped with the test data."""
    return [json.loads(p.read_text()) for p in sorted(REAL.glob("*.json"))]


def osv(
    record_id: str, ecosystem: str, name: str, events: list[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    """A small synthetic OSV record with one affected package and one ECOSYSTEM range."""
    record: dict[str, Any] = {
        "schema_version": "1.7.0",
        "id": record_id,
        "modified": "2025-01-01T00:00:00Z",
        "summary": f"{name} issue",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    record.update(extra)
    return record


def write_records(directory: Path, records: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for record in records:
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    return directory


def dump(db: Path) -> list[Any]:
    """Every row of every table, sorted: the DB's whole content."""
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return [
            (t, sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)) for t in tables
        ]


@pytest.fixture
def real_db(tmp_path: Path) -> Path:
    db = tmp_path / "vulndb.sqlite"
    report = import_osv(db, REAL)
    assert report.imported == 30 and report.skipped == {}
    return db


def test_import_real_debian_records(real_db: Path) -> None:
    st = status(real_db)
    assert st.counts_per_ecosystem == {"Debian:12": 30}
    assert st.total == 30 and st.withdrawn == 0
    assert st.newest_modified == "2026-07-01T00:39:57Z"  # DEBIAN-CVE-2026-0861
    with sqlite3.connect(real_db) as conn:
        row = conn.execute(
            "SELECT summary, severity, aliases, raw FROM advisories WHERE id = 'DSA-5678-1'"
        ).fetchone()
        assert row == (
            "glibc - security update",
            "unknown",  # the Debian records carry no severity, CVSS or urgency
            json.dumps(["CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602"]),
            None,  # raw JSON only on request
        )
        ranges = conn.execute(
            "SELECT family, release, package_name, ranges FROM affected WHERE advisory_id = 'DSA-5532-1'"
        ).fetchall()
        assert ranges == [
            (
                "Debian",
                "12",
                "openssl",
                '[["ECOSYSTEM",[["introduced","0"],["fixed","3.0.11-1~deb12u2"]]]]',
            )
        ]
        title = conn.execute(
            "SELECT summary FROM advisories WHERE id = 'DEBIAN-CVE-2023-29383'"
        ).fetchone()[0]
        assert (
            title.startswith("In Shadow 4.13, it is possible") and len(title) <= 120
        )  # from details


def test_reimport_is_a_no_op(real_db: Path) -> None:
    before = dump(real_db)
    report = import_osv(real_db, REAL)
    assert (report.imported, report.unchanged, report.skipped) == (0, 30, {})
    assert dump(real_db) == before


def test_zip_import_equals_directory_import(tmp_path: Path, real_db: Path) -> None:
    archive = tmp_path / "Debian.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(REAL.glob("*.json")):
            zf.write(path, path.name)
    db = tmp_path / "from-zip.sqlite"
    report = import_osv(db, archive)
    assert (report.imported, report.skipped) == (30, {})
    assert dump(db) == dump(real_db)


def test_zip_with_junk_is_counted_not_fatal(tmp_path: Path) -> None:
    good = osv("PYSEC-1", "PyPI", "Foo_Bar", [{"introduced": "0"}, {"fixed": "1.2"}])
    members = {
        "README.txt": b"not json, not counted",
        "sub/": b"",
        "advisories/PYSEC-1.json": json.dumps(good).encode(),
        "junk.json": b"\x00\xffgarbage{",
        "truncated.json": json.dumps(good).encode()[:40],
        "list.json": b"[1, 2, 3]",
        "no-id.json": json.dumps({**good, "id": ""}).encode(),
        "no-modified.json": json.dumps(
            {k: v for k, v in good.items() if k != "modified"} | {"id": "X-2"}
        ).encode(),
        "no-affected.json": json.dumps({**good, "id": "X-3", "affected": []}).encode(),
        "alpine.json": json.dumps(
            osv("ALPINE-1", "Alpine:v3.19", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-r3"}])
        ).encode(),
        "maven.json": json.dumps(
            osv("GHSA-m", "Maven", "org.x:y", [{"introduced": "0"}, {"fixed": "1.0"}])
        ).encode(),
        "bad-version.json": json.dumps(
            osv("GHSA-b", "PyPI", "foo", [{"introduced": "0"}, {"fixed": "not a version"}])
        ).encode(),
        "bad-deb-version.json": json.dumps(
            osv("DSA-b", "Debian:12", "foo", [{"introduced": "0"}, {"fixed": "1.0 beta"}])
        ).encode(),
        "bad-event.json": json.dumps(
            osv("GHSA-e", "PyPI", "foo", [{"introduced": "0", "fixed": "1.0"}])
        ).encode(),
    }
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    db = tmp_path / "vulndb.sqlite"
    report = import_osv(db, archive)
    assert report.imported == 1
    assert report.skipped == {
        "bad version in a range": 2,
        "malformed JSON": 2,
        "malformed range": 1,
        "missing affected": 1,
        "missing id": 1,
        "missing modified": 1,
        "not an OSV record": 1,
        "unsupported ecosystem Alpine": 1,
        "unsupported ecosystem Maven": 1,
    }
    assert len(report.examples) == 11
    assert (
        "bad-deb-version.json: bad version in a range ('1.0 beta' is not a valid Debian version)"
        in report.examples
    )
    assert status(db).counts_per_ecosystem == {"PyPI": 1}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT package_name FROM affected").fetchall() == [("foo-bar",)]


def test_mixed_ecosystem_record_keeps_the_supported_entries(tmp_path: Path) -> None:
    record = osv("GHSA-mix", "PyPI", "foo", [{"introduced": "0"}, {"fixed": "1.0"}])
    record["affected"].append(
        {"package": {"ecosystem": "Maven", "name": "org:foo"}, "versions": ["1"]}
    )
    record["affected"].append(
        {"ranges": [{"type": "GIT", "repo": "x", "events": [{"introduced": "abc"}]}]}
    )
    db = tmp_path / "vulndb.sqlite"
    report = import_osv(db, write_records(tmp_path / "src", [record]))
    assert (report.imported, report.skipped) == (1, {})
    assert status(db).counts_per_ecosystem == {"PyPI": 1}


def test_newer_modified_replaces_older_and_equal_do_not(tmp_path: Path) -> None:
    db = tmp_path / "vulndb.sqlite"
    v1 = osv(
        "GHSA-1",
        "PyPI",
        "foo",
        [{"introduced": "0"}, {"fixed": "1.0"}],
        modified="2024-01-01T00:00:00Z",
    )
    import_osv(db, write_records(tmp_path / "v1", [v1]))
    v2 = osv(
        "GHSA-1",
        "PyPI",
        "foo",
        [{"introduced": "0"}, {"fixed": "2.0"}],
        modified="2024-06-01T00:00:00.5Z",
        summary="v2",
    )
    assert import_osv(db, write_records(tmp_path / "v2", [v2])).imported == 1
    older = {**v1, "summary": "older", "modified": "2023-01-01T00:00:00Z"}
    same = {**v2, "summary": "same time, other text"}
    for source in (
        write_records(tmp_path / "old", [older]),
        write_records(tmp_path / "same", [same]),
    ):
        report = import_osv(db, source)
        assert (report.imported, report.unchanged) == (0, 1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT summary, modified FROM advisories").fetchall() == [
            ("v2", "2024-06-01T00:00:00.5Z")
        ]
        assert conn.execute("SELECT ranges FROM affected").fetchall() == [
            ('[["ECOSYSTEM",[["introduced","0"],["fixed","2.0"]]]]',)
        ]


def test_duplicate_ids_in_one_import_keep_the_newest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    old = osv(
        "GHSA-d",
        "PyPI",
        "foo",
        [{"introduced": "0"}, {"fixed": "1.0"}],
        modified="2024-01-01T00:00:00Z",
    )
    new = osv(
        "GHSA-d",
        "PyPI",
        "foo",
        [{"introduced": "0"}, {"fixed": "2.0"}],
        modified="2024-02-01T00:00:00Z",
    )
    write_records(src / "b", [old])
    write_records(src / "a", [new])  # read first: the older one that follows is left alone
    db = tmp_path / "vulndb.sqlite"
    report = import_osv(db, src)
    assert (report.imported, report.unchanged) == (1, 1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM affected").fetchone() == (1,)


def test_events_are_stored_in_version_order(tmp_path: Path) -> None:
    events = [
        {"fixed": "1.10"},
        {"limit": "*"},
        {"introduced": "1.9"},
        {"fixed": "1.2"},
        {"introduced": "0"},
    ]
    db = tmp_path / "vulndb.sqlite"
    import_osv(db, write_records(tmp_path / "src", [osv("GHSA-o", "PyPI", "foo", events)]))
    with sqlite3.connect(db) as conn:
        (ranges,) = conn.execute("SELECT ranges FROM affected").fetchone()
    assert json.loads(ranges) == [
        [
            "ECOSYSTEM",
            [
                ["introduced", "0"],
                ["fixed", "1.2"],
                ["introduced", "1.9"],
                ["fixed", "1.10"],
                ["limit", "*"],
            ],
        ]
    ]


def test_withdrawn_record_is_kept_but_has_no_entries(tmp_path: Path) -> None:
    db = tmp_path / "vulndb.sqlite"
    live = osv("GHSA-w", "PyPI", "foo", [{"introduced": "0"}, {"fixed": "1.0"}])
    import_osv(db, write_records(tmp_path / "a", [live]))
    gone = {**live, "modified": "2025-02-01T00:00:00Z", "withdrawn": "2025-02-01T00:00:00Z"}
    import_osv(db, write_records(tmp_path / "b", [gone]))
    st = status(db)
    assert (st.total, st.withdrawn, st.counts_per_ecosystem) == (0, 1, {})
    assert import_osv(db, write_records(tmp_path / "c", [live])).unchanged == 1  # not revived


def test_keep_raw(tmp_path: Path) -> None:
    db = tmp_path / "vulndb.sqlite"
    import_osv(db, REAL / "DSA-5532-1.json", keep_raw=True)
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute("SELECT raw FROM advisories").fetchone()
    assert json.loads(raw) == json.loads((REAL / "DSA-5532-1.json").read_text())


@pytest.mark.parametrize("kind", ["missing", "not-a-zip", "empty-dir", "zip-without-json"])
def test_bad_sources_change_nothing(tmp_path: Path, kind: str) -> None:
    source = tmp_path / "source"
    if kind == "not-a-zip":
        source.write_bytes(b"PK\x03\x04 this is not really a zip")
    elif kind == "empty-dir":
        (source / "nested").mkdir(parents=True)
        (source / "nested" / "notes.txt").write_text("no json here")
    elif kind == "zip-without-json":
        with zipfile.ZipFile(source, "w") as zf:
            zf.writestr("README", "hello")
    db = tmp_path / "vulndb.sqlite"
    with pytest.raises(UserError):
        import_osv(db, source)
    assert not db.exists()


def test_failed_first_import_leaves_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: bytes, *, keep_raw: bool = False) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(vulndb, "_parse_record", broken)
    db = tmp_path / "vulndb.sqlite"
    with pytest.raises(RuntimeError):
        import_osv(db, REAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_oversized_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vulndb, "MAX_RECORD_BYTES", 1000)
    small = json.dumps(osv("GHSA-s", "PyPI", "s", [{"introduced": "0"}]))
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("GHSA-s.json", small)
        zf.writestr("bomb.json", b" " * 100_000)  # compresses to almost nothing
    report = import_osv(tmp_path / "a.sqlite", archive)
    assert (report.imported, report.skipped) == (1, {"unreadable or oversized file": 1})
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "GHSA-s.json").write_text(small)
    (directory / "big.json").write_bytes(b" " * 5000)
    report = import_osv(tmp_path / "b.sqlite", directory)
    assert (report.imported, report.skipped) == (1, {"unreadable or oversized file": 1})


def test_exception_midway_changes_nothing(
    real_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump(real_db)
    monkeypatch.setattr(vulndb, "_BATCH", 10)
    records = [
        osv(f"GHSA-{i}", "PyPI", f"p{i}", [{"introduced": "0"}, {"fixed": "1.0"}])
        for i in range(50)
    ]
    source = write_records(tmp_path / "src", records)
    calls = 0
    real_parse = vulndb._parse_record

    def failing_parse(data: bytes, *, keep_raw: bool = False) -> Any:
        nonlocal calls
        calls += 1
        if calls == 45:  # after four batches have been written inside the transaction
            raise RuntimeError("disk on fire")
        return real_parse(data, keep_raw=keep_raw)

    monkeypatch.setattr(vulndb, "_parse_record", failing_parse)
    with pytest.raises(RuntimeError):
        import_osv(real_db, source)
    assert dump(real_db) == before


def test_import_killed_midway_changes_nothing(real_db: Path, tmp_path: Path) -> None:
    before = dump(real_db)
    archive = tmp_path / "Big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(30_000):
            record = osv(
                f"GHSA-{i}",
                "npm",
                f"pkg-{i % 3000}",
                [{"introduced": "0"}, {"fixed": f"1.{i % 50}.0"}],
            )
            record["details"] = "x" * 400
            zf.writestr(f"GHSA-{i}.json", json.dumps(record))
    wal = Path(f"{real_db}-wal")
    code = "import sys; from pathlib import Path; from bakery.scan.vulndb import import_osv; import_osv(Path(sys.argv[1]), Path(sys.argv[2]), keep_raw=True)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(real_db), str(archive)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (wal.exists() and wal.stat().st_size > 2 << 20):  # the transaction is writing
            assert proc.poll() is None, "the import ended before it could be killed: make it bigger"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert dump(real_db) == before  # the uncommitted transaction in the WAL is ignored
    with sqlite3.connect(real_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert status(real_db).total == 30
    assert import_osv(real_db, REAL).unchanged == 30  # and it still takes writes


def test_damaged_or_missing_database(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no vulnerability database"):
        status(tmp_path / "absent.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged"):
        status(garbage)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    with pytest.raises(StoreError, match="schema 999 is not supported"):
        import_osv(other, REAL)


# CVSS v3.x base scores of known vectors (FIRST calculator values, as listed in
# RedHatProductSecurity/cvss tests/vectors_simple31; NVD shows the same for the named CVEs),
# scored by the cvss library through bakery.scan.severity.score_vector.
CVSS31 = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),  # CVE-2021-44228
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:L/A:L", 9.9),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:N/A:N", 5.0),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 9.0),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 3.5),
    ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 9.1),
    ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:N/A:N", 4.1),
    ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.9),
    ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:C/C:N/I:H/A:H", 6.9),
    ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8),
    ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N", 2.3),
    ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 7.6),
    ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8),
    ("CVSS:3.1/AV:P/AC:L/PR:N/UI:R/S:C/C:L/I:N/A:N", 2.3),
    ("CVSS:3.1/AV:P/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 1.9),
    ("CVSS:3.1/AV:P/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:N", 7.1),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N/E:P/RL:O", 6.8),  # temporal metrics ignored
]


@pytest.mark.parametrize(("vector", "score"), CVSS31)
def test_cvss31_base_scores(vector: str, score: float) -> None:
    scored = score_vector(vector)
    assert (scored.version, scored.score) == ("3.1", score)


def test_cvss30_vectors_are_scored_as_v30() -> None:
    scored = score_vector("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert (scored.version, scored.score, scored.level) == ("3.0", 9.8, "critical")
    assert score_vector("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H").score == 7.8


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:4.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",  # no such version
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # repeated
        "CVSS:3.1/",
        "CVSS:4.0/AV:N",
        "AV:N/AC:L/Au:N/C:P/I:P",  # a v2 vector without A
        "not a vector",
        "",
    ],
)
def test_invalid_cvss_vectors(vector: str) -> None:
    with pytest.raises(BadVector, match="CVSS"):
        score_vector(vector)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "low"),  # 0.0, "None"
        ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "low"),  # 1.8
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:N/A:N", "medium"),  # 4.1
        ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "medium"),  # 6.8
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "high"),  # 7.5
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", "critical"),  # 9.0
    ],
)
def test_levels(score: str, level: str) -> None:
    assert score_vector(score).level == level


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}
                ],
                "database_specific": {"severity": "CRITICAL"},
            },
            "medium",
        ),
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"},
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
                ]
            },
            "critical",
        ),
        (
            {
                "severity": [
                    {
                        "type": "CVSS_V4",
                        "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                    }
                ],
                "database_specific": {"severity": "MODERATE"},
            },
            "critical",  # v4 is scored (9.3) and a score beats a word
        ),
        (
            {
                "severity": [
                    {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"},  # 5.0
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
                ]
            },
            "high",  # the newest version present wins
        ),
        ({"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}]}, "high"),
        (
            {
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}],
                "database_specific": {"severity": "LOW"},
            },
            "low",  # a malformed vector is ignored (with a note), the word applies
        ),
        ({"severity": [{"type": "Ubuntu", "score": "negligible"}]}, "low"),
        ({"database_specific": {"severity": "HIGH"}}, "high"),
        ({"affected_extra": {"ecosystem_specific": {"urgency": "unimportant"}}}, "low"),
        ({"affected_extra": {"ecosystem_specific": {"urgency": "not yet assigned"}}}, "unknown"),
        (
            {
                "affected_extra": {
                    "severity": [
                        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
                    ]
                }
            },
            "high",
        ),
        ({}, "unknown"),
    ],
)
def test_severity_sources(fields: dict[str, Any], level: str) -> None:
    fields = dict(fields)
    record = osv("X-1", "Debian:12", "foo", [{"introduced": "0"}])
    record["affected"][0].update(fields.pop("affected_extra", {}))
    record.update(fields)
    assert severity_of(record) == level
