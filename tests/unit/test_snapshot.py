"""Snapshots and diffs: what becomes a layer, and what never does."""

from __future__ import annotations

import os
from pathlib import Path

from bakery.oci.tarwriter import Change
from bakery.rootfs import snapshot


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("a\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("#!/bin/sh\n")
    (root / "var/log/apt").mkdir(parents=True)
    (root / "var/log/dpkg.log").write_text("noise\n")
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)
    (root / "var/lib/apt/lists/deb.debian.org_Packages").write_text("Package: x\n")
    (root / "dev").mkdir()
    (root / "dev/null-ish").write_text("")
    (root / "old").mkdir()
    (root / "old/a").write_text("a")
    (root / "old/b").write_text("b")


def test_volatile_paths_never_enter_a_snapshot(tmp_path: Path) -> None:
    _tree(tmp_path)
    snap = snapshot.take(tmp_path)
    assert "var/log/apt" in snap and "var/lib/apt/lists/partial" in snap and "dev" in snap
    assert "var/log/dpkg.log" not in snap
    assert "var/lib/apt/lists/deb.debian.org_Packages" not in snap
    assert "dev/null-ish" not in snap


def test_diff_reports_additions_modifications_and_topmost_deletions(tmp_path: Path) -> None:
    _tree(tmp_path)
    before = snapshot.take(tmp_path)
    (tmp_path / "etc/hostname").write_text("b\n")  # same size: caught by ctime/ino
    (tmp_path / "usr/bin/new").write_text("new")
    for name in ("a", "b"):
        (tmp_path / "old" / name).unlink()
    (tmp_path / "old").rmdir()
    (tmp_path / "var/log/dpkg.log").write_text("more noise\n")
    after = snapshot.take(tmp_path)
    changes = set(snapshot.diff(before, after))
    assert Change("etc/hostname", "add") in changes
    assert Change("usr/bin/new", "add") in changes
    assert Change("old", "delete") in changes
    assert Change("old/a", "delete") not in changes  # inside a deleted dir: implied
    assert not any(c.path.startswith("var/log") and c.path != "var/log" for c in changes)


def test_a_metadata_only_change_is_a_change(tmp_path: Path) -> None:
    _tree(tmp_path)
    before = snapshot.take(tmp_path)
    os.chmod(tmp_path / "usr/bin/tool", 0o755)
    assert Change("usr/bin/tool", "add") in snapshot.diff(before, snapshot.take(tmp_path))


def test_no_change_no_diff(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert snapshot.diff(snapshot.take(tmp_path), snapshot.take(tmp_path)) == []


def test_everything_lists_every_path(tmp_path: Path) -> None:
    _tree(tmp_path)
    snap = snapshot.take(tmp_path)
    assert {c.path for c in snapshot.everything(snap)} == set(snap)
