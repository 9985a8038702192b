"""Where a recipe comes from: SOURCE_DATE_EPOCH and git metadata, gathered once per bake.

SOURCE_DATE_EPOCH is taken from the environment when set (malformed values are an error, per
the reproducible-builds spec), else from the last commit that touched the recipe, else 0.

:func:`describe` runs git once per bake (three short commands); the :class:`SourceInfo` it
returns travels in the bake's result, so provenance and the metadata registry read the same
facts instead of asking git again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from bakery import proc
from bakery.errors import ToolError, UserError


class SourceInfo(BaseModel):
    """The facts about a recipe's source, when it lives in a git checkout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_date_epoch: int
    epoch_from: Literal["environment", "git", "default"]
    #: the recipe as shown: relative to the checkout's top, else the path it was given as
    path: str
    #: the checkout's ``origin`` remote, credentials stripped
    repository: str | None = None
    #: the commit checked out
    revision: str | None = None
    #: the branch checked out (``refs/heads/…``); None when detached
    ref: str | None = None


def describe(recipe_path: Path, environ: Mapping[str, str]) -> SourceInfo:
    """Resolve SOURCE_DATE_EPOCH and git metadata for ``recipe_path``."""
    git = _git_facts(recipe_path)
    raw = environ.get("SOURCE_DATE_EPOCH")
    epoch_from: Literal["environment", "git", "default"]
    if raw is not None:
        epoch, epoch_from = _parse_epoch(raw), "environment"
    elif git.commit_time is not None:
        epoch, epoch_from = git.commit_time, "git"
    else:
        epoch, epoch_from = 0, "default"
    return SourceInfo(
        source_date_epoch=epoch,
        epoch_from=epoch_from,
        path=git.shown,
        repository=git.repository,
        revision=git.revision,
        ref=git.ref,
    )


def _parse_epoch(raw: str) -> int:
    if not re.fullmatch(r"[0-9]+", raw.strip()):
        raise UserError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds",
            hint="set it to e.g. $(git log -1 --format=%ct) or unset it",
        )
    return int(raw.strip())


class _GitFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    shown: str
    repository: str | None = None
    revision: str | None = None
    ref: str | None = None
    commit_time: int | None = None


def _git_facts(recipe_path: Path) -> _GitFacts:
    directory = recipe_path.parent
    # one call for the checkout's top, its commit and its branch ("HEAD" when detached); a
    # repository with no commit yet answers only the first
    heads = _git(directory, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    lines = heads.splitlines() if heads else []
    if not lines:
        top = _git(directory, "rev-parse", "--show-toplevel")
        if top is None:
            return _GitFacts(shown=str(recipe_path))
        lines = [top]
    top = lines[0]
    revision = lines[1] if len(lines) > 1 else None
    ref = lines[2] if len(lines) > 2 else None
    shown = recipe_path.resolve().relative_to(Path(top).resolve())
    stamp = _git(directory, "log", "-1", "--format=%ct", "--", recipe_path.name)
    remote = _git(directory, "config", "--get", "remote.origin.url")
    return _GitFacts(
        shown=str(shown),
        repository=_strip_credentials(remote) if remote else None,
        revision=revision,
        ref=ref if ref and ref != "HEAD" else None,
        commit_time=int(stamp) if stamp else None,
    )


def _git(directory: Path, *args: str) -> str | None:
    """Output of a git command in ``directory``, or None (not a checkout, or no git)."""
    try:
        done = proc.run(["git", "-C", str(directory), *args], check=False)
    except ToolError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _strip_credentials(url: str) -> str:
    """Never record a token embedded in a remote URL."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url
