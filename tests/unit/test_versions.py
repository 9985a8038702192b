"""Version order per ecosystem: Debian against the real ``dpkg --compare-versions``, PEP 440, SemVer."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from debian.debian_support import NativeVersion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakery.errors import UserError
from bakery.scan.versions import (
    DEBIAN,
    PEP440,
    SEMVER,
    InvalidVersion,
    UnsupportedEcosystem,
    compare,
    key,
    scheme_for,
)


def dpkg_compare(a: str, b: str) -> int:
    """-1/0/1 by dpkg itself (two calls: lt, then eq)."""
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


def python_debian_compare(a: str, b: str) -> int:
    """-1/0/1 by python-debian's own (pure Python) comparison."""
    result = NativeVersion(a)._compare(NativeVersion(b))
    return (result > 0) - (result < 0)


EDGE_CASES = [
    ("1:1.0", "2.0"),  # the epoch dominates
    ("0:1.0", "1.0"),  # epoch 0 is no epoch
    ("1.0~rc1", "1.0"),  # ~ sorts before everything, even the end
    ("1.0~rc1", "1.0~rc1~1"),
    ("3.0.11-1~deb12u1", "3.0.13-1~deb12u1"),
    ("3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
    ("3.0.11-1~deb12u2", "3.0.11-1"),  # a stable backport sorts before the unstable upload
    ("2.36-9+deb12u4", "2.36-9+deb12u10"),  # numbers compare as numbers
    ("2.36-9+deb12u4", "2.36-9"),
    ("1:4.13+dfsg1-1+deb12u1", "4.13+dfsg1-1+deb12u1"),
    ("1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2"),
    ("0", "0~"),
    ("1.0", "1.0-0"),  # an absent revision equals revision 0
    ("1.0", "1"),
    ("1.0", "1."),
    ("1~", "1"),
    ("1.0a", "1.0+"),  # letters sort before other symbols
    ("1.0.a", "1.0a"),
    ("1.01", "1.1"),  # leading zeros do not count
    ("1.0-1", "1.0-1.1"),
    ("10", "9"),
    ("252.39-1~deb12u1", "252.39-1~deb12u2"),
]


@pytest.mark.parametrize(("a", "b"), EDGE_CASES)
def test_debian_edge_cases_agree_with_dpkg(a: str, b: str) -> None:
    expected = dpkg_compare(a, b)
    assert compare("Debian:12", a, b) == expected
    assert compare("Debian:12", b, a) == -expected


def test_debian_hand_checked_directions() -> None:
    assert compare("Debian", "1:1.0", "2.0") == 1
    assert compare("Debian", "1.0~rc1", "1.0") == -1
    assert compare("Debian", "3.0.11-1~deb12u1", "3.0.13-1~deb12u1") == -1
    assert compare("Debian", "1.0", "1.0-0") == 0


def _run(chars: str, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=chars, min_size=0, max_size=max_size)


# A small alphabet on purpose: versions must collide often (same prefixes, ~ against the end
# of a string, leading zeros) for the comparison to be tested at its edges.
debian_versions = st.builds(
    lambda epoch, first, upstream, revision: f"{epoch}{first}{upstream}{revision}",
    st.sampled_from(["", "", "0:", "1:", "2:"]),
    st.sampled_from("0129"),
    _run("0019.+~ab", 5),
    st.one_of(st.just(""), st.builds(lambda r: "-" + r, _run("0019.+~a", 4).filter(bool))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(debian_versions, debian_versions)
def test_debian_order_is_dpkg_order(a: str, b: str) -> None:
    expected = dpkg_compare(a, b)
    assert compare("Debian:12", a, b) == expected
    assert python_debian_compare(a, b) == expected  # the library we build on agrees too


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.+-:~aZ_ ", min_size=0, max_size=8))
def test_debian_accepts_what_python_debian_accepts(text: str) -> None:
    try:
        NativeVersion(text)
        python_debian_ok = not text.endswith("-")  # dpkg refuses an empty revision
    except ValueError:
        python_debian_ok = False
    try:
        DEBIAN.key(text)
        ours_ok = True
    except InvalidVersion:
        ours_ok = False
    assert ours_ok == python_debian_ok


@pytest.mark.parametrize("bad", ["", "1.0 beta", "1:", "a:1.0", "1.0-", "1_0", "1.0-a_b", "1.0\n"])
def test_debian_invalid_versions(bad: str) -> None:
    with pytest.raises(InvalidVersion) as excinfo:
        key("Debian:12", bad)
    assert isinstance(excinfo.value, UserError)
    assert excinfo.value.scheme == "Debian"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0rc1", "1.0", -1),
        ("1.0", "1.0.0", 0),  # PEP 440 pads with zeros
        ("1.0.post1", "1.0", 1),
        ("1.1.dev0", "1.0.post1", 1),
        ("1.0+local.1", "1.0", 1),
        ("2.0", "10.0", -1),
        ("1!0.5", "2.0", 1),  # epochs
        ("1.0a1", "1.0b1", -1),
        ("1.0-RC1", "1.0rc1", 0),  # normalised spellings are equal
    ],
)
def test_pep440(a: str, b: str, expected: int) -> None:
    assert compare("PyPI", a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.2.3-beta.1", "1.2.3", -1),
        ("1.2.3-beta.2", "1.2.3-beta.11", -1),  # numeric identifiers compare as numbers
        ("1.2.3-alpha", "1.2.3-alpha.1", -1),
        ("1.2.3-alpha.beta", "1.2.3-beta", -1),
        ("1.2.3+build.1", "1.2.3+build.2", 0),  # build metadata has no precedence
        ("1.10.0", "1.9.9", 1),
        ("0.0.1", "0.0.1-rc.1", 1),
    ],
)
def test_semver(a: str, b: str, expected: int) -> None:
    assert compare("npm", a, b) == expected


@pytest.mark.parametrize(
    ("ecosystem", "bad"),
    [
        ("PyPI", "not a version"),
        ("PyPI", ""),
        ("npm", "1.2"),
        ("npm", "v1.2.3"),
        ("npm", "1.2.3.4"),
    ],
)
def test_invalid_versions(ecosystem: str, bad: str) -> None:
    with pytest.raises(InvalidVersion):
        key(ecosystem, bad)


def test_schemes_per_ecosystem() -> None:
    assert scheme_for("Debian") is DEBIAN
    assert scheme_for("Debian:12") is DEBIAN
    assert scheme_for("Ubuntu:22.04:LTS") is DEBIAN
    assert scheme_for("PyPI") is PEP440
    assert scheme_for("npm") is SEMVER
    assert scheme_for("PyPI", "SEMVER") is SEMVER  # SEMVER ranges are SemVer in any ecosystem
    assert scheme_for("Debian:12", "ECOSYSTEM") is DEBIAN


@pytest.mark.parametrize("ecosystem", ["Alpine:v3.19", "Maven", "crates.io", "pypi", ""])
def test_unsupported_ecosystems(ecosystem: str) -> None:
    with pytest.raises(UnsupportedEcosystem) as excinfo:
        compare(ecosystem, "1.0", "1.1")
    assert isinstance(excinfo.value, UserError)
    assert excinfo.value.family == ecosystem.split(":")[0]
    assert "supported ecosystems are" in excinfo.value.one_line()
