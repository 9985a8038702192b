"""Matching packages against the DB: real Debian 12 advisories with planted old versions (the
expected findings computed with ``dpkg --compare-versions``), OSV range semantics on small
synthetic PyPI and npm records, and what cannot be matched."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
from packageurl import PackageURL

from bakery.errors import UserError
from bakery.scan.match import match, match_report
from bakery.scan.model import Package
from bakery.scan.vulndb import import_osv
from tests.unit.test_vulndb import REAL, osv, write_records


def deb(
    name: str,
    version: str,
    source: str | None = None,
    distro: str | None = "debian-12",
    source_version: str | None = None,
) -> Package:
    qualifiers = {"arch": "amd64", **({"distro": distro} if distro else {})}
    purl = PackageURL("deb", "debian", name, version, qualifiers).to_string()
    return Package(
        type="deb",
        name=name,
        version=version,
        purl=purl,
        source_name=source,
        source_version=source_version,
        location="/var/lib/dpkg/status",
    )


def lang(kind: Literal["pypi", "npm"], name: str, version: str) -> Package:
    purl = PackageURL(kind, None, name, version).to_string()
    return Package(type=kind, name=name, version=version, purl=purl, location="/app")


def dpkg_lt(a: str, b: str) -> bool:
    if shutil.which("dpkg") is None:
        pytest.fail("dpkg is needed to compute expected findings: apt-get install -y dpkg")
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite"
    assert import_osv(db, REAL).imported == 30
    return db


# Binary packages of a Debian 12 image with some sources planted at old versions.
PLANTED = [
    deb("libssl3", "3.0.11-1~deb12u1", source="openssl"),
    deb("openssl", "3.0.11-1~deb12u1"),  # Source: field absent: the source is the package itself
    deb("libc6", "2.36-9+deb12u3", source="glibc"),
    deb("libc-bin", "2.36-9+deb12u3", source="glibc"),
    deb("libcurl4", "7.88.1-10+deb12u4", source="curl"),
    deb("passwd", "1:4.13+dfsg1-1", source="shadow"),
    deb("login", "1:4.13+dfsg1-1+deb12u1", source="shadow"),  # == fixed: not vulnerable
    deb("openssh-client", "1:9.2p1-2+deb12u2", source="openssh"),
    deb("systemd", "252.39-1~deb12u1"),  # ~ edge: fixed in 252.39-1~deb12u2
    deb("libpam0g", "1.5.2-6+deb12u2", source="pam"),  # == fixed of both pam advisories
    deb("libexpat1", "2.5.0-1+deb12u1", source="expat"),  # == fixed
    deb("libtasn1-6", "4.19.0-2+b1", source="libtasn1-6", source_version="4.19.0-2"),  # binNMU
    deb("libcap2", "1:2.66-4", source="libcap2"),
    deb("util-linux", "2.38.1-5+b1", source="util-linux", source_version="2.38.1-5+deb12u1"),
    deb("perl-base", "5.36.0-7+deb12u3", source="perl"),
    deb("bash", "5.2.15-2+b2"),  # no advisory at all
]


def expected_findings(packages: list[Package]) -> set[tuple[str, str, str, str]]:
    """(purl, advisory id, installed source version, fixed) computed from the raw JSON with dpkg."""
    out = set()
    for path in sorted(REAL.glob("*.json")):
        record = json.loads(path.read_text())
        for affected in record["affected"]:
            assert affected["package"]["ecosystem"] == "Debian:12"
            (rng,) = affected["ranges"]
            assert rng["events"][0] == {"introduced": "0"}  # the shape of every real record
            fixed = rng["events"][1]["fixed"]
            for package in packages:
                source = package.source_name or package.name
                version = package.source_version or package.version
                if source == affected["package"]["name"] and dpkg_lt(version, fixed):
                    out.add((package.purl, record["id"], version, fixed))
    return out


def test_planted_debian_packages_match_what_dpkg_says(real_db: Path) -> None:
    expected = expected_findings(PLANTED)
    findings = match(real_db, PLANTED)
    got = {(f.package, f.id, f.installed_version, f.fixed_version) for f in findings}
    assert got == expected
    assert len(findings) == len(got)  # one finding per (package, advisory)
    ids = {(f.package.split("@")[0], f.id) for f in findings if f.package}
    assert ("pkg:deb/debian/libssl3", "DSA-5532-1") in ids  # 3.0.11-1~deb12u1 < 3.0.11-1~deb12u2
    assert ("pkg:deb/debian/login", "DEBIAN-CVE-2023-29383") not in ids  # installed == fixed
    assert ("pkg:deb/debian/passwd", "DEBIAN-CVE-2023-29383") in ids
    assert ("pkg:deb/debian/systemd", "DEBIAN-CVE-2026-29111") in ids  # ~deb12u1 < ~deb12u2
    assert not [
        i
        for i in ids
        if i[0] in ("pkg:deb/debian/libpam0g", "pkg:deb/debian/libexpat1", "pkg:deb/debian/bash")
    ]


def test_finding_fields(real_db: Path) -> None:
    findings = match(real_db, [deb("libc6", "2.36-9+deb12u3", source="glibc")])
    by_id = {f.id: f for f in findings}
    dsa = by_id["DSA-5678-1"]
    assert dsa.category == "vulnerability"
    assert dsa.title == "glibc - security update"
    assert dsa.aliases == ("CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602")
    assert dsa.severity == "unknown"  # the real records carry no severity
    assert dsa.severity_source == "none"  # and no NVD or tracker data was imported
    assert (dsa.installed_version, dsa.fixed_version, dsa.detail) == (
        "2.36-9+deb12u3",
        "2.36-9+deb12u7",
        "fixed in 2.36-9+deb12u7",
    )
    assert dsa.package == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?arch=amd64&distro=debian-12"
    assert "DSA-5514-1" not in by_id  # fixed in deb12u3 == installed
    assert [f.id for f in findings] == sorted(by_id)  # sorted by package, then id


def test_epochs_dominate(real_db: Path) -> None:
    # Without its epoch, 4.13+dfsg1-1+deb12u1 is epoch 0: older than 1:4.13+dfsg1-1+deb12u1.
    no_epoch = match(real_db, [deb("passwd", "4.13+dfsg1-1+deb12u1", source="shadow")])
    assert {f.id for f in no_epoch} == {"DEBIAN-CVE-2023-29383", "DEBIAN-CVE-2023-4641"}
    assert match(real_db, [deb("passwd", "1:4.13+dfsg1-1+deb12u1", source="shadow")]) == []
    assert match(real_db, [deb("passwd", "2:0.1", source="shadow")]) == []


def test_release_must_match_the_image(real_db: Path) -> None:
    report = match_report(
        real_db, [deb("libssl3", "3.0.11-1~deb12u1", source="openssl", distro="debian-11")]
    )
    assert report.findings == []
    assert report.uncovered == ["Debian:11"]  # nothing to match against: not "no vulnerabilities"
    point = match(
        real_db, [deb("libssl3", "3.0.11-1~deb12u1", source="openssl", distro="debian-12.7")]
    )
    codename = match(
        real_db, [deb("libssl3", "3.0.11-1~deb12u1", source="openssl", distro="bookworm")]
    )
    assert (
        {f.id for f in point}
        == {f.id for f in codename}
        == {"DSA-5532-1", "DSA-5764-1", "DEBIAN-CVE-2024-5535"}
    )


def test_unmatchable_packages_are_counted(real_db: Path) -> None:
    apk = Package(
        type="apk",
        name="musl",
        version="1.2.4-r2",
        purl="pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.19",
        location="/lib/apk/db/installed",
    )
    report = match_report(
        real_db,
        [
            deb("libssl3", "3.0.11-1~deb12u1", source="openssl", distro=None),
            deb("libssl3", "3.0.11-1~deb12u1", source="openssl", distro="raspbian-12"),
            apk,
            deb("libssl3", "3.0.11-1~deb12u1", source="openssl"),
        ],
    )
    assert len(report.findings) == 3
    assert report.skipped == {
        "apk packages are not supported": 1,
        "deb packages of an unsupported distro (raspbian)": 1,
        "deb packages without a distro qualifier (release unknown)": 1,
    }
    assert report.uncovered == []


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no vulnerability database"):
        match(tmp_path / "absent.sqlite", PLANTED)
    assert not (tmp_path / "absent.sqlite").exists()


def synthetic_db(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    db = tmp_path / "vulndb.sqlite"
    report = import_osv(db, write_records(tmp_path / "src", records))
    assert report.skipped == {}, report.examples
    return db


def found(db: Path, package: Package) -> dict[str, str | None]:
    """advisory id → fixed version for one package."""
    return {f.id: f.fixed_version for f in match(db, [package])}


def test_pypi_ranges(tmp_path: Path) -> None:
    db = synthetic_db(
        tmp_path,
        [
            osv(
                "GHSA-two",
                "PyPI",
                "Foo_Bar",
                [
                    {"introduced": "1.0"},
                    {"fixed": "1.2.5"},
                    {"introduced": "2.0"},
                    {"fixed": "2.0.3"},
                ],
                severity=[
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                ],
            ),
            osv("GHSA-last", "PyPI", "foo-bar", [{"introduced": "0"}, {"last_affected": "0.9"}]),
            osv("PYSEC-list", "PyPI", "foo.bar", [], database_specific={"severity": "LOW"})
            | {
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "foo.bar"},
                        "versions": ["3.0", "3.1.0"],
                    }
                ]
            },
        ],
    )
    assert found(db, lang("pypi", "foo-bar", "0.9")) == {"GHSA-last": None}  # == last_affected
    assert found(db, lang("pypi", "foo-bar", "0.9.1")) == {}
    assert found(db, lang("pypi", "Foo_Bar", "1.0.0")) == {"GHSA-two": "1.2.5"}  # == introduced 1.0
    assert found(db, lang("pypi", "FOO.bar", "1.2.4")) == {"GHSA-two": "1.2.5"}
    assert found(db, lang("pypi", "foo-bar", "1.2.5")) == {}  # == fixed
    assert found(db, lang("pypi", "foo-bar", "1.5")) == {}
    assert found(db, lang("pypi", "foo-bar", "2.0.0rc1")) == {}  # a pre-release sorts before 2.0
    assert found(db, lang("pypi", "foo-bar", "2.0.2.post1")) == {"GHSA-two": "2.0.3"}
    assert found(db, lang("pypi", "foo-bar", "3.0")) == {"PYSEC-list": None}
    assert found(db, lang("pypi", "foo-bar", "3.1")) == {"PYSEC-list": None}  # equal to 3.1.0
    assert found(db, lang("pypi", "foo-bar", "3.0.1")) == {}
    (finding,) = match(db, [lang("pypi", "foo-bar", "1.1")])
    assert (finding.severity, finding.detail, finding.title) == (
        "critical",
        "fixed in 1.2.5",
        "Foo_Bar issue",
    )
    (listed,) = match(db, [lang("pypi", "foo-bar", "3.0")])
    assert (listed.severity, listed.detail) == ("low", "no fix available")


def test_npm_ranges_and_prereleases(tmp_path: Path) -> None:
    db = synthetic_db(
        tmp_path,
        [
            osv("GHSA-npm", "npm", "@scope/pkg", [{"introduced": "0"}, {"fixed": "1.2.3"}]),
            osv(
                "GHSA-pre",
                "npm",
                "@scope/pkg",
                [{"introduced": "2.0.0-beta.2"}, {"fixed": "2.0.0"}],
            ),
            osv("GHSA-sem", "npm", "@scope/pkg", [])
            | {
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "@scope/pkg"},
                        "ranges": [
                            {
                                "type": "SEMVER",
                                "events": [{"introduced": "3.0.0"}, {"limit": "3.1.0"}],
                            }
                        ],
                    }
                ]
            },
        ],
    )
    pkg = "@scope/pkg"
    assert found(db, lang("npm", pkg, "1.2.3-rc.1")) == {"GHSA-npm": "1.2.3"}
    assert found(db, lang("npm", pkg, "1.2.3")) == {}
    assert found(db, lang("npm", pkg, "1.2.3+build.5")) == {}  # build metadata: equal to 1.2.3
    assert found(db, lang("npm", pkg, "2.0.0-beta.1")) == {}
    assert found(db, lang("npm", pkg, "2.0.0-beta.11")) == {"GHSA-pre": "2.0.0"}
    assert found(db, lang("npm", pkg, "3.0.5")) == {"GHSA-sem": None}  # below the limit
    assert found(db, lang("npm", pkg, "3.1.0")) == {}


def test_fixed_version_is_the_first_that_is_not_affected(tmp_path: Path) -> None:
    db = synthetic_db(
        tmp_path,
        [
            osv("GHSA-nest", "PyPI", "nest", [{"introduced": "0"}, {"fixed": "3.0"}])
            | {
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "nest"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": "3.0"}],
                            },
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "2.5"}, {"fixed": "2.6"}],
                            },
                        ],
                    }
                ]
            },
        ],
    )
    # 2.6 is above 1.0 and fixes the second range, but 2.6 is still in the first one.
    assert found(db, lang("pypi", "nest", "1.0")) == {"GHSA-nest": "3.0"}


def test_unfixed_and_per_release_entries(tmp_path: Path) -> None:
    record = osv("DEBIAN-CVE-2099-1", "Debian:12", "zlib", [{"introduced": "0"}])
    split = osv(
        "DSA-9999-1",
        "Debian:11",
        "zlib",
        [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u3"}],
    )
    split["affected"].append(
        {
            "package": {"ecosystem": "Debian:12", "name": "zlib"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}],
                }
            ],
        }
    )
    anyrelease = osv(
        "DSA-9998-1", "Debian", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1~bpo"}]
    )
    db = synthetic_db(tmp_path, [record, split, anyrelease])
    zlib = deb("zlib1g", "1:1.2.13.dfsg-1", source="zlib")
    assert found(db, zlib) == {
        "DEBIAN-CVE-2099-1": None,  # no fix yet
        "DSA-9999-1": "1:1.2.13.dfsg-1+deb12u1",  # the Debian:12 entry, not the Debian:11 one
    }
    (unfixed,) = [f for f in match(db, [zlib]) if f.id == "DEBIAN-CVE-2099-1"]
    assert unfixed.detail == "no fix available"
    old = deb("zlib1g", "1:1.2.13.dfsg-1~1", source="zlib")  # below the "Debian" (any release) fix
    assert set(found(db, old)) == {"DEBIAN-CVE-2099-1", "DSA-9999-1", "DSA-9998-1"}


def test_invalid_installed_version_is_counted(tmp_path: Path) -> None:
    db = synthetic_db(
        tmp_path, [osv("GHSA-x", "PyPI", "legacy", [{"introduced": "0"}, {"fixed": "2.0"}])]
    )
    report = match_report(db, [lang("pypi", "legacy", "1.0-legacy-build!!")])
    assert report.findings == []
    assert report.skipped == {"PyPI packages with an invalid version": 1}
