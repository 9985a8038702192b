"""The boot test: boot a disk from firmware in QEMU and wait for a text on its serial console.

The disk boots as a machine would: OVMF (UEFI firmware), or SeaBIOS for a BIOS disk, finds the
bootloader on the disk; QEMU gets no ``-kernel``. KVM is not usable on the machines Bakery runs
on, so QEMU emulates (TCG).
The disk is opened with ``snapshot=on``: the test never writes to the artifact it tests. When the
text appears QEMU is stopped (SIGTERM: it exits cleanly); when it does not, the error shows the
last lines of the console.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bakery import proc
from bakery.errors import ToolError

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
TAIL_LINES = 40
#: how much console output is kept (the tail is what a failure shows)
MAX_TRANSCRIPT = 1 << 20
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


@dataclass(frozen=True)
class BootOutcome:
    """Whether the text appeared, after how long, and the console's last lines."""

    passed: bool
    seconds: float
    detail: str
    console_tail: str


def qemu_argv(
    disk: Path, fmt: str, vars_file: Path, *, firmware: str = "uefi", memory_mb: int = 1024
) -> list[str]:
    """The QEMU command line: q35 with OVMF (UEFI) or SeaBIOS (BIOS), the disk on virtio,
    the serial console on stdout."""
    pflash = [
        "-drive",
        f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "-drive",
        f"if=pflash,format=raw,unit=1,file={vars_file}",
    ]
    return [
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-machine",
        "q35",
        "-m",
        str(memory_mb),
        "-smp",
        "2",
        "-nographic",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
        "-nic",
        "none",
        *(pflash if firmware == "uefi" else []),
        "-drive",
        f"file={disk},if=virtio,format={fmt},snapshot=on",
    ]


def boot_test(
    disk: Path,
    fmt: str,
    expect: str,
    *,
    timeout: float,
    scratch: Path,
    firmware: str = "uefi",
) -> BootOutcome:
    """Boot ``disk`` (of format ``fmt``) from ``firmware`` and wait up to ``timeout`` seconds
    for ``expect`` on its console."""
    for path in (OVMF_CODE, OVMF_VARS) if firmware == "uefi" else ():
        if not path.is_file():
            raise ToolError(
                f"UEFI firmware {path} is missing",
                hint="install it with: apt-get install -y ovmf",
            )
    scratch.mkdir(parents=True, exist_ok=True)
    vars_file = scratch / "OVMF_VARS.fd"
    if firmware == "uefi":
        shutil.copyfile(OVMF_VARS, vars_file)
    transcript = ""
    start = time.monotonic()
    found = False
    argv = qemu_argv(disk, fmt, vars_file, firmware=firmware)
    with proc.Watched(argv, cwd=scratch) as vm:
        for piece in vm.output(start + timeout):
            searched_from = max(0, len(transcript) - len(expect))
            transcript = (transcript + piece)[-MAX_TRANSCRIPT:]
            if expect in _ANSI.sub("", transcript[searched_from:]):
                found = True
                break
        seconds = time.monotonic() - start
        exited = vm.returncode
    tail = console_tail(transcript)
    if found:
        return BootOutcome(True, round(seconds, 1), "", tail)
    why = (
        f"QEMU exited with code {exited} before the console showed {expect!r}"
        if exited is not None
        else f"the console did not show {expect!r} within {timeout:g} s"
    )
    return BootOutcome(False, round(seconds, 1), why, tail)


def console_tail(transcript: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a console transcript, without terminal escape codes."""
    text = _ANSI.sub("", transcript)
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
