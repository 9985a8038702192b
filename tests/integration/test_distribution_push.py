"""push, pull and copy against the real CNCF distribution registry, checked with crane/skopeo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bakery.distribute.client import ClientOptions, RegistryClient
from bakery.distribute.reference import Reference
from bakery.distribute.source import RegistrySource
from bakery.distribute.transfer import push
from bakery.errors import RegistryError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor, ImageIndex, ImageManifest
from bakery.oci.source import LayoutSource
from tests.conftest import bakery, require_tools
from tests.integration.registry_fixtures import (
    Registry,
    add_cosign_signature,
    add_sbom_referrer,
    make_image,
    registry,
    start_registry,
)

__all__ = ["registry"]  # the fixture, imported explicitly

MiB = 1 << 20


def crane(*args: str) -> str:
    require_tools("crane")
    done = subprocess.run(["crane", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _store_with_image(tmp_path: Path, sizes: list[int]) -> tuple[Path, OCILayout, Descriptor]:
    store = tmp_path / "store"
    layout = OCILayout.open(store / "oci")
    image = make_image(layout, "test/app:1", sizes)
    return store, layout, image


def _json(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout)
    return result


def test_push_reads_back_with_crane_and_carries_referrers_and_signatures(
    registry: Registry, tmp_path: Path
) -> None:
    store, layout, image = _store_with_image(tmp_path, [100, 2 * MiB, 300_000])
    sbom = add_sbom_referrer(layout, image)
    sig_tag = add_cosign_signature(layout, "test/app", image)
    dest = registry.ref("team/app:1.0")

    done = bakery("push", "test/app:1", dest, "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    summary = _json(done.stdout)
    assert summary["digest"] == image.digest
    assert summary["blobs_pushed"] == 4 + 2 + 2  # image: config+3 layers; sbom, .sig: 2 each
    assert summary["referrers"] == 1 and summary["cosign_tags"] == [sig_tag]

    # crane reads the exact manifest bytes and validates every layer's digest and diff_id
    assert crane("manifest", dest).encode() == layout.read_blob(image.digest)
    assert "PASS" in crane("validate", "--remote", dest)
    assert set(crane("ls", registry.ref("team/app")).split()) == {
        "1.0",
        sig_tag,
        "sha256-" + image.digest.removeprefix("sha256:"),
    }
    # distribution 2.8 has no referrers API: the fallback tag index lists the SBOM
    fallback = json.loads(crane("manifest", registry.ref("team/app:sha256-" + image.digest[7:])))
    assert [d["digest"] for d in fallback["manifests"]] == [sbom.digest]
    assert fallback["manifests"][0]["artifactType"] == "application/spdx+json"
    assert crane("digest", registry.ref(f"team/app:{sig_tag}")).strip() == (
        layout.resolve(f"test/app:{sig_tag}").digest
    )

    again = _json(bakery("push", "test/app:1", dest, "--store", store, "--json").stdout)
    assert again["blobs_pushed"] == 0 and again["bytes_transferred"] == 0
    assert again["blobs_skipped"] == summary["blobs_pushed"]


def test_pull_into_a_fresh_store_verified_with_referrers(
    registry: Registry, tmp_path: Path
) -> None:
    store, layout, image = _store_with_image(tmp_path, [5000, 1 * MiB])
    sbom = add_sbom_referrer(layout, image)
    sig_tag = add_cosign_signature(layout, "test/app", image)
    src = registry.ref("team/app:2")
    assert bakery("push", "test/app:1", src, "--store", store).returncode == 0

    other = tmp_path / "other"
    done = bakery("pull", src, "--store", other, "--json")
    assert done.returncode == 0, done.stderr
    assert _json(done.stdout)["digest"] == image.digest
    pulled = OCILayout.open(other / "oci")
    assert pulled.check() == []
    assert pulled.resolve(src).digest == image.digest
    assert pulled.resolve(registry.ref(f"team/app:{sig_tag}")).digest == (
        layout.resolve(f"test/app:{sig_tag}").digest
    )
    assert [d.digest for d in pulled.referrers(image.digest)] == [sbom.digest]
    # every blob byte-identical to the source
    for desc in layout.walk_referenced(image):
        assert pulled.read_blob(desc.digest, max_size=4 * MiB) == layout.read_blob(
            desc.digest, max_size=4 * MiB
        )

    by_digest = bakery("pull", registry.ref(f"team/app@{image.digest}"), "--store", other)
    assert by_digest.returncode == 0, by_digest.stderr
    assert pulled.resolve(registry.ref(f"team/app@{image.digest}")).digest == image.digest


def test_chunked_uploads_and_tag_list_on_the_real_registry(
    registry: Registry, tmp_path: Path
) -> None:
    _, layout, _image = _store_with_image(tmp_path, [3 * MiB + 17, 10])
    options = ClientOptions(monolithic_max=1 * MiB, chunk_size=512 * 1024)
    with RegistryClient(registry.host, options=options) as client:
        client.ping()
        result = push(layout, "test/app:1", Reference.parse(registry.ref("team/chunky:1")), client)
        assert result.blobs_pushed == 3
        for tag in ["a", "b", "c", "d", "e"]:
            push(layout, "test/app:1", Reference.parse(registry.ref(f"team/chunky:{tag}")), client)
        # distribution 2.8 ignores ?n= and answers in one page (Link pagination is covered by
        # the unit tests against the in-memory registry); the request must still work
        tags = client.tags("team/chunky", page_size=2)
        assert sorted(tags) == ["1", "a", "b", "c", "d", "e"] and len(tags) == 6
    assert "PASS" in crane("validate", "--remote", registry.ref("team/chunky:1"))


def test_push_index_children_before_parent(registry: Registry, tmp_path: Path) -> None:
    _, layout, amd = _store_with_image(tmp_path, [1000])
    arm = make_image(layout, "test/app:arm", [2000], seed=7)
    index = ImageIndex(manifests=[amd, arm])
    desc = layout.put_json(index, mt.INDEX)
    layout.tag("test/multi:1", desc)
    with RegistryClient(registry.host) as client:
        result = push(layout, "test/multi:1", Reference.parse(registry.ref("team/multi")), client)
    assert result.digest == desc.digest and result.destination.endswith("team/multi:1")
    assert crane("digest", registry.ref("team/multi:1")).strip() == desc.digest
    assert "PASS" in crane("validate", "--remote", registry.ref("team/multi:1"))


def test_copy_mounts_within_a_registry_and_streams_across(
    registry: Registry, tmp_path: Path
) -> None:
    store, layout, image = _store_with_image(tmp_path, [4000, 600_000])
    add_sbom_referrer(layout, image)
    assert bakery("push", "test/app:1", registry.ref("src/app:1"), "--store", store).returncode == 0

    done = bakery("copy", registry.ref("src/app:1"), registry.ref("dst/app"), "--json")
    assert done.returncode == 0, done.stderr
    same = _json(done.stdout)
    assert same["blobs_mounted"] == 5 and same["blobs_pushed"] == 0  # image 3 + sbom 2
    assert same["referrers"] == 1
    assert crane("digest", registry.ref("dst/app:1")).strip() == image.digest

    other = start_registry(tmp_path / "other-registry")
    try:
        done = bakery("copy", registry.ref("src/app:1"), other.ref("mirror/app:9"), "--json")
        assert done.returncode == 0, done.stderr
        across = _json(done.stdout)
        assert across["blobs_pushed"] == 5 and across["blobs_mounted"] == 0
        assert crane("digest", other.ref("mirror/app:9")).strip() == image.digest
        assert "PASS" in crane("validate", "--remote", other.ref("mirror/app:9"))
        fallback = other.ref("mirror/app:sha256-" + image.digest[7:])
        assert len(json.loads(crane("manifest", fallback))["manifests"]) == 1
    finally:
        other.stop()


def test_push_baked_nginx_reads_back_with_skopeo(
    registry: Registry, private_store: Path, baked: dict[str, dict[str, Any]]
) -> None:
    require_tools("skopeo")
    base = bakery("push", "golden/debian-base:12", registry.ref("golden/debian-base"),
                  "--store", private_store, "--json")  # fmt: skip
    assert base.returncode == 0, base.stderr
    assert _json(base.stdout)["digest"] == baked["debian-base"]["digest"]
    dest = registry.ref("golden/nginx:1.22")
    done = bakery("push", "golden/nginx:1.22", dest, "--store", private_store, "--json")
    assert done.returncode == 0, done.stderr
    summary = _json(done.stdout)
    assert summary["digest"] == baked["nginx"]["digest"]
    # the base layers are mounted from golden/debian-base (named by the base.name annotation)
    assert summary["blobs_mounted"] >= 1
    assert summary["referrers"] >= 1  # the bake's SBOMs and scan result
    inspect = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{dest}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["Digest"] == baked["nginx"]["digest"]
    assert "PASS" in crane("validate", "--remote", dest)


def test_registry_source_answers_like_the_layout_source(registry: Registry, tmp_path: Path) -> None:
    store, layout, image = _store_with_image(tmp_path, [3000, 70_000])
    sbom = add_sbom_referrer(layout, image)
    sig_tag = add_cosign_signature(layout, "test/app", image)
    assert (
        bakery("push", "test/app:1", registry.ref("team/app:1"), "--store", store).returncode == 0
    )
    local = LayoutSource(layout, "test/app")
    with RegistryClient(registry.host) as client:
        remote = RegistrySource(client, "team/app")
        assert remote.repository == registry.ref("team/app")
        for tag in ("1", sig_tag):
            mine, theirs = local.resolve_tag(tag), remote.resolve_tag(tag)
            assert mine is not None and theirs is not None
            assert (theirs.digest, theirs.size) == (mine.digest, mine.size)
            assert remote.fetch_manifest(theirs.digest) == local.fetch_manifest(mine.digest)
        assert remote.resolve_tag("nope") is None
        manifest = layout.read_manifest(image)
        assert isinstance(manifest, ImageManifest)
        blob = manifest.layers[1].digest
        assert remote.fetch_blob(blob, max_size=1 * MiB) == local.fetch_blob(blob, max_size=MiB)
        with pytest.raises(RegistryError, match="more than the 100 expected"):
            remote.fetch_blob(blob, max_size=100)
        assert [d.digest for d in remote.referrers(image.digest)] == [sbom.digest]
        assert remote.referrers(image.digest, "application/spdx+json")[0].digest == sbom.digest
        assert remote.referrers(image.digest, "application/other") == []
