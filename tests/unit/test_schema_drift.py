"""The committed recipes/schema.json is what the model generates (regenerate: `make schema`)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from bakery.recipe.schema import render_schema

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_committed_schema_matches_the_model() -> None:
    committed = (RECIPES / "schema.json").read_text()
    assert committed == render_schema(), (
        "recipes/schema.json drifted: run `make schema` and commit it"
    )


def test_every_example_recipe_validates_against_the_schema() -> None:
    schema = json.loads((RECIPES / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    recipes = sorted(RECIPES.glob("*.yaml"))
    assert len(recipes) >= 3
    for path in recipes:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
