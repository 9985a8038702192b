"""Applying layers: round trips, whiteouts, ordering, hostile layers, and secure_join."""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bakery.errors import UnsafeLayerError
from bakery.oci.apply import ApplyReport, apply_layer, normalise
from bakery.oci.securepath import secure_join
from bakery.oci.tarwriter import Change, write_layer_tar

SDE = 1_700_000_000
is_root = os.geteuid() == 0

# --------------------------------------------------------------------------- helpers


def export(root: Path, changes: list[Change] | None = None) -> bytes:
    """The layer tar of ``changes`` (default: everything under ``root``)."""
    if changes is None:
        changes = [
            Change(os.path.relpath(os.path.join(d, n), root), "add")
            for d, dirs, files in os.walk(root)
            for n in dirs + files
        ]
    out = io.BytesIO()
    write_layer_tar(root, changes, out, source_date_epoch=SDE)
    return out.getvalue()


def apply(data: bytes, root: Path, warnings: list[str] | None = None) -> ApplyReport:
    """Apply a layer tar held in memory."""
    callback = warnings.append if warnings is not None else None
    return apply_layer(io.BytesIO(data), root, on_warning=callback)


Entry = tuple[str, bytes, dict[str, object]]


def layer(*entries: Entry) -> bytes:
    """A tar built with tarfile: (name, type, fields) with ``data`` for file content."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, fields in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mtime = SDE
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            data = fields.pop("data", b"")
            assert isinstance(data, bytes)
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return out.getvalue()


def f(name: str, data: bytes = b"x", **fields: object) -> Entry:
    return (name, tarfile.REGTYPE, {"data": data, **fields})


def d(name: str, **fields: object) -> Entry:
    return (name, tarfile.DIRTYPE, dict(fields))


def sym(name: str, target: str) -> Entry:
    return (name, tarfile.SYMTYPE, {"linkname": target})


def hard(name: str, target: str) -> Entry:
    return (name, tarfile.LNKTYPE, {"linkname": target})


def tree(root: Path) -> dict[str, object]:
    """A comparable picture of a directory tree (type, mode, content or link, mtime)."""
    picture: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st_ = os.lstat(path)
            if stat.S_ISREG(st_.st_mode):
                content: object = Path(path).read_bytes()
            elif stat.S_ISLNK(st_.st_mode):
                content = os.readlink(path)
            else:
                content = None
            picture[os.path.relpath(path, root)] = (st_.st_mode, content, int(st_.st_mtime))
    return picture


# --------------------------------------------------------------------------- round trips


def build(root: Path) -> None:
    """A tree with files, dirs, links, a fifo, special modes and an xattr when possible."""
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libx.so.1").write_bytes(os.urandom(3 << 20))
    os.symlink("libx.so.1", root / "usr/lib/libx.so")
    os.symlink("usr/lib", root / "lib")
    (root / "usr/bin").mkdir()
    (root / "usr/bin/tool").write_bytes(b"#!/bin/sh\n")
    (root / "usr/bin/tool").chmod(0o4755)
    os.link(root / "usr/bin/tool", root / "usr/bin/tool2")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "srv").mkdir()
    (root / "srv").chmod(0o750)
    os.mkfifo(root / "srv/fifo", 0o600)
    (root / "etc").mkdir()
    (root / "etc/naïve").write_text("é")
    (root / "etc" / ("n" * 120)).write_text("long")
    with contextlib.suppress(OSError):
        os.setxattr(root / "etc/naïve", "user.note", b"\xffbinary")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            os.utime(os.path.join(dirpath, name), (SDE - 5, SDE - 5), follow_symlinks=False)


def test_round_trip_reproduces_the_tree(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    build(source)
    data = export(source)
    report = apply(data, target)
    assert report.warnings == []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert report.entries == len(tar.getmembers())
    assert tree(target) == tree(source)
    assert export(target) == data
    assert (target / "usr/bin/tool").stat().st_ino == (target / "usr/bin/tool2").stat().st_ino
    if os.listxattr(source / "etc/naïve"):
        assert os.getxattr(target / "etc/naïve", "user.note") == b"\xffbinary"


@pytest.mark.skipif(not is_root, reason="chown needs root")
def test_ownership_and_setuid_survive_chown(tmp_path: Path) -> None:
    data = layer(f("bin/su", uid=1234, gid=4321, mode=0o4755), d("home/u", uid=1234, gid=1234))
    apply(data, tmp_path)
    st_ = os.lstat(tmp_path / "bin/su")
    assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (1234, 4321, 0o4755)
    assert os.lstat(tmp_path / "home/u").st_uid == 1234
    assert os.lstat(tmp_path / "home").st_uid == 0  # created parent: root-owned
    assert stat.S_IMODE(os.lstat(tmp_path / "home").st_mode) == 0o755


@pytest.mark.skipif(not is_root, reason="security.capability needs root")
def test_capability_is_set_after_chown(tmp_path: Path) -> None:
    cap = bytes.fromhex("0100000200200000000000000000000000000000")
    value = cap.decode("utf-8", "surrogateescape")
    data = layer(f("ping", uid=5, pax_headers={"SCHILY.xattr.security.capability": value}))
    apply(data, tmp_path)
    assert os.getxattr(tmp_path / "ping", "security.capability") == cap


def test_directory_mtimes_are_set_last(tmp_path: Path) -> None:
    apply(layer(d("a", mtime=SDE - 1000), f("a/b"), f("a/c")), tmp_path)
    assert int((tmp_path / "a").stat().st_mtime) == SDE - 1000


# --------------------------------------------------------------------------- OCI semantics


def lower(root: Path) -> None:
    apply(layer(d("a"), f("a/x"), f("a/y"), d("a/sub"), f("a/sub/z"), f("b"), d("c")), root)


def test_whiteouts_remove_lower_paths(tmp_path: Path) -> None:
    lower(tmp_path)
    apply(layer(f("a/.wh.x"), f(".wh.b"), f(".wh.c"), f("a/.wh.not-there")), tmp_path)
    assert sorted(tree(tmp_path)) == ["a", "a/sub", "a/sub/z", "a/y"]


def test_opaque_directory_hides_lower_children(tmp_path: Path) -> None:
    lower(tmp_path)
    apply(layer(d("a"), f("a/.wh..wh..opq"), f("a/new"), d("a/sub"), f("a/sub/w")), tmp_path)
    assert sorted(tree(tmp_path)) == ["a", "a/new", "a/sub", "a/sub/w", "b", "c"]


def test_opaque_marker_after_the_layers_own_children(tmp_path: Path) -> None:
    lower(tmp_path)
    apply(layer(d("a"), f("a/new"), d("a/sub"), f("a/sub/w"), f("a/.wh..wh..opq")), tmp_path)
    assert sorted(tree(tmp_path)) == ["a", "a/new", "a/sub", "a/sub/w", "b", "c"]


def test_opaque_marker_keeps_parents_the_layer_created(tmp_path: Path) -> None:
    lower(tmp_path)
    apply(layer(f("a/new/deep/file"), f("a/.wh..wh..opq")), tmp_path)
    assert sorted(tree(tmp_path)) == ["a", "a/new", "a/new/deep", "a/new/deep/file", "b", "c"]


def test_writer_whiteouts_apply(tmp_path: Path) -> None:
    base, work = tmp_path / "base", tmp_path / "work"
    base.mkdir()
    work.mkdir()
    lower(base)
    lower(work)
    (work / "a/x").unlink()
    (work / "a/sub/z").unlink()
    (work / "a/sub/new").write_bytes(b"n")
    changes = [Change("a/x", "delete"), Change("a/sub", "opaque"), Change("a/sub/new", "add")]
    apply(export(work, changes), base)
    assert sorted(tree(base)) == sorted(tree(work))


def test_later_layers_replace_earlier_ones(tmp_path: Path) -> None:
    apply(layer(f("f", b"one"), d("d"), f("d/child"), f("g"), sym("s", "f"), d("k")), tmp_path)
    apply(layer(f("f", b"two"), f("d", b"now a file"), d("g"), d("s"), f("k", b"file")), tmp_path)
    assert (tmp_path / "f").read_bytes() == b"two"
    assert (tmp_path / "d").read_bytes() == b"now a file"
    assert (tmp_path / "g").is_dir() and (tmp_path / "s").is_dir()
    assert not (tmp_path / "s").is_symlink()
    assert (tmp_path / "k").read_bytes() == b"file"


def test_dir_over_dir_keeps_children_and_updates_attributes(tmp_path: Path) -> None:
    apply(layer(d("d", mode=0o755), f("d/keep")), tmp_path)
    apply(layer(d("d", mode=0o700)), tmp_path)
    assert (tmp_path / "d/keep").exists()
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700


def test_writes_through_in_image_symlinks(tmp_path: Path) -> None:
    apply(layer(d("usr"), d("usr/lib"), sym("lib", "usr/lib")), tmp_path)
    apply(layer(f("lib/libz.so", b"z"), f("/lib/abs.so", b"a")), tmp_path)
    assert (tmp_path / "usr/lib/libz.so").read_bytes() == b"z"
    assert (tmp_path / "usr/lib/abs.so").read_bytes() == b"a"
    assert (tmp_path / "lib").is_symlink()


def test_hardlinks_within_the_layer_and_to_lower(tmp_path: Path) -> None:
    apply(layer(f("base", b"b")), tmp_path)
    apply(layer(f("x", b"x"), hard("y", "x"), hard("z", "./base")), tmp_path)
    assert os.lstat(tmp_path / "y").st_ino == os.lstat(tmp_path / "x").st_ino
    assert os.lstat(tmp_path / "z").st_ino == os.lstat(tmp_path / "base").st_ino
    with pytest.raises(UnsafeLayerError, match="directory"):
        apply(layer(d("dir"), hard("link", "dir")), tmp_path)


def test_xattr_failures_are_warnings(tmp_path: Path) -> None:
    fields = {"SCHILY.xattr.bogus.ns": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}
    warnings: list[str] = []
    apply(layer(f("file", pax_headers=fields)), tmp_path, warnings)
    assert any("bogus.ns" in w for w in warnings)
    assert any("trusted.overlay.opaque" in w for w in warnings)
    assert (tmp_path / "file").exists()


def test_root_entry_and_dot_slash_names(tmp_path: Path) -> None:
    apply(layer(d("./"), d("./etc"), f("./etc/hosts", b"h"), f("//etc//x/", b"y")), tmp_path)
    assert (tmp_path / "etc/hosts").read_bytes() == b"h"
    assert (tmp_path / "etc/x").read_bytes() == b"y"


# --------------------------------------------------------------------------- hostile layers


def snapshot(path: Path) -> dict[str, object]:
    """Everything about a directory tree that a write could change."""
    picture = tree(path)
    picture["."] = os.lstat(path).st_mode
    return picture


HOSTILE: dict[str, tuple[Callable[[Path], bytes], str | None]] = {
    "dotdot": (lambda out: layer(f("../evil")), "outside the root"),
    "absolute": (lambda out: layer(f("/abs/evil")), None),
    "inner-dotdot": (lambda out: layer(f("a/../../evil")), "outside the root"),
    "symlink-up": (lambda out: layer(sym("link", "../../.."), f("link/evil")), None),
    "symlink-root": (lambda out: layer(sym("link", "/"), f("link/etc/evil")), None),
    "symlink-abs-out": (lambda out: layer(sym("link", str(out)), f("link/secret", b"!")), None),
    "hardlink-up": (lambda out: layer(hard("evil", "../../etc/passwd")), "outside the root"),
    "hardlink-abs": (lambda out: layer(hard("evil", str(out / "secret"))), "does not exist"),
    "hardlink-via-symlink": (
        lambda out: layer(sym("link", "../" + out.name), hard("evil", "link/secret")),
        "does not exist",
    ),
    "device": (lambda out: layer(("dev/sda", tarfile.BLKTYPE, {"devmajor": 8})), None),
    "symlink-loop": (
        lambda out: layer(sym("a", "b"), sym("b", "a"), f("a/evil")),
        "too many levels",
    ),
    "whiteout-via-symlink": (
        lambda out: layer(sym("link", str(out)), f("link/.wh.secret")),
        None,
    ),
    "whiteout-dotdot": (lambda out: layer(f("x/.wh..")), "malformed whiteout"),
    "dir-over-outside-symlink": (
        lambda out: layer(sym("d", str(out)), d("d", mode=0o777), f("d/secret", b"!")),
        None,
    ),
    "opaque-via-symlink": (
        lambda out: layer(sym("link", "../" + out.name), f("link/.wh..wh..opq")),
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_never_write_outside_the_root(tmp_path: Path, case: str) -> None:
    outside, root = tmp_path / "outside", tmp_path / "root"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_bytes(b"root:x:0:0")
    root.mkdir()
    build_layer, error = HOSTILE[case]
    before = snapshot(tmp_path)
    del before["root"]
    warnings: list[str] = []
    if error is None:
        apply(build_layer(outside), root, warnings)
    else:
        with pytest.raises(UnsafeLayerError, match=error):
            apply(build_layer(outside), root, warnings)
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("root")}
    assert after == before
    assert os.lstat(outside / "secret").st_nlink == 1
    assert os.lstat(tmp_path / "etc/passwd").st_nlink == 1
    if case == "symlink-root":
        assert (root / "etc/evil").read_bytes() == b"x"
    if case == "symlink-up":
        assert (root / "evil").exists()
    if case == "absolute":
        assert (root / "abs/evil").exists()
    if case == "device":
        assert warnings == ["dropped device node dev/sda"]
        assert not (root / "dev/sda").exists()


def test_replacing_a_symlink_to_outside_does_not_follow_it(tmp_path: Path) -> None:
    outside, root = tmp_path / "outside", tmp_path / "root"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root.mkdir()
    os.symlink(outside / "secret", root / "f")
    apply(layer(f("f", b"mine", mode=0o777)), root)
    assert (outside / "secret").read_bytes() == b"secret"
    assert stat.S_IMODE((outside / "secret").stat().st_mode) != 0o777
    assert (root / "f").read_bytes() == b"mine" and not (root / "f").is_symlink()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("./a/b/", "a/b"), ("/a//./b", "a/b"), ("a/../b", "b"), ("./", ""), ("", "")],
)
def test_normalise(name: str, expected: str) -> None:
    assert normalise(name) == expected


@pytest.mark.parametrize("name", ["..", "../a", "a/../..", "/../x", "a/./../../b"])
def test_normalise_refuses_escapes(name: str) -> None:
    with pytest.raises(UnsafeLayerError):
        normalise(name)


# --------------------------------------------------------------------------- secure_join


def test_secure_join_examples(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", tmp_path / "lib")
    os.symlink("/usr", tmp_path / "abs")
    os.symlink("../../../../..", tmp_path / "up")
    os.symlink("final-target", tmp_path / "usr/last")
    assert secure_join(tmp_path, "lib/x.so") == tmp_path / "usr/lib/x.so"
    assert secure_join(tmp_path, "/abs/lib/../bin") == tmp_path / "usr/bin"
    assert secure_join(tmp_path, "up/up/etc/passwd") == tmp_path / "etc/passwd"
    assert secure_join(tmp_path, "../../x") == tmp_path / "x"
    assert secure_join(tmp_path, "usr/last") == tmp_path / "usr/last"  # final not followed
    assert secure_join(tmp_path, "lib") == tmp_path / "lib"
    assert secure_join(tmp_path, "") == tmp_path
    assert secure_join(tmp_path, "lib/..") == tmp_path / "usr"
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(UnsafeLayerError, match="too many levels of symbolic links"):
        secure_join(tmp_path, "loop/x")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def kernel_resolve(root: Path, path: str, *, follow: bool = False) -> Path | None:
    """What Linux's openat2(RESOLVE_IN_ROOT) makes of ``path``; None when the kernel fails
    (missing component, not a directory, loop)."""
    flags = os.O_PATH | os.O_CLOEXEC | (os.O_DIRECTORY if follow else os.O_NOFOLLOW)
    how = _OpenHow(flags, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = _libc.syscall(
            _SYS_OPENAT2, root_fd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)
        )
        if fd < 0:
            return None
        try:
            return Path(os.readlink(f"/proc/self/fd/{fd}"))
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def kernel_join(root: Path, path: str) -> Path | None:
    """The kernel's answer for what secure_join computes: the parent directory resolved
    (symlinks followed) by openat2, joined with the final name, which need not exist."""
    head, _, last = path.rpartition("/")
    if last in ("", ".", ".."):
        return kernel_resolve(root, path) if path.strip("/.") else None
    parent = kernel_resolve(root, head or ".", follow=True)
    return None if parent is None else parent / last


def _openat2_works() -> bool:
    """False on kernels before 5.6 or under a seccomp filter that refuses openat2."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "x").touch()
        return kernel_resolve(Path(tmp), "x") is not None


