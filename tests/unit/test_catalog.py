"""Catalogers on small, realistic rootfs trees, and on hostile or damaged ones."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from debian import copyright as debian_copyright

from bakery.errors import UserError
from bakery.scan.catalog import (
    CATALOGERS,
    CatalogResult,
    Listing,
    Rootfs,
    catalog_rootfs,
    parse_os_release,
)
from bakery.scan.catalog.apk import ApkCataloger
from bakery.scan.catalog.dpkg import DpkgCataloger, dep5_licenses, files_only
from bakery.scan.catalog.npm import NpmCataloger, is_package_dir, split_name
from bakery.scan.catalog.python import PythonCataloger
from bakery.scan.model import Package

DEBIAN_OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""

# Three installed packages as dpkg writes them (fields trimmed), one removed but not purged,
# one held, one left unpacked by a failed install.
DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: login
Essential: yes
Status: install ok installed
Architecture: amd64
Source: shadow (1:4.13+dfsg1-1)
Version: 1:4.13+dfsg1-1+b1
Description: system login tools

Package: libfoo1
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, configuration files left

Package: tzdata
Status: hold ok installed
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data

Package: broken
Status: install reinstreq unpacked
Architecture: amd64
Version: 0.1-1
Description: unpacked, never configured
"""

LIBC6_LIST = """\
/.
/etc
/etc/ld.so.conf.d
/etc/ld.so.conf.d/x86_64-linux-gnu.conf
/usr
/usr/lib
/usr/lib/x86_64-linux-gnu
/usr/lib/x86_64-linux-gnu/libc.so.6
/usr/lib/x86_64-linux-gnu/libm.so.6
"""

# A DEP-5 copyright file the way Debian ships them: header, Files paragraphs, stand-alone
# License paragraphs with full texts (continuation lines, `.` for blank lines).
DEP5_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shadow
Source: https://github.com/shadow-maint/shadow

Files: *
Copyright: 1989-1994, Julianne Frances Haugh
           2007-2011, Nicolas François
License: BSD-3-clause

Files: lib/tcbfuncs.c
Copyright: 2001 Rafal Wojtczuk
License: public-domain

