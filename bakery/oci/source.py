"""Where manifests and blobs are read from: the local layout or a registry, one interface.

Verification (``bakery verify``), ``copy`` and ``pull`` read signatures, attestations and
referrers without caring where they live. The local store implements this over
:class:`~bakery.oci.layout.OCILayout`; the distribution client implements it over the
registry HTTP API. Every method returns digest-verified bytes.
"""

from __future__ import annotations

from typing import Protocol

from bakery.oci.layout import MAX_MANIFEST_SIZE, OCILayout
from bakery.oci.model import Descriptor, parse_manifest


class ContentSource(Protocol):
    """Read-only, digest-verified access to one repository's content."""

    @property
    def repository(self) -> str:
        """The repository name (``golden/debian-base``, ``127.0.0.1:5000/team/app``)."""
        ...

    def resolve_tag(self, tag: str) -> Descriptor | None:
        """The manifest descriptor tag ``tag`` points at in this repository, or None."""
        ...

    def fetch_manifest(self, digest: str) -> tuple[str, bytes]:
        """(media type, raw bytes) of the manifest or index ``digest``; bytes verified."""
        ...

    def fetch_blob(self, digest: str, *, max_size: int) -> bytes:
        """The blob ``digest``, verified; a BakeryError if it is larger than ``max_size``."""
        ...

    def referrers(self, subject: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``subject`` (a digest), optionally of one type."""
        ...


class LayoutSource:
    """:class:`ContentSource` over one repository of a local OCI layout.

    In a layout, a tag of repository ``golden/debian-base`` is the ref name
    ``golden/debian-base:TAG``; manifests and blobs are shared by every repository.
    """

    def __init__(self, layout: OCILayout, repository: str) -> None:
        self._layout = layout
        self._repository = repository

    @property
    def repository(self) -> str:
        return self._repository

    def resolve_tag(self, tag: str) -> Descriptor | None:
        wanted = f"{self._repository}:{tag}"
        return next((desc for name, desc in self._layout.tags() if name == wanted), None)

    def fetch_manifest(self, digest: str) -> tuple[str, bytes]:
        data = self._layout.read_blob(digest, max_size=MAX_MANIFEST_SIZE)
        return parse_manifest(data, source=f"manifest {digest}").media_type, data

    def fetch_blob(self, digest: str, *, max_size: int) -> bytes:
        return self._layout.read_blob(digest, max_size=max_size)

    def referrers(self, subject: str, artifact_type: str | None = None) -> list[Descriptor]:
        return self._layout.referrers(subject, artifact_type)
