"""SBOM documents for an image: CycloneDX 1.6 JSON and SPDX 2.3 JSON.

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

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.factory import InvalidSpdxLicenseException
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.spdx import is_expression
from license_expression import LicenseExpression as SpdxExpression
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    PackagePurpose,
)
from spdx_tools.spdx.model.package import Package as SpdxPackage
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

from bakery import __version__
from bakery.errors import UserError
from bakery.scan.catalog import sort_key
from bakery.scan.model import Package

TOOL_NAME = "bakery"
#: the namespace of every identifier Bakery derives (UUID5 of ``<kind>:<image digest>``)
BAKERY_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://bakery.dev/sbom")
SPDX_NAMESPACE_BASE = "https://bakery.dev/spdx"
PROPERTY_PREFIX = "bakery:package:"
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_NOT_IN_SPDX_ID = re.compile(r"[^A-Za-z0-9.-]+")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_LICENSES = LicenseFactory()


@dataclass(frozen=True, slots=True)
class _Subject:
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
class _Entry:
    """One distinct purl: its package, and every location it was found at."""

    package: Package
    licenses: tuple[str, ...]
    locations: tuple[str, ...]


def cyclonedx_json(
    packages: Iterable[Package],
    *,
    image_name: str,
    image_digest: str,
    repository_url: str | None,
    created: str,
) -> bytes:
    """The CycloneDX 1.6 JSON SBOM of an image holding ``packages``.

    ``image_digest`` is the manifest digest (``sha256:<hex>``), ``created`` an RFC 3339
    timestamp with a time zone (the image's creation time). Raises :class:`UserError` when
    either is malformed.
    """
    subject = _subject(image_name, image_digest, repository_url, created)
    image = Component(
        type=ComponentType.CONTAINER,
        name=subject.name,
        bom_ref=subject.purl,
        purl=PackageURL.from_string(subject.purl),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=subject.digest_hex)],
    )
    bom = Bom(
        serial_number=uuid.uuid5(BAKERY_UUID_NAMESPACE, f"cyclonedx:{subject.digest}"),
        metadata=BomMetaData(timestamp=subject.created, tools=_cdx_tools(), component=image),
    )
    licences: dict[str, License] = {}
    components = [_cdx_component(entry, licences) for entry in _entries(packages)]
    bom.components.update(components)
    bom.register_dependency(image, components)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    return outputter.output_as_string().encode() + b"\n"


def spdx_json(
    packages: Iterable[Package],
    *,
    image_name: str,
    image_digest: str,
    repository_url: str | None,
    created: str,
) -> bytes:
    """The SPDX 2.3 JSON SBOM of an image holding ``packages``; arguments as for
    :func:`cyclonedx_json`."""
    subject = _subject(image_name, image_digest, repository_url, created)
    namespace = uuid.uuid5(BAKERY_UUID_NAMESPACE, f"spdx:{subject.digest}")
    document = Document(
        creation_info=CreationInfo(
            spdx_version="SPDX-2.3",
            spdx_id="SPDXRef-DOCUMENT",
            name=subject.name,
            document_namespace=f"{SPDX_NAMESPACE_BASE}/{_spdx_id_part(subject.name)}-{namespace}",
            creators=[Actor(ActorType.TOOL, f"{TOOL_NAME}-{__version__}")],
            created=subject.created,
        )
    )
    image = _spdx_image(subject)
    document.packages.append(image)
    document.relationships.append(
        Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, image.spdx_id)
    )
    licences = _SpdxLicences(document)
    for entry in _entries(packages):
        package = _spdx_package(entry, licences)
        document.packages.append(package)
        document.relationships.append(
            Relationship(image.spdx_id, RelationshipType.CONTAINS, package.spdx_id)
        )
    data = DocumentConverter().convert(document)  # type: ignore[no-untyped-call]
    return json.dumps(data, ensure_ascii=False).encode() + b"\n"


# -- shared ------------------------------------------------------------------------------


def _subject(name: str, digest: str, repository_url: str | None, created: str) -> _Subject:
    """The validated description of the image, with its ``pkg:oci`` purl."""
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise UserError(f"invalid image digest {digest!r}", hint="expected sha256:<64 hex>")
    last = name.rstrip("/").rsplit("/", 1)[-1].split("@")[0].split(":")[0].lower().strip()
    if not last:
        raise UserError(f"invalid image name {name!r}", hint="expected e.g. golden/nginx")
    qualifiers = {"repository_url": repository_url} if repository_url else None
    purl = PackageURL("oci", None, last, digest, qualifiers).to_string()
    return _Subject(name, match.group(1), purl, _timestamp(created))


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


def _entries(packages: Iterable[Package]) -> list[_Entry]:
    """One entry per distinct purl, in catalog order; licences (blank ones dropped) and
    locations merged."""
    grouped: dict[str, list[Package]] = {}
    for package in sorted(packages, key=sort_key):
        grouped.setdefault(package.purl, []).append(package)
    return [_entry(same) for same in grouped.values()]


def _entry(same: list[Package]) -> _Entry:
    """The entry of packages that share one purl."""
    licences = (licence.strip() for package in same for licence in package.licenses)
    return _Entry(
        package=same[0],
        licenses=tuple(dict.fromkeys(licence for licence in licences if licence)),
        locations=tuple(dict.fromkeys(package.location for package in same)),
    )


# -- CycloneDX ---------------------------------------------------------------------------


def _cdx_tools() -> ToolRepository:
    """``metadata.tools``: Bakery itself, as a component (the CycloneDX 1.6 form)."""
    tool = Component(
        type=ComponentType.APPLICATION,
        name=TOOL_NAME,
        version=__version__,
        bom_ref=f"{TOOL_NAME}@{__version__}",
    )
    return ToolRepository(components=[tool])


def _cdx_component(entry: _Entry, licences: dict[str, License]) -> Component:
    """The CycloneDX component of one package; npm scopes become the ``group``."""
    package = entry.package
    purl = PackageURL.from_string(package.purl)
    return Component(
        type=ComponentType.LIBRARY,
        group=purl.namespace if package.type == "npm" else None,
        name=purl.name if package.type == "npm" else package.name,
        version=package.version,
        bom_ref=package.purl,
        purl=purl,
        licenses=_cdx_licences(entry.licenses, licences),
        properties=_cdx_properties(entry),
    )


def _cdx_licences(declared: Sequence[str], made: dict[str, License]) -> list[License]:
    """CycloneDX licences: one SPDX expression alone, else each licence by SPDX id or name
    (the schema allows one expression, or any number of id/name licences, not both).

    ``made`` holds the licences made so far in this document (many packages share one).
    """
    if len(declared) == 1 and " " in declared[0].strip() and is_expression(declared[0]):
        return [LicenseExpression(declared[0])]
    for value in declared:
        if value not in made:
            try:
                made[value] = _LICENSES.make_with_id(value)
            except InvalidSpdxLicenseException:
                made[value] = _LICENSES.make_with_name(value)
    return [made[value] for value in declared]


def _cdx_properties(entry: _Entry) -> list[Property]:
    """Properties for what CycloneDX has no field for: source package, architecture, where."""
    package = entry.package
    values = [
        ("source-name", package.source_name),
        ("source-version", package.source_version),
        ("architecture", package.architecture),
        *(("location", location) for location in entry.locations),
    ]
    return [Property(name=PROPERTY_PREFIX + key, value=v) for key, v in values if v]


# -- SPDX --------------------------------------------------------------------------------


def _spdx_id_part(text: str) -> str:
    """``text`` reduced to the characters an SPDX identifier allows."""
    return _NOT_IN_SPDX_ID.sub("-", text).strip("-") or "x"


def _ref_name(licence: str) -> str:
    """A licence name as the tail of a ``LicenseRef-`` (``GPL-2+`` → ``GPL-2plus``)."""
    return _spdx_id_part(licence.replace("+", "plus"))


def _spdx_image(subject: _Subject) -> SpdxPackage:
    """The SPDX package of the image itself."""
    return SpdxPackage(
        spdx_id=f"SPDXRef-Image-{subject.digest_hex[:16]}",
        name=subject.name,
        download_location=SpdxNoAssertion(),
        version=subject.digest,
        files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, subject.digest_hex)],
        external_references=[_purl_ref(subject.purl)],
        primary_package_purpose=PackagePurpose.CONTAINER,
    )


def _spdx_package(entry: _Entry, licences: _SpdxLicences) -> SpdxPackage:
    """The SPDX package of one entry; its id is derived from the purl."""
    package = entry.package
    digest = hashlib.sha256(package.purl.encode()).hexdigest()[:16]
    source = (
        f"built from the {package.type} source package {package.source_name} "
        f"{package.source_version}"
        if package.source_name
        else None
    )
    return SpdxPackage(
        spdx_id=f"SPDXRef-Package-{package.type}-{_spdx_id_part(package.name)}-{digest}",
        name=package.name,
        download_location=SpdxNoAssertion(),
        version=package.version,
        files_analyzed=False,
        source_info=source,
        license_concluded=SpdxNoAssertion(),
        license_declared=licences.expression(entry.licenses),
        comment="found in " + ", ".join(entry.locations),
        external_references=[_purl_ref(package.purl)],
        primary_package_purpose=PackagePurpose.LIBRARY,
    )


def _purl_ref(purl: str) -> ExternalPackageRef:
    """The PACKAGE-MANAGER/purl external reference of a purl."""
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)


class _SpdxLicences:
    """Declared licences as SPDX expressions. A licence that is not a valid SPDX expression
    (a Debian short name such as ``GPL-2+``) becomes a ``LicenseRef-`` declared once in the
    document's extracted licensing info, with the declared name as its text."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._parsed: dict[str, SpdxExpression] = {}
        self._refs: set[str] = set()

    def expression(self, declared: Sequence[str]) -> SpdxExpression | SpdxNoAssertion:
        """The ``licenseDeclared`` of a package: every declared licence, ANDed."""
        parts = [self._part(value) for value in declared]
        if not parts:
            return SpdxNoAssertion()
        return parts[0] if len(parts) == 1 else spdx_licensing.AND(*parts)

    def _part(self, value: str) -> SpdxExpression:
        """One declared licence, parsed once: itself if valid SPDX, else its ``LicenseRef-``."""
        if value not in self._parsed:
            try:
                self._parsed[value] = spdx_licensing.parse(value, validate=True, strict=True)
            except Exception:  # noqa: BLE001 - ExpressionError, or a crash on input like "()"
                self._parsed[value] = spdx_licensing.parse(self._ref(value))
        return self._parsed[value]

    def _ref(self, value: str) -> str:
        """Declare the ``LicenseRef-`` of a licence name that is not SPDX, and return it."""
        ref = value if _LICENSE_REF.fullmatch(value) else f"LicenseRef-{_ref_name(value)}"
        if ref in self._refs:
            ref += "-" + hashlib.sha256(value.encode()).hexdigest()[:8]
        self._refs.add(ref)
        self._document.extracted_licensing_info.append(
            ExtractedLicensingInfo(
                license_id=ref,
                extracted_text=value,
                license_name=value,
                comment="declared by the package; not an SPDX license identifier",
            )
        )
        return ref
