"""Native cosign .sig/.att in a local layout, read back through LayoutSource, and verify."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import pytest

from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.oci.source import LayoutSource
from bakery.scan.policy import Policy
from bakery.sign.attestations import find_attestations, find_signatures
from bakery.sign.bake import scan_predicate
from bakery.sign.intoto import BAKERY_SCAN_V1, SLSA_PROVENANCE_V1, statement_about
from bakery.sign.keys import SigningKey
from bakery.sign.legacy import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    legacy_manifest,
    read_layers,
    signature_tag,
    simple_signing_payload,
)
from bakery.sign.local import attest_image, sign_image
from bakery.sign.provenance import DEFAULT_BUILDER_ID
from bakery.sign.verify import VerifyOptions, verify_base, verify_image
from tests.integration.sign_fixtures import new_layout, synthetic_image

COSIGN_DIGEST = "sha256:5936e4deb8d496fc6ab7424f8f8ec11760a09f0f215c677699df870f432f0cce"
#: what `cosign sign --key … 127.0.0.1:5055/test/img@COSIGN_DIGEST` pushed (legacy format)
COSIGN_SIG_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"media'
    'Type":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:0fc9b444bb0c093'
    'b072e9a809fff981ba6afd2bda051f1f7c9b6e3fea49a114d"},"layers":[{"mediaType":"application/vnd.'
    'dev.cosign.simplesigning.v1+json","size":239,"digest":"sha256:edc959ab42a00a559a162543fc5bfa'
    '5f1510d6bec2854921343126aeefe1147d","annotations":{"dev.cosignproject.cosign/signature":"MEY'
    "CIQCNvyms56x/mZTg/fA/JjoTOuzWoYwPml+YUKSU/fXnhgIhALsTtRXMA2A9tmsp4ZBj4kCPmfWXoubkdrMkoz2vwt6"
    'f"}}]}'
)
COSIGN_SIG_CONFIG = (
    '{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:0'
    '0:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:edc959ab42a00a559a162543fc5b'
    'fa5f1510d6bec2854921343126aeefe1147d"]},"config":{}}'
)


@pytest.fixture
def layout(tmp_path: Path) -> OCILayout:
    return new_layout(tmp_path / "oci")


def test_payload_and_manifest_bytes_match_cosign() -> None:
    payload = simple_signing_payload("127.0.0.1:5055/test/img", COSIGN_DIGEST)
    assert len(payload) == 239
    layer = Descriptor(
        media_type=SIMPLESIGNING_MEDIA_TYPE,
        digest="sha256:edc959ab42a00a559a162543fc5bfa5f1510d6bec2854921343126aeefe1147d",
        size=239,
        annotations={
            SIGNATURE_ANNOTATION: json.loads(COSIGN_SIG_MANIFEST)["layers"][0]["annotations"][
                SIGNATURE_ANNOTATION
            ]
        },
    )
    from bakery.oci.digest import sha256_digest

    assert sha256_digest(payload) == layer.digest
    image = legacy_manifest([layer])
    assert image.config.decode() == COSIGN_SIG_CONFIG
    assert image.manifest.decode() == COSIGN_SIG_MANIFEST


def test_sign_verify_round_trip_and_append(layout: OCILayout) -> None:
    image = synthetic_image(layout, "team/app:1")
    source = LayoutSource(layout, "team/app")
    alice, bob = SigningKey.generate(), SigningKey.generate()
    assert not find_signatures(source, image.digest, [alice.public_key]).valid
    first = sign_image(layout, "team/app", image.digest, alice)
    assert sign_image(layout, "team/app", image.digest, alice).digest == first.digest  # no-op
    assert find_signatures(source, image.digest, [alice.public_key]).valid
    assert not find_signatures(source, image.digest, [bob.public_key]).valid
    sign_image(layout, "team/app", image.digest, bob)
    layers = read_layers(source, signature_tag(image.digest))
    assert len(layers) == 2
    assert find_signatures(source, image.digest, [bob.public_key]).valid
    assert find_signatures(source, image.digest, [alice.public_key]).valid
    assert layout.check() == []


def test_tampered_signature_fails(layout: OCILayout) -> None:
    image = synthetic_image(layout, "team/app:1")
    key = SigningKey.generate()
    payload = simple_signing_payload("team/app", image.digest)
    signature = bytearray(key.sign(payload))
    signature[-3] ^= 0x01
    _write_sig(layout, "team/app", image.digest, payload, bytes(signature))
    found = find_signatures(LayoutSource(layout, "team/app"), image.digest, [key.public_key])
    assert not found.valid and found.total == 1


def test_signature_for_another_digest_fails(layout: OCILayout) -> None:
    one = synthetic_image(layout, "team/app:1", b"one")
    two = synthetic_image(layout, "team/app:2", b"two")
    key = SigningKey.generate()
    payload = simple_signing_payload("team/app", one.digest)
    _write_sig(layout, "team/app", two.digest, payload, key.sign(payload))  # replayed
    found = find_signatures(LayoutSource(layout, "team/app"), two.digest, [key.public_key])
    assert not found.valid
    assert any("another digest" in reason for reason in found.rejected)


def _write_sig(layout: OCILayout, repo: str, digest: str, payload: bytes, sig: bytes) -> None:
    annotations = {SIGNATURE_ANNOTATION: base64.b64encode(sig).decode()}
    layer = layout.put_blob(payload, SIMPLESIGNING_MEDIA_TYPE, annotations=annotations)
    image = legacy_manifest([layer])
    layout.put_blob(image.config, mt.CONFIG)
    layout.tag(f"{repo}:{signature_tag(digest)}", layout.put_blob(image.manifest, mt.MANIFEST))


def _provenance(builder: str = DEFAULT_BUILDER_ID, base: str | None = None) -> dict[str, object]:
    deps = (
        [{"name": "base", "uri": "oci:team/base:1", "digest": {"sha256": base[7:]}}] if base else []
    )
    return {
        "buildDefinition": {
            "buildType": "https://bakery.dev/buildtypes/recipe/v1",
            "externalParameters": {},
            "resolvedDependencies": deps,
        },
        "runDetails": {"builder": {"id": builder}},
    }


def _scan(findings: list[dict[str, object]]) -> dict[str, object]:
    result = {"scanner_version": "0", "packages": 0, "findings": findings, "notes": []}
    return scan_predicate(json.dumps(result).encode())


def _attest_all(layout: OCILayout, repo: str, digest: str, key: SigningKey, **kw: object) -> None:
    sign_image(layout, repo, digest, key)
    base = kw.get("base")
    prov = _provenance(base=base if isinstance(base, str) else None)
    attest_image(layout, repo, statement_about(repo, digest, SLSA_PROVENANCE_V1, prov), key)
    attest_image(layout, repo, statement_about(repo, digest, BAKERY_SCAN_V1, _scan([])), key)


def test_verify_full_chain(layout: OCILayout) -> None:
    key = SigningKey.generate()
    base = synthetic_image(layout, "team/base:1", b"base")
    app = synthetic_image(layout, "team/app:1", b"app", base=("team/base:1", base.digest))
    _attest_all(layout, "team/base", base.digest, key)
    _attest_all(layout, "team/app", app.digest, key, base=base.digest)

    def opener(repository: str) -> LayoutSource:
        return LayoutSource(layout, repository)

    options = VerifyOptions(keys=(key.public_key,))
    report = verify_image(opener("team/app"), app.digest, options, open_source=opener)
    assert report.passed, report.failures()
    assert [c.name for c in report.checks] == [
        "signature",
        "provenance",
        "builder",
        "scan",
        "lineage",
    ]
    assert [b.digest for b in report.bases] == [base.digest]

    other = VerifyOptions(keys=(SigningKey.generate().public_key,))
    failed = verify_image(opener("team/app"), app.digest, other, open_source=opener)
    assert not failed.passed
    failing = {line.split(": ")[1] for line in failed.failures()}
    assert failing == {"signature", "provenance", "builder", "scan"}
    assert len(failed.failures()) == 8  # the base fails the same four checks

    wrong_builder = VerifyOptions(keys=(key.public_key,), builder_id="https://evil.example/b")
    report = verify_image(opener("team/app"), app.digest, wrong_builder, open_source=opener)
    assert [line.split(": ")[1] for line in report.failures()] == ["builder", "builder"]


def test_unsigned_base_fails_transitively(layout: OCILayout) -> None:
    key = SigningKey.generate()
    base = synthetic_image(layout, "team/base:1", b"base")
    app = synthetic_image(layout, "team/app:1", b"app", base=("team/base:1", base.digest))
    _attest_all(layout, "team/app", app.digest, key, base=base.digest)

    def opener(repository: str) -> LayoutSource:
        return LayoutSource(layout, repository)

    report = verify_image(
        opener("team/app"), app.digest, VerifyOptions(keys=(key.public_key,)), open_source=opener
    )
    assert not report.passed
    assert all(c.passed for c in report.checks)
    assert not report.bases[0].passed
    assert (
        verify_base(opener("team/app"), app.digest, (key.public_key,), open_source=opener).passed
        is False
    )
    sign_image(layout, "team/base", base.digest, key)
    assert verify_base(opener("team/app"), app.digest, (key.public_key,), open_source=opener).passed


def test_lineage_disagreement_fails(layout: OCILayout) -> None:
    key = SigningKey.generate()
    base = synthetic_image(layout, "team/base:1", b"base")
    other = synthetic_image(layout, "team/base:2", b"other")
    app = synthetic_image(layout, "team/app:1", b"app", base=("team/base:1", base.digest))
    _attest_all(layout, "team/app", app.digest, key, base=other.digest)
    report = verify_image(
        LayoutSource(layout, "team/app"), app.digest, VerifyOptions(keys=(key.public_key,))
    )
    lineage = next(c for c in report.checks if c.name == "lineage")
    assert not lineage.passed and "provenance" in lineage.detail


def test_scan_policy_checked(layout: OCILayout) -> None:
    key = SigningKey.generate()
    app = synthetic_image(layout, "team/app:1")
    sign_image(layout, "team/app", app.digest, key)
    attest_image(
        layout,
        "team/app",
        statement_about("team/app", app.digest, SLSA_PROVENANCE_V1, _provenance()),
        key,
    )
    secret = {
        "category": "secret",
        "id": "secret.private-key",
        "severity": "critical",
        "title": "a private key",
        "path": "/root/id_rsa",
    }
    scan = statement_about("team/app", app.digest, BAKERY_SCAN_V1, _scan([secret]))
    attest_image(layout, "team/app", scan, key)
    source = LayoutSource(layout, "team/app")
    plain = verify_image(source, app.digest, VerifyOptions(keys=(key.public_key,)))
    assert plain.passed  # no policy given: presence of a signed scan suffices
    policy = Policy.model_validate({"apiVersion": "bakery.dev/v1", "kind": "Policy"})
    judged = verify_image(
        source,
        app.digest,
        VerifyOptions(keys=(key.public_key,), policy=policy, today=date(2026, 1, 1)),
    )
    scan_check = next(c for c in judged.checks if c.name == "scan")
    assert not scan_check.passed and "secret.private-key" in scan_check.detail
    labels = Policy.model_validate(
        {
            "apiVersion": "bakery.dev/v1",
            "kind": "Policy",
            "maxSeverity": {"secret": "critical"},
            "requiredLabels": ["org.opencontainers.image.source", "team"],
        }
    )
    judged = verify_image(
        source,
        app.digest,
        VerifyOptions(keys=(key.public_key,), policy=labels, today=date(2026, 1, 1)),
    )
    scan_check = next(c for c in judged.checks if c.name == "scan")
    assert not scan_check.passed and "required-label team" in scan_check.detail


def test_attestation_replaced_per_type_and_key(layout: OCILayout) -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    app = synthetic_image(layout, "team/app:1")
    for signer in (key, key, other):
        statement = statement_about("team/app", app.digest, SLSA_PROVENANCE_V1, _provenance())
        attest_image(layout, "team/app", statement, signer)
    found = find_attestations(LayoutSource(layout, "team/app"), app.digest, [key.public_key])
    assert found.total == 2 and len(found.statements) == 1


def test_references() -> None:
    from bakery.sign.refs import is_registry_ref, repository_of

    assert is_registry_ref("127.0.0.1:5000/team/app@sha256:" + "a" * 64)
    assert is_registry_ref("localhost/app:1") and is_registry_ref("ghcr.io/org/app")
    assert not is_registry_ref("golden/nginx:1.22") and not is_registry_ref("app")
    assert repository_of("golden/debian-base:12") == "golden/debian-base"
    assert repository_of("127.0.0.1:5000/a/b:t@sha256:" + "a" * 64) == "127.0.0.1:5000/a/b"


def test_local_image_by_digest_takes_the_tag_repository(layout: OCILayout) -> None:
    from bakery.errors import UserError
    from bakery.sign.refs import local_image

    image = synthetic_image(layout, "team/app:1")
    sign_image(layout, "team/app", image.digest, SigningKey.generate())
    assert local_image(layout, image.digest).repository == "team/app"
    assert local_image(layout, f"team/app@{image.digest}").repository == "team/app"
    layout.untag("team/app:1")
    with pytest.raises(UserError, match="repository is unknown"):
        local_image(layout, image.digest)


def test_missing_base_is_a_failed_check_not_a_crash(layout: OCILayout) -> None:
    key = SigningKey.generate()
    gone = "sha256:" + "0" * 64
    app = synthetic_image(layout, "team/app:1", base=("team/base:1", gone))
    _attest_all(layout, "team/app", app.digest, key)
    report = verify_image(
        LayoutSource(layout, "team/app"), app.digest, VerifyOptions(keys=(key.public_key,))
    )
    assert not report.passed and report.bases[0].digest == gone
    assert all(not c.passed for c in report.bases[0].checks)


def test_concurrent_signers_lose_nothing(layout: OCILayout) -> None:
    from concurrent.futures import ThreadPoolExecutor

    image = synthetic_image(layout, "team/app:1")
    keys = [SigningKey.generate() for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda k: sign_image(layout, "team/app", image.digest, k), keys))
    source = LayoutSource(layout, "team/app")
    assert len(read_layers(source, signature_tag(image.digest))) == 6
    assert all(find_signatures(source, image.digest, [k.public_key]).valid for k in keys)
