"""The scratch recipe end to end: no network, no Debian mirror, fast."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tests.conftest import RECIPES, bakery, require_root, require_tools


def _bake(store: Path, *extra: str, recipe: Path = RECIPES / "static-hello.yaml") -> dict:
    done = bakery(
        "bake", recipe, "--store", store, "--json", *extra, env={"SOURCE_DATE_EPOCH": "1700000000"}
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_static_hello_bakes_and_rebakes_from_cache(tmp_path: Path) -> None:
    require_root()
    require_tools("bwrap")
    store = tmp_path / ".bakery"
    first = _bake(store)
    assert first["tags"] == ["golden/static-hello:1.0"]
    assert first["steps_run"] == 1 and first["steps_cached"] == 0
    assert [layer["media_type"] for layer in first["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+zstd"
    ]
    second = _bake(store)
    assert second["steps_run"] == 0 and second["steps_cached"] == 1
    assert second["digest"] == first["digest"]
    third = _bake(store, "--no-cache")
    assert third["steps_run"] == 1
    assert third["digest"] == first["digest"]


def test_static_hello_layer_is_normalised(tmp_path: Path) -> None:
    require_root()
    store = tmp_path / ".bakery"
    result = _bake(store)
    out = tmp_path / "hello.tar"
    done = bakery(
        "export", "golden/static-hello:1.0", "--store", store, "--format", "oci-archive", "-o", out
    )
    assert done.returncode == 0, done.stderr
    inspect = json.loads(bakery("inspect", "golden/static-hello:1.0", "--store", store).stdout)
    assert inspect["digest"] == result["digest"]
    config = inspect["config"]
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"]["Labels"] == {"org.example.team": "platform"}
    assert (
        inspect["manifest"]["annotations"]["org.opencontainers.image.created"]
        == "2023-11-14T22:13:20Z"
    )
    with tarfile.open(out) as archive:
        names = archive.getnames()
    assert "index.json" in names and "oci-layout" in names


def test_store_check_is_clean_after_bake(tmp_path: Path) -> None:
    require_root()
    store = tmp_path / ".bakery"
    _bake(store)
    done = bakery("store", "check", "--store", store)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout
