"""What a bake was made from, and which recipes of a tree are stale (and why) without
building anything.

A bake that succeeds (and is published) leaves a small record in the store,
``<store>/plans/<name>.json`` (never in the image, so no digest changes): the digest it made and
the inputs it was made from, hashed:

- the recipe's text,
- every file its ``copy`` steps take (path, sha256, mode),
- ``RECIPE.lock`` beside it (or none),
- the manifest digest of the base image it was built on (none for scratch and Debian bases).

:func:`plan_tree` computes the same inputs for each recipe as they are now and compares. A
recipe is stale when it was never baked, when one of its inputs changed, when its base
recipe is stale (it will be rebaked, so this one will be too), when its base image is not in
the store, or when the metadata registry knows the base it was built on as revoked.

What a bake decides from and this plan ignores: SOURCE_DATE_EPOCH and the git revision (the
recipe's text stands for its source); newer versions of Debian packages in the archive
(``bakery lock --check`` asks the mirror).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bakery.errors import LockError, StoreError
from bakery.oci.digest import sha256_digest
from bakery.oci.mediatypes import ANN_REF_NAME
from bakery.recipe.graph import RecipeGraph, tag_candidates
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.lock import LockedFile, lock_path_for
from bakery.recipe.model import CopyStep, DebianBase, ImageBase, RecipeBase
from bakery.rootfs.inputs import CopySource, copy_sources

if TYPE_CHECKING:
    from bakery.result import BakeResult

PLANS_DIR = "plans"
RECORD_VERSION: Literal[1] = 1

#: asked whether a digest is revoked in the metadata registry
Revoked = Callable[[str], bool]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BakeInputs(_Frozen):
    """What a bake of a recipe is made from (its fingerprint is their hash)."""

    recipe: str
    files: tuple[LockedFile, ...]
    lock: str | None
    base: str | None

    @property
    def fingerprint(self) -> str:
        return sha256_digest(self.model_dump_json().encode())


class BakeRecord(_Frozen):
    """The last successful bake of a recipe: what it made, from what."""

    version: Literal[1] = RECORD_VERSION
    name: str
    recipe: str
    digest: str
    config_digest: str
    tags: tuple[str, ...]
    base_ref: str | None
    inputs: BakeInputs
    fingerprint: str
    finished_at: datetime


class BaseEdgeView(_Frozen):
    """A recipe's base: its kind, its reference, and the recipe of the tree it is (if any)."""

    kind: Literal["scratch", "debian", "image", "recipe"]
    ref: str | None = None
    recipe: str | None = None


class RecipePlan(_Frozen):
    """One recipe of the tree: stale or not, and why (``bakery plan --json``)."""

    name: str
    path: str
    base: BaseEdgeView
    children: tuple[str, ...]
    stale: bool
    reasons: tuple[str, ...]
    #: the manifest digest of the last bake (None: never baked)
    digest: str | None
    #: the inputs' fingerprint now (None while the base is not baked) and at the last bake
    fingerprint: str | None
    baked_fingerprint: str | None


# -- records -------------------------------------------------------------------------------


def inputs_of(
    loaded: LoadedRecipe, sources: Mapping[int, list[CopySource]], base: str | None
) -> BakeInputs:
    """The inputs of a bake of ``loaded`` whose copy sources are ``sources``."""
    files = {(s.recipe_relative, s.sha256, s.mode) for found in sources.values() for s in found}
    lock = lock_path_for(loaded.path)
    try:
        lock_digest: str | None = sha256_digest(lock.read_bytes())
    except FileNotFoundError:
        lock_digest = None
    return BakeInputs(
        recipe=sha256_digest(loaded.text.encode()),
        files=tuple(LockedFile(path=p, sha256=d, mode=m) for p, d, m in sorted(files)),
        lock=lock_digest,
        base=base,
    )


def record_of(
    loaded: LoadedRecipe, sources: Mapping[int, list[CopySource]], result: BakeResult
) -> BakeRecord:
    """The record of a finished bake of ``loaded``."""
    inputs = inputs_of(loaded, sources, result.base.digest)
    return BakeRecord(
        name=result.name,
        recipe=str(loaded.path),
        digest=result.digest,
        config_digest=result.config_digest,
        tags=result.tags,
        base_ref=result.base.name if result.base.digest is not None else None,
        inputs=inputs,
        fingerprint=inputs.fingerprint,
        finished_at=datetime.now(UTC),
    )


