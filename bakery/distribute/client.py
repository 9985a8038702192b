"""The OCI distribution API over HTTP, one registry per client (distribution-spec spec.md).

Each method is one API operation: ping, blob HEAD/GET/upload (monolithic, chunked, cross-repo
mount), manifest GET/PUT, tag list (Link pagination) and referrers (with the ``sha256-<hex>``
fallback tag). Every request goes through :meth:`RegistryClient._send`, which adds the
``Authorization`` header and turns 429/5xx/connection errors into
:class:`~bakery.distribute.retry.TransientError`; idempotent calls are retried by the
:class:`RetryPolicy`, an upload is retried as a whole (a new upload session each time).

Everything fetched is verified against its digest before it is returned; blob bodies stream
in pieces and are never held whole in memory. The client's own connections read the socket
1 MiB at a time (:mod:`bakery.distribute.transport`); other httpx users keep httpcore's 64 KiB.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from bakery.distribute.auth import Authenticator, Scope, pull_scope, push_scope
from bakery.distribute.credentials import Credentials
from bakery.distribute.reference import fallback_tag, is_loopback
from bakery.distribute.retry import RetryPolicy, TransientError, is_retryable_status
from bakery.distribute.retry import parse_retry_after as _retry_after
from bakery.distribute.tls import CA_HINT, cert_failed, tls_context
from bakery.distribute.transport import widen_reads
from bakery.errors import AuthError, RegistryError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import PREFIX, sha256_digest
from bakery.oci.layout import MAX_MANIFEST_SIZE
from bakery.oci.model import Descriptor, ImageIndex, canonical_json, parse_index, parse_manifest

MiB = 1 << 20
CHUNK = 1 << 20
#: every manifest type we read, OCI first (distribution-spec "pulling manifests")
MANIFEST_ACCEPT = ", ".join([mt.MANIFEST, mt.INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST])
_MAX_ERROR_BODY = 64 << 10
_MAX_TAG_PAGES = 10_000

#: a function that opens a blob's content as an iterator of byte chunks (a new one per try)
BlobOpener = Callable[[], contextlib.AbstractContextManager[Iterable[bytes]]]


@dataclass(frozen=True)
class ClientOptions:
    """How a :class:`RegistryClient` talks to its registry."""

    #: plain HTTP allowed (when the registry does not speak TLS); TLS is still verified
    insecure: bool = False
    #: do not verify TLS certificates at all (``--insecure-skip-tls-verify``)
    skip_tls_verify: bool = False
    #: a PEM bundle of CAs to trust instead of certifi's (``--ca-file`` / ``SSL_CERT_FILE``)
    ca_file: Path | None = None
    #: blobs up to this size go in one PUT; larger ones in PATCH chunks
    monolithic_max: int = 64 * MiB
    chunk_size: int = 32 * MiB
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index fetched from a registry, its bytes verified against ``digest``."""

    media_type: str
    data: bytes
    digest: str

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.data))


@dataclass(frozen=True, slots=True)
class PutManifest:
    """What a manifest PUT told us: its digest and whether the registry handled ``subject``."""

    digest: str
    subject_processed: bool


def _error_detail(response: httpx.Response) -> str:
    """``CODE: message`` from a distribution error body, else the reason phrase."""
    try:
        errors = json.loads(response.content[:_MAX_ERROR_BODY]).get("errors") or []
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return response.reason_phrase


