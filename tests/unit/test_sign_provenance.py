"""SLSA provenance v1 of a bake: every field the issue asks for, from a BakeResult."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bakery.recipe.lock import Lock, LockedBase, LockedFile, LockedPackage, LockedStep
from bakery.recipe.source import SourceInfo, describe
from bakery.result import BakeResult, BaseResult
from bakery.sign.provenance import (
    BUILD_TYPE,
    DEFAULT_BUILDER_ID,
    Provenance,
    ResourceDescriptor,
    build_provenance,
    recipe_source,
)

BASE = "sha256:" + "b" * 64
IMAGE = "sha256:" + "a" * 64


def _result(source: SourceInfo | None = None) -> BakeResult:
    pkg = LockedPackage(
        name="nginx-light", version="1.22.1-9", architecture="amd64", sha256="c" * 64
    )
    lock = Lock(
        recipe="nginx.yaml",
        base=LockedBase(
            kind="recipe",
            fingerprint="f",
            ref="golden/debian-base",
            config_digest="sha256:" + "d" * 64,
        ),
        steps=(
            LockedStep(index=0, kind="packages", fingerprint="p", packages=(pkg, pkg)),
            LockedStep(
                index=1,
                kind="copy",
                fingerprint="c",
                files=(LockedFile(path="files/nginx.conf", sha256="e" * 64, mode=0o644),),
            ),
        ),
    )
    return BakeResult(
        name="golden/nginx",
        version="1.22",
        digest=IMAGE,
        config_digest="sha256:" + "9" * 64,
        tags=("golden/nginx:1.22",),
        layers=(),
        outputs=(),
        base=BaseResult(kind="recipe", name="golden/debian-base:12", digest=BASE),
        lineage=(
            BaseResult(kind="recipe", name="golden/debian-base:12", digest=BASE),
            BaseResult(kind="debian", name="bookworm/minbase"),
        ),
        source=source
        or SourceInfo(source_date_epoch=1700000000, epoch_from="environment", path="r.yaml"),
        locked=True,
        steps_run=0,
        steps_cached=2,
        tests=(),
        scan=None,
        stages=(),
        lock=lock,
    )


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_provenance_fields(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "recipes").mkdir(parents=True)
    recipe = repo / "recipes" / "nginx.yaml"
    recipe.write_text("name: golden/nginx\n")
    (repo / "recipes" / "nginx.lock").write_text("{}\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://user:token@git.example/team/recipes.git")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x")
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()

    result = _result(describe(recipe, {"SOURCE_DATE_EPOCH": "1700000000"}))
    source = recipe_source(recipe, result)
    assert source.path == "recipes/nginx.yaml"
    assert source.sha256 == hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert source.lock_path == "recipes/nginx.lock"
    assert source.repository == "https://git.example/team/recipes.git"  # no credentials
    assert source.ref == "refs/heads/main" and source.commit == commit

    started = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    sbom = ResourceDescriptor(
        name="sbom", digest={"sha256": "1" * 64}, media_type="application/vnd.cyclonedx+json"
    )
    provenance = build_provenance(
        result, source, started=started, finished=started.replace(minute=2), products=[sbom]
    )
    document = json.loads(json.dumps(provenance.predicate()))
    definition, run = document["buildDefinition"], document["runDetails"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"]["recipe"] == {
        "path": "recipes/nginx.yaml",
        "name": "golden/nginx",
        "version": "1.22",
    }
    assert definition["externalParameters"]["source"] == {
        "repository": "https://git.example/team/recipes.git",
        "ref": "refs/heads/main",
    }
    deps = {(d["name"], d.get("uri")): d for d in definition["resolvedDependencies"]}
    assert deps[("recipe", "recipes/nginx.yaml")]["digest"] == {"sha256": source.sha256}
    assert deps[("lockfile", "recipes/nginx.lock")]["digest"]["sha256"] == source.lock_sha256
    git_uri = "git+https://git.example/team/recipes.git@refs/heads/main"
    assert deps[("source", git_uri)]["digest"] == {"gitCommit": commit}
    assert deps[("base", "oci:golden/debian-base:12")]["digest"] == {"sha256": "b" * 64}
    nginx = deps[("nginx-light", "pkg:deb/debian/nginx-light@1.22.1-9?arch=amd64")]
    assert nginx["digest"] == {"sha256": "c" * 64}
    assert nginx["annotations"]["version"] == "1.22.1-9"
    assert sum(1 for name, _ in deps if name == "nginx-light") == 1
    assert deps[("file", "files/nginx.conf")]["digest"] == {"sha256": "e" * 64}
    assert run["builder"] == {"id": DEFAULT_BUILDER_ID, "version": {"bakery": "0.1.0"}}
    assert run["metadata"]["startedOn"] == "2026-11-27T09:00:00Z"
    assert run["metadata"]["finishedOn"] == "2026-11-27T09:02:00Z"
    assert run["metadata"]["invocationId"].startswith("urn:uuid:")
    assert run["byproducts"][0]["digest"] == {"sha256": "1" * 64}
    assert Provenance.model_validate(document, strict=False).base_digests == [
        ("oci:golden/debian-base:12", BASE)
    ]


def test_recipe_outside_git(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("x")
    result = _result(describe(recipe, {}))
    source = recipe_source(recipe, result)
    assert source.path == str(recipe)
    assert source.commit is None and source.repository is None and source.lock_path is None
    provenance = build_provenance(
        result, source, started=datetime(2026, 1, 1), finished=datetime(2026, 1, 1)
    )
    names = [d.name for d in provenance.build_definition.resolved_dependencies]
    assert "source" not in names and "lockfile" not in names and names[0] == "recipe"
