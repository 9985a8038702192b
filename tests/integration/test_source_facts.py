"""A bake's source facts are gathered once: git runs for the resolve stage only, and signing
(provenance) and recording (the build row) read the facts the bake carries."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bakery import proc
from bakery.cli.main import cli
from bakery.registry import models as m
from bakery.registry.db import open_registry
from bakery.sign.intoto import SLSA_PROVENANCE_V1
from bakery.sign.legacy import attestation_tag
from bakery.store import Store
from tests.conftest import RECIPES, require_tools


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_git_runs_once_per_bake_and_its_facts_reach_provenance_and_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tools("git")
    repo = tmp_path / "repo"
    shutil.copytree(RECIPES / "files" / "static", repo / "recipes" / "files" / "static")
    shutil.copy(RECIPES / "static-hello.yaml", repo / "recipes")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://ci:secret@git.example/golden.git")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "hello")
    commit = _git(repo, "rev-parse", "HEAD")

    calls: list[list[str]] = []
    real_run = proc.run

    def counting_run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        if argv and argv[0] == "git":
            calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(proc, "run", counting_run)
    store = tmp_path / ".bakery"
    recipe = repo / "recipes" / "static-hello.yaml"
    done = CliRunner().invoke(cli, ["bake", str(recipe), "--store", str(store), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)

    # one describe: the checkout, its commit and branch in one call, the recipe's last
    # commit, the remote; nothing after the resolve stage asks again
    assert len(calls) == 3, calls
    assert result["source"] == {
        "source_date_epoch": result["source_date_epoch"],
        "epoch_from": "git",
        "path": "recipes/static-hello.yaml",
        "repository": "https://git.example/golden.git",
        "revision": commit,
        "ref": "refs/heads/main",
    }

    registry = open_registry(store, None)
    try:
        with registry.read() as session:
            (build,) = session.query(m.Build).all()
            assert (build.git_repo, build.git_commit) == ("https://git.example/golden.git", commit)
    finally:
        registry.dispose()

    layout = Store.open(store).oci
    attestations = layout.resolve(f"golden/static-hello:{attestation_tag(result['digest'])}")
    envelopes = [
        json.loads(layout.read_blob(layer.digest))
        for layer in layout.read_manifest(attestations.digest).layers
        if layer.annotations and layer.annotations.get("predicateType") == SLSA_PROVENANCE_V1
    ]
    assert len(envelopes) == 1

    statement = json.loads(base64.b64decode(envelopes[0]["payload"]))
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["source"] == {
        "repository": "https://git.example/golden.git",
        "ref": "refs/heads/main",
    }
    assert {"gitCommit": commit} in [d["digest"] for d in definition["resolvedDependencies"]]
