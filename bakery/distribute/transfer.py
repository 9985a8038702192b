"""push, pull and copy: whole images with their referrers and cosign tags.

What travels with an image ``D``: its tree (index → manifests → config and layers), the
manifests whose ``subject`` is ``D`` (SBOMs, scan results, signature bundles) and cosign's
legacy tags ``sha256-<hex>.sig`` / ``.att`` / ``.sbom``. Order: blobs first (several at once),
then child manifests, then the root manifest by digest, then its referrers and cosign tags, and
the requested tag last, so a tag never points at a manifest the registry lacks. Blobs the
destination already has are skipped (HEAD), or mounted from the source repository when it is
on the same registry.

A pull writes each blob through ``OCILayout.blob_writer(expected_digest)``: the bytes are
hashed as they stream to a temp file and a mismatch leaves nothing behind; the tag is added
only once every blob it reaches is present (``OCILayout.tag`` checks it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from bakery.distribute import DEFAULT_JOBS
from bakery.distribute.client import (
    BlobOpener,
    RegistryClient,
    hash_stream,
)
from bakery.distribute.reference import Reference, fallback_tag
from bakery.errors import ImmutableTag, ReferenceNotFound, RegistryError, StoreError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import MAX_MANIFEST_SIZE, OCILayout
from bakery.oci.model import Descriptor, ImageIndex, ImageManifest, parse_manifest

#: cosign's legacy tag suffixes for signatures, attestations and attached SBOMs
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
#: read size of local blobs being uploaded
UPLOAD_READ = 4 << 20
#: how deep referrers of referrers are followed (a signature of an SBOM of an image)
_MAX_REFERRER_DEPTH = 3
#: how OCILayout.blob_writer words a digest mismatch
_MISMATCH = "blob content hashes to"


class Progress(Protocol):
    """Receives byte counts while blobs move (the CLI draws a bar from them)."""

    def add_total(self, nbytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...


class NullProgress:
    """A :class:`Progress` that ignores everything."""

    def add_total(self, nbytes: int) -> None:
        """Ignored."""

    def advance(self, nbytes: int) -> None:
        """Ignored."""


@dataclass(frozen=True)
class TransferResult:
    """What a push, pull or copy did (``--json`` prints it). For a pull, ``blobs_pushed``
    counts the blobs fetched and ``blobs_skipped`` those the store already had."""

    source: str
    destination: str
    digest: str
    media_type: str
    blobs_pushed: int
    blobs_skipped: int
    blobs_mounted: int
    bytes_transferred: int
    manifests: int
    referrers: int
    cosign_tags: tuple[str, ...]

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


class _Tally:
    """Counts what a transfer does, from several threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.blobs = {"pushed": 0, "skipped": 0, "mounted": 0}
        self.bytes = 0
        self.manifests = 0
        self.referrers = 0
        self.cosign_tags: list[str] = []

    def blob(self, outcome: str, nbytes: int = 0) -> None:
        """One blob ``pushed`` (``nbytes`` moved), ``skipped`` or ``mounted``."""
        with self._lock:
            self.blobs[outcome] += 1
            self.bytes += nbytes

    def result(self, source: str, destination: str, root: Descriptor) -> TransferResult:
        return TransferResult(
            source=source,
            destination=destination,
            digest=root.digest,
            media_type=root.media_type,
            blobs_pushed=self.blobs["pushed"],
            blobs_skipped=self.blobs["skipped"],
            blobs_mounted=self.blobs["mounted"],
            bytes_transferred=self.bytes,
            manifests=self.manifests,
            referrers=self.referrers,
            cosign_tags=tuple(self.cosign_tags),
        )


# -- where content comes from -------------------------------------------------------------


class Origin(Protocol):
    """Content a push or copy reads: the local layout or a registry repository."""

    def manifest(self, desc: Descriptor) -> bytes: ...

    def opener(self, desc: Descriptor) -> BlobOpener: ...

    def referrers(self, digest: str) -> list[Descriptor]: ...

    def tagged(self, tag: str) -> Descriptor | None: ...

    def mount_source(self, registry: str) -> str | None: ...


