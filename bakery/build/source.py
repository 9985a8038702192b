"""Where a recipe comes from: SOURCE_DATE_EPOCH and git metadata.

SOURCE_DATE_EPOCH is taken from the environment when set (malformed values are an error, per
the reproducible-builds spec), else from the last commit that touched the recipe, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from bakery import proc
from bakery.errors import ToolError, UserError


@dataclass(frozen=True)
class SourceInfo:
    """Git facts about a recipe, when it lives in a repository."""

    source_date_epoch: int
    epoch_from: Literal["environment", "git", "default"]
    repository: str | None = None
    revision: str | None = None


def describe(recipe_path: Path, environ: Mapping[str, str]) -> SourceInfo:
    """Resolve SOURCE_DATE_EPOCH and git metadata for ``recipe_path``."""
    repo, revision, commit_time = _git_facts(recipe_path)
    raw = environ.get("SOURCE_DATE_EPOCH")
    if raw is not None:
        return SourceInfo(_parse_epoch(raw), "environment", repo, revision)
    if commit_time is not None:
        return SourceInfo(commit_time, "git", repo, revision)
    return SourceInfo(0, "default", repo, revision)


def _parse_epoch(raw: str) -> int:
    if not re.fullmatch(r"[0-9]+", raw.strip()):
        raise UserError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds",
            hint="set it to e.g. $(git log -1 --format=%ct) or unset it",
        )
    return int(raw.strip())


def _git_facts(recipe_path: Path) -> tuple[str | None, str | None, int | None]:
    directory = recipe_path.parent
    try:
        top = _git(directory, "rev-parse", "--show-toplevel")
    except ToolError:
        return None, None, None
    if top is None:
        return None, None, None
    revision = _git(directory, "rev-parse", "HEAD")
    stamp = _git(directory, "log", "-1", "--format=%ct", "--", recipe_path.name)
    remote = _git(directory, "config", "--get", "remote.origin.url")
    return (_strip_credentials(remote) if remote else None, revision, int(stamp) if stamp else None)


def _git(directory: Path, *args: str) -> str | None:
    done = proc.run(["git", "-C", str(directory), *args], check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _strip_credentials(url: str) -> str:
    """Never record a token embedded in a remote URL."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url
