"""The scan stage: everything the scanners say about one image, and where it is kept.

:func:`scan_image` runs the catalogers, the vulnerability matcher, the secret and
misconfiguration scanners and the policy gate over an extracted rootfs. :func:`store_report`
keeps the CycloneDX and SPDX SBOMs and the scan result beside the image in the OCI layout, as
artifacts whose ``subject`` is the image manifest, so they travel with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bakery import __version__
from bakery.oci import mediatypes as mt
from bakery.oci.layout import OCILayout
from bakery.oci.model import EMPTY_CONTENT, EMPTY_DESCRIPTOR, Descriptor, ImageConfig, ImageManifest
from bakery.scan.catalog import catalog_rootfs
from bakery.scan.match import match
from bakery.scan.misconfig import scan_misconfig
from bakery.scan.model import NO_VULNDB, Finding, Package
from bakery.scan.policy import Policy, PolicyResult, evaluate
from bakery.scan.sbom.cyclonedx import cyclonedx_json
from bakery.scan.sbom.spdx import spdx_json
from bakery.scan.secrets import scan_secrets

CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
SCAN_RESULT = "application/vnd.bakery.scan.result.v1+json"


class ScanResult(BaseModel):
    """What the scan found and the policy verdict (stored as JSON beside the image)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scanner_version: str
    packages: int
    findings: list[Finding]
    notes: list[str]
    vulnerability_db: str | None
    policy: PolicyResult


@dataclass(frozen=True)
class ScanReport:
    """A scan's result, the packages found, and the image's creation time (for the SBOMs)."""

    result: ScanResult
    packages: tuple[Package, ...]
    created: str


@dataclass(frozen=True)
class ScanOptions:
    """What to scan with: the vulnerability DB (None: not imported yet), the policy, today."""

    vulndb: Path | None
    policy: Policy
    today: date


def scan_image(rootfs: Path, config: ImageConfig, *, options: ScanOptions) -> ScanReport:
    """Scan an extracted image rootfs and judge it against the policy."""
    catalog = catalog_rootfs(rootfs)
    notes = list(catalog.notes)
    findings: list[Finding] = []
    if options.vulndb is not None and options.vulndb.exists():
        findings += match(options.vulndb, catalog.packages)
    else:
        notes.append(NO_VULNDB)
    secrets = scan_secrets(rootfs)
    findings += secrets.findings
    notes += secrets.notes
    findings += scan_misconfig(rootfs, config)
    labels = (config.config.labels if config.config is not None else None) or {}
    verdict = evaluate(options.policy, findings, catalog.packages, labels, today=options.today)
    result = ScanResult(
        scanner_version=__version__,
        packages=len(catalog.packages),
        findings=findings,
        notes=notes,
        vulnerability_db=str(options.vulndb) if options.vulndb is not None else None,
        policy=verdict,
    )
    created = config.created or "1970-01-01T00:00:00Z"
    return ScanReport(result=result, packages=tuple(catalog.packages), created=created)


def sbom(report: ScanReport, artifact_type: str, *, image_name: str, image_digest: str) -> bytes:
    """The CycloneDX or SPDX document of a scanned image."""
    write = cyclonedx_json if artifact_type == CYCLONEDX else spdx_json
    return write(
        report.packages,
        image_name=image_name,
        image_digest=image_digest,
        repository_url=None,
        created=report.created,
    )


def store_report(
    layout: OCILayout, image: Descriptor, report: ScanReport, *, image_name: str
) -> list[Descriptor]:
    """Keep both SBOMs and the scan result as referrers of ``image``; returns their manifests."""
    layout.put_blob(EMPTY_CONTENT, mt.EMPTY)
    result_json = json.dumps(report.result.model_dump(mode="json"), sort_keys=True).encode()
    documents = [
        (kind, sbom(report, kind, image_name=image_name, image_digest=image.digest))
        for kind in (CYCLONEDX, SPDX)
    ]
    stored = []
    for artifact_type, data in [*documents, (SCAN_RESULT, result_json)]:
        blob = layout.put_blob(data, artifact_type)
        manifest = ImageManifest(
            artifact_type=artifact_type,
            config=EMPTY_DESCRIPTOR,
            layers=[blob],
            subject=image,
            annotations={mt.ANN_CREATED: report.created},
        )
        desc = layout.put_json(manifest, mt.MANIFEST)
        layout.add_referrer(desc)
        stored.append(desc)
    return stored


def read_referrer(layout: OCILayout, image_digest: str, artifact_type: str) -> bytes | None:
    """The content of a stored artifact of ``artifact_type`` about the image, if any."""
    for desc in reversed(layout.referrers(image_digest, artifact_type)):
        manifest = layout.read_manifest(desc)
        if isinstance(manifest, ImageManifest) and manifest.layers:
            return layout.read_blob(manifest.layers[0].digest, max_size=1 << 30)
    return None