class LayoutOrigin:
    """An :class:`Origin` over the local layout; cosign tags are looked up in ``repository``.

    ``mount_from`` names a repository of the destination registry that may already hold some
    blobs (the image's base, pushed before): a blob missing from the destination is first
    offered as a cross-repo mount from it, which costs nothing when the registry declines.
    """

    def __init__(
        self, layout: OCILayout, repository: str | None, *, mount_from: str | None = None
    ) -> None:
        self.layout = layout
        self.repository = repository
        self.mount_from = mount_from

    def manifest(self, desc: Descriptor) -> bytes:
        return self.layout.read_blob(desc.digest, max_size=MAX_MANIFEST_SIZE)

    def opener(self, desc: Descriptor) -> BlobOpener:
        """The blob file read as it is: the registry hashes what it receives and refuses a
        corrupted blob (DIGEST_INVALID), so hashing it here too would only cost CPU."""

        @contextlib.contextmanager
        def open_chunks() -> Iterator[Iterable[bytes]]:
            try:
                file = self.layout.blob_path(desc.digest).open("rb", buffering=0)
            except OSError as exc:
                raise StoreError(
                    f"cannot read blob {desc.digest} from {self.layout.root}: {exc}",
                    hint="`bakery store check` verifies the store",
                ) from exc
            with file:
                yield _exactly(iter(lambda: file.read(UPLOAD_READ), b""), desc)

        return open_chunks

    def referrers(self, digest: str) -> list[Descriptor]:
        return self.layout.referrers(digest)

    def tagged(self, tag: str) -> Descriptor | None:
        matches = [
            desc
            for name, desc in self.layout.tags()
            if name.rpartition(":")[2] == tag
            and (self.repository is None or name.rpartition(":")[0] == self.repository)
        ]
        return matches[0] if matches else None

    def mount_source(self, registry: str) -> str | None:
        return self.mount_from


def _exactly(chunks: Iterator[bytes], desc: Descriptor) -> Iterator[bytes]:
    """``chunks``, checked to add up to ``desc.size`` (a truncated blob is a store error)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > desc.size:
            break
        yield chunk
    if total != desc.size:
        raise StoreError(
            f"blob {desc.digest} is {total} bytes in the store, its descriptor says {desc.size}",
            hint="`bakery store check` finds damaged blobs; re-bake or re-pull the image",
        )


class RegistryOrigin:
    """An :class:`Origin` over one repository of a registry (what ``copy`` reads)."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository

    def manifest(self, desc: Descriptor) -> bytes:
        found = self.client.get_manifest(self.repository, desc.digest)
        if found is None:
            raise RegistryError(f"{self.client.registry}/{self.repository} lacks {desc.digest}")
        return found.data

    def opener(self, desc: Descriptor) -> BlobOpener:
        @contextlib.contextmanager
        def open_chunks() -> Iterator[Iterable[bytes]]:
            with self.client.open_blob(self.repository, desc) as chunks:
                yield hash_stream(chunks, desc.digest)

        return open_chunks

    def referrers(self, digest: str) -> list[Descriptor]:
        return self.client.referrers(self.repository, digest)

    def tagged(self, tag: str) -> Descriptor | None:
        found = self.client.get_manifest(self.repository, tag)
        return None if found is None else found.descriptor

    def mount_source(self, registry: str) -> str | None:
        return self.repository if registry == self.client.registry else None


# -- walking a tree -----------------------------------------------------------------------


@dataclass
class _Tree:
    """A manifest's blobs (deduplicated) and manifests (children before parents)."""

    blobs: dict[str, Descriptor] = field(default_factory=dict)
    manifests: list[tuple[Descriptor, bytes]] = field(default_factory=list)


def _is_manifest(desc: Descriptor) -> bool:
    return desc.media_type in mt.MANIFEST_TYPES or desc.media_type in mt.INDEX_TYPES


def _walk(read: Origin, desc: Descriptor, tree: _Tree) -> None:
    if any(d.digest == desc.digest for d, _ in tree.manifests):
        return
    data = read.manifest(desc)
    document = parse_manifest(data, source=f"manifest {desc.digest}")
    if isinstance(document, ImageIndex):
        for child in document.manifests:
            _walk(read, child, tree)
    else:
        for blob in (document.config, *document.layers):
            if not blob.urls:  # foreign layers stay where their urls say
                tree.blobs.setdefault(blob.digest, blob)
    tree.manifests.append((desc, data))


