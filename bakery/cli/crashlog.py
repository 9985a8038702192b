"""The crash log: where an internal error (a bug) leaves its traceback for a bug report.

One file per crash, named by its UTC time and pid so concurrent crashes never clobber each
other, in ``$BAKERY_CRASH_DIR``, else ``$XDG_CACHE_HOME/bakery/crash``, else
``~/.cache/bakery/crash``. It holds the versions, the platform, the arguments (secrets redacted;
no environment values, only the names of the ``BAKERY_*`` variables set) and the traceback.
Everything is passed in (environment, clock, pid) so tests need no real ``$HOME``.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from bakery import __version__

REDACTED = "<redacted>"
#: an option whose value is a secret: --password, --token, --init-admin-token, --api-key, ...
_SECRET_OPTION = re.compile(
    r"^--?[\w-]*(pass(word|wd|phrase)?|token|secret|credentials?|api-?key|auth)[\w-]*$", re.I
)
#: NAME=VALUE where NAME names a secret (--token=…, ?access_token=…, REGISTRY_PASSWORD=…)
_SECRET_ASSIGNMENT = re.compile(
    r"([\w-]*(?:pass(?:word|wd|phrase)?|token|secret|credentials?|api-?key|auth)[\w-]*=)[^&\s]+",
    re.I,
)
#: the password of a URL's userinfo: postgresql://user:PASSWORD@host/db
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*@", re.I)
#: what an option name looks like (a secret value that looks like one is not redacted)
_OPTION_NAME = re.compile(r"^--[a-z][a-z-]*$")
_MESSAGE_LIMIT = 200


def crash_dir(environ: Mapping[str, str]) -> Path:
    """Where crash logs go: ``$BAKERY_CRASH_DIR``, else the XDG cache dir's ``bakery/crash``."""
    if override := environ.get("BAKERY_CRASH_DIR"):
        return Path(override)
    cache = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):  # the XDG spec: a relative value is invalid, ignore it
        cache = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(cache) / "bakery" / "crash"


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The arguments with secrets replaced: values of secret options, NAME=VALUE secrets and URL
    passwords. The argument after a secret option is redacted unless it looks like an option
    name: hiding a positional after a flag is harmless, leaking a secret is not."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not _OPTION_NAME.match(arg):
            redacted.append(REDACTED)
        else:
            arg = _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", arg)
            redacted.append(_SECRET_ASSIGNMENT.sub(rf"\g<1>{REDACTED}", arg))
        hide_next = bool(_SECRET_OPTION.match(arg))
    return redacted


def render(
    exc: BaseException, argv: Sequence[str], *, environ: Mapping[str, str], now: datetime
) -> str:
    """The crash log's text."""
    names = sorted(name for name in environ if name.startswith("BAKERY_"))
    header = [
        "bakery crash log: an internal error (a bug in bakery); please attach it to a report",
        f"time: {now.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"bakery: {__version__}",
        f"python: {sys.version.replace(chr(10), ' ')} ({sys.executable})",
        f"platform: {platform.platform()}",
        f"argv: {shlex.join(['bakery', *redact_argv(argv)])}",
        f"environment (names only): {', '.join(names) or '-'}",
    ]
    return "\n".join(header) + "\n\n" + "".join(traceback.format_exception(exc))


def write(directory: Path, text: str, *, now: datetime, pid: int) -> Path:
    """Write ``text`` to a new file in ``directory`` (mode 0600) and return its path; never
    overwrites another crash's log. Raises ``OSError`` when it cannot."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"{now.strftime('%Y-%m-%dT%H-%M-%SZ')}-{pid}"
    for attempt in range(100):
        path = directory / (f"{stem}.log" if attempt == 0 else f"{stem}-{attempt}.log")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as log:
            log.write(text)
        return path
    raise FileExistsError(f"{directory}: {stem}.log and 99 others exist")


def report(
    exc: BaseException,
    argv: Sequence[str],
    *,
    environ: Mapping[str, str],
    now: datetime,
    pid: int,
) -> str:
    """Write the crash log and return the one line telling the user about the bug and where its
    traceback is. Never raises: when the log cannot be written, the line says why."""
    summary = f"{type(exc).__name__}: {_one_line(exc)}"
    directory = crash_dir(environ)
    try:
        path = write(directory, render(exc, argv, environ=environ, now=now), now=now, pid=pid)
    except Exception as problem:  # noqa: BLE001 - the handler of a bug must not fail in turn
        return (
            f"{summary} (this is a bug in bakery; its crash log could not be written to "
            f"{directory}: {type(problem).__name__}: {_one_line(problem)}; rerun with --debug "
            "for the traceback)"
        )
    return (
        f"{summary} (this is a bug in bakery; the traceback is in {path}; please attach it to "
        "a report)"
    )


def _one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line, shortened: the whole message is in the log."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the bug being reported
        return "<unprintable>"
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
