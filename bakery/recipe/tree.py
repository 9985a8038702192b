"""Finding the recipes of a directory tree.

Every ``*.yaml`` / ``*.yml`` file under the directory (hidden directories such as ``.git`` or a
``.bakery`` store left out) whose top level says ``apiVersion: bakery.dev/v1`` and has no
``kind:`` is a recipe; policies (``kind: Policy``) and other YAML files are skipped. A recipe
that does not load is an error at its ``file:line:col``, as for a single bake.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import UserError
from bakery.recipe.loader import LoadedRecipe, parse_recipe

__all__ = ["RecipeTree", "load_tree"]

_SUFFIXES = (".yaml", ".yml")
#: a top-level ``apiVersion: bakery.dev/v1`` line (quoted or not, with a comment or not)
_API_LINE = re.compile(r"""^apiVersion:[ \t]*(["']?)bakery\.dev/v1\1[ \t]*(#.*)?$""", re.M)
#: a top-level ``kind:`` (policies have one; recipes have none)
_KIND_LINE = re.compile(r"^kind[ \t]*:", re.M)


@dataclass(frozen=True)
class RecipeTree:
    """The recipes found under ``root`` (by path) and the YAML files that are not recipes."""

    root: Path
    recipes: tuple[LoadedRecipe, ...]
    skipped: tuple[Path, ...]


def load_tree(root: Path) -> RecipeTree:
    """Load every recipe under ``root``."""
    if not root.is_dir():
        raise UserError(f"{root} is not a directory")
    recipes: list[LoadedRecipe] = []
    skipped: list[Path] = []
    for path in _yaml_files(root.resolve()):
        loaded = _load(path)
        if loaded is None:
            skipped.append(path)
        else:
            recipes.append(loaded)
    return RecipeTree(root=root.resolve(), recipes=tuple(recipes), skipped=tuple(skipped))


def _yaml_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix in _SUFFIXES and ".lock" not in path.suffixes and path.is_file():
                found.append(path)
    return found


def _load(path: Path) -> LoadedRecipe | None:
    """The recipe at ``path``, or None when the file is not a recipe."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # not text, so not a recipe
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    if _API_LINE.search(text) is None or _KIND_LINE.search(text) is not None:
        return None
    return parse_recipe(text, path)