def _subject(data: bytes) -> str | None:
    document = parse_manifest(data)
    return document.subject.digest if document.subject is not None else None


def _referrer_entry(desc: Descriptor, data: bytes) -> Descriptor:
    """The descriptor of a referrer as a referrers index lists it (artifactType, annotations)."""
    document = parse_manifest(data)
    artifact_type = document.artifact_type
    if artifact_type is None and isinstance(document, ImageManifest):
        artifact_type = document.config.media_type
    return Descriptor(
        media_type=document.media_type,
        digest=desc.digest,
        size=len(data),
        artifact_type=artifact_type,
        annotations=document.annotations,
    )


# -- push and copy ------------------------------------------------------------------------


class _Sender:
    """Sends trees from an :class:`Origin` to one repository of a registry."""

    def __init__(
        self,
        origin: Origin,
        client: RegistryClient,
        repository: str,
        tally: _Tally,
        progress: Progress,
        jobs: int,
    ) -> None:
        self.origin = origin
        self.client = client
        self.repository = repository
        self.tally = tally
        self.progress = progress
        self.jobs = jobs
        self.mount_from = origin.mount_source(client.registry)
        if self.mount_from == repository:
            self.mount_from = None

    def send_tree(self, root: Descriptor, tag: str | None = None) -> None:
        """Blobs, then manifests children first; the root under ``tag`` if given."""
        tree = _Tree()
        _walk(self.origin, root, tree)
        self._send_blobs(list(tree.blobs.values()))
        for desc, data in tree.manifests:
            reference = tag if tag is not None and desc.digest == root.digest else desc.digest
            self.put_manifest(desc, data, reference)

    def put_manifest(self, desc: Descriptor, data: bytes, reference: str) -> None:
        put = self.client.put_manifest(self.repository, reference, desc.media_type, data)
        self.tally.manifests += 1
        subject = _subject(data)
        if subject is not None and not put.subject_processed:
            entry = _referrer_entry(desc, data)
            self.client.add_fallback_referrer(self.repository, subject, entry)

    def _send_blobs(self, blobs: list[Descriptor]) -> None:
        if not blobs:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.jobs, len(blobs)))) as pool:
            for future in [pool.submit(self._send_blob, blob) for blob in blobs]:
                future.result()

    def _send_blob(self, desc: Descriptor) -> None:
        if self.client.blob_size(self.repository, desc.digest) is not None:
            self.tally.blob("skipped")
            return
        self.progress.add_total(desc.size)
        opener = self._counting(self.origin.opener(desc))
        outcome = self.client.upload_blob(self.repository, desc, opener, mount_from=self.mount_from)
        if outcome == "mounted":
            self.progress.advance(desc.size)
            self.tally.blob("mounted")
        else:
            self.tally.blob("pushed", desc.size)

    def _counting(self, opener: BlobOpener) -> BlobOpener:
        progress = self.progress

        @contextlib.contextmanager
        def counted() -> Iterator[Iterable[bytes]]:
            sent = [0]
            try:
                with opener() as chunks:
                    yield _advance(chunks, progress, sent)
            except BaseException:
                progress.advance(-sent[0])  # this try's bytes are sent again by the next one
                raise

        return counted

    def send_referrers(self, subject: str, depth: int = 0) -> None:
        """Every referrer of ``subject`` in the origin, and theirs, up to a small depth."""
        if depth >= _MAX_REFERRER_DEPTH:
            return
        for desc in self.origin.referrers(subject):
            self.send_tree(desc)
            self.tally.referrers += 1
            self.send_referrers(desc.digest, depth + 1)

    def send_cosign_tags(self, digest: str) -> None:
        """cosign's ``sha256-<hex>.sig/.att/.sbom`` of ``digest``, under the same tags."""
        for suffix in COSIGN_SUFFIXES:
            tag = fallback_tag(digest) + suffix
            desc = self.origin.tagged(tag)
            if desc is not None:
                self.send_tree(desc, tag)
                self.tally.cosign_tags.append(tag)