def record_path(store_root: Path, name: str) -> Path:
    """Where the record of recipe ``name`` lives (names are paths of safe segments)."""
    return store_root / PLANS_DIR / f"{name}.json"


def write_record(store_root: Path, record: BakeRecord) -> None:
    """Replace the record of ``record.name`` atomically (concurrent bakes may race)."""
    path = record_path(store_root, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(record.model_dump_json(indent=2).encode())
    os.replace(tmp, path)


def read_record(store_root: Path, name: str) -> BakeRecord | None:
    """The record of ``name``; None when there is none (or it is unreadable)."""
    try:
        return BakeRecord.model_validate_json(record_path(store_root, name).read_bytes())
    except (OSError, ValidationError):
        return None


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreState:
    """What the plan reads from the store: its tags and the blobs present."""

    root: Path
    tags: Mapping[str, str]

    @classmethod
    def read(cls, store_root: Path) -> StoreState:
        """The store at ``store_root``, read only (a store that does not exist is empty).

        Its tags come straight from the layout's ``index.json`` (replaced by one rename, so
        always whole): the layout's models would cost a sixth of a plan's time budget.
        """
        try:
            index = json.loads((store_root / "oci" / "index.json").read_bytes())
        except FileNotFoundError:
            return cls(root=store_root, tags={})
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the store's index at {store_root}: {exc}") from exc
        tags = {}
        for entry in index.get("manifests", []):
            name = (entry.get("annotations") or {}).get(ANN_REF_NAME)
            if name:
                tags[name] = entry["digest"]
        return cls(root=store_root, tags=tags)

    def resolve(self, ref: str) -> str | None:
        """The manifest digest ``ref`` names in the store (a tag or a digest), else None."""
        digest = ref.rpartition("@")[2]
        if digest.startswith("sha256:"):
            return digest if self.has_blob(digest) else None
        return next((self.tags[c] for c in tag_candidates(ref) if c in self.tags), None)

    def has_blob(self, digest: str) -> bool:
        algorithm, _, hexdigest = digest.partition(":")
        return (self.root / "oci" / "blobs" / algorithm / hexdigest).is_file()


def plan_tree(graph: RecipeGraph, store: StoreState, revoked: Revoked | None) -> list[RecipePlan]:
    """Every recipe of ``graph`` in bake order, stale or not and why."""
    plans: dict[str, RecipePlan] = {}
    records: dict[str, BakeRecord | None] = {}
    for name in graph.order():
        loaded = graph.recipes[name]
        records[name] = record = read_record(store.root, name)
        plans[name] = _plan(graph, loaded, record, store, plans, records, revoked)
    return list(plans.values())


def _plan(
    graph: RecipeGraph,
    loaded: LoadedRecipe,
    record: BakeRecord | None,
    store: StoreState,
    plans: Mapping[str, RecipePlan],
    records: Mapping[str, BakeRecord | None],
    revoked: Revoked | None,
) -> RecipePlan:
    name = loaded.recipe.name
    sources = {
        index: copy_sources(loaded, index, step)
        for index, step in enumerate(loaded.recipe.steps)
        if isinstance(step, CopyStep)
    }
    edge = graph.bases.get(name)
    parent = plans.get(edge.base) if edge is not None else None
    reasons: list[str] = []
    base_digest, base_known = _base_digest(loaded, sources, store, records)
    if parent is not None and parent.stale:
        reasons.append(f"base stale: {parent.name} will be rebaked")
    elif not base_known:
        reasons.append(f"base missing: {_base_ref(loaded)} is not in the store")
    current = inputs_of(loaded, sources, base_digest) if base_known else None
    if record is None:
        reasons.insert(0, "never baked")
    else:
        reasons[:0] = _changes(record, current, store)
    reasons += _revocations(loaded, record, current, revoked)
    return RecipePlan(
        name=name,
        path=str(loaded.path),
        base=_base_view(loaded, edge.base if edge is not None else None),
        children=graph.children(name),
        stale=bool(reasons),
        reasons=tuple(dict.fromkeys(reasons)),
        digest=record.digest if record is not None else None,
        fingerprint=current.fingerprint if current is not None else None,
        baked_fingerprint=record.fingerprint if record is not None else None,
    )


def _changes(record: BakeRecord, current: BakeInputs | None, store: StoreState) -> list[str]:
    """Why the inputs differ from the last bake's (nothing when they do not)."""
    before = record.inputs
    reasons: list[str] = []
    if not store.has_blob(record.digest):
        reasons.append(f"image missing: its last bake {record.digest} is not in the store")
    if current is None:
        return reasons
    if current.recipe != before.recipe:
        reasons.append("recipe changed")
    reasons += _file_changes(before.files, current.files)
    if current.lock != before.lock:
        what = "added" if before.lock is None else "removed" if current.lock is None else "changed"
        reasons.append(f"lock {what}")
    if current.base != before.base and current.base is not None and before.base is not None:
        reasons.append(f"base rebuilt: {record.base_ref} was {before.base}, now {current.base}")
    elif current.base != before.base:
        reasons.append("base changed")
    return reasons


def _revocations(
    loaded: LoadedRecipe,
    record: BakeRecord | None,
    current: BakeInputs | None,
    revoked: Revoked | None,
) -> list[str]:
    """The base the last bake was built on, or the one a bake would use now, if revoked."""
    if revoked is None:
        return []
    ref = record.base_ref if record is not None and record.base_ref else _base_ref(loaded)
    bases = [inputs.base for inputs in (record and record.inputs, current) if inputs]
    return [f"base revoked: {ref} {d}" for d in dict.fromkeys(bases) if d and revoked(d)]


def _file_changes(before: tuple[LockedFile, ...], now: tuple[LockedFile, ...]) -> list[str]:
    old = {f.path: f for f in before}
    new = {f.path: f for f in now}
    reasons = [f"file removed: {path}" for path in sorted(old.keys() - new.keys())]
    reasons += [f"file added: {path}" for path in sorted(new.keys() - old.keys())]
    both = sorted(old.keys() & new.keys())
    reasons += [f"file changed: {path}" for path in both if old[path] != new[path]]
    return reasons


def _base_digest(
    loaded: LoadedRecipe,
    sources: dict[int, list[CopySource]],
    store: StoreState,
    records: Mapping[str, BakeRecord | None],
) -> tuple[str | None, bool]:
    """The manifest digest a bake would build on now, and whether it is known yet."""
    base = loaded.recipe.base
    if isinstance(base, RecipeBase):
        parent = records.get(base.recipe)
        return (parent.digest, True) if parent is not None else (None, False)
    if isinstance(base, ImageBase):
        digest = _locked_base(loaded, sources) or store.resolve(base.image)
        return digest, digest is not None
    return None, True


def _locked_base(loaded: LoadedRecipe, sources: dict[int, list[CopySource]]) -> str | None:
    """The base digest a current lock pins (a bake uses it, not the tag), if any."""
    if not lock_path_for(loaded.path).exists():
        return None
    from bakery.rootfs.locking import plan_lock  # the step cache's models: only with a lock

    try:
        return plan_lock(loaded, sources, locked=False).base_digest
    except LockError:
        return None  # the bake refuses such a lock; the plan reports what it can


def _base_ref(loaded: LoadedRecipe) -> str:
    base = loaded.recipe.base
    if isinstance(base, ImageBase):
        return base.image
    return base.recipe if isinstance(base, RecipeBase) else str(base)


def _base_view(loaded: LoadedRecipe, in_tree: str | None) -> BaseEdgeView:
    base = loaded.recipe.base
    if isinstance(base, RecipeBase):
        return BaseEdgeView(kind="recipe", ref=base.recipe, recipe=in_tree)
    if isinstance(base, ImageBase):
        return BaseEdgeView(kind="image", ref=base.image, recipe=in_tree)
    if isinstance(base, DebianBase):
        return BaseEdgeView(kind="debian", ref=f"{base.suite}/{base.variant}")
    return BaseEdgeView(kind="scratch")


def plans_json(plans: list[RecipePlan]) -> str:
    """``bakery plan --json``: one object per recipe, in bake order."""
    return json.dumps([plan.model_dump(mode="json") for plan in plans], indent=2)


__all__ = [
    "BakeInputs",
    "BakeRecord",
    "RecipePlan",
    "StoreState",
    "inputs_of",
    "plan_tree",
    "read_record",
    "record_of",
    "write_record",
]