openat2_available = _openat2_works()


component = st.sampled_from(["a", "b", "c"])
#: any path, with empty, "." and ".." components
walk = st.lists(st.sampled_from(["a", "b", "c", "..", ".", ""]), max_size=6).map("/".join)
#: paths that mostly go down through existing names (and so through symlinks)
down = st.lists(st.sampled_from(["a", "b", "c", "a", "b", "c", ".."]), min_size=1, max_size=6)
down = down.map("/".join)
#: symlink targets: relative, absolute, looping and escaping ones
target = st.one_of(
    down,
    down.map(lambda p: "/" + p),
    down.map(lambda p: "../../" + p),
    walk.map(lambda p: p or "."),
    st.sampled_from(["../..", "/../../..", "../../outside", "/", "a/../../.."]),
)
#: a directory (None) or a symlink at a path of 1-3 names
node = st.tuples(st.lists(component, min_size=1, max_size=3), st.one_of(st.none(), target, target))


def make_tree(root: Path, nodes: list[tuple[list[str], str | None]]) -> None:
    """Directories a, b, c each holding a, b, c; then each node replaces (or creates) the
    entry at its path with a symlink (or a directory when its target is None). Parents are
    opened with O_NOFOLLOW, so building the tree never follows a symlink."""
    for top in "abc":
        for sub in ("", "a", "b", "c"):
            (root / top / sub).mkdir(exist_ok=True)
    for parts, link in nodes:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                new = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = new
            _replace(fd, parts[-1], link)
        except OSError:
            pass  # a symlink on the way: skip this node
        finally:
            os.close(fd)


def _replace(dir_fd: int, name: str, link: str | None) -> None:
    """Put a symlink to ``link`` (or a directory) at ``name`` in the directory ``dir_fd``."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    if link is None:
        os.mkdir(name, dir_fd=dir_fd)
    else:
        os.symlink(link, name, dir_fd=dir_fd)


@settings(max_examples=800, deadline=None)
@given(nodes=st.lists(node, min_size=1, max_size=16), query=st.one_of(walk, down))
def test_secure_join_stays_inside_root(
    nodes: list[tuple[list[str], str | None]], query: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp).resolve()
        root = base / "root"
        root.mkdir()
        (base / "outside").mkdir()
        make_tree(root, nodes)
        try:
            result = secure_join(root, query)
        except UnsafeLayerError:
            if openat2_available:
                assert kernel_join(root, query) is None
            return
        assert result == root or result.is_relative_to(root)
        assert ".." not in result.relative_to(root).parts
        for parent in list(result.parents)[: len(result.relative_to(root).parts) - 1]:
            assert not parent.is_symlink(), f"{parent} is a symlink"
        kernel = kernel_join(root, query) if openat2_available else None
        if kernel is not None:
            assert result == kernel
