"""yamldoc composes with libyaml when PyYAML has it, else (or when libyaml refuses the text)
with PyYAML's own parser: both must give the same values and positions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bakery import yamldoc
from bakery.errors import RecipeError
from tests.conftest import RECIPES


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_libyaml_and_pyyaml_read_a_recipe_alike(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert getattr(yaml, "CSafeLoader", None) is not None, "PyYAML without libyaml"
    text = path.read_text(encoding="utf-8")
    fast = yamldoc.compose(text, path, error=RecipeError, kind="recipe")
    monkeypatch.delattr(yaml, "CSafeLoader")
    slow = yamldoc.compose(text, path, error=RecipeError, kind="recipe")
    assert fast[0] == slow[0]
    assert fast[1].entries == slow[1].entries


def test_a_yaml_error_is_reported_as_pyyaml_words_it() -> None:
    # libyaml says "not allowed in this context"; the message stays PyYAML's
    with pytest.raises(
        RecipeError, match=r"x\.yaml:2:5: invalid YAML: mapping values are not allowed here$"
    ):
        yamldoc.compose("a: b\nc: d: e\n", Path("x.yaml"), error=RecipeError, kind="recipe")
