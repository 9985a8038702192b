"""A registry repository as a :class:`~bakery.oci.source.ContentSource`.

Verification reads signatures, attestations and referrers through the same interface whether
they live in the local layout (:class:`~bakery.oci.source.LayoutSource`) or in a registry
(:class:`RegistrySource`). Every byte returned has been checked against its digest.
"""

from __future__ import annotations

from bakery.distribute.client import RegistryClient
from bakery.errors import RegistryError
from bakery.oci.model import Descriptor
from bakery.oci.source import ContentSource


class RegistrySource:
    """:class:`~bakery.oci.source.ContentSource` over one repository of a registry."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self._client = client
        self._repository = repository

    @property
    def repository(self) -> str:
        return f"{self._client.registry}/{self._repository}"

    def resolve_tag(self, tag: str) -> Descriptor | None:
        found = self._client.get_manifest(self._repository, tag)
        return None if found is None else found.descriptor

    def fetch_manifest(self, digest: str) -> tuple[str, bytes]:
        found = self._client.get_manifest(self._repository, digest)
        if found is None:
            raise RegistryError(f"registry {self.repository} has no manifest {digest}")
        return found.media_type, found.data

    def fetch_blob(self, digest: str, *, max_size: int) -> bytes:
        size = self._client.blob_size(self._repository, digest)
        if size is None:
            raise RegistryError(f"registry {self.repository} has no blob {digest}")
        if size > max_size:
            raise RegistryError(
                f"blob {digest} in {self.repository} is {size} bytes, more than the "
                f"{max_size} expected"
            )
        desc = Descriptor(media_type="application/octet-stream", digest=digest, size=size)
        return self._client.read_blob(self._repository, desc)

    def referrers(self, subject: str, artifact_type: str | None = None) -> list[Descriptor]:
        return self._client.referrers(self._repository, subject, artifact_type)


def registry_source(client: RegistryClient, repository: str) -> ContentSource:
    """``repository`` of ``client``'s registry as a ContentSource (what verification reads)."""
    return RegistrySource(client, repository)
