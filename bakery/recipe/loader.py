"""Loading a recipe from YAML, with every problem reported as ``file:line:col: message``.

:mod:`bakery.yamldoc` reads the YAML remembering where each value is written; pydantic errors,
and semantic errors the build engine finds later (:meth:`LoadedRecipe.error_at`), are
reported at those positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from bakery.errors import RecipeError, UserError
from bakery.recipe.model import Recipe
from bakery.yamldoc import Loc, SourceMap, compose, validation_error

__all__ = ["LoadedRecipe", "Loc", "SourceMap", "find_recipe_by_name", "load_recipe", "parse_recipe"]


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe, where it was read from, and how to point at its lines."""

    recipe: Recipe
    path: Path
    directory: Path
    text: str = field(repr=False)
    source: SourceMap = field(repr=False, compare=False)

    def error_at(self, loc: Loc, message: str, *, hint: str | None = None) -> RecipeError:
        """A RecipeError pointing at ``loc``, e.g. ``("steps", 2, "copy", "src")``.

        It points at the key (a list item's own position), or, if ``loc`` is not written in
        the file (a default), at its nearest ancestor that is.
        """
        where = self.source.position(loc)
        return RecipeError(message, path=self.path, line=where.line, col=where.col, hint=hint)


def load_recipe(path: Path) -> LoadedRecipe:
    """Read, parse and validate the recipe at ``path``."""
    resolved = path.resolve()
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"recipe not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"not UTF-8 text ({exc.reason})", path=resolved) from exc
    except OSError as exc:
        raise UserError(f"cannot read recipe {path}: {exc.strerror}") from exc
    return parse_recipe(text, resolved)


def parse_recipe(text: str, path: Path) -> LoadedRecipe:
    """Parse and validate recipe ``text``; ``path`` is where it claims to come from."""
    data, source = compose(text, path, error=RecipeError, kind="recipe")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, path, RecipeError) from exc
    return LoadedRecipe(recipe, path, path.parent, text, source)


def find_recipe_by_name(directory: Path, name: str) -> Path | None:
    """The first recipe file in ``directory`` (by file name) whose ``name:`` is ``name``."""
    for candidate in _recipe_files(directory):
        if _declared_name(candidate) == name:
            return candidate
    return None


def _recipe_files(directory: Path) -> list[Path]:
    """``*.yaml`` and ``*.yml`` files in ``directory``, lockfiles excluded, sorted."""
    found = [*directory.glob("*.yaml"), *directory.glob("*.yml")]
    return sorted(path for path in found if path.is_file() and ".lock" not in path.suffixes)


def _declared_name(path: Path) -> str | None:
    """The top-level ``name:`` of a YAML file, or None if it has none or does not parse."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
