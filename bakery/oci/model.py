"""Strict, frozen models of the OCI documents Bakery reads and writes.

Every model here describes a document Bakery also *reads back* (from its own store, from a pulled
base image, from a layout another tool wrote), so unknown fields are kept (``extra="allow"``) and
survive re-serialisation. Field values are validated strictly: a size must be an integer, a
digest a well-formed sha256 digest. Python names are snake_case; the JSON names are aliases.

Bakery writes documents with :func:`canonical_json` only, so the same model always yields the same
bytes and therefore the same digest. Documents read from disk are never re-serialised to compute
their digest: the digest is always that of the stored bytes.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bakery.errors import StoreError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import is_digest


class _Document(BaseModel):
    """Base of every OCI document model: frozen, strict, keeps unknown fields."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow", strict=True)


class Platform(_Document):
    """The platform an image runs on (``platform`` of an index entry)."""

    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")


class Descriptor(_Document):
    """A typed, sized, content-addressed pointer to a blob (OCI image-spec descriptor.md)."""

    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    annotations: dict[str, str] | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")
    platform: Platform | None = None
    urls: list[str] | None = None
    data: str | None = None

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        if not is_digest(value):
            raise ValueError(f"'{value}' is not a sha256:<64 lowercase hex> digest")
        return value

    @property
    def ref_name(self) -> str | None:
        """The ``org.opencontainers.image.ref.name`` annotation (the tag in a layout), if any."""
        return (self.annotations or {}).get(mt.ANN_REF_NAME)


class ImageManifest(_Document):
    """An image manifest: one config and an ordered list of layers, base first."""

    schema_version: Literal[2] = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=mt.MANIFEST, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None

    @field_validator("media_type")
    @classmethod
    def _check_media_type(cls, value: str) -> str:
        if value not in mt.MANIFEST_TYPES:
            raise ValueError(f"'{value}' is not an image manifest media type")
        return value


class ImageIndex(_Document):
    """An image index: a list of manifests, typically one per platform (also ``index.json``)."""

    schema_version: Literal[2] = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=mt.INDEX, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None

    @field_validator("media_type")
    @classmethod
    def _check_media_type(cls, value: str) -> str:
        if value not in mt.INDEX_TYPES:
            raise ValueError(f"'{value}' is not an image index media type")
        return value


class ContainerConfig(_Document):
    """The execution parameters of an image (``config`` of an image config)."""

    user: str | None = Field(default=None, alias="User")
    exposed_ports: dict[str, dict[str, Any]] | None = Field(default=None, alias="ExposedPorts")
    env: list[str] | None = Field(default=None, alias="Env")
    entrypoint: list[str] | None = Field(default=None, alias="Entrypoint")
    cmd: list[str] | None = Field(default=None, alias="Cmd")
    volumes: dict[str, dict[str, Any]] | None = Field(default=None, alias="Volumes")
    working_dir: str | None = Field(default=None, alias="WorkingDir")
    labels: dict[str, str] | None = Field(default=None, alias="Labels")
    stop_signal: str | None = Field(default=None, alias="StopSignal")


class RootFS(_Document):
    """The layer DiffIDs (sha256 of each *uncompressed* layer tar), base first."""

    type: Literal["layers"] = "layers"
    diff_ids: list[str]

    @field_validator("diff_ids")
    @classmethod
    def _check_diff_ids(cls, value: list[str]) -> list[str]:
        bad = [diff_id for diff_id in value if not is_digest(diff_id)]
        if bad:
            raise ValueError(f"malformed diff_id '{bad[0]}'")
        return value


class History(_Document):
    """One history entry; entries without ``empty_layer`` map 1:1 onto ``rootfs.diff_ids``."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfig(_Document):
    """An image configuration (OCI image-spec config.md)."""

    created: str | None = None
    author: str | None = None
    architecture: str
    os: str
    variant: str | None = None
    config: ContainerConfig | None = None
    rootfs: RootFS
    history: list[History] | None = None


#: The bytes of the empty JSON blob and the descriptor every tool uses for it.
EMPTY_CONTENT = b"{}"
EMPTY_DESCRIPTOR = Descriptor(media_type=mt.EMPTY, digest=mt.EMPTY_DIGEST, size=2)


def canonical_json(model: BaseModel) -> bytes:
    """Deterministic JSON bytes of ``model``: aliases, no nulls, sorted keys, compact, UTF-8."""
    document = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _load_object(data: bytes, source: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object or raise a StoreError naming ``source``."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise StoreError(f"{source} is not a JSON object")
    return document


def _validation_message(exc: ValidationError) -> str:
    """The first validation problem as ``field.path: message``."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse_manifest(data: bytes, *, source: str = "manifest") -> ImageManifest | ImageIndex:
    """Parse an OCI or Docker v2 image manifest or index, dispatching on ``mediaType``.

    ``source`` names the document in error messages (e.g. its digest). Raises StoreError when
    the bytes are not JSON, the media type is not a manifest or index, or a field is invalid.
    """
    document = _load_object(data, source)
    media_type = document.get("mediaType")
    if media_type is None:  # mediaType is optional in older OCI documents
        media_type = mt.INDEX if "manifests" in document else mt.MANIFEST
    model: type[ImageManifest | ImageIndex]
    if media_type in mt.MANIFEST_TYPES:
        model = ImageManifest
    elif media_type in mt.INDEX_TYPES:
        model = ImageIndex
    else:
        raise StoreError(
            f"{source} has media type '{media_type}', which is not an image manifest or index",
            hint="Bakery reads OCI manifests/indexes and Docker v2 schema 2 manifests/lists",
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise StoreError(f"{source} is malformed: {_validation_message(exc)}") from exc


def parse_config(data: bytes, *, source: str = "image config") -> ImageConfig:
    """Parse an OCI (or Docker) image configuration; StoreError on junk."""
    document = _load_object(data, source)
    try:
        return ImageConfig.model_validate(document)
    except ValidationError as exc:
        raise StoreError(f"{source} is malformed: {_validation_message(exc)}") from exc


def parse_index(data: bytes, *, source: str = "index") -> ImageIndex:
    """Parse an image index such as a layout's ``index.json``; StoreError on junk."""
    document = parse_manifest(data, source=source)
    if not isinstance(document, ImageIndex):
        raise StoreError(f"{source} is an image manifest, not an image index")
    return document
