"""Packages read back from an attested CycloneDX SBOM, for judging a policy at verify time."""

from __future__ import annotations

from typing import Any, get_args

from packageurl import PackageURL

from bakery.scan.model import Package, PackageType

_TYPES: frozenset[str] = frozenset(get_args(PackageType))


def packages_from_cyclonedx(bom: dict[str, Any]) -> list[Package]:
    """The packages of a CycloneDX document (components with a purl of a known type)."""
    packages = []
    for component in bom.get("components") or []:
        if not isinstance(component, dict) or not isinstance(component.get("purl"), str):
            continue
        try:
            purl = PackageURL.from_string(component["purl"])
        except ValueError:
            continue
        if purl.type not in _TYPES:
            continue
        packages.append(
            Package(
                type=purl.type,
                name=str(component.get("name") or purl.name),
                version=str(component.get("version") or purl.version or ""),
                purl=component["purl"],
                licenses=tuple(_licences(component.get("licenses"))),
                location="sbom",
            )
        )
    return packages


def _licences(entries: object) -> list[str]:
    found: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("expression"), str):
            found.append(entry["expression"])
        licence = entry.get("license")
        if isinstance(licence, dict):
            value = licence.get("id") or licence.get("name")
            if isinstance(value, str):
                found.append(value)
    return found
