"""The local content-addressed store: an OCI image layout (OCI image-spec image-layout.md).

The directory is a plain OCI image layout that skopeo and umoci can read::

    <root>/oci-layout        {"imageLayoutVersion":"1.0.0"}
    <root>/index.json        an image index; tags are org.opencontainers.image.ref.name annotations
    <root>/blobs/sha256/<hex>
    <root>/.lock             flock'ed while index.json is read-modify-written
    <root>/.tmp/             temp files of in-flight writes, each flock'ed by its writer

Crash safety: a bake may be SIGKILLed at any instant. Every file is written to a temp file, fsynced
and renamed into place, then its directory is fsynced, so a reader only ever sees complete blobs
and complete index.json files. A tag is only added once every blob it reaches is present, so the
index never points at missing content. A killed writer leaves at most a temp file in ``.tmp/``,
which :meth:`OCILayout.remove_temp_files` deletes (live writers hold an flock on theirs, and are
skipped). OCILayout never deletes blobs.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from pydantic import BaseModel

from bakery.errors import ReferenceNotFound, StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import PREFIX, digest_hex, sha256_digest, sha256_file, validate_digest
from bakery.oci.model import (
    Descriptor,
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Platform,
    canonical_json,
    parse_config,
    parse_index,
    parse_manifest,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE = 1 << 20
MAX_DOCUMENT_SIZE = 16 << 20
MAX_MANIFEST_SIZE = 4 << 20
FILE_MODE = 0o644
LOCK_FILE = ".lock"
TMP_DIR = ".tmp"
INDEX_FILE = "index.json"
LAYOUT_FILE = "oci-layout"
#: the content of ``oci-layout``
LAYOUT_CONTENT = json.dumps(
    {"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}, separators=(",", ":")
).encode()

_COMPONENT = r"[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*"
_REF_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HEX_RE = re.compile(r"[0-9a-f]{64}")


def validate_ref_name(ref_name: str) -> str:
    """Return ``ref_name`` if it matches the OCI ``ref.name`` grammar, else raise UserError."""
    if _REF_NAME_RE.fullmatch(ref_name) is None:
        raise UserError(
            f"'{ref_name}' is not a valid image name",
            hint="use letters and digits separated by '/', '-', '.', '_', ':', '@', '+' or '--',"
            " e.g. golden/debian-base:12",
        )
    return ref_name


@dataclass(frozen=True)
class Problem:
    """One finding of :meth:`OCILayout.check`; ``location`` is a path or a digest."""

    severity: Literal["error", "warning"]
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.location}: {self.message}"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in the directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    """True when ``path`` still names the file open as ``fd``."""
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def _new_locked_temp(directory: Path, prefix: str) -> tuple[BinaryIO, Path]:
    """A new temp file in ``directory``, open for writing and flock'ed to mark a live writer.

    A cleaner may delete the file between its creation and our flock; then we start over.
    """
    try:
        directory.mkdir(exist_ok=True)
        while True:
            fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = Path(name)
            if _same_file(path, fd):
                os.fchmod(fd, FILE_MODE)
                return os.fdopen(fd, "wb", buffering=CHUNK_SIZE), path
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot create a temporary file in {directory}: {exc}") from exc


@contextlib.contextmanager
def _claim_stale(path: Path) -> Iterator[bool]:
    """Yield True, holding its flock, if ``path`` is a temp file no live writer holds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield _same_file(path, fd)
    finally:
        os.close(fd)


#: bytes a blob writer lets pile up in the page cache before it starts writing them back
WRITEBACK_SIZE = 8 << 20
#: pieces this large skip the file's buffer: copying them into it would hold the GIL, while
#: ``os.write`` copies them into the page cache with the GIL released (a pull's 4 streams)
DIRECT_WRITE_SIZE = 64 << 10