def _tls_refused(exc: BaseException) -> bool:
    """True when a TLS handshake failed because the server does not speak TLS (it answered in
    plain HTTP), as opposed to a certificate that does not verify."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class RegistryClient:
    """Talks to one registry. Thread-safe: transfers run several blob calls at once."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        options: ClientOptions | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.registry = registry
        self.options = options or ClientOptions()
        #: https, unless the registry is on loopback or ``insecure`` is set: then the first
        #: request probes https (verified all the same) and falls back to http only when the
        #: registry does not speak TLS at all
        self._scheme = None if self.options.insecure or is_loopback(registry) else "https"
        self._probe_lock = threading.Lock()
        self._count_lock = threading.Lock()
        timeout = httpx.Timeout(self.options.timeout, connect=min(10.0, self.options.timeout))
        self._http = httpx.Client(
            verify=tls_context(self.options.ca_file, skip_verify=self.options.skip_tls_verify),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            headers={"User-Agent": "bakery"},
        )
        if transport is None:
            widen_reads(self._http)  # 1 MiB socket reads, on this client's connections only
        self.auth = Authenticator(
            registry, credentials, self._http, allow_http=self.options.insecure
        )
        self._requests = 0

    @property
    def requests(self) -> int:
        """How many requests this client has sent (including retries and auth round trips)."""
        return self._requests

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the one request path ---------------------------------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        """``https://REGISTRY``, or ``http://`` for a loopback / insecure one without TLS."""
        if self._scheme is None:
            with self._probe_lock:
                if self._scheme is None:
                    self._scheme = self.options.retry.call(self._probe)
        return httpx.URL(f"{self._scheme}://{self.registry}")

    def _probe(self) -> str:
        """Does the registry speak TLS? Any HTTP answer over https says yes."""
        try:
            _discard(self._http.get(f"https://{self.registry}/v2/"))
        except httpx.ConnectError as exc:
            if cert_failed(exc):
                raise RegistryError(
                    f"the TLS certificate of registry {self.registry} does not verify: {exc}",
                    hint=CA_HINT,
                ) from exc
            if _tls_refused(exc):
                return "http"
            raise TransientError(
                f"cannot connect to registry {self.registry}: {exc}",
                hint=f"check that a registry answers at {self.registry}",
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"cannot connect to registry {self.registry}: {exc}") from exc
        return "https"

    def _url(self, path: str) -> httpx.URL:
        return self.base_url.join(path)

    def _send(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        scopes: tuple[Scope, ...],
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        params: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request with auth. 401 → learn the challenge and resend once (a streamed body
        cannot be resent: that becomes a TransientError so its caller restarts cleanly).
        Transient statuses and transport errors raise TransientError; other statuses are
        returned for the caller to judge."""
        replayable = content is None or isinstance(content, bytes)
        for attempt in (1, 2):
            request_headers = dict(headers or {})
            if (authorization := self.auth.authorization(scopes)) is not None:
                request_headers["Authorization"] = authorization
            request = self._http.build_request(
                method, url, headers=request_headers, content=content, params=params
            )
            response = self._dispatch(request, stream=stream)
            if response.status_code != 401:
                break
            _discard(response)
            if attempt == 2 or not self.auth.challenged(response, scopes):
                raise self.auth.refused(scopes, 401)
            if not replayable:
                raise TransientError(f"{self.registry} asked for new credentials mid-upload")
        if is_retryable_status(response.status_code):
            _discard(response)
            raise TransientError(
                f"registry {self.registry} answered {response.status_code} to {method} "
                f"{httpx.URL(url).path}",
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        return response

    def _dispatch(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        with self._count_lock:
            self._requests += 1
        try:
            return self._http.send(request, stream=stream)
        except httpx.UnsupportedProtocol as exc:
            raise RegistryError(f"cannot talk to registry {self.registry}: {exc}") from exc
        except httpx.ConnectError as exc:
            if cert_failed(exc):
                raise RegistryError(
                    f"the TLS certificate of registry {self.registry} does not verify: {exc}",
                    hint=CA_HINT,
                ) from exc
            hint = (
                f"check that a registry answers at {request.url.scheme}://{self.registry} "
                "(plain HTTP only for loopback hosts or with --insecure)"
            )
            raise TransientError(
                f"cannot connect to registry {self.registry}: {exc}", hint=hint
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"connection to registry {self.registry} failed: {type(exc).__name__} {exc}"
            ) from exc

    def _retrying(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        return self.options.retry.call(call)

    def _fail(self, response: httpx.Response, what: str) -> RegistryError | AuthError:
        """The error for an unexpected status while doing ``what``."""
        _discard(response)
        if response.status_code == 403:
            return AuthError(
                f"registry {self.registry} denied {what} (403 {_error_detail(response)})",
                hint="check that your user may push/pull this repository",
            )
        return RegistryError(
            f"registry {self.registry} failed {what}: {response.status_code} "
            f"{_error_detail(response)}"
        )

    # -- ping -------------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: the registry is there, speaks the v2 API, and accepts our credentials."""
        response = self._retrying(lambda: self._send("GET", self._url("/v2/"), scopes=()))
        if response.status_code != 200:
            raise self._fail(response, "the API check GET /v2/")

    # -- blobs ------------------------------------------------------------------------------

    def blob_size(self, repository: str, digest: str) -> int | None:
        """``HEAD`` a blob: its size if the repository has it, else None."""
        url = self._url(f"/v2/{repository}/blobs/{digest}")
        scopes = (pull_scope(repository),)
        response = self._retrying(lambda: self._send("HEAD", url, scopes=scopes))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"HEAD blob {digest} in {repository}")
        return int(response.headers.get("content-length", "-1"))

    @contextlib.contextmanager
    def open_blob(self, repository: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        """Stream a blob's bytes (one try, no verification here: the caller hashes them).

        More bytes than ``desc.size`` abort the read; a dropped connection raises
        TransientError.
        """
        url = self._url(f"/v2/{repository}/blobs/{desc.digest}")
        response = self._send("GET", url, scopes=(pull_scope(repository),), stream=True)
        try:
            if response.status_code != 200:
                raise self._fail(response, f"GET blob {desc.digest} from {repository}")
            yield self._body(response, desc)
        finally:
            response.close()

    def _body(self, response: httpx.Response, desc: Descriptor) -> Iterator[bytes]:
        received = 0
        # blobs travel as they are stored: raw reads, unless a server insists on an encoding
        # (or the body was read already, as with an in-memory transport)
        decoded = "content-encoding" in response.headers or response.is_stream_consumed
        try:
            for chunk in response.iter_bytes(CHUNK) if decoded else response.iter_raw():
                received += len(chunk)
                if received > desc.size:
                    raise RegistryError(
                        f"registry {self.registry} sent more than the {desc.size} bytes of "
                        f"blob {desc.digest}"
                    )
                yield chunk
        except httpx.TransportError as exc:
            raise TransientError(
                f"download of {desc.digest} from {self.registry} broke off: {exc}"
            ) from exc
        if received != desc.size:
            raise TransientError(
                f"registry {self.registry} sent {received} of the {desc.size} bytes of "
                f"blob {desc.digest}"
            )

    def read_blob(self, repository: str, desc: Descriptor) -> bytes:
        """A small blob, whole and verified against ``desc``."""

        def attempt() -> bytes:
            with self.open_blob(repository, desc) as chunks:
                data = b"".join(chunks)
            if sha256_digest(data) != desc.digest:
                raise RegistryError(
                    f"registry {self.registry} served blob {desc.digest} with other content "
                    f"({sha256_digest(data)})",
                    hint="the registry's storage is corrupted or something altered the transfer",
                )
            return data

        return self.options.retry.call(attempt)

    def upload_blob(
        self, repository: str, desc: Descriptor, opener: BlobOpener, *, mount_from: str | None
    ) -> Literal["uploaded", "mounted"]:
        """Upload one blob; each retry starts a new upload session (the old one is cancelled).

        With ``mount_from`` (a repository of this registry that has the blob) a cross-repo mount
        is tried first; a registry that declines it answers with a normal upload session.
        """
        scopes: tuple[Scope, ...] = (push_scope(repository),)
        if mount_from is not None:
            scopes = (*scopes, pull_scope(mount_from))
        return self.options.retry.call(
            lambda: self._upload_once(repository, desc, opener, mount_from, scopes)
        )

    def _upload_once(
        self,
        repository: str,
        desc: Descriptor,
        opener: BlobOpener,
        mount_from: str | None,
        scopes: tuple[Scope, ...],
    ) -> Literal["uploaded", "mounted"]:
        params = {"mount": desc.digest, "from": mount_from} if mount_from else None
        start = self._send(
            "POST", self._url(f"/v2/{repository}/blobs/uploads/"), scopes=scopes, params=params
        )
        if start.status_code == 201 and mount_from:
            return "mounted"
        if start.status_code != 202 or "location" not in start.headers:
            raise self._fail(start, f"starting an upload of {desc.digest} to {repository}")
        location = self._url(start.headers["location"])
        try:
            with opener() as chunks:
                if desc.size <= self.options.monolithic_max:
                    done = self._put_whole(location, desc, chunks, scopes)
                else:
                    done = self._put_chunked(location, desc, chunks, scopes)
        except BaseException:
            self._cancel(location, scopes)
            raise
        if done.status_code != 201:
            raise self._fail(done, f"uploading {desc.digest} to {repository}")
        return "uploaded"

    def _put_whole(
        self,
        location: httpx.URL,
        desc: Descriptor,
        chunks: Iterable[bytes],
        scopes: tuple[Scope, ...],
    ) -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)}
        url = location.copy_merge_params({"digest": desc.digest})
        return self._send("PUT", url, scopes=scopes, headers=headers, content=iter(chunks))

    def _put_chunked(
        self,
        location: httpx.URL,
        desc: Descriptor,
        chunks: Iterable[bytes],
        scopes: tuple[Scope, ...],
    ) -> httpx.Response:
        source = _Rechunker(iter(chunks))
        offset = 0
        while offset < desc.size:
            length = min(self.options.chunk_size, desc.size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            }
            response = self._send(
                "PATCH", location, scopes=scopes, headers=headers, content=source.take(length)
            )
            if response.status_code != 202 or "location" not in response.headers:
                raise self._fail(response, f"uploading a chunk of {desc.digest}")
            location = self._url(response.headers["location"])
            offset += length
        url = location.copy_merge_params({"digest": desc.digest})
        return self._send("PUT", url, scopes=scopes, headers={"Content-Length": "0"}, content=b"")

    def _cancel(self, location: httpx.URL, scopes: tuple[Scope, ...]) -> None:
        """Best effort ``DELETE`` of an abandoned upload session."""
        with contextlib.suppress(RegistryError):
            _discard(self._send("DELETE", location, scopes=scopes))

    # -- manifests --------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest ``reference`` (tag or digest), verified; None when it is not there.

        By digest, the bytes must hash to it; by tag, to the registry's Docker-Content-Digest.
        """
        url = self._url(f"/v2/{repository}/manifests/{reference}")
        scopes = (pull_scope(repository),)
        headers = {"Accept": MANIFEST_ACCEPT}
        response = self._retrying(lambda: self._send("GET", url, scopes=scopes, headers=headers))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"GET manifest {repository}:{reference}")
        data = response.content
        if len(data) > MAX_MANIFEST_SIZE:
            raise RegistryError(f"manifest {repository}:{reference} is larger than 4 MiB")
        actual = sha256_digest(data)
        claimed = reference if reference.startswith(PREFIX) else None
        claimed = claimed or response.headers.get("docker-content-digest")
        if claimed is not None and claimed != actual:
            raise RegistryError(
                f"registry {self.registry} served manifest {repository}:{reference} whose "
                f"content hashes to {actual}, not {claimed}",
                hint="the registry is corrupted or something altered the transfer; nothing kept",
            )
        document = parse_manifest(data, source=f"manifest {repository}:{reference}")
        return Manifest(document.media_type, data, actual)

    def put_manifest(
        self, repository: str, reference: str, media_type: str, data: bytes
    ) -> PutManifest:
        """PUT a manifest's exact bytes under a tag or its digest, Content-Type its media type."""
        url = self._url(f"/v2/{repository}/manifests/{reference}")
        scopes = (push_scope(repository),)
        headers = {"Content-Type": media_type}
        response = self._retrying(
            lambda: self._send("PUT", url, scopes=scopes, headers=headers, content=data)
        )
        if response.status_code != 201:
            raise self._fail(response, f"PUT manifest {repository}:{reference}")
        digest = sha256_digest(data)
        returned = response.headers.get("docker-content-digest")
        if returned is not None and returned != digest:
            raise RegistryError(
                f"registry {self.registry} stored manifest {reference} as {returned}, "
                f"expected {digest}"
            )
        return PutManifest(digest, "oci-subject" in response.headers)

    # -- tags and referrers -----------------------------------------------------------------

    def tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository``, following ``Link: <…>; rel="next"`` pages."""
        scopes = (pull_scope(repository),)
        url: httpx.URL | None = self._url(f"/v2/{repository}/tags/list")
        params = {"n": str(page_size)} if page_size else None
        found: list[str] = []
        for _ in range(_MAX_TAG_PAGES):
            if url is None:
                return found
            response = self._retrying(
                functools.partial(self._send, "GET", url, scopes=scopes, params=params)
            )
            if response.status_code == 404:
                return found
            if response.status_code != 200:
                raise self._fail(response, f"listing the tags of {repository}")
            found.extend(response.json().get("tags") or [])
            url = next_link(url, response.headers.get("link"))
            params = None
        raise RegistryError(f"registry {self.registry} sent more than {_MAX_TAG_PAGES} tag pages")

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Manifests whose subject is ``digest``: the referrers API, else the fallback tag."""
        url = self._url(f"/v2/{repository}/referrers/{digest}")
        scopes = (pull_scope(repository),)
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self._retrying(
            lambda: self._send(
                "GET", url, scopes=scopes, params=params, headers={"Accept": mt.INDEX}
            )
        )
        if response.status_code == 200:
            index = parse_index(response.content, source=f"referrers of {digest}")
            found = list(index.manifests)
        elif response.status_code == 404:
            fallback = self.get_manifest(repository, fallback_tag(digest))
            found = [] if fallback is None else list(_as_index(fallback).manifests)
        else:
            raise self._fail(response, f"listing the referrers of {digest}")
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    def add_fallback_referrer(self, repository: str, subject: str, desc: Descriptor) -> None:
        """Add ``desc`` to the ``sha256-<hex>`` fallback index of ``subject`` (OCI spec:
        pushing manifests with subject, for registries without the referrers API)."""
        tag = fallback_tag(subject)
        current = self.get_manifest(repository, tag)
        index = ImageIndex(manifests=[]) if current is None else _as_index(current)
        if any(d.digest == desc.digest for d in index.manifests):
            return
        updated = index.model_copy(update={"manifests": [*index.manifests, desc]})
        self.put_manifest(repository, tag, mt.INDEX, canonical_json(updated))