def _advance(chunks: Iterable[bytes], progress: Progress, sent: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advance(len(chunk))
        sent[0] += len(chunk)
        yield chunk


def _send_image(sender: _Sender, root: Descriptor, tag: str | None) -> None:
    """The image tree, its referrers, its cosign tags, then (last) its tag."""
    sender.send_tree(root)
    sender.send_referrers(root.digest)
    sender.send_cosign_tags(root.digest)
    if tag is not None:
        sender.put_manifest(root, sender.origin.manifest(root), tag)


#: whether ``repository:tag`` (the destination's repository path and tag) may never move
Protected = Callable[[str], bool]


def _refuse_a_move(
    client: RegistryClient, dest: Reference, tag: str | None, digest: str, protected: Protected
) -> None:
    """ImmutableTag, before anything is sent, when ``dest``'s tag is protected and already
    points at another manifest in the registry (read first: setting it again is fine)."""
    if tag is None or not protected(f"{dest.repository}:{tag}"):
        return
    found = client.get_manifest(dest.repository, tag)
    if found is not None and found.descriptor.digest != digest:
        raise ImmutableTag(
            f"{dest.with_tag(tag)} is immutable and points at {found.descriptor.digest[:19]}…",
            hint="push under a new tag (immutable tags are never moved)",
        )


def push(
    layout: OCILayout,
    ref: str,
    dest: Reference,
    client: RegistryClient,
    *,
    progress: Progress | None = None,
    jobs: int = DEFAULT_JOBS,
    mount_from: str | None = None,
    protected: Protected | None = None,
) -> TransferResult:
    """Push the image ``ref`` (a tag or digest in ``layout``) to ``dest`` with its referrers
    and cosign tags. ``dest`` without a tag takes ``ref``'s tag (none for a digest).

    Missing blobs are offered as cross-repo mounts from ``mount_from``, by default the
    repository named by the image's ``org.opencontainers.image.base.name`` annotation (a
    bakery image built on ``golden/debian-base`` mounts its base layers from
    ``REGISTRY/golden/debian-base`` when that was pushed first)."""
    root = layout.resolve(ref)
    local_repo = root.ref_name.rpartition(":")[0] if root.ref_name else None
    tag = dest.tag
    if tag is None and dest.digest is None and root.ref_name and "@" not in ref:
        tag = root.ref_name.rpartition(":")[2]
    if dest.digest is not None and dest.digest != root.digest:
        raise RegistryError(f"{ref} is {root.digest}, not the digest in {dest}")
    root = Descriptor(media_type=root.media_type, digest=root.digest, size=root.size)
    if protected is not None:
        _refuse_a_move(client, dest, tag, root.digest, protected)
    tally = _Tally()
    origin = LayoutOrigin(
        layout, local_repo, mount_from=mount_from or _base_repository(layout, root)
    )
    sender = _Sender(origin, client, dest.repository, tally, progress or NullProgress(), jobs)
    _send_image(sender, root, tag)
    return tally.result(ref, str(dest.with_tag(tag)), root)


def _base_repository(layout: OCILayout, root: Descriptor) -> str | None:
    """The repository part of the image's base-name annotation, if it is a valid one."""
    manifest = parse_manifest(layout.read_blob(root.digest, max_size=MAX_MANIFEST_SIZE))
    base = (manifest.annotations or {}).get(mt.ANN_BASE_NAME)
    if not base:
        return None
    name = base.split("@")[0]
    head, _, last = name.rpartition("/")
    repository = f"{head}/{last.partition(':')[0]}" if head else last.partition(":")[0]
    try:
        Reference.parse(f"registry.invalid/{repository}")
    except UserError:
        return None
    return repository


def copy(
    src: Reference,
    dest: Reference,
    source: RegistryClient,
    target: RegistryClient,
    *,
    progress: Progress | None = None,
    jobs: int = DEFAULT_JOBS,
    protected: Protected | None = None,
) -> TransferResult:
    """Copy ``src`` to ``dest`` registry to registry, with referrers and cosign tags. Blobs
    are mounted when both are on one registry, else streamed through (hashed on the way)."""
    root = _resolve_remote(source, src)
    tag = dest.tag or (src.tag if dest.digest is None else None)
    if protected is not None:
        _refuse_a_move(target, dest, tag, root.digest, protected)
    tally = _Tally()
    origin = RegistryOrigin(source, src.repository)
    sender = _Sender(origin, target, dest.repository, tally, progress or NullProgress(), jobs)
    _send_image(sender, root, tag)
    return tally.result(str(src), str(dest.with_tag(tag)), root)


def _resolve_remote(client: RegistryClient, ref: Reference) -> Descriptor:
    reference = ref.reference or "latest"
    found = client.get_manifest(ref.repository, reference)
    if found is None:
        raise ReferenceNotFound(
            f"registry {ref.registry} has no manifest {ref.repository}:{reference}",
            hint="check the repository and tag (`crane ls` lists the tags)",
        )
    return found.descriptor


# -- pull ---------------------------------------------------------------------------------


class _Receiver:
    """Fetches trees from a registry repository into the local layout, verified."""

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        layout: OCILayout,
        tally: _Tally,
        progress: Progress,
        jobs: int,
    ) -> None:
        self.origin = RegistryOrigin(client, repository)
        self.client = client
        self.repository = repository
        self.layout = layout
        self.tally = tally
        self.progress = progress
        self.jobs = jobs

    def receive_tree(self, root: Descriptor) -> None:
        tree = _Tree()
        _walk(self.origin, root, tree)
        blobs = list(tree.blobs.values())
        if blobs:
            with ThreadPoolExecutor(max_workers=max(1, min(self.jobs, len(blobs)))) as pool:
                for future in [pool.submit(self._receive_blob, b) for b in blobs]:
                    future.result()
        for desc, data in tree.manifests:
            with self.layout.blob_writer(desc.digest) as writer:
                writer.write(data)
            self.tally.manifests += 1

    def _receive_blob(self, desc: Descriptor) -> None:
        if self.layout.has_blob(desc.digest):
            self.tally.blob("skipped")
            return
        self.progress.add_total(desc.size)

        def attempt() -> None:
            done = 0
            try:
                with (
                    self.client.open_blob(self.repository, desc) as chunks,
                    self.layout.blob_writer(desc.digest) as writer,
                ):
                    for chunk in chunks:
                        writer.write(chunk)
                        done += len(chunk)
                        self.progress.advance(len(chunk))
            except BaseException:
                self.progress.advance(-done)
                raise

        try:
            self.client.options.retry.call(attempt)
        except StoreError as exc:
            if not exc.message.startswith(_MISMATCH):
                raise
            raise RegistryError(
                f"registry {self.client.registry} served blob {desc.digest} with other content"
                f" ({exc.message.split()[4].rstrip(',')}); nothing was kept",
                hint="the registry's storage is corrupted or something altered the transfer",
            ) from exc
        self.tally.blob("pushed", desc.size)


