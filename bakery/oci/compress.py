"""Layer compression: the diff_id and the compressed blob of a layer tar in one streaming pass.

Both compressors are chosen so that the same tar gives byte-identical blobs on any machine
(standards.md §7):

* zstd — the ``zstandard`` bindings at a fixed level, multi-threaded. With one worker or more,
  zstd cuts the input into jobs whose size depends only on the compression parameters, so the
  output is the same for any thread count (``tests/unit/test_compress.py`` proves it for 1, 2
  and 4 threads and for any write chunking); ``threads=0`` (the single-threaded mode) would
  give *different* bytes, so we never use it. The bytes may still change with the zstd library
  version, like every compressor's.
* gzip — ``pigz -n`` as a streaming subprocess: no name and a zero mtime in the header, OS byte
  3, fixed 128 KiB blocks, so its output does not depend on ``-p`` (also tested). Python's
  ``gzip``/``zlib`` are single-threaded and several times slower.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from types import TracebackType
from typing import BinaryIO, Literal, cast

import zstandard

from bakery.errors import UserError
from bakery.oci import mediatypes
from bakery.oci.tarwriter import SupportsWrite
from bakery.proc import Pipe

Compression = Literal["gzip", "zstd", "none"]

#: gzip 5 is the containers/image default: on a Debian rootfs it is 0.8 % larger than 6 and
#: 1.6x faster (benchmarks/results.md); zstd 3 is zstd's own default
DEFAULT_LEVELS: dict[Compression, int] = {"zstd": 3, "gzip": 5, "none": 0}

_MEDIA_TYPES: dict[Compression, str] = {
    "gzip": mediatypes.LAYER_GZIP,
    "zstd": mediatypes.LAYER_ZSTD,
    "none": mediatypes.LAYER_TAR,
}


def media_type_for(compression: Compression) -> str:
    """The OCI layer media type of a blob compressed with ``compression``."""
    return _MEDIA_TYPES[compression]


def _threads() -> int:
    """Compression threads: every CPU (the output does not depend on it, see module doc)."""
    return max(1, os.cpu_count() or 1)


class LayerSink:
    """Takes an uncompressed layer tar through :meth:`write`; hashes it (the diff_id) and
    writes its compressed form to ``out``. :attr:`diff_id` and :attr:`uncompressed_size` are
    valid after :meth:`close`, which flushes the compressor (it does not close ``out``).
    """

    def __init__(
        self, out: SupportsWrite, compression: Compression, *, level: int | None = None
    ) -> None:
        self.compression = compression
        self.level = DEFAULT_LEVELS[compression] if level is None else level
        self.uncompressed_size = 0
        self._out = out
        self._hash = hashlib.sha256()
        self._closed = False
        self._zstd: zstandard.ZstdCompressionObj | None = None
        self._pipe: Pipe | None = None
        if compression == "zstd":
            cctx = zstandard.ZstdCompressor(
                level=self.level, threads=_threads(), write_checksum=True
            )
            self._zstd = cctx.compressobj()
        elif compression == "gzip":
            argv = ["pigz", "-n", f"-{self.level}", "-p", str(_threads()), "-c"]
            self._pipe = Pipe(argv, out.write)

    @property
    def diff_id(self) -> str:
        """``sha256:<hex>`` of everything written (the uncompressed tar); valid after close."""
        if not self._closed:
            raise RuntimeError("LayerSink.diff_id read before close()")
        return "sha256:" + self._hash.hexdigest()

    def write(self, data: bytes | memoryview) -> int:
        """Hash ``data`` and pass it to the compressor; returns ``len(data)``."""
        self._hash.update(data)
        self.uncompressed_size += len(data)
        if self._zstd is not None:
            chunk = self._zstd.compress(cast(bytes, data))
            if chunk:
                self._out.write(chunk)
        elif self._pipe is not None:
            self._pipe.write(data)
        else:
            self._out.write(data)
        return len(data)

    def close(self) -> None:
        """End the compressed stream (flushing the compressor); idempotent."""
        if self._closed:
            return
        if self._zstd is not None:
            self._out.write(self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        elif self._pipe is not None:
            self._pipe.close()
        self._closed = True

    def abort(self) -> None:
        """Give up: stop the compressor without producing a valid stream."""
        if self._pipe is not None and not self._closed:
            self._pipe.kill()
        self._closed = True

    def __enter__(self) -> LayerSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_decompressed(f: BinaryIO, media_type: str) -> BinaryIO:
    """A streaming reader of the uncompressed tar inside a layer blob of ``media_type``."""
    if media_type in (mediatypes.LAYER_GZIP, mediatypes.DOCKER_LAYER_GZIP):
        return cast(BinaryIO, gzip.GzipFile(fileobj=f, mode="rb"))
    if media_type == mediatypes.LAYER_ZSTD:
        dctx = zstandard.ZstdDecompressor()
        return dctx.stream_reader(f, read_size=1 << 20, read_across_frames=True)
    if media_type in (mediatypes.LAYER_TAR, mediatypes.DOCKER_LAYER_TAR):
        return f
    raise UserError(
        f"unsupported layer media type '{media_type}'",
        hint="Bakery reads OCI and Docker layers that are plain tar, gzip or zstd",
    )
