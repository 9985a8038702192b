"""Loading recipes from YAML: values, defaults and ``file:line:col`` errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bakery.errors import RecipeError, UserError
from bakery.recipe import (
    CopyStep,
    DebianBase,
    RunStep,
    find_recipe_by_name,
    load_recipe,
)

HEAD = 'apiVersion: bakery.dev/v1\nname: golden/web\nversion: "1"\nbase: scratch\n'

FULL = """\
apiVersion: bakery.dev/v1
name: golden/web
version: "12.0"
description: a web server
base:
  debian: {suite: bookworm, variant: minbase, packages: [ca-certificates], components: [main]}
steps:
  - packages: [nginx, curl]
  - copy: {src: files/index.html, dest: /srv/index.html, mode: 0644, owner: "101:101"}
  - run: "useradd -r app && rm -rf /tmp/x"
    network: false
    secrets: [{id: npmrc, src: secrets/npmrc}]
  - env: {LANG: C.UTF-8}
  - user: app
  - workdir: /srv
  - entrypoint: ["nginx", "-g", "daemon off;"]
  - cmd: ["--help"]
  - labels: {team: platform}
  - expose: [8080, "8080/tcp", "53/udp"]
  - volumes: ["/data"]
outputs:
  - oci: {tags: ["12", latest], compression: gzip}
tests:
  - file: {path: /etc/os-release, exists: true, mode: "0644", owner: "0:0", contains: bookworm}
  - command: {run: "nginx -t", exit: 0, stderr: "successful", user: "0"}
  - metadata: {user: app, cmd: ["--help"], env: {LANG: C.UTF-8}, expose: ["8080/tcp"]}
"""


def write(directory: Path, text: str, name: str = "recipe.yaml") -> Path:
    """Write a recipe file and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> RecipeError:
    """The RecipeError loading ``path`` raises."""
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return info.value


def assert_error(path: Path, line: int, col: int, message: str) -> None:
    """Loading ``path`` fails at ``line:col`` with exactly ``message``."""
    error = load_error(path)
    assert str(error) == f"{path}:{line}:{col}: {message}"
    assert (error.path, error.line, error.col) == (path, line, col)


def test_full_recipe(tmp_path: Path) -> None:
    loaded = load_recipe(write(tmp_path, FULL))
    recipe = loaded.recipe
    assert loaded.path == tmp_path / "recipe.yaml"
    assert loaded.directory == tmp_path
    assert loaded.text == FULL
    assert isinstance(recipe.base, DebianBase)
    assert recipe.base.packages == ("ca-certificates",)
    assert [step.kind for step in recipe.steps] == [
        "packages",
        "copy",
        "run",
        "env",
        "user",
        "workdir",
        "entrypoint",
        "cmd",
        "labels",
        "expose",
        "volumes",
    ]
    copy = recipe.steps[1]
    assert isinstance(copy, CopyStep)
    assert (copy.mode, copy.owner) == (0o644, "101:101")  # YAML 1.1 reads 0644 as octal
    run = recipe.steps[2]
    assert isinstance(run, RunStep)
    assert run.secrets[0].dest == "/run/secrets/npmrc"
    assert recipe.steps[9].model_dump() == {"expose": ("8080/tcp", "8080/tcp", "53/udp")}
    assert [test.name for test in recipe.tests] == [
        "file /etc/os-release",
        "command nginx -t",
        "metadata",
    ]


def test_relative_path_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, HEAD)
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe(Path("recipe.yaml"))
    assert loaded.path == tmp_path / "recipe.yaml"
    assert loaded.recipe.outputs[0].oci.tags == ("1",)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"recipe not found: .*nope\.yaml"):
        load_recipe(tmp_path / "nope.yaml")


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n- run: a\n  bad\n")
    assert_error(
        path, 8, 1, "invalid YAML: could not find expected ':' (while scanning a simple key)"
    )


def test_empty_file(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, ""))
    assert error.message.endswith("the recipe is empty")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n")
    assert_error(path, 1, 1, "a recipe must be a mapping (apiVersion: ..., name: ..., ...)")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "pakages: [x]\n")
    allowed = "apiVersion, name, version, description, base, steps, outputs, tests, policy"
    assert_error(path, 5, 1, f"unknown key 'pakages' (allowed: {allowed})")


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - copy:\n      src: a\n      dst: /x\n")
    assert_error(path, 8, 7, "unknown key 'dst' in steps[0].copy (allowed: src, dest, mode, owner)")


def test_unknown_step_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - run: x\n    netwrok: true\n")
    assert_error(path, 7, 5, "unknown key 'netwrok' in steps[0] (allowed: run, network, secrets)")


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - run: x\n    network: maybe\n")
    assert_error(path, 7, 14, "steps[0].network: expected true or false, got 'maybe'")


def test_wrong_collection_type(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  run: x\n")
    assert_error(path, 5, 1, "steps: expected a list, got a mapping")


def test_missing_field(tmp_path: Path) -> None:
    text = 'apiVersion: bakery.dev/v1\nname: a\nversion: "1"\nbase:\n  debian:\n    variant: apt\n'
    assert_error(write(tmp_path, text), 5, 3, "missing required key 'suite' in base.debian")


def test_missing_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, 'apiVersion: bakery.dev/v1\nversion: "1"\nbase: scratch\n')
    assert_error(path, 1, 1, "missing required key 'name'")


STEP_KINDS = "packages, copy, run, env, user, workdir, entrypoint, cmd, labels, expose, volumes"