def pull(
    src: Reference,
    layout: OCILayout,
    client: RegistryClient,
    *,
    progress: Progress | None = None,
    jobs: int = DEFAULT_JOBS,
) -> TransferResult:
    """Pull ``src`` into ``layout``, verified, with its referrers and cosign tags; tag it as
    ``registry/repository:tag`` (``…@sha256:…`` when pulled by digest)."""
    root = _resolve_remote(client, src)
    name = f"{src.name}:{src.tag}" if src.tag else f"{src.name}@{root.digest}"
    tally = _Tally()
    receiver = _Receiver(client, src.repository, layout, tally, progress or NullProgress(), jobs)
    receiver.receive_tree(root)
    for desc in client.referrers(src.repository, root.digest):
        receiver.receive_tree(desc)
        layout.add_referrer(desc)
        tally.referrers += 1
    for suffix in COSIGN_SUFFIXES:
        tag = fallback_tag(root.digest) + suffix
        found = client.get_manifest(src.repository, tag)
        if found is not None:
            receiver.receive_tree(found.descriptor)
            layout.tag(f"{src.name}:{tag}", found.descriptor)
            tally.cosign_tags.append(tag)
    layout.tag(name, root)  # last, like a push: the image shows up with all it carries
    return tally.result(str(src), name, root)
