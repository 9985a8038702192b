"""Interop with the real cosign and a real registry, both ways, on synthetic images.

bakery signs in its local layout → skopeo copies the image and its sha256-….sig/.att tags to a
docker-registry → `cosign verify` / `cosign verify-attestation` accept them. And back: cosign
signs an image in the registry → skopeo brings the .sig into a layout → bakery verifies it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakery.distribute.client import RegistryClient
from bakery.distribute.source import RegistrySource
from bakery.errors import SignatureError, ToolError, UserError
from bakery.oci.source import LayoutSource
from bakery.sign.attestations import find_attestations, find_signatures
from bakery.sign.cosign import Cosign
from bakery.sign.intoto import SLSA_PROVENANCE_V1
from bakery.sign.keys import load_public_key, load_signing_key
from bakery.sign.legacy import attestation_tag, signature_tag
from bakery.sign.local import sign_image
from tests.conftest import bakery
from tests.integration.registry_fixtures import Registry, start_registry
from tests.integration.sign_fixtures import (
    cosign,
    new_layout,
    require_cosign,
    skopeo_copy,
    synthetic_image,
)

PROVENANCE = {
    "buildDefinition": {
        "buildType": "https://bakery.dev/buildtypes/recipe/v1",
        "externalParameters": {"recipe": {"path": "app.yaml"}},
    },
    "runDetails": {"builder": {"id": "https://bakery.dev/builders/local/v1"}},
}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    require_cosign()
    started = start_registry(tmp_path / "registry")
    yield started
    started.stop()


def _cosign_key_pair(directory: Path, password: str) -> Path:
    directory.mkdir(parents=True)
    done = cosign(
        "generate-key-pair", "--output-key-prefix", str(directory / "cosign"), password=password
    )
    assert done.returncode == 0, done.stderr
    return directory


def test_cosign_verifies_what_bakery_signed(tmp_path: Path, registry: Registry) -> None:
    store = tmp_path / ".bakery"
    from bakery.store import Store

    image = synthetic_image(Store.open(store).oci, "team/app:1")
    keys = tmp_path / "keys"
    made = bakery("keys", "generate", "--output-dir", keys, env={"COSIGN_PASSWORD": "pw"})
    assert made.returncode == 0, made.stderr
    assert "pw" not in made.stdout + made.stderr
    signed = bakery(
        "sign",
        "team/app:1",
        "--key",
        keys / "cosign.key",
        "--store",
        store,
        env={"COSIGN_PASSWORD": "pw"},
    )
    assert signed.returncode == 0, signed.stderr
    predicate = tmp_path / "provenance.json"
    predicate.write_text(json.dumps(PROVENANCE))
    attested = bakery(
        "attest", "team/app:1", "--type", "slsaprovenance1", "--predicate", predicate,
        "--key", keys / "cosign.key", "--store", store, env={"COSIGN_PASSWORD": "pw"},
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr

    layout, remote = f"oci:{store / 'oci'}", f"docker://{registry.host}/team/app"
    for tag in ("1", signature_tag(image.digest), attestation_tag(image.digest)):
        skopeo_copy(f"{layout}:team/app:{tag}", f"{remote}:{tag}")
    ref = f"{registry.host}/team/app@{image.digest}"
    common = ["--insecure-ignore-tlog", "--allow-insecure-registry"]
    verified = cosign("verify", "--key", str(keys / "cosign.pub"), *common, ref)
    assert verified.returncode == 0, verified.stderr
    payload = json.loads(verified.stdout.strip().splitlines()[0])[0]
    assert payload["critical"]["image"]["docker-manifest-digest"] == image.digest
    attestation = cosign(
        "verify-attestation",
        "--type",
        "slsaprovenance1",
        "--key",
        str(keys / "cosign.pub"),
        *common,
        ref,
    )
    assert attestation.returncode == 0, attestation.stderr

    other = _cosign_key_pair(tmp_path / "other", "")
    assert cosign("verify", "--key", str(other / "cosign.pub"), *common, ref).returncode != 0
    assert (
        cosign(
            "verify-attestation",
            "--type",
            "slsaprovenance1",
            "--key",
            str(other / "cosign.pub"),
            *common,
            ref,
        ).returncode
        != 0
    )
    # bakery's own verify reads the same registry natively: signed, provenance, no scan
    report = bakery("verify", ref, "--key", keys / "cosign.pub", "--json")
    assert report.returncode == 1
    checks = {c["name"]: c["passed"] for c in json.loads(report.stdout)["checks"]}
    assert checks == {
        "signature": True,
        "provenance": True,
        "builder": True,
        "scan": False,
        "lineage": True,
    }
    assert "scan: no valid signed scan attestation" in report.stderr


def test_bakery_verifies_what_cosign_signed(tmp_path: Path, registry: Registry) -> None:
    layout = new_layout(tmp_path / "src")
    image = synthetic_image(layout, "team/app:1", b"from cosign")
    remote = f"docker://{registry.host}/team/app"
    skopeo_copy(f"oci:{layout.root}:team/app:1", f"{remote}:1")
    keys = _cosign_key_pair(tmp_path / "keys", "s3cret")
    ref = f"{registry.host}/team/app@{image.digest}"

    tool = Cosign.locate(os.environ)  # the adapter: version checked, offline flags, digest only
    tool.sign(ref, str(keys / "cosign.key"), password=b"s3cret", access="http")
    predicate = tmp_path / "provenance.json"
    predicate.write_text(json.dumps(PROVENANCE))
    tool.attest(
        ref,
        str(keys / "cosign.key"),
        predicate,
        "slsaprovenance1",
        password=b"s3cret",
        access="http",
    )
    assert tool.verify(ref, str(keys / "cosign.pub"), access="http")
    with pytest.raises(UserError, match="never a tag"):
        tool.sign(f"{registry.host}/team/app:1", str(keys / "cosign.key"), password=b"s3cret")
    with pytest.raises(ToolError):  # wrong password: cosign refuses, the password is not shown
        tool.sign(ref, str(keys / "cosign.key"), password=b"wrong", access="http")

    back = new_layout(tmp_path / "back")
    for tag in ("1", signature_tag(image.digest), attestation_tag(image.digest)):
        skopeo_copy(f"{remote}:{tag}", f"oci:{back.root}:team/app:{tag}")
    source = LayoutSource(back, "team/app")
    public = load_public_key(keys / "cosign.pub")
    assert find_signatures(source, image.digest, [public]).valid
    statements = find_attestations(source, image.digest, [public]).statements
    assert [s.statement.predicate_type for s in statements] == [SLSA_PROVENANCE_V1]

    other = load_public_key(_cosign_key_pair(tmp_path / "other", "") / "cosign.pub")
    assert not find_signatures(source, image.digest, [other]).valid
    assert not find_attestations(source, image.digest, [other]).statements
    with pytest.raises(SignatureError):
        tool.verify(ref, str(tmp_path / "other" / "cosign.pub"), access="http")

    # a key made by `cosign generate-key-pair` signs natively, and cosign accepts the result
    signer = load_signing_key(keys / "cosign.key", b"s3cret")
    other_image = synthetic_image(back, "team/app:2", b"second")
    sign_image(back, "team/app", other_image.digest, signer)
    for tag in ("2", signature_tag(other_image.digest)):
        skopeo_copy(f"oci:{back.root}:team/app:{tag}", f"{remote}:{tag}")
    second = f"{registry.host}/team/app@{other_image.digest}"
    assert tool.verify(second, str(keys / "cosign.pub"), access="http")


def test_bakery_verifies_cosign_3_bundles(tmp_path: Path, registry: Registry) -> None:
    """cosign 3's default format: sigstore bundles pushed as referrers of the image (here
    through the sha256-<hex> fallback index: distribution 2.8 has no referrers API)."""
    layout = new_layout(tmp_path / "src")
    image = synthetic_image(layout, "team/app:1", b"bundled")
    skopeo_copy(f"oci:{layout.root}:team/app:1", f"docker://{registry.host}/team/app:1")
    keys = _cosign_key_pair(tmp_path / "keys", "pw")
    config = tmp_path / "signing-config.json"  # no transparency log: offline
    made = cosign("signing-config", "create", "--out", str(config))
    assert made.returncode == 0, made.stderr
    ref = f"{registry.host}/team/app@{image.digest}"
    common = ["--key", str(keys / "cosign.key"), "--signing-config", str(config), "--yes"]
    signed = cosign("sign", *common, "--allow-insecure-registry", ref, password="pw")
    assert signed.returncode == 0, signed.stderr
    predicate = tmp_path / "provenance.json"
    predicate.write_text(json.dumps(PROVENANCE))
    attested = cosign(
        "attest", *common, "--type", "slsaprovenance1", "--predicate", str(predicate),
        "--allow-insecure-registry", ref, password="pw",
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr
    assert cosign("triangulate", "--type", "signature", ref).returncode == 0

    public = load_public_key(keys / "cosign.pub")
    with RegistryClient(registry.host) as client:
        source = RegistrySource(client, "team/app")
        assert signature_tag(image.digest) not in client.tags("team/app")  # no legacy .sig
        signatures = find_signatures(source, image.digest, [public])
        attestations = find_attestations(source, image.digest, [public])
        other = load_public_key(_cosign_key_pair(tmp_path / "other", "") / "cosign.pub")
        by_other = find_signatures(source, image.digest, [other])
        other_image = synthetic_image(layout, "team/app:2", b"not signed")
        skopeo_copy(f"oci:{layout.root}:team/app:2", f"docker://{registry.host}/team/app:2")
        unsigned = find_signatures(source, other_image.digest, [public])
    assert signatures.valid and signatures.total == 1, signatures.rejected
    assert [s.statement.predicate_type for s in attestations.statements] == [SLSA_PROVENANCE_V1]
    assert not by_other.valid and by_other.total == 1
    assert any("verifies" in reason for reason in by_other.rejected), by_other.rejected
    assert unsigned.total == 0 and not unsigned.valid

    verified = bakery(
        "verify", ref, "--key", keys / "cosign.pub", "--json",
        "--store", tmp_path / "store",
    )  # fmt: skip
    report = json.loads(verified.stdout)
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks["signature"] and checks["provenance"], verified.stdout + verified.stderr
    assert not checks["scan"] and verified.returncode == 1  # no scan attestation was made


def test_missing_cosign_is_one_line_with_install_steps(tmp_path: Path) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COSIGN_PASSWORD": ""}
    assert not any(Path(d, "cosign").exists() for d in env["PATH"].split(":")), "cosign on PATH"
    ref = "127.0.0.1:5000/team/app@sha256:" + "a" * 64
    done = bakery("sign", ref, "--key", tmp_path / "cosign.key", "--store", tmp_path / "s", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cosign is not installed" in lines[0]
    assert "install-sid-tools.sh cosign" in lines[0] and "make setup" in lines[0]


def test_cli_signs_registry_images_through_cosign(tmp_path: Path, registry: Registry) -> None:
    layout = new_layout(tmp_path / "src")
    image = synthetic_image(layout, "team/cli:1", b"cli")
    skopeo_copy(f"oci:{layout.root}:team/cli:1", f"docker://{registry.host}/team/cli:1")
    password = "s3cr3t-Pw-91"
    keys = _cosign_key_pair(tmp_path / "keys", password)
    ref = f"{registry.host}/team/cli@{image.digest}"
    store = tmp_path / ".bakery"

    tag_ref = f"{registry.host}/team/cli:1"
    refused = bakery("sign", tag_ref, "--key", keys / "cosign.key", "--store", store)
    assert refused.returncode == 2 and "never a tag" in refused.stderr
    # a KMS-style URI is passed through untouched: cosign's env:// provider reads the key
    env = {"COSIGN_PASSWORD": password, "SIGN_TEST_KEY": (keys / "cosign.key").read_text()}
    signed = bakery(
        "sign", ref, "--key", "env://SIGN_TEST_KEY", "--insecure", "--store", store,
        env=env,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert password not in signed.stdout + signed.stderr
    verified = bakery("verify", ref, "--key", keys / "cosign.pub", "--json")
    checks = {c["name"]: c["passed"] for c in json.loads(verified.stdout)["checks"]}
    assert checks["signature"] is True
    # a local image cannot be signed with a KMS key (bakery signs those natively)
    from bakery.store import Store

    synthetic_image(Store.open(store).oci, "team/cli:1", b"cli")
    local = bakery("sign", "team/cli:1", "--key", "awskms://alias/x", "--store", store)
    assert local.returncode == 2 and "KMS key" in local.stderr


def test_locate_without_cosign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    with pytest.raises(ToolError) as info:
        Cosign.locate(os.environ)
    assert "install-sid-tools.sh cosign" in info.value.one_line()
    assert "\n" not in info.value.one_line()
