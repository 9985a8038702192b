"""SBOM documents: valid against the official schemas and validators, and deterministic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from bakery.errors import UserError
from bakery.scan.model import Package
from bakery.scan.sbom.cyclonedx import cyclonedx_json
from bakery.scan.sbom.spdx import spdx_json

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = {
    "image_name": "golden/nginx",
    "image_digest": DIGEST,
    "repository_url": "registry.example.com/golden/nginx",
    "created": "2023-11-14T22:13:20Z",
}
OCI_PURL = f"pkg:oci/nginx@sha256:{DIGEST[7:]}?repository_url=registry.example.com/golden/nginx"

PACKAGES = [
    Package(
        type="deb",
        name="libc6",
        version="2.36-9+deb12u4",
        purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        architecture="amd64",
        source_name="glibc",
        source_version="2.36-9+deb12u4",
        licenses=("LGPL-2.1+", "GPL-2+ with OpenSSL exception", "public-domain"),
        files=("/usr/lib/x86_64-linux-gnu/libc.so.6",),
        location="/var/lib/dpkg/status",
    ),
    Package(
        type="deb",
        name="login",
        version="1:4.13+dfsg1-1+b1",
        purl="pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12",
        architecture="amd64",
        source_name="shadow",
        source_version="1:4.13+dfsg1-1",
        licenses=("BSD-3-clause", "GPL-2+", "GPL-2"),
        location="/var/lib/dpkg/status",
    ),
    Package(
        type="apk",
        name="musl",
        version="1.2.4-r2",
        purl="pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
        architecture="x86_64",
        source_name="musl",
        source_version="1.2.4-r2",
        licenses=("MIT",),
        location="/lib/apk/db/installed",
    ),
    Package(
        type="pypi",
        name="PyYAML",
        version="6.0.1",
        purl="pkg:pypi/pyyaml@6.0.1",
        licenses=("MIT OR Apache-2.0",),
        location="/usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA",
    ),
    Package(
        type="npm",
        name="@babel/core",
        version="7.23.9",
        purl="pkg:npm/%40babel/core@7.23.9",
        licenses=("MIT",),
        location="/app/node_modules/@babel/core/package.json",
    ),
    Package(  # the same npm package installed twice: one component, two locations
        type="npm",
        name="@babel/core",
        version="7.23.9",
        purl="pkg:npm/%40babel/core@7.23.9",
        licenses=("MIT", "LicenseRef-Custom"),
        location="/srv/node_modules/@babel/core/package.json",
    ),
]


def cdx(packages: list[Package] = PACKAGES, **overrides: Any) -> dict[str, Any]:
    data = cyclonedx_json(packages, **{**IMAGE, **overrides})
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode())
    assert error is None, error
    document: dict[str, Any] = json.loads(data)
    return document


def spdx(tmp_path: Path, packages: list[Package] = PACKAGES) -> tuple[dict[str, Any], Document]:
    """The SPDX document as JSON and as parsed back by spdx-tools, validated."""
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_json(packages, **IMAGE))
    parsed = parse_from_file(str(path))
    assert validate_full_spdx_document(parsed) == []
    return json.loads(path.read_bytes()), parsed


# -- CycloneDX -------------------------------------------------------------------------------


def test_cyclonedx_describes_the_image() -> None:
    document = cdx()

    assert document["specVersion"] == "1.6"
    assert document["serialNumber"].startswith("urn:uuid:")
    metadata = document["metadata"]
    assert metadata["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert metadata["tools"]["components"][0]["name"] == "bakery"
    image = metadata["component"]
    assert image["type"] == "container" and image["name"] == "golden/nginx"
    assert image["purl"] == image["bom-ref"] == OCI_PURL
    assert image["hashes"] == [{"alg": "SHA-256", "content": DIGEST[7:]}]
    root = next(d for d in document["dependencies"] if d["ref"] == OCI_PURL)
    assert sorted(root["dependsOn"]) == sorted({p.purl for p in PACKAGES})


def test_cyclonedx_components() -> None:
    components = {c["bom-ref"]: c for c in cdx()["components"]}

    assert len(components) == 5  # the two @babel/core are one component
    for component in components.values():
        assert component["purl"] == component["bom-ref"]
        assert component["type"] == "library"
    libc = components[PACKAGES[0].purl]
    assert (libc["name"], libc["version"]) == ("libc6", "2.36-9+deb12u4")
    assert {"name": "bakery:package:source-name", "value": "glibc"} in libc["properties"]
    assert {"name": "bakery:package:architecture", "value": "amd64"} in libc["properties"]
    # SPDX ids where the declared name is one (even a deprecated one), else the name as is
    assert libc["licenses"] == [
        {"license": {"id": "LGPL-2.1+"}},
        {"license": {"name": "GPL-2+ with OpenSSL exception"}},
        {"license": {"name": "public-domain"}},
    ]
    assert components[PACKAGES[2].purl]["licenses"] == [{"license": {"id": "MIT"}}]
    assert components[PACKAGES[3].purl]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    babel = components[PACKAGES[4].purl]
    assert (babel["group"], babel["name"]) == ("@babel", "core")
    locations = [p["value"] for p in babel["properties"] if p["name"].endswith(":location")]
    assert locations == [PACKAGES[4].location, PACKAGES[5].location]
    assert {"license": {"name": "LicenseRef-Custom"}} in babel["licenses"]


def test_cyclonedx_is_deterministic() -> None:
    first = cyclonedx_json(PACKAGES, **IMAGE)
    assert cyclonedx_json(list(reversed(PACKAGES)), **IMAGE) == first
    other = cyclonedx_json(PACKAGES, **{**IMAGE, "image_digest": "sha256:" + "f" * 64})
    assert json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]


def test_cyclonedx_without_packages_or_repository() -> None:
    document = cdx([], repository_url=None)
    assert document["metadata"]["component"]["purl"] == f"pkg:oci/nginx@sha256:{DIGEST[7:]}"
    assert document.get("components", []) == []


# -- SPDX ------------------------------------------------------------------------------------


def test_spdx_is_valid_and_parses_back(tmp_path: Path) -> None:
    document, parsed = spdx(tmp_path)

    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["creationInfo"] == {
        "created": "2023-11-14T22:13:20Z",
        "creators": ["Tool: bakery-0.1.0"],
    }
    assert document["documentNamespace"].startswith("https://bakery.dev/spdx/golden-nginx-")
    assert len(parsed.packages) == 6  # the image and five distinct purls


def test_spdx_relationships_and_purls(tmp_path: Path) -> None:
    document, _ = spdx(tmp_path)
    packages = {p["SPDXID"]: p for p in document["packages"]}
    image_id = next(i for i, p in packages.items() if p.get("primaryPackagePurpose") == "CONTAINER")
    relationships = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }

    assert ("SPDXRef-DOCUMENT", "DESCRIBES", image_id) in relationships
    contained = {r[2] for r in relationships if r[:2] == (image_id, "CONTAINS")}
    assert contained == set(packages) - {image_id}
    purls = {
        ref["referenceLocator"]
        for p in packages.values()
        for ref in p["externalRefs"]
        if (ref["referenceCategory"], ref["referenceType"]) == ("PACKAGE_MANAGER", "purl")
    }
    assert purls == {p.purl for p in PACKAGES} | {OCI_PURL}
    assert packages[image_id]["checksums"] == [{"algorithm": "SHA256", "checksumValue": DIGEST[7:]}]


def test_spdx_licences(tmp_path: Path) -> None:
    document, _ = spdx(tmp_path)
    declared = {p["name"]: p.get("licenseDeclared") for p in document["packages"]}
    refs = {e["licenseId"]: e["extractedText"] for e in document["hasExtractedLicensingInfos"]}

    assert declared["musl"] == "MIT"
    assert declared["PyYAML"] == "MIT OR Apache-2.0"
    assert declared["@babel/core"] == "MIT AND LicenseRef-Custom"
    # Debian names are not SPDX: each becomes a LicenseRef- declared once, its text the name
    login = declared["login"].split(" AND ")
    assert login[0] == "BSD-3-Clause"
    assert [refs[ref] for ref in login[1:]] == ["GPL-2+", "GPL-2"]
    assert sorted(refs.values()) == [  # each declared once, however many packages use it
        "GPL-2",
        "GPL-2+",
        "GPL-2+ with OpenSSL exception",
        "LicenseRef-Custom",
        "public-domain",
    ]
    assert refs["LicenseRef-Custom"] == "LicenseRef-Custom"  # already a LicenseRef: kept
    # license_expression knows the deprecated SPDX id LGPL-2.1+ and writes its current form
    assert declared["libc6"].startswith("LGPL-2.1-or-later AND LicenseRef-")
    assert declared["golden/nginx"] is None


def test_spdx_ands_expressions_with_parentheses(tmp_path: Path) -> None:
    package = PACKAGES[3].model_copy(update={"licenses": ("MIT OR Apache-2.0", "BSD-3-Clause")})
    document, _ = spdx(tmp_path, [package])
    assert document["packages"][1]["licenseDeclared"] == "(MIT OR Apache-2.0) AND BSD-3-Clause"


def test_spdx_is_deterministic(tmp_path: Path) -> None:
    first = spdx_json(PACKAGES, **IMAGE)
    assert spdx_json(list(reversed(PACKAGES)), **IMAGE) == first
    assert spdx_json([], **IMAGE) != first
    document, _ = spdx(tmp_path, [])
    assert len(document["packages"]) == 1


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [cyclonedx_json, spdx_json])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_digest", "sha256:abc"),
        ("image_digest", "0123456789abcdef" * 4),
        ("created", "yesterday"),
        ("created", "2023-11-14T22:13:20"),  # no time zone: ambiguous
        ("image_name", " "),
    ],
)
def test_bad_image_description(writer: Any, field: str, value: str) -> None:
    with pytest.raises(UserError):
        writer(PACKAGES, **{**IMAGE, field: value})


def test_created_is_normalised_to_utc() -> None:
    document = cdx([], created="2023-11-15T00:13:20.123456789+02:00")
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"


@pytest.mark.parametrize("licences", [("()",), ("MIT AND",), ("(", "MIT"), (" ", "")])
def test_odd_licence_strings_still_make_valid_documents(
    tmp_path: Path, licences: tuple[str, ...]
) -> None:
    package = PACKAGES[2].model_copy(update={"licenses": licences})
    cdx([package])
    spdx(tmp_path, [package])
