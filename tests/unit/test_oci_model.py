"""OCI document models: aliases, strictness, round-trips and canonical bytes."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bakery.errors import StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import sha256_digest
from bakery.oci.model import (
    EMPTY_CONTENT,
    EMPTY_DESCRIPTOR,
    ContainerConfig,
    Descriptor,
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Platform,
    RootFS,
    canonical_json,
    parse_config,
    parse_index,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _manifest() -> ImageManifest:
    return ImageManifest(
        config=Descriptor(media_type=mt.CONFIG, digest=D1, size=10),
        layers=[Descriptor(media_type=mt.LAYER_GZIP, digest=D2, size=20)],
        annotations={mt.ANN_CREATED: "1970-01-01T00:00:00Z"},
    )


def test_empty_descriptor_matches_its_content() -> None:
    assert sha256_digest(EMPTY_CONTENT) == mt.EMPTY_DIGEST == EMPTY_DESCRIPTOR.digest
    assert EMPTY_DESCRIPTOR.size == len(EMPTY_CONTENT) == 2
    assert canonical_json(EMPTY_DESCRIPTOR) == (
        b'{"digest":"' + mt.EMPTY_DIGEST.encode() + b'","mediaType":"' + mt.EMPTY.encode() + b'",'
        b'"size":2}'
    )


def test_canonical_json_is_sorted_compact_without_nulls() -> None:
    data = canonical_json(_manifest())
    assert data == canonical_json(_manifest())
    assert b" " not in data and b"null" not in data
    document = json.loads(data)
    assert list(document) == sorted(document)
    assert document["schemaVersion"] == 2
    assert document["mediaType"] == mt.MANIFEST
    assert "subject" not in document and "artifactType" not in document


def test_canonical_json_keeps_unicode_as_utf8() -> None:
    desc = Descriptor(media_type=mt.CONFIG, digest=D1, size=1, annotations={"k": "café"})
    assert "café".encode() in canonical_json(desc)


def test_round_trip_keeps_unknown_fields() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": mt.MANIFEST,
        "config": {"mediaType": mt.CONFIG, "digest": D1, "size": 10, "x-extra": [1, 2]},
        "layers": [{"mediaType": mt.LAYER_GZIP, "digest": D2, "size": 20}],
        "vendor.field": {"nested": True},
    }
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    parsed = parse_manifest(data)
    assert isinstance(parsed, ImageManifest)
    assert canonical_json(parsed) == data
    assert parse_manifest(canonical_json(parsed)) == parsed


def test_container_config_uses_docker_names() -> None:
    config = ContainerConfig(
        env=["PATH=/usr/bin"],
        cmd=["/bin/sh"],
        exposed_ports={"80/tcp": {}},
        working_dir="/srv",
        stop_signal="SIGTERM",
    )
    document = json.loads(canonical_json(config))
    assert document == {
        "Cmd": ["/bin/sh"],
        "Env": ["PATH=/usr/bin"],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGTERM",
        "WorkingDir": "/srv",
    }
    assert ContainerConfig.model_validate(document) == config


def test_docker_image_config_parses_and_keeps_extras() -> None:
    data = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["A=1"], "Cmd": None, "Healthcheck": {"Test": ["NONE"]}},
            "container_config": {"Hostname": "x"},
            "rootfs": {"type": "layers", "diff_ids": [D1]},
            "history": [{"created_by": "x", "empty_layer": True}],
        }
    ).encode()
    config = parse_config(data)
    assert config.config is not None and config.config.env == ["A=1"]
    assert config.rootfs.diff_ids == [D1]
    assert config.history is not None and config.history[0].empty_layer is True
    document = json.loads(canonical_json(config))
    assert document["container_config"] == {"Hostname": "x"}
    assert document["config"]["Healthcheck"] == {"Test": ["NONE"]}


def test_models_are_frozen_and_strict() -> None:
    desc = Descriptor(media_type=mt.CONFIG, digest=D1, size=1)
    with pytest.raises(ValidationError):
        desc.size = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Descriptor.model_validate({"mediaType": mt.CONFIG, "digest": D1, "size": "1"})
    with pytest.raises(ValidationError):
        Descriptor(media_type=mt.CONFIG, digest="sha256:abc", size=1)
    with pytest.raises(ValidationError):
        Descriptor(media_type=mt.CONFIG, digest=D1, size=-1)
    with pytest.raises(ValidationError):
        RootFS(diff_ids=["nope"])


def test_ref_name_property() -> None:
    desc = Descriptor(
        media_type=mt.MANIFEST, digest=D1, size=1, annotations={mt.ANN_REF_NAME: "a:1"}
    )
    assert desc.ref_name == "a:1"
    assert EMPTY_DESCRIPTOR.ref_name is None


def test_platform_aliases() -> None:
    platform = Platform.model_validate(
        {"architecture": "amd64", "os": "windows", "os.version": "10.0"}
    )
    assert platform.os_version == "10.0"
    assert json.loads(canonical_json(platform))["os.version"] == "10.0"


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        (mt.MANIFEST, ImageManifest),
        (mt.DOCKER_MANIFEST, ImageManifest),
        (mt.INDEX, ImageIndex),
        (mt.DOCKER_MANIFEST_LIST, ImageIndex),
    ],
)
def test_parse_manifest_dispatches_on_media_type(media_type: str, expected: type) -> None:
    body: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type}
    if expected is ImageIndex:
        body["manifests"] = [{"mediaType": mt.MANIFEST, "digest": D1, "size": 3}]
    else:
        body["config"] = {"mediaType": mt.DOCKER_CONFIG, "digest": D1, "size": 3}
        body["layers"] = []
    parsed = parse_manifest(json.dumps(body).encode())
    assert isinstance(parsed, expected)
    assert parsed.media_type == media_type


def test_parse_manifest_without_media_type() -> None:
    index = parse_manifest(b'{"schemaVersion":2,"manifests":[]}')
    assert isinstance(index, ImageIndex) and index.media_type == mt.INDEX
    manifest = parse_manifest(
        json.dumps(
            {"schemaVersion": 2, "config": {"mediaType": mt.CONFIG, "digest": D1, "size": 1}}
            | {"layers": []}
        ).encode()
    )
    assert isinstance(manifest, ImageManifest)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01junk", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"mediaType": "text/plain"}', "not an image manifest or index"),
        (b'{"schemaVersion": 1, "mediaType": "' + mt.MANIFEST.encode() + b'"}', "malformed"),
        (b'{"mediaType": "' + mt.MANIFEST.encode() + b'", "layers": []}', "config"),
        (
            b'{"mediaType": "' + mt.INDEX.encode() + b'", "manifests": [{"digest": "x"}]}',
            "manifests.0",
        ),
    ],
)
def test_parse_manifest_rejects_junk(data: bytes, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        parse_manifest(data, source="blob X")


def test_parse_index_rejects_a_manifest() -> None:
    with pytest.raises(StoreError, match="not an image index"):
        parse_index(canonical_json(_manifest()))


def test_parse_config_rejects_junk() -> None:
    with pytest.raises(StoreError, match="rootfs"):
        parse_config(b'{"architecture": "amd64", "os": "linux"}')


def test_image_config_round_trip_is_stable() -> None:
    config = ImageConfig(
        created="1970-01-01T00:00:00Z",
        architecture="arm64",
        os="linux",
        variant="v8",
        rootfs=RootFS(diff_ids=[D1, D2]),
    )
    data = canonical_json(config)
    assert canonical_json(parse_config(data)) == data
    assert sha256_digest(data) == sha256_digest(canonical_json(config.model_copy()))
