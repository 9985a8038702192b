"""Reading a recipe's lock for a bake: is it current, and what does it pin?

Each lock entry carries the fingerprint of the recipe part it was resolved from. A lock whose
fingerprints (or copied files) no longer match the recipe is stale: ``--locked`` refuses it, a
plain bake warns and resolves afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bakery.errors import LockError
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.lock import Lock, LockedPackage, lock_path_for, read_lock
from bakery.recipe.model import (
    CopyStep,
    DebianBase,
    ImageBase,
    PackagesStep,
    RecipeBase,
    step_definition,
)
from bakery.rootfs.cache import cache_key
from bakery.rootfs.inputs import CopySource


def fingerprint(definition: Any) -> str:
    """The fingerprint of one recipe part (its canonical definition)."""
    return "sha256:" + cache_key("fingerprint", definition)


@dataclass(frozen=True)
class LockPlan:
    """What the lock pins for this bake (nothing when unlocked)."""

    using_lock: bool
    base_fingerprint: str
    step_fingerprints: dict[int, str]
    base_pins: tuple[LockedPackage, ...] | None = None
    base_digest: str | None = None
    base_config_digest: str | None = None
    step_pins: dict[int, tuple[LockedPackage, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def plan_lock(
    loaded: LoadedRecipe,
    sources: dict[int, list[CopySource]],
    *,
    locked: bool,
    ignore: bool = False,
) -> LockPlan:
    """Read ``RECIPE.lock`` if present and decide what it pins (nothing when ``ignore``)."""
    recipe = loaded.recipe
    base_fp = fingerprint(_base_definition(recipe.base))
    step_fps = {
        i: fingerprint(step_definition(step))
        for i, step in enumerate(recipe.steps)
        if isinstance(step, PackagesStep | CopyStep)
    }
    unlocked = LockPlan(using_lock=False, base_fingerprint=base_fp, step_fingerprints=step_fps)
    path = lock_path_for(loaded.path)
    relock = f"run `bakery lock {loaded.path}`"
    if ignore:
        return unlocked
    if not path.exists():
        if locked:
            raise LockError(f"--locked: {path} does not exist", hint=relock)
        return unlocked
    lock = read_lock(path)
    problems = _stale(lock, recipe.name, base_fp, step_fps, sources)
    if problems:
        message = f"{path} is stale: {'; '.join(problems[:5])}"
        if locked:
            raise LockError(message, hint=relock)
        return LockPlan(
            using_lock=False,
            base_fingerprint=base_fp,
            step_fingerprints=step_fps,
            warnings=(f"{message}; baking unlocked ({relock} to refresh it)",),
        )
    return LockPlan(
        using_lock=True,
        base_fingerprint=base_fp,
        step_fingerprints=step_fps,
        base_pins=lock.base.packages if isinstance(recipe.base, DebianBase) else None,
        base_digest=lock.base.digest if isinstance(recipe.base, ImageBase) else None,
        base_config_digest=lock.base.config_digest if isinstance(recipe.base, RecipeBase) else None,
        step_pins={s.index: s.packages for s in lock.steps if s.kind == "packages"},
    )


def _base_definition(base: object) -> Any:
    if isinstance(base, str):
        return base
    return step_definition(base)  # type: ignore[arg-type]


def _stale(
    lock: Lock,
    name: str,
    base_fp: str,
    step_fps: dict[int, str],
    sources: dict[int, list[CopySource]],
) -> list[str]:
    problems = []
    if lock.recipe != name:
        problems.append(f"it locks recipe '{lock.recipe}', not '{name}'")
    if lock.base.fingerprint != base_fp:
        problems.append("the base changed")
    locked_steps = {s.index: s for s in lock.steps}
    if set(locked_steps) != set(step_fps):
        problems.append("the packages/copy steps changed")
    for index, fp in step_fps.items():
        entry = locked_steps.get(index)
        if entry is not None and entry.fingerprint != fp:
            problems.append(f"step {index + 1} changed")
        elif entry is not None and entry.kind == "copy":
            current = {(s.recipe_relative, s.sha256, s.mode) for s in sources.get(index, [])}
            if current != {(f.path, f.sha256, f.mode) for f in entry.files}:
                problems.append(f"the files copied by step {index + 1} changed")
    return problems
