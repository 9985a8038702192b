"""Export an image from the store as an ``oci-archive`` or a ``docker load``-able tar.

Both exports stream: blobs are copied (and layers decompressed) in 1 MiB chunks, never held whole
in memory. The tar is deterministic (sorted entries, GNU format, mtime 0, uid/gid 0, no user or
group names) and is written to a temp file next to ``out`` that is renamed into place only once
complete, so ``out`` is never a partial archive.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import zstandard

from bakery.errors import BakeryError, StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.compress import open_decompressed
from bakery.oci.digest import PREFIX, digest_hex, is_digest
from bakery.oci.layout import LAYOUT_CONTENT, OCILayout, fsync_dir
from bakery.oci.model import Descriptor, ImageIndex, ImageManifest, canonical_json

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE = 1 << 20
ARCHIVE_MODE = 0o644

_DOCKER_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOCKER_DOMAIN = r"(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+(?=:))(?::[0-9]+)?"
_DOCKER_REPO_TAG_RE = re.compile(
    rf"(?P<repo>(?:{_DOCKER_DOMAIN}/)?{_DOCKER_COMPONENT}(?:/{_DOCKER_COMPONENT})*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?"
)
_DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)


class _LayerReader(io.RawIOBase):
    """The uncompressed bytes of a layer blob; decompression errors become StoreError."""

    def __init__(self, stream: BinaryIO, blob: BinaryIO, digest: str) -> None:
        super().__init__()
        self._stream = stream
        self._blob = blob
        self._digest = digest

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Decompress into ``buffer``."""
        view = memoryview(buffer).cast("B")
        try:
            data = self._stream.read(len(view))
        except _DECOMPRESSION_ERRORS as exc:
            raise StoreError(
                f"layer {self._digest} cannot be decompressed: {exc}",
                hint="re-bake or re-pull the image that uses it",
            ) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the decompressor and the blob."""
        try:
            self._stream.close()
        finally:
            self._blob.close()
            super().close()


def open_layer_uncompressed(layout: OCILayout, desc: Descriptor) -> BinaryIO:
    """A streaming reader of the uncompressed tar of the layer ``desc``.

    Handles OCI tar, tar+gzip and tar+zstd and Docker tar and gzip layers. Reading it to the end
    also verifies the stored blob against its digest (StoreError if corrupt or undecodable).
    """
    if desc.media_type not in mt.LAYER_TYPES:
        raise StoreError(f"blob {desc.digest} has media type {desc.media_type}, not a layer")
    blob = layout.open_blob(desc.digest)
    if desc.media_type in (mt.LAYER_TAR, mt.DOCKER_LAYER_TAR):
        return blob
    reader = _LayerReader(open_decompressed(blob, desc.media_type), blob, desc.digest)
    return io.BufferedReader(reader, buffer_size=CHUNK_SIZE)


class _TarWriter:
    """Writes a deterministic tar (GNU format, mtime 0, root-owned) to a seekable file."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    @staticmethod
    def _header(name: str, size: int, *, directory: bool = False) -> bytes:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        info.mode = 0o755 if directory else 0o644
        info.size = size
        info.mtime = 0
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")

    def _pad(self, size: int) -> None:
        self._out.write(bytes(-size % tarfile.BLOCKSIZE))

    def add_dir(self, name: str) -> None:
        """A directory entry (mode 755)."""
        self._out.write(self._header(name, 0, directory=True))

    def add_bytes(self, name: str, data: bytes) -> None:
        """A regular file with ``data``."""
        self._out.write(self._header(name, len(data)))
        self._out.write(data)
        self._pad(len(data))

    def add_stream(self, name: str, source: BinaryIO, size: int) -> None:
        """A regular file of exactly ``size`` bytes copied from ``source``, which must end there."""
        self._out.write(self._header(name, size))
        remaining = size
        while remaining:
            chunk = source.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise StoreError(f"{name} is {size - remaining} bytes, expected {size}")
            self._out.write(chunk)
            remaining -= len(chunk)
        if source.read(1):
            raise StoreError(f"{name} is longer than the {size} bytes expected")
        self._pad(size)

    def add_generated(self, name: str, produce: Callable[[BinaryIO], None]) -> None:
        """A regular file whose bytes ``produce`` writes; its size is patched in afterwards."""
        header_at = self._out.tell()
        self._out.write(self._header(name, 0))
        start = self._out.tell()
        produce(self._out)
        end = self._out.tell()
        self._pad(end - start)
        finished = self._out.tell()
        self._out.seek(header_at)
        self._out.write(self._header(name, end - start))  # same length: the name is unchanged
        self._out.seek(finished)

    def finish(self) -> None:
        """The end-of-archive marker, padded to a whole tar record."""
        self._out.write(bytes(2 * tarfile.BLOCKSIZE))
        self._out.write(bytes(-self._out.tell() % tarfile.RECORDSIZE))