def _as_index(manifest: Manifest) -> ImageIndex:
    return parse_index(manifest.data, source=f"referrers index {manifest.digest}")


def next_link(current: httpx.URL, link: str | None) -> httpx.URL | None:
    """The URL of ``rel="next"`` in a ``Link`` header (RFC 8288), resolved against ``current``."""
    if not link:
        return None
    for part in link.split(","):
        target, _, attributes = part.partition(";")
        rels = [a.strip().replace(" ", "") for a in attributes.split(";")]
        if 'rel="next"' in rels or "rel=next" in rels:
            return current.join(target.strip().strip("<>"))
    return None


def _discard(response: httpx.Response) -> None:
    """Read (a bounded amount of) a response we will not use, and release its connection."""
    if not response.is_stream_consumed:
        with contextlib.suppress(httpx.HTTPError):
            response.read()
    response.close()


class _Rechunker:
    """Cuts one stream of byte chunks into consecutive pieces of exact lengths."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def take(self, length: int) -> Iterator[bytes]:
        """The next ``length`` bytes, as chunks (a RegistryError if the stream ends early)."""
        while length > 0:
            if not self._pending:
                self._pending = next(self._chunks, b"")
                if not self._pending:
                    raise RegistryError("a blob ended before its descriptor's size")
            piece, self._pending = self._pending[:length], self._pending[length:]
            length -= len(piece)
            yield piece


def hash_stream(chunks: Iterable[bytes], digest: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, raising RegistryError at the end if they do not hash to
    ``digest`` (a registry-to-registry copy checks what it relays)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if PREFIX + h.hexdigest() != digest:
        raise RegistryError(f"blob {digest} arrived with other content; not copied")
