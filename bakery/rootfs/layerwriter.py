"""Layers into the store: a filesystem change written as a deterministic, compressed tar; a
cached layer re-compressed for another output (same diff_id); the step cache consulted for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bakery.oci.archive import open_layer_uncompressed
from bakery.oci.compress import LayerSink, media_type_for
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.oci.tarwriter import Change, write_layer_tar
from bakery.recipe.lock import LockedPackage
from bakery.rootfs import snapshot
from bakery.rootfs.cache import LayerRecord, StepCache, cache_key

#: what an image's layers are compressed with (the first ``oci`` output's choice)
Compression = Literal["gzip", "zstd"]


@dataclass(frozen=True)
class LayerWriter:
    """Writes one bake's layers in ``compression``, timestamps clamped to ``epoch``."""

    layout: OCILayout
    cache: StepCache
    compression: Compression
    epoch: int
    use_cache: bool = True

    def cached(self, key: str) -> LayerRecord | None:
        """The step cache's layer for ``key`` in this compression (re-compressing a layer
        cached in another), or None on a miss (always, without the cache)."""
        if not self.use_cache:
            return None
        record = self.cache.get_layer(key)
        if record is not None and self.compression not in record.blobs:
            record = self.transcode(record, self.compression)
            self.cache.put_layer(key, record)
        return record

    def write(
        self,
        rootfs: Path,
        changes: list[Change],
        created_by: str,
        packages: list[LockedPackage] | tuple[LockedPackage, ...],
    ) -> LayerRecord:
        """``changes`` of ``rootfs`` as a layer blob in the store."""
        with self.layout.blob_writer() as writer, LayerSink(writer, self.compression) as sink:
            write_layer_tar(
                rootfs, changes, sink, source_date_epoch=self.epoch, content_override=_emptied
            )
        desc = Descriptor(
            media_type=media_type_for(self.compression), digest=writer.digest, size=writer.size
        )
        return LayerRecord(
            diff_id=sink.diff_id,
            blobs={self.compression: desc},
            created_by=created_by,
            packages=tuple(packages),
        )

    def transcode(self, record: LayerRecord, to: Compression) -> LayerRecord:
        """``record`` with a blob in ``to`` as well (same diff_id)."""
        source = next(iter(record.blobs.values()))
        with (
            open_layer_uncompressed(self.layout, source) as stream,
            self.layout.blob_writer() as writer,
            LayerSink(writer, to) as sink,
        ):
            while chunk := stream.read(1 << 20):
                sink.write(chunk)
        desc = Descriptor(media_type=media_type_for(to), digest=writer.digest, size=writer.size)
        return record.model_copy(update={"blobs": {**record.blobs, to: desc}})

    def for_output(self, diff_id: str, desc: Descriptor, compression: Compression) -> Descriptor:
        """The blob of one of this bake's layers (``desc``) for an output compressed with
        ``compression``: itself, or a cached or new re-compression."""
        if compression == self.compression:
            return desc
        key = cache_key("transcode", desc.digest, compression)
        record = self.cache.get_layer(key)
        if record is None:
            base = LayerRecord(diff_id=diff_id, blobs={self.compression: desc}, created_by="")
            record = self.transcode(base, compression)
            self.cache.put_layer(key, record)
        return record.blobs[compression]


def _emptied(path: str) -> bytes | None:
    return b"" if path in snapshot.EMPTIED_FILES else None
