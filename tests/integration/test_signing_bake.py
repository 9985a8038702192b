"""sign_bake on the real baked golden images: provenance from the real Lock, native verify
(transitive, with the default policy), the CLI, and cosign reading it all from a registry."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bakery.oci.source import LayoutSource
from bakery.pipeline.bake import BakeOptions, bake
from bakery.result import BakeResult
from bakery.scan.policy import DEFAULT_POLICY
from bakery.scan.stage import CYCLONEDX, read_referrer
from bakery.sign.bake import SigningResult, sign_bake
from bakery.sign.intoto import BAKERY_SCAN_V1, CYCLONEDX_BOM, SLSA_PROVENANCE_V1
from bakery.sign.keys import SigningKey, load_public_key
from bakery.sign.legacy import attestation_tag, signature_tag
from bakery.sign.verify import VerifyOptions, verify_base, verify_image
from bakery.store import Store
from tests.conftest import bakery
from tests.integration.conftest import SDE, copy_recipes
from tests.integration.registry_fixtures import Registry, start_registry
from tests.integration.sign_fixtures import (
    cosign,
    require_cosign,
    skopeo_copy,
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    require_cosign()
    started = start_registry(tmp_path / "registry")
    yield started
    started.stop()


def _warm_bake(store: Store, recipes: Path, name: str) -> BakeResult:
    """Re-bake from the session's cache, from a copy of recipes/ outside git: the manifest
    then carries no git revision, which other commits would change under the test."""
    options = BakeOptions(store=store, environ={**os.environ, **SDE})
    result = bake(recipes / f"{name}.yaml", options)
    assert result.steps_run == 0  # the session store already baked it: every step is cached
    return result


def _sign(store: Store, result: BakeResult, recipes: Path, name: str) -> SigningResult:
    started = datetime.now(UTC)
    recipe = recipes / f"{name}.yaml"
    return sign_bake(store, result, recipe, key=None, started=started, finished=datetime.now(UTC))


def test_sign_bake_provenance_and_verify(
    baked: dict[str, dict[str, Any]], private_store: Path, registry: Registry, tmp_path: Path
) -> None:
    store, recipes = Store.open(private_store), copy_recipes(tmp_path / "recipes")
    base, nginx = _warm_bake(store, recipes, "debian-base"), _warm_bake(store, recipes, "nginx")
    assert nginx.base.digest == base.digest
    signed_nginx = _sign(store, nginx, recipes, "nginx")
    assert signed_nginx.development_key and "not for production" in (signed_nginx.notice or "")
    assert signed_nginx.predicate_types == (SLSA_PROVENANCE_V1, CYCLONEDX_BOM, BAKERY_SCAN_V1)
    public = load_public_key(store.keys_dir / "cosign.pub")

    # provenance: every locked Debian package with version and .deb sha256, files, base digest
    deps = signed_nginx.provenance.build_definition.resolved_dependencies
    by_uri = {d.uri: d for d in deps}
    packages = [p for step in nginx.lock.steps for p in step.packages] + list(
        nginx.lock.base.packages
    )
    assert packages, "nginx's lock has Debian packages"
    for package in packages:
        found = [
            d
            for d in deps
            if d.name == package.name
            and d.annotations
            and d.annotations.get("version") == package.version
        ]
        assert found and found[0].digest == {"sha256": package.sha256}, package.name
    for step in nginx.lock.steps:
        for file in step.files:
            assert by_uri[file.path].digest == {"sha256": file.sha256}
    assert signed_nginx.provenance.base_digests == [("oci:" + str(nginx.base.name), base.digest)]
    assert by_uri[str(recipes / "nginx.yaml")].name == "recipe"
    sbom = read_referrer(store.oci, nginx.digest, CYCLONEDX)
    assert sbom is not None
    import hashlib

    products = {d.media_type: d.digest for d in signed_nginx.provenance.run_details.byproducts}
    assert products[CYCLONEDX] == {"sha256": hashlib.sha256(sbom).hexdigest()}

    def opener(repository: str) -> LayoutSource:
        return LayoutSource(store.oci, repository)

    options = VerifyOptions(keys=(public,), policy=DEFAULT_POLICY, today=date.today())
    unsigned_base = verify_image(opener("golden/nginx"), nginx.digest, options, open_source=opener)
    assert unsigned_base.checks and all(c.passed for c in unsigned_base.checks)
    assert not unsigned_base.passed and unsigned_base.bases[0].digest == base.digest
    assert not verify_base(
        opener("golden/nginx"), nginx.digest, (public,), open_source=opener
    ).passed

    _sign(store, base, recipes, "debian-base")
    report = verify_image(opener("golden/nginx"), nginx.digest, options, open_source=opener)
    assert report.passed, report.failures()
    assert verify_base(opener("golden/nginx"), nginx.digest, (public,), open_source=opener).passed

    # the CLI: exit 0 when all hold; another key lists each failure and exits 1
    ok = bakery(
        "verify",
        "golden/nginx:1.22",
        "--key",
        store.keys_dir / "cosign.pub",
        "--store",
        private_store,
    )
    assert ok.returncode == 0, ok.stderr
    other = tmp_path / "other.pub"
    other.write_bytes(SigningKey.generate().public_key.pem())
    bad = bakery("verify", "golden/nginx:1.22", "--key", other, "--store", private_store, "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["passed"] is False
    for check in ("signature", "provenance", "builder", "scan"):
        assert f"golden/nginx@{nginx.digest}: {check}:" in bad.stderr
        assert f"golden/debian-base@{base.digest}: {check}:" in bad.stderr

    # cosign reads the image, its signature and its attestations from a real registry
    layout, remote = f"oci:{private_store / 'oci'}", f"docker://{registry.host}/golden/nginx"
    for tag in ("1.22", signature_tag(nginx.digest), attestation_tag(nginx.digest)):
        skopeo_copy(f"{layout}:golden/nginx:{tag}", f"{remote}:{tag}")
    ref = f"{registry.host}/golden/nginx@{nginx.digest}"
    flags = [
        "--key",
        str(store.keys_dir / "cosign.pub"),
        "--insecure-ignore-tlog",
        "--allow-insecure-registry",
    ]
    assert cosign("verify", *flags, ref).returncode == 0
    for kind in ("slsaprovenance1", "cyclonedx"):
        done = cosign("verify-attestation", "--type", kind, *flags, ref)
        assert done.returncode == 0, done.stderr


def test_re_signing_a_warm_bake_does_not_pile_up(
    baked: dict[str, dict[str, Any]], private_store: Path, tmp_path: Path
) -> None:
    store, recipes = Store.open(private_store), copy_recipes(tmp_path / "recipes")
    result = _warm_bake(store, recipes, "debian-base")
    first = _sign(store, result, recipes, "debian-base")
    again = _sign(store, result, recipes, "debian-base")
    assert again.signature.digest == first.signature.digest  # same key: no second signature
    manifest = json.loads(store.oci.read_blob(again.attestations.digest))
    assert len(manifest["layers"]) == 3  # provenance, SBOM, scan: replaced, not appended
    # `bakery attest` re-attests the stored SBOM and scan result with the same (dev) key
    for kind in ("cyclonedx", "scan"):
        done = bakery("attest", "golden/debian-base:12", "--type", kind, "--store", private_store)
        assert done.returncode == 0, done.stderr
        assert "development key" in done.stderr
    att = store.oci.resolve(f"golden/debian-base:{attestation_tag(result.digest)}")
    assert len(json.loads(store.oci.read_blob(att.digest))["layers"]) == 3
    missing = bakery(
        "attest", "golden/debian-base:12", "--type", "slsaprovenance1", "--store", private_store
    )
    assert missing.returncode == 2 and "--predicate" in missing.stderr
