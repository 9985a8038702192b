"""Execute the steps that change the filesystem: ``packages``, ``copy`` and ``run``.

Each function works on a rootfs directory; the engine snapshots it before and after to turn the
step into one layer. ``packages`` and ``run`` execute inside bubblewrap; ``copy`` is done by
Bakery itself, from the recipe's directory only, through :func:`secure_join` so that a
destination can never leave the rootfs.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery import proc
from bakery.errors import BuildError, LockError
from bakery.oci.securepath import secure_join
from bakery.recipe.lock import LockedPackage
from bakery.recipe.model import CopyStep, PackagesStep, RunStep
from bakery.rootfs import dpkg, sandbox
from bakery.rootfs.inputs import CopySource

SHOW_LINES = 20


@dataclass(frozen=True)
class StepContext:
    """What every step sees: where the rootfs is, and the image's environment so far."""

    rootfs: Path
    scratch: Path
    env: Mapping[str, str]
    workdir: str
    source_date_epoch: int


def run_step(
    step: RunStep, ctx: StepContext, *, secrets: Sequence[sandbox.Mount], label: str
) -> None:
    """Run a shell step; a non-zero exit fails the bake with the last lines of its output."""
    spec = sandbox.SandboxSpec(
        rootfs=ctx.rootfs,
        argv=["/bin/sh", "-ec", step.run],
        env={**ctx.env, "SOURCE_DATE_EPOCH": str(ctx.source_date_epoch)},
        network=step.network,
        workdir=ctx.workdir,
        mounts=secrets,
    )
    _check(sandbox.run(spec), label)


def packages_step(
    step: PackagesStep, ctx: StepContext, *, pins: Sequence[LockedPackage] | None, label: str
) -> list[LockedPackage]:
    """apt-get install the packages (pinned when locked); returns exactly what was installed."""
    before = dpkg.installed(ctx.rootfs)
    mounts: list[sandbox.Mount] = []
    if pins is not None:
        pref = ctx.scratch / "bakery-lock.pref"
        pref.write_text(dpkg.pin_preferences(pins), encoding="utf-8")
        mounts.append(sandbox.Mount(pref, "/etc/apt/preferences.d/bakery-lock"))
    script = (
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
        "-o APT::Keep-Downloaded-Packages=true -- " + shlex.join(step.packages)
    )
    spec = sandbox.SandboxSpec(
        rootfs=ctx.rootfs,
        argv=["/bin/sh", "-ec", script],
        env={"DEBIAN_FRONTEND": "noninteractive", "SOURCE_DATE_EPOCH": str(ctx.source_date_epoch)},
        network=True,
        mounts=mounts,
    )
    done = sandbox.run(spec)
    _check_packages(done, label)
    new = dpkg.changed(before, dpkg.installed(ctx.rootfs))
    installed = dpkg.locked_packages(new, dpkg.downloaded_debs(ctx.rootfs))
    dpkg.remove_apt_leftovers(ctx.rootfs)
    if pins is not None and (problems := dpkg.compare(pins, installed)):
        raise LockError(
            f"{label}: the locked install differs from the lock: " + "; ".join(problems[:8]),
            hint="run `bakery lock` to re-resolve",
        )
    return installed


def copy_step(step: CopyStep, sources: Sequence[CopySource], ctx: StepContext) -> None:
    """Copy files from the recipe directory into the rootfs, with the step's mode and owner."""
    uid, gid = resolve_owner(ctx.rootfs, step.owner)
    dest_is_dir = step.dest.endswith("/") or len(sources) > 1 or sources[0].from_directory
    for source in sources:
        target_rel = f"{step.dest.rstrip('/')}/{source.relative}" if dest_is_dir else step.dest
        target = secure_join(ctx.rootfs, target_rel)
        _make_parents(ctx.rootfs, target)
        if target.is_dir() and not target.is_symlink():
            target = secure_join(ctx.rootfs, f"{target_rel}/{source.path.name}")
        _replace_with_copy(source, target)
        os.lchown(target, uid, gid)
        if not source.is_symlink:
            os.chmod(target, step.mode if step.mode is not None else source.mode)


def _replace_with_copy(source: CopySource, target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if source.is_symlink:
        os.symlink(os.readlink(source.path), target)
    else:
        shutil.copyfile(source.path, target)


def _make_parents(rootfs: Path, target: Path) -> None:
    for parent in reversed(target.parents):
        if parent.is_relative_to(rootfs) and not parent.exists():
            parent.mkdir(mode=0o755)


def resolve_owner(rootfs: Path, owner: str) -> tuple[int, int]:
    """``"1000:1000"``, ``"app"`` or ``"app:staff"`` → numeric ids, names looked up in the image."""
    user, _, group = owner.partition(":")
    uid = _lookup(rootfs, "etc/passwd", user, owner)
    if group:
        gid = _lookup(rootfs, "etc/group", group, owner)
    elif user.isdigit():
        gid = uid
    else:
        gid = _passwd_gid(rootfs, user, owner)
    return uid, gid


def _id_table(rootfs: Path, rel: str) -> dict[str, list[str]]:
    path = secure_join(rootfs, rel)
    if not path.is_file():
        return {}
    rows = (
        line.split(":") for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    )
    return {row[0]: row for row in rows if len(row) >= 4}


def _lookup(rootfs: Path, table: str, name: str, owner: str) -> int:
    if name.isdigit():
        return int(name)
    row = _id_table(rootfs, table).get(name)
    if row is None:
        raise BuildError(
            f"owner '{owner}': no '{name}' in the image's /{table}",
            hint="use numeric ids, or create the account in an earlier run step",
        )
    return int(row[2])


def _passwd_gid(rootfs: Path, user: str, owner: str) -> int:
    row = _id_table(rootfs, "etc/passwd").get(user)
    if row is None:
        raise BuildError(f"owner '{owner}': no '{user}' in the image's /etc/passwd")
    return int(row[3])


def _check(done: proc.Completed, label: str) -> None:
    if done.returncode != 0:
        output = proc.tail(done.stdout + "\n" + done.stderr, SHOW_LINES)
        raise BuildError(f"{label} failed with exit code {done.returncode}; last lines:\n{output}")


def _check_packages(done: proc.Completed, label: str) -> None:
    if done.returncode == 0:
        return
    text = done.stdout + "\n" + done.stderr
    for line in text.splitlines():
        if "Unable to locate package" in line or "has no installation candidate" in line:
            raise BuildError(
                f"{label}: unknown package: {line.removeprefix('E: ').strip()}",
                hint="check the package name (apt-cache search NAME)",
            )
    _check(done, label)