def test_step_with_two_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - run: x\n  - packages: [a]\n    run: x\n")
    message = f"steps[1]: a step needs exactly one of: {STEP_KINDS} (found: packages, run)"
    assert_error(path, 7, 5, message)


def test_step_with_no_kind(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - network: true\n")
    message = f"steps[0]: a step needs exactly one of: {STEP_KINDS} (found: network)"
    assert_error(path, 6, 5, message)


def test_misspelt_step_kind(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - pakages: [a]\n")
    message = f"unknown key 'pakages' in steps[0] (allowed: {STEP_KINDS}, network, secrets)"
    assert_error(path, 6, 5, message)


def test_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps: []\nname: other\n")
    assert_error(path, 6, 1, "duplicate key 'name' (first at line 2)")


def test_unquoted_version(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: bakery.dev/v1\nname: a\nversion: 12.10\nbase: scratch\n")
    message = 'version: expected a string, got 12.10 (quote it: version: "12.10")'
    assert_error(path, 3, 10, message)


def test_bad_regex_in_test(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "tests:\n  - command: {run: x, stdout: '[a'}\n")
    message = (
        "tests[0].command.stdout: invalid regular expression '[a': "
        "unterminated character set at position 0"
    )
    assert_error(path, 6, 31, message)


def test_relative_dest(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - copy: {src: a, dest: srv/x}\n")
    message = "steps[0].copy.dest: expected an absolute path (starting with '/'), got 'srv/x'"
    assert_error(path, 6, 26, message)


def test_absolute_copy_src(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - copy: {src: /etc/passwd, dest: /x}\n")
    message = (
        "steps[0].copy.src: expected a path relative to the recipe directory, got '/etc/passwd'"
    )
    assert_error(path, 6, 17, message)


def test_copy_src_leaving_the_directory(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - copy:\n      src: a/../../x\n      dest: /x\n")
    assert_error(path, 7, 12, "steps[0].copy.src: path 'a/../../x' leaves the recipe directory")


def test_bad_mode(tmp_path: Path) -> None:
    text = HEAD + "steps:\n  - run: x\n  - run: y\n  - copy: {src: a, dest: /x, mode: rwx}\n"
    message = "steps[2].copy.mode: expected octal mode like '0644', got 'rwx'"
    assert_error(write(tmp_path, text), 8, 36, message)


def test_first_problem_in_document_order(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: bakery.dev/v1\nname: Bad\nversion: 1\nbase: scratch\n")
    error = load_error(path)
    assert (error.line, error.col) == (2, 7)
    assert error.message.endswith("(and 1 more problem)")


def test_duplicate_tags_point_at_the_tag(tmp_path: Path) -> None:
    text = HEAD + "outputs:\n  - oci: {tags: [a]}\n  - oci:\n      tags: [b, a]\n"
    assert_error(
        write(tmp_path, text), 8, 17, "outputs[1].oci.tags[1]: duplicate tag 'a' across outputs"
    )


def test_non_string_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - labels: {yes: x}\n")
    assert_error(path, 6, 14, 'a mapping key must be a string (quote it: "yes")')


def test_recursive_alias(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps: &a\n  - *a\n")
    assert_error(path, 5, 8, "an alias refers to the collection it is in")


def test_aliases_share_values(tmp_path: Path) -> None:
    text = HEAD + "steps:\n  - packages: &p [vim, curl]\n  - packages: *p\n"
    loaded = load_recipe(write(tmp_path, text))
    assert loaded.recipe.steps[0] == loaded.recipe.steps[1]


def test_error_at_points_at_a_step_field(tmp_path: Path) -> None:
    loaded = load_recipe(write(tmp_path, FULL))
    error = loaded.error_at(("steps", 1, "copy", "src"), "no such file", hint="add it")
    assert (error.line, error.col) == (9, 12)
    assert str(error) == f"{loaded.path}:9:12: no such file"
    assert error.hint == "add it"
    secret = loaded.error_at(("steps", 2, "secrets", 0, "src"), "not a file")
    assert (secret.line, secret.col) == (12, 27)


def test_error_at_falls_back_to_an_ancestor(tmp_path: Path) -> None:
    loaded = load_recipe(write(tmp_path, FULL))
    assert loaded.error_at(("steps", 2, "network", "x"), "m").line == 11
    assert loaded.error_at(("outputs", 0, "oci", "nothing"), "m").line == 22
    assert loaded.error_at(("nowhere",), "m").line == 1


def test_find_recipe_by_name(tmp_path: Path) -> None:
    write(tmp_path, "name: golden/base\n", "base.yaml")
    write(tmp_path, "name: golden/web\n", "web.yml")
    write(tmp_path, "name: golden/web\n", "web.lock.yaml")
    write(tmp_path, "name: [unclosed\n", "broken.yaml")
    write(tmp_path, "- a list\n", "list.yaml")
    assert find_recipe_by_name(tmp_path, "golden/web") == tmp_path / "web.yml"
    assert find_recipe_by_name(tmp_path, "golden/base") == tmp_path / "base.yaml"
    assert find_recipe_by_name(tmp_path, "golden/none") is None
    assert find_recipe_by_name(tmp_path / "missing", "golden/web") is None


def test_item_errors_win_over_their_list(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - packages: [a]\n")
    message = "steps[0].packages[0]: invalid package name 'a' (expected ^[a-z0-9][a-z0-9.+-]+$)"
    assert_error(path, 6, 16, message)
