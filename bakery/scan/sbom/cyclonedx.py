"""CycloneDX 1.6 JSON SBOMs, built with cyclonedx-python-lib (see :mod:`bakery.scan.sbom`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

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
from packageurl import PackageURL

from bakery import __version__
from bakery.scan.model import Package
from bakery.scan.sbom import BAKERY_UUID_NAMESPACE, TOOL_NAME, Entry, describe_image, entries

PROPERTY_PREFIX = "bakery:package:"
_LICENSES = LicenseFactory()


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
    subject = describe_image(image_name, image_digest, repository_url, created)
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
    components = [_cdx_component(entry, licences) for entry in entries(packages)]
    bom.components.update(components)
    bom.register_dependency(image, components)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    return outputter.output_as_string().encode() + b"\n"


def _cdx_tools() -> ToolRepository:
    """``metadata.tools``: Bakery itself, as a component (the CycloneDX 1.6 form)."""
    tool = Component(
        type=ComponentType.APPLICATION,
        name=TOOL_NAME,
        version=__version__,
        bom_ref=f"{TOOL_NAME}@{__version__}",
    )
    return ToolRepository(components=[tool])


def _cdx_component(entry: Entry, licences: dict[str, License]) -> Component:
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


def _cdx_properties(entry: Entry) -> list[Property]:
    """Properties for what CycloneDX has no field for: source package, architecture, where."""
    package = entry.package
    values = [
        ("source-name", package.source_name),
        ("source-version", package.source_version),
        ("architecture", package.architecture),
        *(("location", location) for location in entry.locations),
    ]
    return [Property(name=PROPERTY_PREFIX + key, value=v) for key, v in values if v]