Files: debian/*
Copyright: 1999-2001 Ben Collins <bcollins@debian.org>
License:
 GPL-2+
Comment: License synopsis on the next line: an empty synopsis.

Files: src/login_nopam.c
Copyright: 1995 Wietse Venema
License: GPL-2+ or Artistic
 This is free software.
 .
 License: this line is licence text, not a field

License: BSD-3-clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions
 are met:
"""

OLD_STYLE_COPYRIGHT = """\
This is Debian's prepackaged version of the GNU C library.

License: the GNU Lesser General Public License, see /usr/share/common-licenses/LGPL-2.1
"""


def write(root: Path, path: str, content: str | bytes = "") -> Path:
    """Create the file ``path`` (an image path) under ``root``."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    return target


def symlink(root: Path, path: str, target: str) -> None:
    """Create the symlink ``path`` (an image path) under ``root``, pointing at ``target``."""
    link = root / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.fixture
def debian(tmp_path: Path) -> Path:
    """A Debian rootfs: merged /usr, os-release behind a symlink, a realistic dpkg database."""
    root = tmp_path / "rootfs"
    write(root, "/usr/lib/os-release", DEBIAN_OS_RELEASE)
    symlink(root, "/etc/os-release", "../usr/lib/os-release")
    write(root, "/var/lib/dpkg/status", DPKG_STATUS)
    write(root, "/var/lib/dpkg/info/libc6:amd64.list", LIBC6_LIST)
    write(root, "/var/lib/dpkg/info/login.list", "/.\n/bin\n/bin/login\n/etc/login.defs\n")
    write(root, "/usr/share/doc/login/copyright", DEP5_COPYRIGHT)
    write(root, "/usr/share/doc/libc6/copyright", OLD_STYLE_COPYRIGHT)
    return root


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {p.name: p for p in result.packages}


# -- dpkg ------------------------------------------------------------------------------------


def test_dpkg_reads_installed_packages(debian: Path) -> None:
    result = DpkgCataloger().catalog(debian)
    packages = by_name(result)

    assert sorted(packages) == ["libc6", "login", "tzdata"]  # held counts, removed does not
    libc = packages["libc6"]
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    assert (libc.source_name, libc.source_version) == ("glibc", "2.36-9+deb12u4")
    assert libc.architecture == "amd64" and libc.location == "/var/lib/dpkg/status"
    assert libc.files == (  # from libc6:amd64.list, directories left out
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    )
    assert libc.licenses == ()  # its copyright file is not machine-readable
    login = packages["login"]
    assert (login.source_name, login.source_version) == ("shadow", "1:4.13+dfsg1-1")
    assert login.version == "1:4.13+dfsg1-1+b1"
    assert login.purl == "pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12"
    assert login.licenses == ("BSD-3-Clause", "public-domain", "GPL-2.0-or-later OR Artistic-1.0")
    assert login.files == ("/bin/login", "/etc/login.defs")
    tzdata = packages["tzdata"]
    assert (tzdata.source_name, tzdata.source_version) == ("tzdata", "2024a-0+deb12u1")
    assert tzdata.files == ()
    assert result.notes == (
        "dpkg: /var/lib/dpkg/status:37: package broken is unpacked, not installed; skipped",
    )


def test_dpkg_status_d_distroless(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    write(root, "/etc/os-release", DEBIAN_OS_RELEASE)
    write(
        root,
        "/var/lib/dpkg/status.d/base-files",
        "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
    )
    write(
        root,
        "/var/lib/dpkg/status.d/base-files.md5sums",
        "0123456789abcdef0123456789abcdef  etc/debian_version\n"
        "fedcba9876543210fedcba9876543210  usr/lib/os-release\n",
    )
    write(
        root,
        "/var/lib/dpkg/status.d/libssl3",
        "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
    )

    packages = by_name(DpkgCataloger().catalog(root))

    assert sorted(packages) == ["base-files", "libssl3"]
    assert packages["base-files"].files == ("/etc/debian_version", "/usr/lib/os-release")
    assert packages["base-files"].location == "/var/lib/dpkg/status.d/base-files"
    assert packages["libssl3"].source_name == "openssl"
    assert packages["libssl3"].source_version == "3.0.11-1~deb12u2"


def test_dpkg_garbage_paragraph_is_skipped_and_the_rest_kept(debian: Path) -> None:
    # python-debian's iter_paragraphs would stop here and silently drop every later package
    status = DPKG_STATUS.replace(
        "Package: login", "garbage without any colon\n\x00\x01 more junk\n\nPackage: login"
    )
    write(debian, "/var/lib/dpkg/status", status)

    result = DpkgCataloger().catalog(debian)

    assert sorted(by_name(result)) == ["libc6", "login", "tzdata"]
    assert result.notes[0] == ("dpkg: /var/lib/dpkg/status:17: no Package field; paragraph skipped")


def test_dpkg_invalid_fields_are_skipped_with_notes(debian: Path) -> None:
    status = DPKG_STATUS.replace("Version: 1:4.13+dfsg1-1+b1", "Version: not a version")
    status = status.replace("Package: tzdata", "Package: Tz_Data!")
    write(debian, "/var/lib/dpkg/status", status)

    result = DpkgCataloger().catalog(debian)

    assert sorted(by_name(result)) == ["libc6"]
    assert any("package login: Invalid version string 'not a version'" in n for n in result.notes)
    assert any("invalid package name 'Tz_Data!'" in n for n in result.notes)


def test_dpkg_binary_junk_status(debian: Path) -> None:
    write(debian, "/var/lib/dpkg/status", os.urandom(64 << 10))

    result = DpkgCataloger().catalog(debian)

    assert result.packages == ()
    assert result.notes  # invalid UTF-8, and paragraphs without a Package field


def test_dpkg_huge_status_is_not_read(debian: Path) -> None:
    status = debian / "var/lib/dpkg/status"
    with status.open("r+b") as f:
        f.truncate(65 << 20)  # sparse: big, but costs no disk

    result = DpkgCataloger().catalog(debian)

    assert result.packages == ()
    assert result.notes == (
        f"dpkg: /var/lib/dpkg/status: larger than the {64 << 20} bytes read for such a file; "
        "skipped",
    )


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_dpkg_symlink_out_of_the_rootfs_never_reads_the_host(tmp_path: Path, how: str) -> None:
    host_status = write(
        tmp_path, "/host/status", "Package: hostpkg\nStatus: install ok installed\nVersion: 1\n"
    )
    root = tmp_path / "rootfs"
    write(root, "/etc/os-release", DEBIAN_OS_RELEASE)
    target = str(host_status) if how == "absolute" else "../../../../host/status"
    symlink(root, "/var/lib/dpkg/status", target)
    symlink(root, "/var/lib/dpkg/info", str(tmp_path / "host"))

    result = DpkgCataloger().catalog(root)

    assert result.packages == ()  # the link resolves inside the rootfs, where nothing is


def test_dpkg_symlink_inside_the_rootfs_is_followed(debian: Path) -> None:
    # multi-arch packages often share one doc directory through a symlink
    symlink(debian, "/usr/share/doc/tzdata", "/usr/share/doc/login")

    assert by_name(DpkgCataloger().catalog(debian))["tzdata"].licenses[0] == "BSD-3-Clause"


def test_dpkg_symlink_loop_is_a_note(debian: Path) -> None:
    status = debian / "var/lib/dpkg/status"
    status.unlink()
    symlink(debian, "/var/lib/dpkg/status", "status2")
    symlink(debian, "/var/lib/dpkg/status2", "status")

    result = DpkgCataloger().catalog(debian)

    assert result.packages == ()
    assert "symbolic links" in result.notes[0]


def test_unreadable_file_is_a_note(debian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def deny_copyright(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if os.fspath(path).endswith("doc/login/copyright"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny_copyright)
    result = DpkgCataloger().catalog(debian)

    assert by_name(result)["login"].licenses == ()
    assert "dpkg: /usr/share/doc/login/copyright: cannot read: Permission denied; skipped" in (
        result.notes
    )


def test_fifo_is_never_opened(debian: Path) -> None:
    fifo = debian / "var/lib/dpkg/status"
    fifo.unlink()
    os.mkfifo(fifo)

    result = DpkgCataloger().catalog(debian)  # would block forever if the FIFO were read

    assert result.notes == ("dpkg: /var/lib/dpkg/status: not a regular file; skipped",)


def test_distro_from_os_release(debian: Path) -> None:
    write(debian, "/usr/lib/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\n')
    assert by_name(DpkgCataloger().catalog(debian))["tzdata"].purl == (
        "pkg:deb/ubuntu/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=ubuntu-22.04"
    )
    write(debian, "/usr/lib/os-release", "ID=debian\nVERSION_CODENAME=trixie\n")  # testing/sid
    assert by_name(DpkgCataloger().catalog(debian))["tzdata"].purl.endswith("distro=debian-trixie")
    (debian / "usr/lib/os-release").unlink()
    result = DpkgCataloger().catalog(debian)
    assert by_name(result)["tzdata"].purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all"
    assert "dpkg: /etc/os-release: not found; purls carry no distro qualifier" in result.notes


def test_parse_os_release_unquotes_like_a_shell() -> None:
    fields = parse_os_release("# comment\nNAME='A B'\nID=alpine\nBAD LINE\nX=\"unterminated\n")
    assert fields == {"NAME": "A B", "ID": "alpine"}


def test_dep5_licenses_agree_with_debian_copyright() -> None:
    parsed = debian_copyright.Copyright(DEP5_COPYRIGHT.splitlines(), strict=False)
    synopses = (p.license.synopsis for p in parsed.all_paragraphs() if p.license)  # type: ignore[attr-defined]
    expected = tuple(dict.fromkeys(s for s in synopses if s))
    assert (
        dep5_licenses(DEP5_COPYRIGHT)
        == expected
        == (
            "BSD-3-clause",
            "public-domain",
            "GPL-2+ or Artistic",
        )
    )
    with pytest.raises(debian_copyright.NotMachineReadableError):
        debian_copyright.Copyright(OLD_STYLE_COPYRIGHT.splitlines(), strict=False)
    assert dep5_licenses(OLD_STYLE_COPYRIGHT) == ()
    assert dep5_licenses("") == ()


def test_files_only_drops_directories_not_siblings() -> None:
    listed = ["/.", "/usr", "/usr/lib", "/usr/lib-extra", "/usr/lib/x.so", "/etc/empty.d"]
    # "/usr/lib-extra" sorts between "/usr/lib" and "/usr/lib/x.so": still a file
    assert files_only(listed) == ("/etc/empty.d", "/usr/lib-extra", "/usr/lib/x.so")


def test_no_dpkg_database_no_packages_no_notes(tmp_path: Path) -> None:
    assert DpkgCataloger().catalog(tmp_path) == CatalogResult()


# -- apk -------------------------------------------------------------------------------------

APK_INSTALLED = """\
C:Q1J4mLGM0lm0l2nOvV/2L9Bi7ZhS4=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1705925426
c:48a9fb5b0dfca4e3bb0a8ba1e4c6b1bc2fe4e8a2
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1Ks9vvDDvnnBaZ/Pc8+sfNw+gZ7k=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1hZpdRqIisoFPNpaZdeR2UTmuhFo=
P:libcrypto3
V:3.1.4-r5
A:x86_64
L:Apache-2.0
o:openssl
D:so:libc.musl-x86_64.so.1
F:usr
F:usr/lib
R:libcrypto.so.3
F:usr/lib/engines-3
R:afalg.so
R:padlock.so

C:Q1Kb
V:0.0-r0
A:x86_64

P:zlib
V:1.3.1-r0
A:x86_64
L:Zlib
this line is junk
"""


def test_apk_installed_database(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    write(root, "/etc/os-release", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n')
    write(root, "/lib/apk/db/installed", APK_INSTALLED)

    result = ApkCataloger().catalog(root)
    packages = by_name(result)

    assert sorted(packages) == ["libcrypto3", "musl", "zlib"]
    musl = packages["musl"]
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    assert musl.licenses == ("MIT",)
    assert musl.files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    crypto = packages["libcrypto3"]
    assert (crypto.source_name, crypto.source_version) == ("openssl", "3.1.4-r5")
    assert crypto.files == (
        "/usr/lib/engines-3/afalg.so",
        "/usr/lib/engines-3/padlock.so",
        "/usr/lib/libcrypto.so.3",
    )
    assert packages["zlib"].source_name == "zlib"  # no origin: its own name
    assert result.notes == (
        "apk: /lib/apk/db/installed:36: entry without a P: name and a V: version; skipped",
        "apk: /lib/apk/db/installed:40: package zlib: 1 malformed lines ignored",
    )


def test_apk_binary_junk(tmp_path: Path) -> None:
    write(tmp_path, "/lib/apk/db/installed", os.urandom(32 << 10))
    result = ApkCataloger().catalog(tmp_path)
    assert result.packages == ()
    assert result.notes


# -- Python ----------------------------------------------------------------------------------

WHEEL_METADATA = """\
Metadata-Version: 2.1
Name: PyYAML
Version: 6.0.1
Summary: YAML parser and emitter for Python
License: MIT
Classifier: License :: OSI Approved :: MIT License
Requires-Python: >=3.6

PyYAML is a YAML parser and emitter for Python.
"""

RECORD = """\
yaml/__init__.py,sha256=abc,12157
yaml/__pycache__/__init__.cpython-311.pyc,,
PyYAML-6.0.1.dist-info/METADATA,sha256=def,2063
PyYAML-6.0.1.dist-info/RECORD,,
../../../bin/pyyaml-tool,sha256=ghi,200
"""


def test_python_distributions(tmp_path: Path) -> None:
    site = "/usr/local/lib/python3.11/site-packages"
    write(tmp_path, f"{site}/PyYAML-6.0.1.dist-info/METADATA", WHEEL_METADATA)
    write(tmp_path, f"{site}/PyYAML-6.0.1.dist-info/RECORD", RECORD)
    write(
        tmp_path,
        f"{site}/zope.interface-6.1.dist-info/METADATA",
        "Name: zope.interface\nVersion: 6.1\nLicense-Expression: ZPL-2.1\nLicense: ZPL 2.1\n",
    )
    write(
        tmp_path,
        "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
        "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\nLicense: UNKNOWN\n"
        "Classifier: License :: OSI Approved\nClassifier: License :: OSI Approved :: MIT License\n",
    )
    write(
        tmp_path,
        "/usr/lib/python3/dist-packages/distro_info-1.5.egg-info",
        "Name: distro_info\nVersion: 1.5\nLicense: ISC\n    with a second line of text\n",
    )

    packages = by_name(PythonCataloger().catalog(tmp_path))

    yaml = packages["PyYAML"]
    assert yaml.purl == "pkg:pypi/pyyaml@6.0.1"
    assert yaml.licenses == ("MIT",)
    assert yaml.location == f"{site}/PyYAML-6.0.1.dist-info/METADATA"
    assert yaml.files == (  # RECORD paths are relative to site-packages
        "/usr/local/bin/pyyaml-tool",
        f"{site}/PyYAML-6.0.1.dist-info/METADATA",
        f"{site}/PyYAML-6.0.1.dist-info/RECORD",
        f"{site}/yaml/__init__.py",
        f"{site}/yaml/__pycache__/__init__.cpython-311.pyc",
    )
    assert packages["zope.interface"].purl == "pkg:pypi/zope-interface@6.1"  # PEP 503
    assert packages["zope.interface"].licenses == ("ZPL-2.1",)  # License-Expression first
    assert packages["six"].licenses == ("MIT License",)  # from the classifiers
    assert packages["six"].files == ()
    distro = packages["distro_info"]  # a single-file .egg-info
    assert distro.purl == "pkg:pypi/distro-info@1.5"
    assert distro.licenses == ()  # a multi-line License is a text, not a name


def test_python_damaged_metadata(tmp_path: Path) -> None:
    site = "/usr/lib/python3.11/site-packages"
    write(tmp_path, f"{site}/junk-1.dist-info/METADATA", os.urandom(4096))
    write(tmp_path, f"{site}/noversion-1.dist-info/METADATA", "Name: noversion\n")
    write(tmp_path, f"{site}/bad-1.dist-info/METADATA", "Name: -bad name-\nVersion: 1\n")
    write(tmp_path, f"{site}/big-1.dist-info/METADATA", "Name: big\nVersion: 1\n" + "x" * (1 << 20))
    (tmp_path / f"{site.lstrip('/')}/nometa-1.dist-info").mkdir()

    result = PythonCataloger().catalog(tmp_path)

    assert result.packages == ()
    problems = sorted(n.split(": ", 2)[1].split("/")[-2] for n in result.notes)
    assert problems == [
        "bad-1.dist-info",
        "big-1.dist-info",
        "junk-1.dist-info",
        "junk-1.dist-info",  # invalid UTF-8, then no Name
        "nometa-1.dist-info",
        "noversion-1.dist-info",
    ]


def test_python_symlinked_metadata_never_reads_the_host(tmp_path: Path) -> None:
    write(tmp_path, "/host/evil.dist-info/METADATA", "Name: evil\nVersion: 6.6.6\n")
    root = tmp_path / "rootfs"
    site = "/usr/lib/python3/dist-packages"
    symlink(root, f"{site}/evil.dist-info", str(tmp_path / "host/evil.dist-info"))
    symlink(root, f"{site}/up", "../../../../../..")
    symlink(root, f"{site}/loop", "loop")

    result = PythonCataloger().catalog(root)

    assert result == CatalogResult()  # symlinks are not walked, and not even stat-ed


# -- npm -------------------------------------------------------------------------------------


def package_json(**fields: object) -> str:
    return json.dumps(fields)


def test_npm_packages(tmp_path: Path) -> None:
    app = "/srv/app"
    write(tmp_path, f"{app}/package.json", package_json(name="my-app", version="1.0.0"))
    nm = f"{app}/node_modules"
    write(
        tmp_path,
        f"{nm}/lodash/package.json",
        package_json(name="lodash", version="4.17.21", license="MIT"),
    )
    write(
        tmp_path,
        f"{nm}/lodash/test/fixture/package.json",
        package_json(name="fixture", version="0.0.0"),
    )
    write(
        tmp_path,
        f"{nm}/@babel/core/package.json",
        package_json(name="@babel/core", version="7.23.9", license={"type": "MIT"}),
    )
    write(
        tmp_path,
        f"{nm}/@babel/core/node_modules/semver/package.json",
        package_json(name="semver", version="6.3.1", licenses=[{"type": "ISC"}, "BSD-2-Clause"]),
    )
    write(tmp_path, f"{nm}/.package-lock.json", "{}")
    symlink(tmp_path, f"{nm}/linked", "../../lib/linked")  # a workspace link: not followed
    write(tmp_path, "/lib/linked/package.json", package_json(name="linked", version="1.0.0"))

    packages = by_name(NpmCataloger().catalog(tmp_path))

    assert sorted(packages) == ["@babel/core", "lodash", "semver"]
    assert packages["@babel/core"].purl == "pkg:npm/%40babel/core@7.23.9"
    assert packages["@babel/core"].licenses == ("MIT",)
    assert packages["semver"].licenses == ("ISC", "BSD-2-Clause")
    assert packages["semver"].location == f"{nm}/@babel/core/node_modules/semver/package.json"
    assert packages["lodash"].purl == "pkg:npm/lodash@4.17.21"


def test_npm_damaged_package_json(tmp_path: Path) -> None:
    nm = "/app/node_modules"
    write(tmp_path, f"{nm}/junk/package.json", os.urandom(2048))
    write(tmp_path, f"{nm}/deep/package.json", "[" * 100_000)
    write(tmp_path, f"{nm}/array/package.json", "[1, 2]")
    write(tmp_path, f"{nm}/noversion/package.json", package_json(name="noversion"))
    write(tmp_path, f"{nm}/badname/package.json", package_json(name="@scope", version="1.0.0"))
    write(
        tmp_path,
        f"{nm}/huge/package.json",
        package_json(name="huge", version="1", x="y" * (1 << 20)),
    )

    result = NpmCataloger().catalog(tmp_path)

    assert result.packages == ()
    assert len(result.notes) == 6
    assert f"npm: {nm}/deep/package.json: not valid JSON (RecursionError); skipped" in result.notes


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("/app/node_modules/a", True),
        ("/app/node_modules/@s/a", True),
        ("/node_modules/a/node_modules/b", True),
        ("/app", False),
        ("/app/node_modules", False),
        ("/app/node_modules/@s", False),
        ("/app/node_modules/.bin", False),
        ("/app/node_modules/a/lib", False),
        ("/app/node_modules/a/@s/b", False),
    ],
)
def test_is_package_dir(directory: str, expected: bool) -> None:
    assert is_package_dir(directory) is expected


def test_split_name() -> None:
    assert split_name("@babel/core") == ("@babel", "core")
    assert split_name("lodash") == (None, "lodash")
    assert split_name("@babel") is None
    assert split_name("@/x") is None
    assert split_name("a/b") is None
    assert split_name("@a/b/c") is None


# -- all of them -----------------------------------------------------------------------------


def test_catalog_rootfs_runs_every_cataloger_and_sorts(
    debian: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        debian,
        "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
        "Name: six\nVersion: 1.16.0\n",
    )
    write(debian, "/opt/node_modules/six/package.json", package_json(name="six", version="1.0.0"))
    walks: list[Path] = []
    real_list = Rootfs._list

    def counting_list(self: Rootfs) -> Listing:
        walks.append(self.root)
        return real_list(self)

    monkeypatch.setattr(Rootfs, "_list", counting_list)

    result = catalog_rootfs(debian)

    assert [c.name for c in CATALOGERS] == ["dpkg", "apk", "python", "npm"]
    assert [(p.type, p.name) for p in result.packages] == [
        ("deb", "libc6"),
        ("deb", "login"),
        ("deb", "tzdata"),
        ("npm", "six"),
        ("pypi", "six"),
    ]
    assert len(walks) == 1  # the tree is listed once for the Python and npm catalogers
    assert result.notes == DpkgCataloger().catalog(debian).notes


def test_catalog_rootfs_survives_symlink_loops_and_pseudo_filesystems(debian: Path) -> None:
    symlink(debian, "/a/b", "../a")
    symlink(debian, "/loop", "/loop")
    symlink(debian, "/root-link", "/")
    write(debian, "/proc/1/node_modules/x/package.json", package_json(name="x", version="1"))

    result = catalog_rootfs(debian)

    assert [p.name for p in result.packages] == ["libc6", "login", "tzdata"]


def test_catalog_rootfs_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a directory"):
        catalog_rootfs(tmp_path / "missing")


def test_rootfs_walk_is_in_image_paths_and_leaves_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    write(root, "/b/file")
    write(root, "/a/file")
    symlink(root, "/a/to-host-dir", str(tmp_path))  # a directory on the host
    symlink(root, "/a/dangling", "/nowhere")
    symlink(root, "/lib", "usr/lib")
    write(root, "/proc/self/status")

    listing = Rootfs(root, "test").walk()

    assert listing == (("/", ("a", "b"), ()), ("/a", (), ("file",)), ("/b", (), ("file",)))


def test_rootfs_walk_notes_unlistable_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "/secret/file")
    write(tmp_path, "/open/file")
    real_scandir = os.scandir

    def deny_secret(path: str) -> Any:
        if path.endswith("/secret"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny_secret)
    fs = Rootfs(tmp_path, "test")

    assert fs.walk() == (
        ("/", ("open", "secret"), ()),
        ("/open", (), ("file",)),
        ("/secret", (), ()),
    )
    assert fs.notes == ["test: /secret: cannot list directory: Permission denied; skipped"]
