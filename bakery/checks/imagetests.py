"""A recipe's image tests: ``file``, ``command`` and ``metadata`` checks on the baked image.

``file`` tests read the rootfs through :func:`secure_join` (an image symlink cannot make a test
read the host). ``command`` tests run in bubblewrap over a read-only rootfs with no network.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bakery.errors import BakeryError, BuildError
from bakery.oci.securepath import secure_join
from bakery.recipe.model import CommandTest, FileTest, ImageTest, MetadataTest
from bakery.rootfs import sandbox
from bakery.rootfs.image import ImageState
from bakery.rootfs.steps import resolve_owner

#: how much of a file a ``contains`` test reads
MAX_CONTAINS_BYTES = 16 << 20
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class Outcome:
    """One test's result; ``detail`` says why it failed."""

    name: str
    passed: bool
    detail: str = ""


def run_tests(tests: tuple[ImageTest, ...], rootfs: Path, state: ImageState) -> list[Outcome]:
    """Run every test (all of them, so the user sees every failure at once)."""
    return [_run(test, rootfs, state) for test in tests]


def _run(test: ImageTest, rootfs: Path, state: ImageState) -> Outcome:
    try:
        match test:
            case FileTest():
                problems = _file(test, rootfs)
            case CommandTest():
                problems = _command(test, rootfs, state)
            case MetadataTest():
                problems = _metadata(test, state)
            case _:
                raise TypeError(f"unknown test {test!r}")
    except BakeryError as e:
        problems = [e.one_line()]
    return Outcome(test.name, not problems, "; ".join(problems))


def follow_in_root(rootfs: Path, path: str) -> Path:
    """Like :func:`secure_join`, but the final component's symlinks are followed too (in root)."""
    current = path
    for _ in range(MAX_SYMLINKS):
        joined = secure_join(rootfs, current)
        if not joined.is_symlink():
            return joined
        target = os.readlink(joined)
        parent = PurePosixPath("/", joined.relative_to(rootfs).as_posix()).parent
        current = target if target.startswith("/") else str(parent / target)
    raise BuildError(f"{path}: too many levels of symbolic links")


def _file(test: FileTest, rootfs: Path) -> list[str]:
    spec = test.file
    link = secure_join(rootfs, spec.path)
    if not (link.exists() or link.is_symlink()):
        return [f"{spec.path} does not exist"] if spec.exists else []
    path = follow_in_root(rootfs, spec.path)
    present = path.exists() or path.is_symlink()
    if not spec.exists:
        return [f"{spec.path} exists but should be absent"]
    if not present:
        return [f"{spec.path} is a dangling symlink"]
    st = path.lstat()
    problems = []
    if spec.mode is not None and stat.S_IMODE(st.st_mode) != spec.mode:
        problems.append(
            f"{spec.path} has mode {stat.S_IMODE(st.st_mode):04o}, expected {spec.mode:04o}"
        )
    if spec.owner is not None:
        want = resolve_owner(rootfs, spec.owner)
        if (st.st_uid, st.st_gid) != want:
            problems.append(
                f"{spec.path} is owned by {st.st_uid}:{st.st_gid}, expected {want[0]}:{want[1]}"
            )
    if spec.contains is not None:
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{spec.path} is not a regular file")
        else:
            with path.open("rb") as f:
                text = f.read(MAX_CONTAINS_BYTES).decode("utf-8", "replace")
            if re.search(spec.contains, text, re.MULTILINE) is None:
                problems.append(f"{spec.path} does not contain /{spec.contains}/")
    return problems


def _command(test: CommandTest, rootfs: Path, state: ImageState) -> list[str]:
    spec = test.command
    argv = ["/bin/sh", "-c", spec.run] if isinstance(spec.run, str) else list(spec.run)
    if spec.user is not None and spec.user not in ("root", "0", "0:0"):
        # drop to the user with the image's own setpriv (util-linux), ids from its passwd
        uid, gid = resolve_owner(rootfs, spec.user)
        argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]
    done = sandbox.run(
        sandbox.SandboxSpec(
            rootfs=rootfs,
            argv=argv,
            env=state.env_map,
            read_only=True,
            workdir=state.workdir or "/",
        )
    )
    problems = []
    if done.returncode != spec.exit:
        problems.append(f"exit code {done.returncode}, expected {spec.exit}")
    for stream, pattern, text in (
        ("stdout", spec.stdout, done.stdout),
        ("stderr", spec.stderr, done.stderr),
    ):
        if pattern is not None and re.search(pattern, text, re.MULTILINE) is None:
            problems.append(f"{stream} does not match /{pattern}/: {_excerpt(text)}")
    if problems and done.returncode != 0:
        problems.append(f"output: {_excerpt(done.stdout + done.stderr)}")
    return problems


def _metadata(test: MetadataTest, state: ImageState) -> list[str]:
    spec = test.metadata
    problems = []
    checks = [
        ("user", spec.user, state.user),
        ("workdir", spec.workdir, state.workdir),
        ("entrypoint", _tuple(spec.entrypoint), state.entrypoint),
        ("cmd", _tuple(spec.cmd), state.cmd),
    ]
    for what, want, got in checks:
        if want is not None and want != got:
            problems.append(f"{what} is {got!r}, expected {want!r}")
    env = state.env_map
    for key, value in (spec.env or {}).items():
        if env.get(key) != value:
            problems.append(f"env {key}={env.get(key)!r}, expected {value!r}")
    labels = dict(state.labels)
    for key, value in (spec.labels or {}).items():
        if labels.get(key) != value:
            problems.append(f"label {key}={labels.get(key)!r}, expected {value!r}")
    missing = sorted(set(spec.expose or ()) - set(state.exposed))
    if missing:
        exposed = ", ".join(state.exposed) or "none"
        problems.append(f"ports {', '.join(missing)} are not exposed (exposed: {exposed})")
    return problems


def _tuple(value: object) -> tuple[str, ...] | None:
    return tuple(value) if isinstance(value, list | tuple) else None


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
