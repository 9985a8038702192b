"""Disks in the OCI store: an artifact manifest (artifactType ``application/vnd.bakery.disk.v1``)
with one layer whose media type names the format, its subject the image made from the same
rootfs, and annotations recording the raw disk's digest. Raw disks are stored zstd-compressed
(most of a raw disk is zeros); ``bakery export`` gives back the exact file in any format.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError

from bakery.disk.convert import FORMATS, Format, convert
from bakery.disk.image import BuiltDisk
from bakery.errors import StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.compress import LayerSink, open_decompressed
from bakery.oci.layout import OCILayout
from bakery.oci.model import EMPTY_CONTENT, EMPTY_DESCRIPTOR, Descriptor, ImageManifest

ARTIFACT_TYPE = "application/vnd.bakery.disk.v1"
LAYER_PREFIX = "application/vnd.bakery.disk.layer.v1."
ANN_FORMAT = "dev.bakery.disk.format"
ANN_RAW_DIGEST = "dev.bakery.disk.raw.digest"
ANN_RAW_SIZE = "dev.bakery.disk.raw.size"
ANN_DIGEST = "dev.bakery.disk.digest"
ANN_FILE_SIZE = "dev.bakery.disk.size"
ANN_BOOT = "dev.bakery.disk.boot"
ANN_ROOT_UUID = "dev.bakery.disk.root.uuid"
CHUNK = 1 << 20


def layer_media_type(fmt: Format) -> str:
    """The layer media type of a disk in ``fmt`` (raw disks are stored zstd-compressed)."""
    return LAYER_PREFIX + ("raw+zstd" if fmt == "raw" else fmt)


def format_of(media_type: str) -> Format:
    """The disk format a layer media type names; UserError for anything else."""
    name = media_type.removeprefix(LAYER_PREFIX).removesuffix("+zstd")
    for fmt in FORMATS:
        if media_type.startswith(LAYER_PREFIX) and name == fmt:
            return fmt
    raise UserError(f"'{media_type}' is not a Bakery disk layer")


def store_disk_file(layout: OCILayout, disk: BuiltDisk) -> Descriptor:
    """Stream the disk file into the store; its layer descriptor, annotated with the facts."""
    with disk.path.open("rb") as src, layout.blob_writer() as writer:
        if disk.format == "raw":
            with LayerSink(writer, "zstd") as sink:
                while chunk := src.read(CHUNK):
                    sink.write(chunk)
        else:
            while chunk := src.read(CHUNK):
                writer.write(chunk)
    facts = {
        ANN_FORMAT: disk.format,
        ANN_DIGEST: disk.digest,
        ANN_FILE_SIZE: str(disk.size),
        ANN_RAW_DIGEST: disk.raw.digest,
        ANN_RAW_SIZE: str(disk.raw.size),
        ANN_BOOT: disk.raw.boot or "none",
        ANN_ROOT_UUID: disk.raw.geometry.root_fs_uuid,
    }
    return Descriptor(
        media_type=layer_media_type(disk.format),
        digest=writer.digest,
        size=writer.size,
        annotations={mt.ANN_TITLE: f"disk.{disk.format}", **facts},
    )


def store_disk_manifest(
    layout: OCILayout, layer: Descriptor, *, subject: Descriptor, annotations: dict[str, str]
) -> Descriptor:
    """The artifact manifest of a stored disk file, its subject the image of the same rootfs."""
    layout.put_blob(EMPTY_CONTENT, mt.EMPTY)
    facts = {k: v for k, v in (layer.annotations or {}).items() if k.startswith("dev.bakery.")}
    manifest = ImageManifest(
        artifact_type=ARTIFACT_TYPE,
        config=EMPTY_DESCRIPTOR,
        layers=[layer],
        subject=subject,
        annotations={**annotations, **facts},
    )
    return layout.put_json(manifest, mt.MANIFEST)


@dataclass(frozen=True)
class StoredDisk:
    """A disk artifact read back from the store."""

    manifest: ImageManifest
    layer: Descriptor
    format: Format


def read_disk(layout: OCILayout, ref: str) -> StoredDisk:
    """The disk artifact ``ref`` names; UserError if it is not one."""
    manifest = layout.read_manifest(layout.resolve(ref))
    if not isinstance(manifest, ImageManifest) or manifest.artifact_type != ARTIFACT_TYPE:
        raise UserError(
            f"{ref} is not a disk image",
            hint="disk images are tagged by recipes with a disk output (see `bakery images`)",
        )
    if len(manifest.layers) != 1:
        raise StoreError(f"disk artifact {ref} has {len(manifest.layers)} layers, expected 1")
    layer = manifest.layers[0]
    return StoredDisk(manifest=manifest, layer=layer, format=format_of(layer.media_type))


def export_disk(layout: OCILayout, ref: str, fmt: Format, output: Path) -> None:
    """Write the disk ``ref`` to ``output`` in ``fmt`` (converting with qemu-img if needed).

    The file appears complete or not at all: it is written beside ``output`` and renamed.
    """
    stored = read_disk(layout, ref)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    source = output.with_name(f".{output.name}.{os.getpid()}.src")
    try:
        target = tmp if stored.format == fmt else source
        extract(layout, stored.layer, target)
        if stored.format != fmt:
            convert(source, fmt, tmp, source_format=stored.format)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
        source.unlink(missing_ok=True)


def extract(layout: OCILayout, layer: Descriptor, dest: Path) -> None:
    """The stored disk file of ``layer``, verified against its digest, decompressed if raw."""
    with layout.open_blob(layer.digest) as blob, dest.open("wb") as out:
        if format_of(layer.media_type) == "raw":
            with open_decompressed(blob, mt.LAYER_ZSTD) as raw:
                _copy_sparse(raw, out)
        else:
            shutil.copyfileobj(blob, out, CHUNK)


def _copy_sparse(reader: BinaryIO, writer: BinaryIO) -> None:
    """Copy a stream, leaving runs of zeros as holes (a raw disk stays sparse on disk)."""
    zeros = bytes(CHUNK)
    size = 0
    while chunk := reader.read(CHUNK):
        if chunk == zeros[: len(chunk)]:
            writer.seek(len(chunk), os.SEEK_CUR)
        else:
            writer.write(chunk)
        size += len(chunk)
    writer.truncate(size)


class DiskRecord(BaseModel):
    """A cached disk: the stored disk file made for a rootfs and a disk definition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layer: Descriptor


def read_record(cache_dir: Path, key: str, layout: OCILayout) -> DiskRecord | None:
    """The cached disk for ``key`` if its blobs are all still in the store."""
    try:
        record = DiskRecord.model_validate_json((cache_dir / "disk" / f"{key}.json").read_bytes())
    except (OSError, ValidationError):
        return None
    return record if layout.has_blob(record.layer.digest) else None


def write_record(cache_dir: Path, key: str, record: DiskRecord) -> None:
    """Remember a stored disk (written atomically)."""
    path = cache_dir / "disk" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(record.model_dump_json(by_alias=True).encode())
    os.replace(tmp, path)
