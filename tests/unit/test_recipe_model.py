"""The recipe model: defaults, normalisation, kind-keyed unions, canonical form, JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from bakery.recipe import (
    CmdStep,
    CommandTest,
    CopyStep,
    DebianBase,
    EntrypointStep,
    EnvStep,
    ExposeStep,
    FileTest,
    ImageBase,
    LabelsStep,
    MetadataTest,
    PackagesStep,
    Recipe,
    RecipeBase,
    RunStep,
    UserStep,
    VolumesStep,
    WorkdirStep,
    is_scratch,
    recipe_json_schema,
    render_schema,
    step_definition,
)


def recipe(**overrides: Any) -> dict[str, Any]:
    """A minimal valid recipe dict, with ``overrides`` applied."""
    data: dict[str, Any] = {
        "apiVersion": "bakery.dev/v1",
        "name": "golden/web",
        "version": "1.2",
        "base": "scratch",
    }
    return {**data, **overrides}


FULL: dict[str, Any] = recipe(
    description="a web server",
    base={"debian": {"suite": "bookworm", "packages": ["ca-certificates"]}},
    steps=[
        {"packages": ["nginx", "curl"]},
        {"copy": {"src": "files/index.html", "dest": "/srv/index.html", "mode": "0644"}},
        {"run": "useradd -r app", "network": True, "secrets": [{"id": "npmrc", "src": "s"}]},
        {"env": {"LANG": "C.UTF-8"}},
        {"user": "app"},
        {"workdir": "/srv"},
        {"entrypoint": ["nginx", "-g", "daemon off;"]},
        {"cmd": ["--help"]},
        {"labels": {"team": "platform"}},
        {"expose": [8080, "53/udp"]},
        {"volumes": ["/data"]},
    ],
    outputs=[{"oci": {"tags": ["1", "latest"], "compression": "zstd"}}],
    tests=[
        {"file": {"path": "/etc/os-release", "mode": 0o644, "contains": "bookworm"}},
        {"command": {"run": "nginx -t", "stderr": "ok$"}},
        {"name": "argv", "command": {"run": ["nginx", "-v"], "exit": 0}},
        {"metadata": {"user": "app", "expose": [8080], "env": {"LANG": "C.UTF-8"}}},
    ],
)


def errors(data: dict[str, Any]) -> list[str]:
    """The messages pydantic gives for ``data``."""
    with pytest.raises(ValidationError) as info:
        Recipe.model_validate(data)
    return [error["msg"] for error in info.value.errors()]


def test_full_recipe_has_every_kind() -> None:
    parsed = Recipe.model_validate(FULL)
    kinds = [type(step) for step in parsed.steps]
    assert kinds == [
        PackagesStep,
        CopyStep,
        RunStep,
        EnvStep,
        UserStep,
        WorkdirStep,
        EntrypointStep,
        CmdStep,
        LabelsStep,
        ExposeStep,
        VolumesStep,
    ]
    assert [step.kind for step in parsed.steps][:3] == ["packages", "copy", "run"]
    tests = [FileTest, CommandTest, CommandTest, MetadataTest]
    assert [type(test) for test in parsed.tests] == tests
    assert isinstance(parsed.base, DebianBase)
    assert parsed.base.suite == "bookworm"
    assert parsed.outputs[0].oci.tags == ("1", "latest")


def test_defaults() -> None:
    parsed = Recipe.model_validate(FULL)
    base = parsed.base
    assert isinstance(base, DebianBase)
    assert (base.variant, base.components, base.architecture) == ("minbase", ("main",), "amd64")
    copy = parsed.steps[1]
    assert isinstance(copy, CopyStep)
    assert (copy.mode, copy.owner) == (0o644, "0:0")
    run = parsed.steps[2]
    assert isinstance(run, RunStep)
    assert run.secrets[0].dest == "/run/secrets/npmrc"
    assert parsed.tests[0].name == "file /etc/os-release"
    assert parsed.tests[1].name == "command nginx -t"
    assert parsed.tests[2].name == "argv"
    assert parsed.tests[3].name == "metadata"


def test_outputs_default_to_the_version() -> None:
    parsed = Recipe.model_validate(recipe())
    assert len(parsed.outputs) == 1
    assert parsed.outputs[0].oci.tags == ("1.2",)
    assert parsed.outputs[0].oci.compression == "gzip"
    parsed = Recipe.model_validate(recipe(outputs=[{"oci": {"compression": "zstd"}}]))
    assert parsed.outputs[0].oci.tags == ("1.2",)


def test_version_that_is_no_tag_needs_explicit_tags() -> None:
    assert any("not a valid tag" in message for message in errors(recipe(version="1.0+b1")))
    parsed = Recipe.model_validate(recipe(version="1.0+b1", outputs=[{"oci": {"tags": ["1"]}}]))
    assert parsed.outputs[0].oci.tags == ("1",)


def test_run_defaults() -> None:
    parsed = Recipe.model_validate(recipe(steps=[{"run": "true"}]))
    step = parsed.steps[0]
    assert isinstance(step, RunStep)
    assert (step.network, step.secrets) == (False, ())


@pytest.mark.parametrize(
    ("mode", "expected"), [(0o644, 0o644), ("0644", 0o644), ("755", 0o755), ("4755", 0o4755)]
)
def test_mode_parsing(mode: object, expected: int) -> None:
    copy = {"src": "a", "dest": "/a", "mode": mode}
    parsed = Recipe.model_validate(recipe(steps=[{"copy": copy}]))
    step = parsed.steps[0]
    assert isinstance(step, CopyStep)
    assert step.mode == expected


@pytest.mark.parametrize("mode", ["rwx", "0o644", "99999", 0o10000, -1, True, 1.5])
def test_bad_modes(mode: object) -> None:
    data = recipe(steps=[{"copy": {"src": "a", "dest": "/a", "mode": mode}}])
    assert any("expected octal mode like '0644'" in message for message in errors(data))


def test_ports_are_normalised() -> None:
    parsed = Recipe.model_validate(recipe(steps=[{"expose": [80, "8080", "53/udp", "9/sctp"]}]))
    step = parsed.steps[0]
    assert isinstance(step, ExposeStep)
    assert step.expose == ("80/tcp", "8080/tcp", "53/udp", "9/sctp")
    assert errors(recipe(steps=[{"expose": [70000]}]))
    assert errors(recipe(steps=[{"expose": ["80/http"]}]))


@pytest.mark.parametrize("src", ["/etc/passwd", "../x", "a/../../x", ""])
def test_copy_src_must_stay_in_the_recipe_directory(src: str) -> None:
    assert errors(recipe(steps=[{"copy": {"src": src, "dest": "/x"}}]))


def test_copy_src_may_wander_inside() -> None:
    Recipe.model_validate(recipe(steps=[{"copy": {"src": "a/../b/./c", "dest": "/x"}}]))


def test_strict_types() -> None:
    assert errors(recipe(version=12)) == ["Input should be a valid string"]
    assert errors(recipe(steps=[{"run": "x", "network": "yes"}]))
    assert errors(recipe(steps=[{"env": {"A": 1}}]))


def test_step_kind_errors() -> None:
    kinds = "packages, copy, run, env, user, workdir, entrypoint, cmd, labels, expose, volumes"
    assert errors(recipe(steps=[{"packages": ["a"], "run": "x"}])) == [
        f"a step needs exactly one of: {kinds} (found: packages, run)"
    ]
    assert errors(recipe(steps=[{}])) == [f"a step needs exactly one of: {kinds} (found: nothing)"]
    assert errors(recipe(steps=[{"pakages": ["a"]}])) == [
        f"unknown key 'pakages' (allowed: {kinds}, network, secrets)"
    ]
    assert errors(recipe(steps=[{"copy": {"src": "a", "dest": "/a"}, "network": True}])) == [
        "unknown key 'network' (allowed: copy)"
    ]


def test_unknown_nested_key_names_the_allowed_ones() -> None:
    data = recipe(steps=[{"copy": {"src": "a", "dst": "/a"}}])
    assert errors(data) == ["unknown key 'dst' (allowed: src, dest, mode, owner)"]


def test_base_forms() -> None:
    assert is_scratch(Recipe.model_validate(recipe()).base)
    image = Recipe.model_validate(recipe(base={"image": "golden/debian-base:12"})).base
    assert isinstance(image, ImageBase) and not is_scratch(image)
    parent = Recipe.model_validate(recipe(base={"recipe": "golden/debian-base"})).base
    assert isinstance(parent, RecipeBase)
    assert errors(recipe(base="debian"))
    assert errors(recipe(base={"image": "x", "recipe": "y"}))
    assert errors(recipe(base={"recipe": "golden/web"})) == ["a recipe cannot be its own base"]


def test_names_and_patterns() -> None:
    assert errors(recipe(name="Golden/Web"))
    assert errors(recipe(steps=[{"packages": ["Nginx"]}]))
    assert errors(recipe(steps=[{"packages": []}]))
    assert errors(recipe(outputs=[{"oci": {"tags": ["-bad"]}}]))
    assert errors(recipe(steps=[{"run": "x", "secrets": [{"id": "a b", "src": "s"}]}]))


def test_test_checks() -> None:
    assert errors(recipe(tests=[{"file": {"path": "/x", "contains": "("}}]))
    assert errors(recipe(tests=[{"command": {"run": "x", "stdout": "[a"}}]))
    assert errors(recipe(tests=[{"file": {"path": "relative"}}]))
    assert errors(recipe(tests=[{"file": {"path": "/x", "exists": False, "mode": "0644"}}]))
    assert errors(recipe(tests=[{"command": {"run": 3}}])) == [
        "expected a shell command string or an argv list"
    ]


def test_cross_field_checks() -> None:
    twice = [{"oci": {"tags": ["a"]}}, {"oci": {"tags": ["a"], "compression": "zstd"}}]
    assert errors(recipe(outputs=twice)) == ["duplicate tag 'a' across outputs"]
    same = [{"metadata": {}}, {"metadata": {"user": "x"}}]
    assert errors(recipe(tests=same)) == [
        "duplicate test name 'metadata' (give each test its own name:)"
    ]


def test_models_are_frozen() -> None:
    parsed = Recipe.model_validate(recipe())
    with pytest.raises(ValidationError):
        parsed.version = "2"  # type: ignore[misc]


def test_step_definition_is_canonical_and_round_trips() -> None:
    parsed = Recipe.model_validate(FULL)
    copy = {"src": "files/index.html", "dest": "/srv/index.html", "mode": 0o644, "owner": "0:0"}
    assert step_definition(parsed.steps[1]) == {"copy": copy}
    assert step_definition(parsed.steps[9]) == {"expose": ["8080/tcp", "53/udp"]}
    assert step_definition(parsed.base)["debian"]["variant"] == "minbase"
    dumped = parsed.model_dump(mode="json", by_alias=True)
    assert Recipe.model_validate(json.loads(json.dumps(dumped))) == parsed


def test_json_schema_is_draft_2020_12() -> None:
    schema = recipe_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(FULL)
    validator.validate(recipe())
    assert not validator.is_valid(recipe(pakages=["x"]))
    assert not validator.is_valid(recipe(steps=[{"copy": {"src": "a", "dst": "/a"}}]))
    assert not validator.is_valid(recipe(steps=[{"packages": ["a"], "run": "x"}]))
    assert not validator.is_valid(recipe(version=12))


def test_render_schema_is_stable_json() -> None:
    text = render_schema()
    assert text.endswith("}\n")
    assert json.loads(text) == recipe_json_schema()
    assert text == render_schema()