@contextlib.contextmanager
def _atomic_output(out: Path) -> Iterator[BinaryIO]:
    """A seekable temp file next to ``out``, renamed to ``out`` if the block succeeds."""
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc}") from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), ARCHIVE_MODE)
        tmp.replace(out)
        fsync_dir(out.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BakeryError(f"cannot write {out}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _archive_ref_name(ref: str) -> str | None:
    """The tag part of ``ref`` (``golden/debian-base:12`` → ``12``); None for digest refs."""
    if is_digest(ref) or f"@{PREFIX}" in ref:
        return None
    return ref.rpartition("/")[2].partition(":")[2] or "latest"


def export_oci_archive(layout: OCILayout, ref: str, out: Path) -> None:
    """Write the image ``ref`` as an oci-archive: a tar of an OCI layout holding just it.

    The archive's index.json carries ``ref``'s tag part as ``org.opencontainers.image.ref.name``
    (so ``skopeo copy oci-archive:OUT:TAG`` works), none for a digest ref.
    """
    desc = layout.resolve(ref)
    blobs = sorted(layout.walk_referenced(desc), key=lambda d: d.digest)
    annotations = dict(desc.annotations or {})
    annotations.pop(mt.ANN_REF_NAME, None)
    ref_name = _archive_ref_name(ref)
    if ref_name is not None:
        annotations[mt.ANN_REF_NAME] = ref_name
    entry = desc.model_copy(update={"annotations": annotations or None})
    with _atomic_output(out) as file:
        tar = _TarWriter(file)
        tar.add_dir("blobs")
        tar.add_dir("blobs/sha256")
        for blob in blobs:
            with layout.open_blob(blob.digest) as source:
                tar.add_stream(f"blobs/sha256/{digest_hex(blob.digest)}", source, blob.size)
        tar.add_bytes("index.json", canonical_json(ImageIndex(manifests=[entry])))
        tar.add_bytes("oci-layout", LAYOUT_CONTENT)
        tar.finish()


def _split_repo_tag(repo_tag: str) -> tuple[str, str]:
    """``(repository, tag)`` of a Docker ``name[:tag]`` (tag defaults to ``latest``)."""
    match = _DOCKER_REPO_TAG_RE.fullmatch(repo_tag)
    if match is None:
        raise UserError(
            f"'{repo_tag}' is not a valid Docker image name",
            hint="use lowercase [registry/]name[:tag], e.g. golden/debian-base:12",
        )
    return match["repo"], match["tag"] or "latest"


def _image_manifest(layout: OCILayout, desc: Descriptor, ref: str) -> ImageManifest:
    """The single image manifest ``desc`` is or (as a one-image index) contains."""
    document = layout.read_manifest(desc)
    if isinstance(document, ImageManifest):
        return document
    images = [d for d in document.manifests if d.media_type in mt.MANIFEST_TYPES]
    if len(images) != 1:
        choices = ", ".join(
            f"{d.digest} ({d.platform.os}/{d.platform.architecture})" if d.platform else d.digest
            for d in images
        )
        raise UserError(
            f"'{ref}' is an index of {len(images)} images; a docker-archive holds exactly one",
            hint=f"export one of them by digest: {choices}" if images else None,
        )
    return _image_manifest(layout, images[0], ref)


def _copy_uncompressed(layout: OCILayout, desc: Descriptor, diff_id: str, out: BinaryIO) -> None:
    """Stream the uncompressed layer ``desc`` to ``out``, checking it hashes to ``diff_id``."""
    digest = hashlib.sha256()
    with open_layer_uncompressed(layout, desc) as source:
        while chunk := source.read(CHUNK_SIZE):
            digest.update(chunk)
            out.write(chunk)
    actual = PREFIX + digest.hexdigest()
    if actual != diff_id:
        raise StoreError(
            f"layer {desc.digest} uncompresses to {actual}, but the image config says {diff_id}",
            hint="the image is inconsistent; re-bake or re-pull it",
        )


def export_docker_archive(layout: OCILayout, ref: str, out: Path, *, repo_tag: str) -> None:
    """Write the image ``ref`` as a ``docker load``-able tar tagged ``repo_tag``.

    Layers are stored uncompressed as ``<diff_id hex>/layer.tar``; each is verified against its
    diff_id while it is written (StoreError on mismatch, and ``out`` is left untouched).
    """
    repository, tag = _split_repo_tag(repo_tag)
    manifest = _image_manifest(layout, layout.resolve(ref), ref)
    config_digest = manifest.config.digest
    diff_ids = layout.read_config(manifest).rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise StoreError(
            f"image '{ref}' has {len(manifest.layers)} layers but {len(diff_ids)} diff_ids"
        )
    config_name = f"{digest_hex(config_digest)}.json"
    layer_names = [f"{digest_hex(diff_id)}/layer.tar" for diff_id in diff_ids]
    docker_manifest = [
        {"Config": config_name, "RepoTags": [f"{repository}:{tag}"], "Layers": layer_names}
    ]
    repositories = {repository: {tag: digest_hex(diff_ids[-1])}} if diff_ids else {}
    entries: dict[str, Callable[[_TarWriter], None]] = {
        config_name: lambda tar: tar.add_bytes(config_name, layout.read_blob(config_digest)),
        "manifest.json": lambda tar: tar.add_bytes("manifest.json", _json(docker_manifest)),
        "repositories": lambda tar: tar.add_bytes("repositories", _json(repositories)),
    }
    for layer, diff_id in zip(manifest.layers, diff_ids, strict=True):
        layer_dir = digest_hex(diff_id)
        produce = functools.partial(_copy_uncompressed, layout, layer, diff_id)
        entries[layer_dir] = functools.partial(_TarWriter.add_dir, name=layer_dir)
        entries[f"{layer_dir}/layer.tar"] = functools.partial(
            _TarWriter.add_generated, name=f"{layer_dir}/layer.tar", produce=produce
        )
    with _atomic_output(out) as file:
        tar = _TarWriter(file)
        for name in sorted(entries):
            entries[name](tar)
        tar.finish()


def _json(document: object) -> bytes:
    """Compact, key-sorted JSON bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
