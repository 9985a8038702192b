"""The one subprocess helper. Every external tool Bakery runs goes through here.

A failure raises :class:`~bakery.errors.ToolError` whose message names the command, its exit
code and the tail of what it printed, so a user never sees a bare ``CalledProcessError``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import ToolError

#: Where each tool comes from, for install hints (Debian bookworm package names).
APT_PACKAGES: dict[str, str] = {
    "mmdebstrap": "mmdebstrap",
    "bwrap": "bubblewrap",
    "pigz": "pigz",
    "git": "git",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker": "docker.io",
    "dockerd": "docker.io",
    "dpkg": "dpkg",
}

TAIL_LINES = 20


@dataclass(frozen=True, slots=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def which(tool: str) -> str:
    """Absolute path of ``tool``, or a ToolError with the command that installs it."""
    found = shutil.which(tool)
    if found is None:
        package = APT_PACKAGES.get(tool, tool)
        raise ToolError(
            f"required tool '{tool}' is not installed",
            hint=f"install it with: apt-get install -y {package} (or run `make setup`)",
        )
    return found


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Completed:
    """Run a command to completion, capturing its output (decoded leniently as UTF-8)."""
    args = [str(a) for a in argv]
    exe = which(args[0]) if "/" not in args[0] else args[0]
    try:
        proc = subprocess.run(
            [exe, *args[1:]],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"`{shlex.join(args)}` timed out after {timeout} s") from e
    done = Completed(
        argv=tuple(args),
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=proc.stderr.decode("utf-8", "replace"),
    )
    if check and done.returncode != 0:
        raise failure(done)
    return done


def failure(done: Completed, what: str | None = None) -> ToolError:
    """A ToolError describing a failed command with the tail of its output."""
    output = tail((done.stdout + "\n" + done.stderr).strip())
    label = what or f"`{shlex.join(done.argv)}`"
    message = f"{label} failed with exit code {done.returncode}"
    if output:
        message += ":\n" + output
    return ToolError(message)
