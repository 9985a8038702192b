"""Where manifests and blobs are read from: the local layout or a registry, one interface.

Verification (``bakery verify``), ``copy`` and ``pull`` read signatures, attestations and
referrers without caring where they live. The local store implements this over
:class:`~bakery.oci.layout.OCILayout`; the distribution client implements it over the
registry HTTP API. Every method returns digest-verified bytes.
"""

from __future__ import annotations

from typing import Protocol

from bakery.oci.model import Descriptor


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