class BlobWriter:
    """Streams one blob into a locked temp file, hashing as it goes (see ``blob_writer``)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._hash = hashlib.sha256()
        self._size = 0
        self._written_back = 0
        self._digest: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data`` to the blob; returns the number of bytes written."""
        count = memoryview(data).nbytes
        try:
            if count >= DIRECT_WRITE_SIZE:
                self._file.flush()
                view = memoryview(data).cast("B")
                fd = self._file.fileno()
                while view:
                    view = view[os.write(fd, view) :]
            else:
                self._file.write(data)
        except OSError as exc:
            raise StoreError(f"cannot write a blob: {exc}") from exc
        self._hash.update(data)
        self._size += count
        if self._size - self._written_back >= WRITEBACK_SIZE:
            self._start_writeback()
        return count

    def _start_writeback(self) -> None:
        """Have the kernel start writing what we wrote so far, without waiting for it.

        The final fsync then finds little left to do, instead of the whole blob: for a large
        blob, writing to disk overlaps receiving. ``POSIX_FADV_DONTNEED`` starts asynchronous
        writeback of dirty pages on Linux (PostgreSQL's ``pg_flush_data`` uses it where
        ``sync_file_range`` is missing; Python has no ``sync_file_range``).
        """
        try:
            self._file.flush()
            os.posix_fadvise(
                self._file.fileno(),
                self._written_back,
                self._size - self._written_back,
                os.POSIX_FADV_DONTNEED,
            )
        except OSError as exc:
            raise StoreError(f"cannot write a blob: {exc}") from exc
        self._written_back = self._size

    def tell(self) -> int:
        """Bytes written so far."""
        return self._size

    @property
    def size(self) -> int:
        """The blob's size (bytes written so far, until the writer is closed)."""
        return self._size

    @property
    def digest(self) -> str:
        """The blob's digest; available once the ``blob_writer`` block has exited cleanly."""
        if self._digest is None:
            raise RuntimeError("BlobWriter.digest read before the blob was committed")
        return self._digest

    def _seal(self) -> str:
        """Flush and fsync the temp file and fix the digest."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write a blob: {exc}") from exc
        self._digest = PREFIX + self._hash.hexdigest()
        return self._digest


class _VerifyingReader(io.RawIOBase):
    """Reads a blob file and raises StoreError once it has read all of it, if the hash is wrong."""

    def __init__(self, file: io.FileIO, digest: str) -> None:
        super().__init__()
        self._file = file
        self._digest = digest
        self._hash = hashlib.sha256()
        self._remaining = os.fstat(self._file.fileno()).st_size
        self._verified = False

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into ``buffer``, hashing; verify when the whole file has been read."""
        count = self._file.readinto(buffer) or 0
        self._hash.update(memoryview(buffer)[:count])
        self._remaining -= count
        if count == 0 or self._remaining <= 0:
            self._verify()
        return count

    def _verify(self) -> None:
        if self._verified:
            return
        self._verified = True
        actual = PREFIX + self._hash.hexdigest()
        if actual != self._digest:
            raise StoreError(
                f"blob {self._digest} is corrupted: its content hashes to {actual}",
                hint="re-bake or re-pull the image that uses it",
            )

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()
        super().close()


def _tag_candidates(ref: str) -> list[str]:
    """The tag names ``ref`` may mean: itself, and ``ref:latest`` when it has no tag."""
    return [ref] if ":" in ref.rpartition("/")[2] else [ref, f"{ref}:latest"]


def _repository(ref: str) -> str:
    """``ref`` without its ``:tag``."""
    head, _, last = ref.rpartition("/")
    name = last.partition(":")[0]
    return f"{head}/{name}" if head else name


def _near_matches_hint(ref: str, names: list[str]) -> str:
    """A hint naming tags that look like ``ref``."""
    near = {name for name in names if _repository(name) == _repository(ref)}
    near.update(difflib.get_close_matches(ref, names, n=3, cutoff=0.6))
    listing = "`bakery images` lists the images in the store"
    if not near:
        return listing
    return f"did you mean {', '.join(sorted(near)[:5])}? {listing}"


