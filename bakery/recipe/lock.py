"""The lockfile: every moving input of a recipe, pinned.

``bakery lock RECIPE`` writes ``RECIPE.lock`` (``recipes/nginx.yaml`` → ``recipes/nginx.lock``):
sorted, deterministic JSON that reads well in a diff. A locked bake installs exactly these Debian
package versions (checked against their .deb sha256), uses exactly these base image digests and
these copied files. Each entry carries the ``fingerprint`` of the recipe part it was resolved
from, so a lock that no longer matches its recipe is detected as stale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bakery.errors import LockError

LOCK_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LockedPackage(_Frozen):
    """One installed Debian package, as downloaded: name, exact version, arch, .deb sha256."""

    name: str
    version: str
    architecture: str
    sha256: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.architecture)


class LockedFile(_Frozen):
    """One file a ``copy`` step takes from the recipe directory."""

    path: str
    sha256: str
    mode: int


class LockedBase(_Frozen):
    """What the base resolved to."""

    kind: Literal["scratch", "debian", "image", "recipe"]
    fingerprint: str
    ref: str | None = None
    #: the manifest digest an ``image:`` base resolved to (a locked bake uses it, not the tag)
    digest: str | None = None
    #: the config digest of a ``recipe:`` base: its content, independent of git annotations
    config_digest: str | None = None
    packages: tuple[LockedPackage, ...] = ()


class LockedStep(_Frozen):
    """What a ``packages`` or ``copy`` step resolved to (other steps have no moving inputs)."""

    index: int
    kind: Literal["packages", "copy"]
    fingerprint: str
    packages: tuple[LockedPackage, ...] = ()
    files: tuple[LockedFile, ...] = ()


class Lock(_Frozen):
    """The whole lockfile."""

    lock_version: int = Field(default=LOCK_VERSION, alias="lockVersion")
    recipe: str
    base: LockedBase
    steps: tuple[LockedStep, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def step(self, index: int) -> LockedStep | None:
        return next((s for s in self.steps if s.index == index), None)


def lock_path_for(recipe_path: Path) -> Path:
    """``recipes/nginx.yaml`` → ``recipes/nginx.lock``."""
    return recipe_path.with_suffix(".lock")


def render_lock(lock: Lock) -> str:
    """Deterministic text: sorted keys, two-space indent, trailing newline."""
    data = lock.model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_lock(lock: Lock, path: Path) -> None:
    """Write atomically: a temp file beside it, then one rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_lock(lock), encoding="utf-8")
    os.replace(tmp, path)


def read_lock(path: Path) -> Lock:
    """Parse a lockfile, or raise a LockError saying how to regenerate it."""
    regenerate = f"regenerate it with `bakery lock {path.with_suffix('.yaml')}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LockError(f"{path}: unreadable lockfile: {e}", hint=regenerate) from e
    try:
        lock = Lock.model_validate(data, strict=False)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LockError(
            f"{path}: invalid lockfile at {where}: {first['msg']}", hint=regenerate
        ) from e
    if lock.lock_version != LOCK_VERSION:
        raise LockError(
            f"{path}: lockfile version {lock.lock_version} is not supported", hint=regenerate
        )
    return lock
