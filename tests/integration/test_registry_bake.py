"""Recording real bakes: nginx and debian-base from the session store, then querying them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bakery.pipeline.bake import BakeOptions, bake
from bakery.registry.db import open_registry
from bakery.registry.queries import artifacts_with_package, builds_of, lineage
from bakery.registry.record import record_bake
from bakery.result import BakeResult
from bakery.store import Store
from tests.conftest import RECIPES, REPO
from tests.integration.conftest import SDE, clone_store
from tests.integration.pg_fixtures import postgres_server, postgres_url  # noqa: F401


@pytest.fixture(scope="module")
def rebaked(
    baked: dict[str, dict[str, Any]], session_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, BakeResult]]:
    """A copy of the session store with nginx and debian-base baked again in-process.

    Every step is cached, so the images have the session's content (config digest); their
    manifest digests differ only when git HEAD moved since (the revision annotation).
    """
    store = tmp_path_factory.mktemp("registry-bake") / ".bakery"
    clone_store(session_store, store, registry=False)  # this test records into a fresh one
    options = BakeOptions(store=Store.open(store), environ={**os.environ, **SDE})
    results = {name: bake(RECIPES / f"{name}.yaml", options) for name in ("nginx", "debian-base")}
    for name, result in results.items():
        assert result.config_digest == baked[name]["config_digest"]
        assert result.steps_run == 0
    return store, results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_record_real_bakes_and_query_them(
    backend: str, rebaked: tuple[Path, dict[str, BakeResult]], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    store_dir, results = rebaked
    store = Store.open(store_dir)
    registry = open_registry(store_dir, url)
    try:
        for name, result in results.items():
            done = record_bake(registry, result, store, recipe_path=RECIPES / f"{name}.yaml")
            assert done.digest == result.digest
        again = record_bake(registry, results["nginx"], store, recipe_path=RECIPES / "nginx.yaml")
        assert again.audit_entry is None  # idempotent
        nginx, base = results["nginx"].digest, results["debian-base"].digest
        with registry.read() as session:
            total, hits = artifacts_with_package(
                session, name="libc6", versions="<99", package_type="deb"
            )
            assert total == 2 and {h.digest for h in hits} == {nginx, base}
            _, hits = artifacts_with_package(session, name="nginx-light")
            assert {h.digest for h in hits} == {nginx}
            nodes = lineage(session, nginx)
            assert [(n.digest, n.distance) for n in nodes] == [(base, -1), (nginx, 0)]
            assert [n.name for n in nodes] == ["golden/debian-base", "golden/nginx"]
            builds = builds_of(session, "golden/nginx")
            assert len(builds) == 1 and builds[0].digest == nginx
            commit = builds[0].git_commit or ""
            assert len(commit) == 40  # the repository's HEAD when baked: a real commit
            exists = subprocess.run(
                ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], check=False
            )
            assert exists.returncode == 0
            assert builds[0].source_date_epoch == int(SDE["SOURCE_DATE_EPOCH"])
            assert (builds[0].recipe_digest or "").startswith("sha256:")
            assert (builds[0].lock_digest or "").startswith("sha256:")
    finally:
        registry.dispose()
