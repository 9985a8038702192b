"""Typed values every scanner shares: packages found in a rootfs, and findings about an image.

Catalogers produce :class:`Package`; the SBOM writers, the vulnerability matcher and the policy
gate consume them. Findings from every scanner (vulnerability, secret, misconfiguration) are
:class:`Finding` so that one policy gate and one report cover them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

PackageType = Literal["deb", "apk", "pypi", "npm"]
Severity = Literal["unknown", "low", "medium", "high", "critical"]
SEVERITY_ORDER: tuple[Severity, ...] = ("unknown", "low", "medium", "high", "critical")
Category = Literal["vulnerability", "secret", "misconfiguration", "license", "package"]
#: the note a scan without a vulnerability database carries (a bake warns about it)
NO_VULNDB = "no vulnerability database: run `bakery db import PATH` to load OSV data"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Package(_Frozen):
    """One installed package, as its own package database records it."""

    type: PackageType
    name: str
    version: str
    purl: str  # built with packageurl-python, never by hand
    architecture: str | None = None
    source_name: str | None = None  # deb: the Source package (vulnerabilities are per source)
    source_version: str | None = None
    licenses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # absolute paths inside the image, sorted
    location: str  # the database file it was read from, e.g. /var/lib/dpkg/status


class Finding(_Frozen):
    """One problem found in an image."""

    category: Category
    id: str  # vulnerability id (OSV/CVE), or a rule id such as "secret.aws-access-key"
    severity: Severity
    title: str
    path: str | None = None  # in the image, for secrets and misconfigurations
    line: int | None = None
    package: str | None = None  # purl, for vulnerabilities
    installed_version: str | None = None
    fixed_version: str | None = None
    aliases: tuple[str, ...] = ()
    detail: str = ""  # never contains a secret: scanners mask before building a Finding
    #: where a vulnerability's severity came from ("osv:cvss_v3", "nvd:cvss_v3.1",
    #: "debian-tracker:urgency", "none": see bakery.scan.vulndb); None for other findings and
    #: in results stored before it existed
    severity_source: str | None = None
