"""The one subprocess helper. Every external tool Bakery runs goes through here.

A failure raises :class:`~bakery.errors.ToolError` whose message names the command, its exit
code and the tail of what it printed, so a user never sees a bare ``CalledProcessError``.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    "mke2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mmd": "mtools",
    "mcopy": "mtools",
    "mdir": "mtools",
    "sfdisk": "fdisk",
    "grub-mkimage": "grub-common grub-efi-amd64-bin grub-pc-bin",
    "qemu-img": "qemu-utils",
    "qemu-system-x86_64": "qemu-system-x86 ovmf",
    "packer": "packer",
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
    pass_fds: Sequence[int] = (),
) -> Completed:
    """Run a command to completion, capturing its output (decoded leniently as UTF-8).

    ``pass_fds`` are file descriptors the command inherits (e.g. ``bwrap --seccomp FD``)."""
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
            pass_fds=tuple(pass_fds),
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


class Watched:
    """A long-running command whose combined output is read as it comes (a VM's serial
    console): iterate :meth:`output` until you have seen enough, then :meth:`stop` it.

    Use it as a context manager: leaving the block always stops the command and reaps it.
    """

    def __init__(self, argv: Sequence[str | Path], *, cwd: Path | None = None) -> None:
        self.argv = tuple(str(a) for a in argv)
        exe = which(self.argv[0]) if "/" not in self.argv[0] else self.argv[0]
        self._proc = subprocess.Popen(
            [exe, *self.argv[1:]],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def output(self, deadline: float) -> Iterator[str]:
        """The command's output as it comes, in decoded pieces (UTF-8, leniently), until the
        command ends or ``time.monotonic()`` passes ``deadline``."""
        stdout = self._proc.stdout
        assert stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([stdout], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(stdout.fileno(), 1 << 16)
            if not chunk:
                break
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)

    @property
    def returncode(self) -> int | None:
        """The exit code once the command has ended, else None."""
        return self._proc.poll()

    def stop(self, grace: float = 10.0) -> int:
        """Ask the command to end (SIGTERM), kill it after ``grace`` seconds; its exit code."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        code = self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return code

    def __enter__(self) -> Watched:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class Pipe:
    """A running command that filters a byte stream: :meth:`write` feeds its stdin while a
    thread copies its stdout, chunk by chunk, to a ``sink`` callable (e.g. ``out.write``).

    Use it as a context manager (or call :meth:`close`): leaving the block normally closes stdin,
    waits for the command and raises :class:`ToolError` with the tail of its stderr if it
    failed; leaving it with an exception kills the command.
    """

    CHUNK = 1 << 20

    def __init__(self, argv: Sequence[str | Path], sink: Callable[[bytes], object]) -> None:
        self.argv = tuple(str(a) for a in argv)
        exe = which(self.argv[0]) if "/" not in self.argv[0] else self.argv[0]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or kill()
        self._proc = subprocess.Popen(
            [exe, *self.argv[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            # a filter of ours, not the user's: a terminal's Ctrl-C goes to bakery, which
            # stops it (pigz would exit 4 first and the interrupt read as "pigz failed")
            process_group=0,
        )
        self._sink = sink
        self._error: BaseException | None = None
        self._reader = threading.Thread(target=self._copy_out, name=f"pipe-{self.argv[0]}")
        self._reader.start()

    def _copy_out(self) -> None:
        """Reader thread: copy stdout to the sink; on a sink error, kill the command."""
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            while chunk := os.read(stdout.fileno(), self.CHUNK):
                self._sink(chunk)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread by close()
            self._error = e
            self._proc.kill()

    def write(self, data: bytes | memoryview) -> int:
        """Feed ``data`` to the command's stdin (blocks while the command is busy)."""
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(data)
        except BrokenPipeError:
            self.close()  # raises the real reason (the command died, or the sink failed)
            raise
        return len(data)

    def close(self) -> None:
        """Close stdin, wait for the command and the copy; raise if either failed."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        self._reader.join()
        returncode = self._proc.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        if self._error is not None:
            raise self._error
        if returncode != 0:
            raise failure(Completed(self.argv, returncode, "", stderr))

    def kill(self) -> None:
        """Stop the command without checking its result (used when the caller failed)."""
        self._proc.kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        self._reader.join()
        self._proc.wait()
        self._stderr.close()

    def __enter__(self) -> Pipe:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()
