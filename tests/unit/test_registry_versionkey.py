"""Sortable version keys: bytewise order equals dpkg, PEP 440 and SemVer order."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import semver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from bakery.registry.versionkey import UnorderedType, try_version_key, version_key
from bakery.scan.versions import InvalidVersion


def dpkg_compare(a: str, b: str) -> int:
    """-1/0/1 by dpkg itself."""
    if shutil.which("dpkg") is None:
        pytest.fail("dpkg is needed to check Debian version order: apt-get install -y dpkg")
    for result, op in ((-1, "lt"), (0, "eq")):
        done = subprocess.run(
            ["dpkg", "--compare-versions", a, op, b], capture_output=True, text=True, check=False
        )
        assert "error" not in done.stderr, done.stderr
        if done.returncode == 0:
            return result
    return 1


def sign(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def real_debian_versions() -> list[str]:
    """Versions from this host's dpkg database and the shared OSV data: real pairs."""
    found: set[str] = set()
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version: "):
                found.add(line.removeprefix("Version: ").strip())
    return sorted(found)


REAL = real_debian_versions()

debian_versions = st.builds(
    lambda epoch, first, upstream, revision: f"{epoch}{first}{upstream}{revision}",
    st.sampled_from(["", "", "0:", "1:", "12:"]),
    st.sampled_from("0129"),
    st.text(alphabet="0019.+~ab", max_size=6),
    st.one_of(
        st.just(""),
        st.builds(lambda r: "-" + r, st.text(alphabet="0019.+~a", max_size=4).filter(bool)),
    ),
)


def test_real_host_versions_exist() -> None:
    assert len(REAL) > 100, "the host's /var/lib/dpkg/status should list hundreds of versions"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL or ["1.0"]), st.sampled_from(REAL or ["1.0"]))
def test_real_debian_pairs_sort_like_dpkg(a: str, b: str) -> None:
    assert sign(version_key("deb", a), version_key("deb", b)) == dpkg_compare(a, b)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(debian_versions, debian_versions)
def test_generated_debian_pairs_sort_like_dpkg(a: str, b: str) -> None:
    assert sign(version_key("deb", a), version_key("deb", b)) == dpkg_compare(a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", -1),
        ("3.0.13-1~deb12u1", "3.0.13", 1),
        ("1:1.0", "9.9", 1),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0-0", 0),
        ("2.36-9+deb12u10", "2.36-9+deb12u4", 1),
        ("1.0", "1", 1),
    ],
)
def test_debian_edge_cases(a: str, b: str, expected: int) -> None:
    assert sign(version_key("deb", a), version_key("deb", b)) == expected
    assert dpkg_compare(a, b) == expected


pep440_versions = st.builds(
    lambda epoch, release, pre, post, dev, local: f"{epoch}{release}{pre}{post}{dev}{local}",
    st.sampled_from(["", "", "1!"]),
    st.lists(st.integers(0, 12), min_size=1, max_size=4).map(lambda r: ".".join(map(str, r))),
    st.sampled_from(["", "", "a0", "a1", "b2", "rc1", "rc10"]),
    st.sampled_from(["", "", ".post0", ".post1", ".post12"]),
    st.sampled_from(["", "", ".dev0", ".dev3"]),
    st.sampled_from(["", "", "+local", "+1", "+ubuntu.2", "+abc.10", "+abc.9", "+2.a"]),
)


@settings(max_examples=500, deadline=None)
@given(pep440_versions, pep440_versions)
def test_pep440_keys_sort_like_packaging(a: str, b: str) -> None:
    va, vb = Version(a), Version(b)
    expected = (va > vb) - (va < vb)
    assert sign(version_key("pypi", a), version_key("pypi", b)) == expected


identifier = st.one_of(
    st.integers(0, 30).map(str),
    st.text(alphabet="abz-", min_size=1, max_size=3),
    st.text(alphabet="ab1", min_size=1, max_size=3).filter(lambda s: not s.isdigit()),
)
semver_versions = st.builds(
    lambda core, pre, build: f"{core}{pre}{build}",
    st.lists(st.integers(0, 11), min_size=3, max_size=3).map(lambda r: ".".join(map(str, r))),
    st.one_of(
        st.just(""), st.lists(identifier, min_size=1, max_size=3).map(lambda p: "-" + ".".join(p))
    ),
    st.sampled_from(["", "+build.1", "+x"]),
)


@settings(max_examples=500, deadline=None)
@given(semver_versions, semver_versions)
def test_semver_keys_sort_like_semver(a: str, b: str) -> None:
    expected = semver.Version.parse(a).compare(semver.Version.parse(b))
    assert sign(version_key("npm", a), version_key("npm", b)) == expected


def test_unordered_types_and_invalid_versions() -> None:
    with pytest.raises(UnorderedType):
        version_key("apk", "1.2.3-r0")
    with pytest.raises(InvalidVersion):
        version_key("deb", "1.0 beta")
    assert try_version_key("apk", "1.2.3-r0") is None
    assert try_version_key("npm", "1.2") is None
    assert try_version_key("deb", "'; DROP TABLE artifacts; --") is None
