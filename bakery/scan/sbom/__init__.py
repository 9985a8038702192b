"""SBOM documents for an image: CycloneDX 1.6 JSON (:mod:`.cyclonedx`) and SPDX 2.3 JSON
(:mod:`.spdx`), each in its own module so a caller pays only for the library it uses.

Both are built with the formats' own libraries (cyclonedx-python-lib, spdx-tools), never by
hand, from the packages the catalogers found. The image is the document's subject: CycloneDX
``metadata.component`` (a container, purl ``pkg:oci/…``), SPDX the package the document
DESCRIBES, which CONTAINS every package.

The same input gives the same bytes: identifiers are derived from the image digest and the
package purls, timestamps are the caller's ``created`` (the image's, not the clock), and
packages are written in a fixed order. Packages sharing a purl (the same npm package in two
``node_modules``) are one component, with every location as a property or comment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from packageurl import PackageURL

from bakery.errors import UserError
from bakery.scan.catalog import sort_key
from bakery.scan.model import Package

TOOL_NAME = "bakery"
#: the namespace of every identifier Bakery derives (UUID5 of ``<kind>:<image digest>``)
BAKERY_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://bakery.dev/sbom")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class Subject:
    """The image an SBOM describes."""

    name: str
    digest_hex: str
    purl: str
    created: datetime

    @property
    def digest(self) -> str:
        """The manifest digest, ``sha256:<hex>``."""
        return f"sha256:{self.digest_hex}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One distinct purl: its package, and every location it was found at."""

    package: Package
    licenses: tuple[str, ...]
    locations: tuple[str, ...]


def describe_image(name: str, digest: str, repository_url: str | None, created: str) -> Subject:
    """The validated description of the image, with its ``pkg:oci`` purl."""
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise UserError(f"invalid image digest {digest!r}", hint="expected sha256:<64 hex>")
    last = name.rstrip("/").rsplit("/", 1)[-1].split("@")[0].split(":")[0].lower().strip()
    if not last:
        raise UserError(f"invalid image name {name!r}", hint="expected e.g. golden/nginx")
    qualifiers = {"repository_url": repository_url} if repository_url else None
    purl = PackageURL("oci", None, last, digest, qualifiers).to_string()
    return Subject(name, match.group(1), purl, _timestamp(created))


def _timestamp(created: str) -> datetime:
    """``created`` as an aware UTC datetime without microseconds (SPDX has none)."""
    error = UserError(
        f"invalid creation time {created!r}",
        hint="expected RFC 3339 with a time zone, e.g. 2024-01-02T03:04:05Z",
    )
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        raise error from None
    if when.tzinfo is None:
        raise error
    return when.astimezone(UTC).replace(microsecond=0)


def entries(packages: Iterable[Package]) -> list[Entry]:
    """One entry per distinct purl, in catalog order; licences (blank ones dropped) and
    locations merged."""
    grouped: dict[str, list[Package]] = {}
    for package in sorted(packages, key=sort_key):
        grouped.setdefault(package.purl, []).append(package)
    return [entry(same) for same in grouped.values()]


def entry(same: list[Package]) -> Entry:
    """The entry of packages that share one purl."""
    licences = (licence.strip() for package in same for licence in package.licenses)
    return Entry(
        package=same[0],
        licenses=tuple(dict.fromkeys(licence for licence in licences if licence)),
        locations=tuple(dict.fromkeys(package.location for package in same)),
    )
