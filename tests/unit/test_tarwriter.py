"""Deterministic layer tars: bytes, order, whiteouts, links, xattrs, PAX, overrides, errors."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bakery.errors import StoreError
from bakery.oci.tarwriter import (
    CHUNK,
    DIRTYPE,
    FIFOTYPE,
    REGTYPE,
    SYMTYPE,
    Change,
    LayerStats,
    TarHeader,
    write_layer_tar,
)

SDE = 1_700_000_000
is_root = os.geteuid() == 0


def write(root: Path, path: str, data: bytes = b"", mtime: float = SDE + 500) -> Path:
    """Create a regular file (and its parents) with ``data`` and ``mtime``."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.utime(target, (mtime, mtime))
    return target


def all_changes(root: Path) -> list[Change]:
    """Every path under ``root`` as an ``add``."""
    changes = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            changes.append(Change(os.path.relpath(os.path.join(dirpath, name), root), "add"))
    return changes


def tar_of(root: Path, changes: list[Change] | None = None, **kwargs: object) -> bytes:
    """The layer tar of ``changes`` (default: everything) as bytes."""
    out = io.BytesIO()
    write_layer_tar(
        root,
        all_changes(root) if changes is None else changes,
        out,
        source_date_epoch=SDE,
        **kwargs,  # type: ignore[arg-type]
    )
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    """The entries of a tar, read back with tarfile."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def names(data: bytes) -> list[str]:
    """The raw entry names of a tar (directories keep their trailing slash)."""
    return [m.name + ("/" if m.isdir() else "") for m in members(data)]


def build_tree(root: Path, *, reverse: bool, mtime: float) -> None:
    """A tree with every kind of entry; ``reverse`` creates it in the opposite order."""
    etc = root / "etc"
    etc.mkdir()
    steps = [
        lambda: write(root, "usr/bin/tool", b"#!/bin/sh\necho hi\n" * 50, mtime),
        lambda: write(root, "usr/lib/big.bin", bytes(range(256)) * (3 * CHUNK // 256 + 7), mtime),
        lambda: write(root, "etc/empty", b"", mtime),
        lambda: write(root, "etc/non-ascii-é", b"x", mtime),
        lambda: write(root, "deep/" + "d" * 60 + "/" + "f" * 80, b"long", mtime),
        lambda: os.symlink("usr/lib", root / "lib"),
        lambda: os.symlink("../x//y/", etc / "odd-link"),
        lambda: os.mkfifo(etc / "fifo", 0o600),
        lambda: (root / "var/empty-dir").mkdir(parents=True),
    ]
    for step in reversed(steps) if reverse else steps:
        step()
    (root / "usr/bin/tool").chmod(0o4755)
    os.link(root / "usr/bin/tool", root / "usr/bin/tool-alias")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name)
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def test_identical_trees_give_identical_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    build_tree(one, reverse=False, mtime=SDE + 10)
    build_tree(two, reverse=True, mtime=SDE + 99_999.75)
    first = tar_of(one)
    assert first == tar_of(two)
    assert first == tar_of(one, list(reversed(all_changes(one))))
    assert len(first) % 512 == 0
    assert first.endswith(bytes(1024))


def test_gnu_tar_and_tarfile_read_it_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    build_tree(root, reverse=False, mtime=SDE)
    (tmp_path / "layer.tar").write_bytes(tar_of(root))
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "layer.tar"), "-C", str(out)], check=True)
    assert (out / "etc/non-ascii-é").read_bytes() == b"x"
    assert (out / "usr/bin/tool").stat().st_ino == (out / "usr/bin/tool-alias").stat().st_ino
    assert (out / "usr/lib/big.bin").read_bytes() == (root / "usr/lib/big.bin").read_bytes()
    assert os.readlink(out / "etc/odd-link") == "../x//y/"
    long_name = "deep/" + "d" * 60 + "/" + "f" * 80
    assert (out / long_name).read_bytes() == b"long"


def test_entries_sorted_with_all_ancestors_once(tmp_path: Path) -> None:
    write(tmp_path, "a/b/c/file", b"1")
    write(tmp_path, "a/b-x", b"2")
    write(tmp_path, "x/y", b"3")
    changes = [Change("x/y", "add"), Change("a/b/c/file", "add"), Change("a/b-x", "add")]
    changes.append(Change("a/b/c/file", "add"))  # a duplicate is emitted once
    got = names(tar_of(tmp_path, changes))
    assert got == ["a/", "a/b-x", "a/b/", "a/b/c/", "a/b/c/file", "x/", "x/y"]
    assert [n.encode() for n in got] == sorted(n.encode() for n in got)


def test_whiteout_and_opaque_names(tmp_path: Path) -> None:
    write(tmp_path, "a/-first", b"")
    write(tmp_path, "a/z", b"")
    write(tmp_path, "a/o/-x", b"")
    write(tmp_path, "a/o/.a", b"")
    changes = [
        Change("a/-first", "add"),
        Change("a/z", "add"),
        Change("a/gone", "delete"),
        Change("top", "delete"),
        Change("a/o", "opaque"),
        Change("a/o/-x", "add"),
        Change("a/o/.a", "add"),
    ]
    data = tar_of(tmp_path, changes)
    assert names(data) == [
        ".wh.top",
        "a/",
        "a/-first",
        "a/.wh.gone",
        "a/o/",
        "a/o/.wh..wh..opq",
        "a/o/-x",
        "a/o/.a",
        "a/z",
    ]
    marker = next(m for m in members(data) if m.name.endswith(".wh..wh..opq"))
    assert (marker.size, marker.mtime, marker.uid, marker.type) == (0, SDE, 0, REGTYPE)


def test_hardlinks_point_to_the_first_sorted_name(tmp_path: Path) -> None:
    original = write(tmp_path, "b", b"shared")
    os.link(original, tmp_path / "c")
    (tmp_path / "a").mkdir()
    os.link(original, tmp_path / "a/x")
    lonely = write(tmp_path, "lonely", b"alone")
    os.link(lonely, tmp_path / "not-in-layer")
    changes = [Change(p, "add") for p in ("c", "b", "a/x", "lonely")]
    by_name = {m.name: m for m in members(tar_of(tmp_path, changes))}
    assert by_name["a/x"].isreg() and by_name["a/x"].size == 6
    for name in ("b", "c"):
        assert by_name[name].islnk() and by_name[name].linkname == "a/x"
    assert by_name["lonely"].isreg() and by_name["lonely"].size == 5


def test_symlinks_fifos_and_sockets(tmp_path: Path) -> None:
    os.symlink("/abs/target", tmp_path / "abs")
    os.symlink("../x//y/", tmp_path / "rel")
    os.mkfifo(tmp_path / "pipe", 0o640)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        data = tar_of(tmp_path)
    by_name = {m.name: m for m in members(data)}
    assert set(by_name) == {"abs", "rel", "pipe"}
    assert by_name["abs"].type == SYMTYPE and by_name["abs"].linkname == "/abs/target"
    assert by_name["rel"].linkname == "../x//y/"
    assert by_name["pipe"].type == FIFOTYPE and by_name["pipe"].mode == 0o640


@pytest.mark.skipif(not is_root, reason="mknod needs root")
def test_device_nodes(tmp_path: Path) -> None:
    os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(tmp_path / "disk", 0o660 | stat.S_IFBLK, os.makedev(8, 1))
    by_name = {m.name: m for m in members(tar_of(tmp_path))}
    assert by_name["null"].ischr() and (by_name["null"].devmajor, by_name["null"].devminor) == (
        1,
        3,
    )
    assert by_name["disk"].isblk() and by_name["disk"].devminor == 1


def test_modes_ids_and_names_are_normalised(tmp_path: Path) -> None:
    write(tmp_path, "suid", b"x").chmod(0o4755)
    (tmp_path / "sticky").mkdir()
    (tmp_path / "sticky").chmod(0o1777)
    by_name = {m.name: m for m in members(tar_of(tmp_path))}
    assert by_name["suid"].mode == 0o4755
    assert by_name["sticky"].mode == 0o1777 and by_name["sticky"].type == DIRTYPE
    for member in by_name.values():
        assert (member.uname, member.gname) == ("", "")
        assert member.uid == os.getuid()


@pytest.mark.skipif(not is_root, reason="chown needs root")
def test_numeric_ids_and_big_ids(tmp_path: Path) -> None:
    os.lchown(write(tmp_path, "small", b""), 1234, 5678)
    os.lchown(write(tmp_path, "big", b""), 3_000_000, 3_000_001)
    data = tar_of(tmp_path)
    by_name = {m.name: m for m in members(data)}
    assert (by_name["small"].uid, by_name["small"].gid) == (1234, 5678)
    assert (by_name["big"].uid, by_name["big"].gid) == (3_000_000, 3_000_001)
    assert by_name["big"].pax_headers == {"gid": "3000001", "uid": "3000000"}
    assert by_name["small"].pax_headers == {}


def test_mtimes_are_clamped_integers(tmp_path: Path) -> None:
    write(tmp_path, "new", b"", mtime=SDE + 1000.5)
    write(tmp_path, "old", b"", mtime=SDE - 100.7)
    data = tar_of(tmp_path)
    by_name = {m.name: m for m in members(data)}
    assert by_name["new"].mtime == SDE
    assert by_name["old"].mtime == SDE - 101
    assert b"PaxHeader" not in data


def test_pax_only_when_needed(tmp_path: Path) -> None:
    write(tmp_path, "short/ascii-name", b"x")
    assert b"PaxHeader" not in tar_of(tmp_path)
    assert all(m.pax_headers == {} for m in members(tar_of(tmp_path)))

    long_name = "l" * 120
    write(tmp_path, long_name, b"y")
    write(tmp_path, "naïve", b"z")
    by_name = {m.name: m for m in members(tar_of(tmp_path))}
    assert by_name[long_name].pax_headers == {"path": long_name}
    assert by_name["naïve"].pax_headers == {"path": "naïve"}
    assert by_name["short/ascii-name"].pax_headers == {}


def test_non_utf8_names_round_trip(tmp_path: Path) -> None:
    raw = os.fsdecode(b"bad-\xff-name")
    write(tmp_path, raw, b"x")
    data = tar_of(tmp_path)
    assert b"hdrcharset=BINARY" in data
    assert [m.name for m in members(data)] == [raw]


def _can_setxattr(path: Path, name: str, value: bytes) -> bool:
    try:
        os.setxattr(path, name, value)
    except OSError:
        return False
    return True


def test_xattrs_round_trip_sorted(tmp_path: Path) -> None:
    path = write(tmp_path, "ping", b"")
    cap = bytes.fromhex("0100000200200000000000000000000000000000")
    if not _can_setxattr(path, "security.capability", cap):
        pytest.skip("cannot set security.capability here")
    if not _can_setxattr(path, "user.b", b"\xff\x00\n binary"):
        pytest.skip("user xattrs unsupported here")
    _can_setxattr(path, "user.a", b"text")
    data = tar_of(tmp_path)
    (member,) = members(data)
    assert (
        member.pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape")
        == cap
    )
    assert (
        member.pax_headers["SCHILY.xattr.user.b"].encode("utf-8", "surrogateescape")
        == b"\xff\x00\n binary"
    )
    keys = [k for k in member.pax_headers if k.startswith("SCHILY.xattr.")]
    assert data.index(b"SCHILY.xattr.security") < data.index(b"SCHILY.xattr.user.a")
    assert data.index(b"SCHILY.xattr.user.a") < data.index(b"SCHILY.xattr.user.b")
    assert len(keys) == 3


def test_content_override(tmp_path: Path) -> None:
    write(tmp_path, "etc/machine-id", b"0123456789abcdef\n")
    write(tmp_path, "etc/keep", b"keep")
    overrides = {"etc/machine-id": b""}
    data = tar_of(tmp_path, content_override=overrides.get)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("etc/machine-id").size == 0
        keep = tar.extractfile("etc/keep")
        assert keep is not None and keep.read() == b"keep"
    assert (tmp_path / "etc/machine-id").read_bytes() == b"0123456789abcdef\n"


def test_missing_path_is_a_store_error(tmp_path: Path) -> None:
    write(tmp_path, "there", b"")
    with pytest.raises(StoreError, match="gone"):
        tar_of(tmp_path, [Change("gone", "add")])
    with pytest.raises(StoreError, match="not a directory"):
        tar_of(tmp_path, [Change("there", "opaque")])
    with pytest.raises(StoreError, match="there"):
        tar_of(tmp_path, [Change("there/x", "add")])
    write(tmp_path, "d/.wh.x", b"")
    with pytest.raises(StoreError, match=r"\.wh\."):
        tar_of(tmp_path, [Change("d/.wh.x", "add")])


@pytest.mark.parametrize("bad", ["", "/abs", "./a", "a/../b", "a//b", "a/", "."])
def test_malformed_change_paths(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        Change(bad, "add")


def test_large_file_streams_in_chunks(tmp_path: Path) -> None:
    content = os.urandom(2 * CHUNK + 333)
    write(tmp_path, "big", content)
    writes: list[int] = []
    sink = io.BytesIO()

    class Recorder:
        def write(self, data: bytes | memoryview) -> int:
            writes.append(len(data))
            return sink.write(data)

    stats = write_layer_tar(tmp_path, [Change("big", "add")], Recorder(), source_date_epoch=SDE)
    assert stats == LayerStats(entries=1, bytes=len(sink.getvalue()))
    assert max(writes) <= CHUNK
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue())) as tar:
        extracted = tar.extractfile("big")
        assert extracted is not None and extracted.read() == content


def _tarfile_writes_empty_device_fields() -> bool:
    """Newer CPython leaves devmajor/devminor NUL for non-device entries, as we do."""
    return tarfile.TarInfo("x").tobuf(tarfile.PAX_FORMAT)[329:345] == bytes(16)


names_st = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=140
)


@pytest.mark.skipif(not _tarfile_writes_empty_device_fields(), reason="older tarfile")
@settings(max_examples=300, deadline=None)
@given(
    name=names_st,
    linkname=st.one_of(st.just(""), names_st),
    kind=st.sampled_from([REGTYPE, SYMTYPE, DIRTYPE, FIFOTYPE]),
    mode=st.integers(0, 0o7777),
    uid=st.integers(0, 2**32 - 1),
    size=st.integers(0, 2**40),
    mtime=st.integers(0, 2**34),
    xattr=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_headers_match_tarfile_encoding(
    name: str,
    linkname: str,
    kind: bytes,
    mode: int,
    uid: int,
    size: int,
    mtime: int,
    xattr: bytes | None,
) -> None:
    """Our encoder gives the bytes of the reference (tarfile.tobuf in PAX format)."""
    if kind == DIRTYPE and not name.endswith("/"):
        name += "/"  # tarfile adds it
    ours = TarHeader(name.encode(), kind, mode=mode, uid=uid, gid=7, size=size, mtime=mtime)
    ours.linkname = linkname.encode()
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = kind, mode, uid, 7
    info.size, info.mtime, info.linkname = size, mtime, linkname
    if xattr is not None and xattr.isascii():
        ours.xattrs = {b"user.k": xattr}
        info.pax_headers = {"SCHILY.xattr.user.k": xattr.decode()}
    records = len(ours.xattrs) + sum(
        [
            not (name.isascii() and len(name) <= 100),
            not (linkname.isascii() and len(linkname) <= 100),
            uid >= 8**7,
            size >= 8**11,
            mtime >= 8**11,
        ]
    )
    if records > 1:
        return  # tarfile orders several records by insertion; ours sorts them by key
    assert ours.encode() == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
