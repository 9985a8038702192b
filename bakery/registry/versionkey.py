"""Byte strings that sort like versions, so that a range query runs in a database index.

``bakery.scan.versions`` orders versions in Python (dpkg via python-debian's grammar, PEP 440
via ``packaging``, SemVer via ``semver``). A database compares ``BLOB``/``bytea`` values
bytewise (``memcmp``) on SQLite and PostgreSQL alike, so :func:`version_key` lays each scheme's
order out as bytes: ``a < b`` in the ecosystem exactly when ``key(a) < key(b)`` as bytes. A
query ``version_key < key('3.0.13')`` on an index over ``(type, name, version_key)`` is then a
range scan; no version is compared in Python.

Building blocks, each order-preserving and prefix-free (no encoding is a proper prefix of
another, so concatenations compare element by element like tuples):

- an integer ``n >= -1``: ``0x01`` for -1 (dpkg's ``~``), else ``0x80 + len`` followed by the
  big-endian bytes of ``n`` (0 is ``0x80`` alone): shorter numbers sort first, as they should;
- a sequence ends with ``0x00``, below every element, so a shorter sequence sorts first.

Package types without an implemented order (apk) have no key; ranges over them are refused.
"""

from __future__ import annotations

import functools
from typing import cast

import semver
from packaging.version import Version as Pep440Version

from bakery.errors import UserError
from bakery.scan import versions
from bakery.scan.versions import InvalidVersion

#: package type (as in ``bakery.scan.model.Package.type``) → OSV ecosystem of its order
ECOSYSTEM_OF_TYPE = {"deb": "Debian", "pypi": "PyPI", "npm": "npm"}
_END = b"\x00"
_MAX_INT_BYTES = 0x7F
_PRE_LETTER = {"a": 1, "b": 2, "rc": 3}


class UnorderedType(UserError):
    """Versions of this package type have no implemented order."""

    def __init__(self, package_type: str) -> None:
        super().__init__(
            f"version ranges are not supported for {package_type!r} packages",
            hint="ranges work for " + ", ".join(sorted(ECOSYSTEM_OF_TYPE)) + " packages",
        )


def _encode_int(n: int) -> bytes:
    """An integer ``>= -1`` as order-preserving, prefix-free bytes."""
    if n == -1:
        return b"\x01"
    if n < 0:
        raise ValueError(f"cannot encode {n}")
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    if len(raw) > _MAX_INT_BYTES:
        raise ValueError("number too large to order")
    return bytes([0x80 + len(raw)]) + raw


_SMALL = [_encode_int(n) for n in range(1024)]  # dpkg character orders and most numbers


def _int(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 1024 else _encode_int(n)


@functools.lru_cache(maxsize=1 << 16)  # dpkg part keys recur across versions
def _ints(values: tuple[int, ...]) -> bytes:
    """A sequence of integers, ended so that a prefix sorts first."""
    return b"".join([_int(v) for v in values]) + _END


def _text(value: str) -> bytes:
    """ASCII text without NUL, ended so that a prefix sorts first."""
    return value.encode("ascii") + _END


def debian_key(version: str) -> bytes:
    """dpkg order: the tuple of :class:`bakery.scan.versions.DebianScheme` as bytes."""
    key = cast(tuple[int, tuple[int, ...], tuple[int, ...]], versions.DEBIAN.key(version))
    epoch, upstream, revision = key
    return _int(epoch) + _ints(upstream) + _ints(revision)


def pep440_key(version: str) -> bytes:
    """PEP 440 order, laid out from ``packaging``'s parsed parts like its own sort key."""
    try:
        parsed = Pep440Version(version)
    except ValueError as exc:
        raise InvalidVersion("PyPI", version) from exc
    release = list(parsed.release)
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    if parsed.pre is None and parsed.post is None and parsed.dev is not None:
        pre = b"\x00"  # 1.0.dev0 sorts before 1.0a0
    elif parsed.pre is None:
        pre = b"\x02"  # a final release sorts after its pre-releases
    else:
        pre = b"\x01" + _int(_PRE_LETTER[parsed.pre[0]]) + _int(parsed.pre[1])
    post = b"\x00" if parsed.post is None else b"\x01" + _int(parsed.post)
    dev = b"\x02" if parsed.dev is None else b"\x01" + _int(parsed.dev)
    local = b"\x00"
    if parsed.local is not None:
        parts = (
            b"\x02" + _int(int(p)) if p.isdigit() else b"\x01" + _text(p.lower())
            for p in parsed.local.split(".")
        )
        local = b"\x01" + b"".join(parts) + _END
    return _int(parsed.epoch) + _ints(tuple(release)) + pre + post + dev + local


def semver_key(version: str) -> bytes:
    """SemVer 2.0 precedence; build metadata is ignored, as the spec says."""
    parsed = cast(semver.Version, versions.SEMVER.key(version))
    head = _int(parsed.major) + _int(parsed.minor) + _int(parsed.patch)
    prerelease = parsed.prerelease
    if not prerelease:
        return head + b"\xff"  # a release sorts after all its pre-releases
    parts = (
        b"\x01" + _int(int(p)) if p.isdigit() else b"\x02" + _text(p) for p in prerelease.split(".")
    )
    return head + b"\x01" + b"".join(parts) + _END


_BY_ECOSYSTEM = {"Debian": debian_key, "PyPI": pep440_key, "npm": semver_key}


@functools.lru_cache(maxsize=1 << 16)
def version_key(package_type: str, version: str) -> bytes:
    """The sortable key of ``version`` for a package of ``package_type`` (deb, pypi, npm).

    Raises :class:`UnorderedType` for other types and
    :class:`~bakery.scan.versions.InvalidVersion` when the version does not parse.
    """
    ecosystem = ECOSYSTEM_OF_TYPE.get(package_type)
    if ecosystem is None:
        raise UnorderedType(package_type)
    return _BY_ECOSYSTEM[ecosystem](version)


def try_version_key(package_type: str, version: str) -> bytes | None:
    """:func:`version_key`, or None when the type has no order or the version is invalid."""
    try:
        return version_key(package_type, version)
    except (UnorderedType, InvalidVersion, ValueError):
        return None


__all__ = [
    "ECOSYSTEM_OF_TYPE",
    "UnorderedType",
    "try_version_key",
    "version_key",
]
