"""SPDX 2.3 JSON SBOMs, built with spdx-tools (see :mod:`bakery.scan.sbom`).

spdx-tools costs about 0.3 s to import (beartype), which is why it lives apart from CycloneDX.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence

from license_expression import LicenseExpression as SpdxExpression
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
from bakery.scan.model import Package
from bakery.scan.sbom import (
    BAKERY_UUID_NAMESPACE,
    TOOL_NAME,
    Entry,
    Subject,
    describe_image,
    entries,
)

SPDX_NAMESPACE_BASE = "https://bakery.dev/spdx"
_NOT_IN_SPDX_ID = re.compile(r"[^A-Za-z0-9.-]+")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


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
    subject = describe_image(image_name, image_digest, repository_url, created)
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
    for entry in entries(packages):
        package = _spdx_package(entry, licences)
        document.packages.append(package)
        document.relationships.append(
            Relationship(image.spdx_id, RelationshipType.CONTAINS, package.spdx_id)
        )
    data = DocumentConverter().convert(document)  # type: ignore[no-untyped-call]
    return json.dumps(data, ensure_ascii=False).encode() + b"\n"


def _spdx_id_part(text: str) -> str:
    """``text`` reduced to the characters an SPDX identifier allows."""
    return _NOT_IN_SPDX_ID.sub("-", text).strip("-") or "x"


def _ref_name(licence: str) -> str:
    """A licence name as the tail of a ``LicenseRef-`` (``GPL-2+`` → ``GPL-2plus``)."""
    return _spdx_id_part(licence.replace("+", "plus"))


def _spdx_image(subject: Subject) -> SpdxPackage:
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


def _spdx_package(entry: Entry, licences: _SpdxLicences) -> SpdxPackage:
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
