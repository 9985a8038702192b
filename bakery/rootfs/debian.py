"""The ``debian`` base: a rootfs made by mmdebstrap from the host's apt sources.

Every bootstrap keeps the downloaded .debs long enough to hash them, so the result always says
exactly what was installed (name, version, architecture, .deb sha256): that is what a lock
records. A locked bootstrap pins every version with an apt preferences file that exists only
while mmdebstrap runs, then checks that exactly the locked set was installed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from bakery import proc
from bakery.errors import BuildError, LockError
from bakery.oci.securepath import secure_join
from bakery.recipe.lock import LockedPackage
from bakery.recipe.model import DebianBase
from bakery.rootfs import dpkg

PIN_FILE = "/etc/apt/preferences.d/bakery-lock"
#: mmdebstrap copies these from the host; they describe the build machine, not the image
HOST_FILES = ("etc/resolv.conf", "etc/hostname")


def mmdebstrap_argv(base: DebianBase, rootfs: Path, *, pins_file: Path | None) -> list[str]:
    """The mmdebstrap command line for ``base``."""
    argv = [
        "mmdebstrap",
        f"--variant={base.variant}",
        "--mode=root",
        f"--architectures={base.architecture}",
        f"--components={','.join(base.components)}",
        "--skip=essential/unlink,cleanup/apt/cache",
    ]
    if base.packages:
        argv.append(f"--include={','.join(base.packages)}")
    if pins_file is not None:
        argv += [
            '--setup-hook=mkdir -p "$1/etc/apt/preferences.d"',
            f'--setup-hook=cp {shlex.quote(str(pins_file))} "$1{PIN_FILE}"',
            f'--customize-hook=rm -f "$1{PIN_FILE}"',
        ]
    argv += [base.suite, str(rootfs)]
    return argv


def bootstrap(
    base: DebianBase,
    rootfs: Path,
    *,
    source_date_epoch: int,
    pins: Sequence[LockedPackage] | None,
    scratch_dir: Path,
) -> list[LockedPackage]:
    """Build the rootfs at ``rootfs`` (which must not exist) and return what was installed."""
    pins_file = None
    if pins is not None:
        pins_file = scratch_dir / "bakery-lock.pref"
        pins_file.write_text(dpkg.pin_preferences(pins), encoding="utf-8")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH": str(source_date_epoch)}
    done = proc.run(mmdebstrap_argv(base, rootfs, pins_file=pins_file), env=env, check=False)
    if done.returncode != 0:
        raise _bootstrap_failure(base, done, locked=pins is not None)
    packages = dpkg.locked_packages(dpkg.installed(rootfs), dpkg.downloaded_debs(rootfs))
    dpkg.remove_apt_leftovers(rootfs)
    for rel in HOST_FILES:
        host_copy = secure_join(rootfs, rel)
        if host_copy.is_file() and not host_copy.is_symlink():
            host_copy.write_bytes(b"")
    if pins is not None:
        problems = dpkg.compare(pins, packages)
        if problems:
            raise LockError(
                "the locked Debian base installed a different package set: "
                + "; ".join(problems[:8]),
                hint="the mirror changed; run `bakery lock` to re-resolve",
            )
    return packages


def _bootstrap_failure(base: DebianBase, done: proc.Completed, *, locked: bool) -> BuildError:
    output = proc.tail(done.stdout + "\n" + done.stderr)
    unknown = [
        line
        for line in output.splitlines()
        if "Unable to locate package" in line or "has no installation candidate" in line
    ]
    if unknown:
        return BuildError(
            f"debian base: unknown package: {unknown[0].strip()}",
            hint="check the package names under base.debian.packages (apt-cache search NAME)",
        )
    if locked and "Version" in output and "was not found" in output:
        return BuildError(
            "debian base: a locked package version is no longer on the mirror",
            hint="run `bakery lock` to re-resolve",
        )
    return BuildError(f"mmdebstrap failed (exit {done.returncode}):\n{output}")