def _children(document: ImageManifest | ImageIndex) -> list[Descriptor]:
    """The descriptors a manifest (config, layers) or an index (manifests) points at."""
    if isinstance(document, ImageIndex):
        return list(document.manifests)
    return [document.config, *document.layers]


def _is_manifest_type(media_type: str) -> bool:
    return media_type in mt.MANIFEST_TYPES or media_type in mt.INDEX_TYPES


def _index_order(desc: Descriptor) -> tuple[str, str]:
    return (desc.ref_name or "", desc.digest)


class OCILayout:
    """An OCI image layout on disk, written crash-safely. Create it with :meth:`open`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs" / "sha256"
        self.tmp_dir = root / TMP_DIR

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, create: bool = True) -> OCILayout:
        """Open the layout at ``root``, creating an empty one there if ``create`` is set."""
        layout = cls(root)
        has_layout = (root / LAYOUT_FILE).is_file()
        if not has_layout or not (root / INDEX_FILE).is_file():
            if has_layout or not create:
                raise StoreError(
                    f"{root} is not an OCI image layout (no {LAYOUT_FILE} or {INDEX_FILE})",
                    hint="point Bakery at its store directory, or let it create a new one",
                )
            layout._create()
        layout._check_layout_version()
        return layout

    def _create(self) -> None:
        """Create the layout files; index.json first, oci-layout last (it marks completeness)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._exclusive():
                self.blob_dir.mkdir(parents=True, exist_ok=True)
                if not (self.root / INDEX_FILE).exists():
                    self._write_atomic(INDEX_FILE, canonical_json(ImageIndex(manifests=[])))
                if not (self.root / LAYOUT_FILE).exists():
                    self._write_atomic(LAYOUT_FILE, LAYOUT_CONTENT)
        except OSError as exc:
            raise StoreError(f"cannot create an OCI layout at {self.root}: {exc}") from exc

    def _check_layout_version(self) -> None:
        path = self.root / LAYOUT_FILE
        try:
            version = json.loads(path.read_bytes()).get("imageLayoutVersion")
        except (OSError, ValueError, AttributeError) as exc:
            raise StoreError(f"{path} is unreadable or malformed: {exc}") from exc
        if version != mt.OCI_LAYOUT_VERSION:
            raise StoreError(
                f"{path} declares imageLayoutVersion {version!r}; "
                f"Bakery reads {mt.OCI_LAYOUT_VERSION}"
            )

    # -- low-level file handling -----------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the layout-wide flock that serialises index.json updates."""
        try:
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise StoreError(f"cannot lock {self.root}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write_atomic(self, name: str, data: bytes) -> None:
        """Replace ``<root>/<name>`` with ``data``: temp file, fsync, rename, fsync dir."""
        file, tmp = _new_locked_temp(self.tmp_dir, f"{name}-")
        try:
            with file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
                tmp.replace(self.root / name)
            fsync_dir(self.root)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {self.root / name}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # -- blobs -----------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives (whether or not it exists)."""
        return self.blob_dir / digest_hex(digest)

    def has_blob(self, digest: str) -> bool:
        """True when the blob is present (its content is not checked)."""
        return self.blob_path(digest).is_file()

    def _missing(self, digest: str) -> StoreError:
        return StoreError(
            f"blob {digest} is missing from {self.root}",
            hint="re-bake or re-pull the image that uses it",
        )

    @contextlib.contextmanager
    def blob_writer(self, expected_digest: str | None = None) -> Iterator[BlobWriter]:
        """Stream a blob into the store; on clean exit it is durable and ``.digest`` is set.

        Raises StoreError if the content does not hash to ``expected_digest``. On any error the
        temp file is removed and the store is unchanged.
        """
        if expected_digest is not None:
            validate_digest(expected_digest)
        file, tmp = _new_locked_temp(self.tmp_dir, "blob-")
        writer = BlobWriter(file)
        try:
            with file:  # the flock on the temp file is held until it is renamed
                yield writer
                digest = writer._seal()
                if expected_digest is not None and digest != expected_digest:
                    raise StoreError(f"blob content hashes to {digest}, expected {expected_digest}")
                self._commit_blob(tmp, digest, writer.size)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _commit_blob(self, tmp: Path, digest: str, size: int) -> None:
        """Rename a sealed temp file to its blob name, unless an intact copy is already there."""
        final = self.blob_path(digest)
        try:
            if final.is_file() and final.stat().st_size == size:
                tmp.unlink()
                return
            tmp.replace(final)
            fsync_dir(self.blob_dir)
        except OSError as exc:
            raise StoreError(f"cannot store blob {digest}: {exc}") from exc

    def put_blob(
        self, data: bytes, media_type: str, *, annotations: dict[str, str] | None = None
    ) -> Descriptor:
        """Store ``data`` and return its descriptor."""
        with self.blob_writer() as writer:
            writer.write(data)
        return Descriptor(
            media_type=media_type, digest=writer.digest, size=writer.size, annotations=annotations
        )

    def put_json(self, model: BaseModel, media_type: str) -> Descriptor:
        """Store the canonical JSON of ``model`` and return its descriptor."""
        return self.put_blob(canonical_json(model), media_type)

    def open_blob(self, digest: str) -> BinaryIO:
        """Open a blob for streaming. Reading it to the end raises StoreError if it is corrupt."""
        try:
            file = open(self.blob_path(digest), "rb", buffering=0)  # noqa: SIM115 - returned
        except FileNotFoundError:
            raise self._missing(digest) from None
        except OSError as exc:
            raise StoreError(f"cannot read blob {digest}: {exc}") from exc
        return io.BufferedReader(_VerifyingReader(file, digest), buffer_size=CHUNK_SIZE)

    def read_blob(self, digest: str, *, max_size: int = MAX_DOCUMENT_SIZE) -> bytes:
        """The whole content of a (small) blob, verified against its digest."""
        try:
            with open(self.blob_path(digest), "rb") as file:
                data = file.read(max_size + 1)
        except FileNotFoundError:
            raise self._missing(digest) from None
        except OSError as exc:
            raise StoreError(f"cannot read blob {digest}: {exc}") from exc
        if len(data) > max_size:
            raise StoreError(f"blob {digest} is larger than the {max_size} bytes expected")
        actual = sha256_digest(data)
        if actual != digest:
            raise StoreError(
                f"blob {digest} is corrupted: its content hashes to {actual}",
                hint="re-bake or re-pull the image that uses it",
            )
        return data

    # -- documents -------------------------------------------------------------------------

    def read_manifest(self, ref: Descriptor | str) -> ImageManifest | ImageIndex:
        """Read and parse the manifest or index ``ref`` (a descriptor or a digest)."""
        digest = ref.digest if isinstance(ref, Descriptor) else ref
        data = self.read_blob(digest, max_size=MAX_MANIFEST_SIZE)
        document = parse_manifest(data, source=f"manifest {digest}")
        if isinstance(ref, Descriptor):
            if len(data) != ref.size:
                raise StoreError(f"manifest {digest} is {len(data)} bytes, expected {ref.size}")
            if _is_manifest_type(ref.media_type) and ref.media_type != document.media_type:
                raise StoreError(
                    f"manifest {digest} is a {document.media_type}, "
                    f"but is referenced as a {ref.media_type}"
                )
        return document

    def read_config(self, manifest: ImageManifest) -> ImageConfig:
        """Read and parse the image configuration of ``manifest``."""
        desc = manifest.config
        if desc.media_type not in mt.CONFIG_TYPES:
            raise StoreError(
                f"config {desc.digest} has media type {desc.media_type}, not an image config",
                hint="the manifest describes an artifact, not a runnable image",
            )
        data = self.read_blob(desc.digest)
        if len(data) != desc.size:
            raise StoreError(f"config {desc.digest} is {len(data)} bytes, expected {desc.size}")
        return parse_config(data, source=f"image config {desc.digest}")

    def walk_referenced(self, desc: Descriptor) -> Iterator[Descriptor]:
        """``desc`` and every descriptor reachable from it, each digest once, depth first.

        Manifests and indexes are read (and verified) to find their children; subjects are not
        followed (a referrer's subject need not be in the store).
        """
        seen: set[str] = set()
        stack = [desc]
        while stack:
            current = stack.pop()
            if current.digest in seen:
                continue
            seen.add(current.digest)
            yield current
            if _is_manifest_type(current.media_type):
                stack.extend(reversed(_children(self.read_manifest(current))))

    # -- tags ------------------------------------------------------------------------------

    def _read_index(self) -> ImageIndex:
        path = self.root / INDEX_FILE
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
        return parse_index(data, source=str(path))

    def _write_index(self, index: ImageIndex, entries: list[Descriptor]) -> None:
        ordered = sorted(entries, key=_index_order)
        self._write_atomic(
            INDEX_FILE, canonical_json(index.model_copy(update={"manifests": ordered}))
        )

    def _require_complete(self, desc: Descriptor) -> None:
        """Raise StoreError unless every blob reachable from ``desc`` is present, right-sized."""
        for current in self.walk_referenced(desc):
            try:
                size = self.blob_path(current.digest).stat().st_size
            except FileNotFoundError:
                raise self._missing(current.digest) from None
            if size != current.size:
                raise StoreError(
                    f"blob {current.digest} is {size} bytes, its descriptor says {current.size}",
                    hint="re-bake or re-pull the image that uses it",
                )

    def _platform_of(self, desc: Descriptor) -> Platform | None:
        """The platform of an image manifest, from its config."""
        document = self.read_manifest(desc)
        if isinstance(document, ImageIndex) or document.config.media_type not in mt.CONFIG_TYPES:
            return None
        config = self.read_config(document)
        return Platform(architecture=config.architecture, os=config.os, variant=config.variant)

    def tag(self, ref_name: str, desc: Descriptor, *, platform: Platform | None = None) -> None:
        """Point ``ref_name`` at the manifest or index ``desc``, replacing any previous target.

        Refuses (StoreError) unless every blob ``desc`` reaches is present. The index entry
        carries ``platform`` (default: the descriptor's, else the image config's).
        """
        validate_ref_name(ref_name)
        if not _is_manifest_type(desc.media_type):
            raise UserError(f"cannot tag a {desc.media_type}: only manifests and indexes")
        with self._exclusive():
            try:
                self._require_complete(desc)
            except StoreError as exc:
                raise StoreError(f"cannot tag {ref_name}: {exc.message}", hint=exc.hint) from exc
            annotations = {**(desc.annotations or {}), mt.ANN_REF_NAME: ref_name}
            entry_platform = platform or desc.platform or self._platform_of(desc)
            entry = desc.model_copy(update={"annotations": annotations, "platform": entry_platform})
            index = self._read_index()
            kept = [d for d in index.manifests if d.ref_name != ref_name]
            self._write_index(index, [*kept, entry])

    def untag(self, ref_name: str) -> None:
        """Remove the tag ``ref_name`` (its blobs stay). ReferenceNotFound if it is not there."""
        with self._exclusive():
            index = self._read_index()
            kept = [d for d in index.manifests if d.ref_name != ref_name]
            if len(kept) == len(index.manifests):
                names = [d.ref_name for d in index.manifests if d.ref_name]
                raise ReferenceNotFound(
                    f"no tag '{ref_name}' in {self.root}",
                    hint=_near_matches_hint(ref_name, names),
                )
            self._write_index(index, kept)

    def add_referrer(self, desc: Descriptor) -> None:
        """Record an artifact manifest whose ``subject`` is another manifest (an SBOM, a scan
        result, a signature) as an untagged index.json entry, so that it travels with the
        layout and :meth:`referrers` finds it. Refused unless all its blobs are present.
        """
        manifest = self.read_manifest(desc)
        if not isinstance(manifest, ImageManifest) or manifest.subject is None:
            raise UserError(f"{desc.digest} is not an artifact manifest with a subject")
        entry = desc.model_copy(update={"artifact_type": manifest.artifact_type})
        with self._exclusive():
            self._require_complete(desc)
            index = self._read_index()
            kept = [d for d in index.manifests if d.ref_name or d.digest != desc.digest]
            self._write_index(index, [*kept, entry])

    def referrers(self, subject: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Untagged artifact manifests in index.json whose subject is ``subject`` (a digest)."""
        found = []
        for desc in self._read_index().manifests:
            if desc.ref_name or (artifact_type and desc.artifact_type != artifact_type):
                continue
            manifest = self.read_manifest(desc)
            if isinstance(manifest, ImageManifest) and _subject_digest(manifest) == subject:
                found.append(desc)
        return found

    def tags(self) -> list[tuple[str, Descriptor]]:
        """Every (ref name, descriptor) in index.json, sorted by name."""
        return sorted(
            ((d.ref_name, d) for d in self._read_index().manifests if d.ref_name),
            key=lambda pair: pair[0],
        )

    def resolve(self, ref: str) -> Descriptor:
        """The descriptor ``ref`` names: a tag, ``name@sha256:…`` or a bare manifest digest.

        A tag without ``:tag`` also matches ``ref:latest``. ReferenceNotFound otherwise.
        """
        entries = self._read_index().manifests
        by_name = {d.ref_name: d for d in entries if d.ref_name}
        for candidate in _tag_candidates(ref):
            if candidate in by_name:
                return by_name[candidate]
        digest = ref.rpartition("@")[2]
        if digest.startswith(PREFIX):
            return self._resolve_digest(validate_digest(digest), entries)
        raise ReferenceNotFound(
            f"no image '{ref}' in {self.root}", hint=_near_matches_hint(ref, list(by_name))
        )

    def _resolve_digest(self, digest: str, entries: list[Descriptor]) -> Descriptor:
        """The descriptor of a manifest blob, from index.json if listed there."""
        for entry in entries:
            if entry.digest == digest:
                annotations = dict(entry.annotations or {})
                annotations.pop(mt.ANN_REF_NAME, None)
                return entry.model_copy(update={"annotations": annotations or None})
        path = self.blob_path(digest)
        if not path.is_file():
            raise ReferenceNotFound(
                f"no manifest {digest} in {self.root}",
                hint="`bakery images` lists the images in the store",
            )
        size = path.stat().st_size
        if size > MAX_MANIFEST_SIZE:
            raise UserError(f"{digest} is a blob in the store, but not a manifest or index")
        data = self.read_blob(digest, max_size=MAX_MANIFEST_SIZE)
        try:
            document = parse_manifest(data, source=f"blob {digest}")
        except StoreError as exc:
            raise UserError(f"{digest} is not a manifest or index: {exc.message}") from exc
        return Descriptor(media_type=document.media_type, digest=digest, size=size)

    # -- maintenance -----------------------------------------------------------------------

    def _temp_files(self) -> list[Path]:
        if not self.tmp_dir.is_dir():
            return []
        return sorted(p for p in self.tmp_dir.iterdir() if p.is_file() and not p.is_symlink())

    def remove_temp_files(self) -> list[Path]:
        """Delete temp files left by killed writers (live writers' are skipped); return them."""
        removed = []
        for path in self._temp_files():
            with _claim_stale(path) as stale:
                if stale:
                    path.unlink()
                    removed.append(path)
        if removed:
            fsync_dir(self.tmp_dir)
        return removed

    def check(self) -> list[Problem]:
        """Verify the whole store: every blob's hash, every tag's blobs, leftover temp files."""
        problems = self._check_layout_files()
        sizes, corrupt = self._check_blobs(problems)
        self._check_index(sizes, corrupt, problems)
        for path in self._temp_files():
            with _claim_stale(path) as stale:
                if stale:
                    problems.append(
                        Problem("warning", str(path), "leftover temp file of an interrupted write")
                    )
        return problems

    def _check_layout_files(self) -> list[Problem]:
        try:
            self._check_layout_version()
        except StoreError as exc:
            return [Problem("error", str(self.root / LAYOUT_FILE), exc.message)]
        return []

    def _check_blobs(self, problems: list[Problem]) -> tuple[dict[str, int], set[str]]:
        """Re-hash every blob. Returns the size of each present blob and the corrupt digests."""
        sizes: dict[str, int] = {}
        corrupt: set[str] = set()
        if not self.blob_dir.is_dir():
            problems.append(Problem("error", str(self.blob_dir), "the blob directory is missing"))
            return sizes, corrupt
        for path in sorted(self.blob_dir.iterdir()):
            if not path.is_file() or _HEX_RE.fullmatch(path.name) is None:
                problems.append(Problem("warning", str(path), "not a blob (unexpected name)"))
                continue
            digest = PREFIX + path.name
            try:
                size = path.stat().st_size
                actual = PREFIX + sha256_file(path)
            except OSError as exc:
                problems.append(Problem("error", digest, f"unreadable: {exc}"))
                continue
            sizes[digest] = size
            if actual != digest:
                corrupt.add(digest)
                problems.append(
                    Problem("error", digest, f"corrupted: the content hashes to {actual}")
                )
        return sizes, corrupt

    def _check_index(
        self, sizes: dict[str, int], corrupt: set[str], problems: list[Problem]
    ) -> None:
        """Check that every tag's blobs are present, intact, right-sized and parse."""
        try:
            entries = self._read_index().manifests
        except StoreError as exc:
            problems.append(Problem("error", str(self.root / INDEX_FILE), exc.message))
            return
        seen: set[str] = set()
        for entry in entries:
            label = entry.ref_name or entry.digest
            stack = [entry]
            while stack:
                desc = stack.pop()
                if desc.digest in seen:
                    continue
                seen.add(desc.digest)
                problem = self._check_descriptor(desc, label, sizes)
                if problem is not None:
                    problems.append(problem)
                elif desc.digest not in corrupt:  # a corrupt blob is reported once, above
                    stack.extend(self._check_content(desc, label, problems))

    def _check_descriptor(
        self, desc: Descriptor, label: str, sizes: dict[str, int]
    ) -> Problem | None:
        """A problem if the blob ``desc`` points at is missing or has the wrong size."""
        size = sizes.get(desc.digest)
        if size is None:
            return Problem("error", desc.digest, f"missing {desc.media_type} used by {label}")
        if size != desc.size:
            return Problem(
                "error",
                desc.digest,
                f"{size} bytes but its descriptor says {desc.size} (truncated?), used by {label}",
            )
        return None

    def _check_content(
        self, desc: Descriptor, label: str, problems: list[Problem]
    ) -> list[Descriptor]:
        """Parse a manifest, index or image config; return the children to check next."""
        try:
            if _is_manifest_type(desc.media_type):
                return _children(self.read_manifest(desc))
            if desc.media_type in mt.CONFIG_TYPES:
                parse_config(self.read_blob(desc.digest), source=f"image config {desc.digest}")
        except StoreError as exc:
            problems.append(Problem("error", desc.digest, f"{exc.message} (used by {label})"))
        return []


def _subject_digest(manifest: ImageManifest) -> str | None:
    return manifest.subject.digest if manifest.subject is not None else None
