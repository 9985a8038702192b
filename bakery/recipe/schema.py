"""The JSON Schema (Draft 2020-12) of a recipe, for editors and CI linters.

It is generated from :class:`~bakery.recipe.model.Recipe`, so it cannot drift from what the
loader accepts; semantic checks (regexes compile, ``..`` in copy sources, duplicate tags) are
the loader's alone.
"""

from __future__ import annotations

import json
from typing import Any

from bakery.recipe.model import Recipe

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema of a ``bakery.dev/v1`` recipe (YAML keys, as a user writes them)."""
    schema = Recipe.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DIALECT, **schema, "title": "Bakery recipe"}


def render_schema() -> str:
    """The schema as stable JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(recipe_json_schema(), indent=2, sort_keys=True) + "\n"
