"""The policy gate: which findings, packages and missing labels fail an image; SARIF output.

A policy file (strict: unknown keys are errors, reported as ``file:line``)::

    apiVersion: bakery.dev/v1
    kind: Policy
    maxSeverity: {vulnerability: high, secret: none, misconfiguration: medium}
    unknownSeverity: fail
    ignoreUnfixed: true
    forbidden: {packages: [telnetd, "pkg:deb/debian/openssl@3.0.11*"], licenses: [AGPL-3.0-only]}
    requiredLabels: [org.opencontainers.image.source]
    allow:
      - {id: CVE-2023-1234, reason: "not reachable: we never call X", expires: 2027-01-31}
      - {id: secret.aws-access-key, path: "/opt/app/test-fixtures/*", reason: "...",
         expires: 2026-12-31}

- ``maxSeverity``: per finding category, the highest severity that passes; findings *above* it
  fail. ``none`` fails on any finding, ``critical`` never fails.
- ``unknownSeverity`` (default ``fail``): how a vulnerability whose severity is still
  ``unknown`` after enrichment (no CVSS vector, urgency or severity word from the advisory, NVD
  or the Debian tracker: ``severity_source: none``) is judged. ``fail``: it fails whatever the
  ``maxSeverity`` limit, as a vulnerability nobody has rated may be critical; ``ignoreUnfixed``
  and ``allow`` still apply. ``pass``: ``unknown`` ranks lowest and passes any limit but
  ``none``, as for the other categories, whose rules always rate their findings.
- ``ignoreUnfixed`` (default true): vulnerabilities without a fixed version do not fail (they
  are listed in :attr:`PolicyResult.ignored_unfixed`), since no rebuild can remove them. Set it
  to false to fail on them too, and waive them one by one in ``allow``.
- ``forbidden.packages``: a glob on the package name (``telnetd``, ``python3-*``) or, when it
  starts with ``pkg:``, on the purl as written in the SBOM (also tried percent-decoded).
  ``forbidden.licenses``: globs on SPDX ids, case-insensitive. A package fails when its
  licences force a forbidden one: ``MIT OR AGPL-3.0-only`` does not (MIT can be chosen),
  ``GPL-2.0-only AND AGPL-3.0-only`` does. Forbidden packages and licences cannot be allowed:
  remove them from the list instead.
- ``requiredLabels``: image config labels that must be set to a non-empty value.
- ``allow``: waivers, each with a ``reason`` and an ``expires`` date (the last day it applies).
  An entry matches a finding whose id or any alias equals ``id`` (case-insensitive) and, when
  ``path`` is given, whose path matches that glob (``*`` also matches ``/``). An expired entry
  matches nothing and is reported in :attr:`PolicyResult.expired_allowances`. Findings that
  break the policy but are waived are listed in :attr:`PolicyResult.allowed`.

:data:`DEFAULT_POLICY` (a policy file with only ``apiVersion`` and ``kind``) fails on: any
secret; misconfigurations rated high or critical (running as root, setuid files outside the
minbase allowlist, world-writable directories without the sticky bit, SSH host keys, private
keys, empty passwords); vulnerabilities that have a fixed version and are rated high or
critical, or are still unknown after enrichment; licence and package findings rated high or
critical. A vulnerability without a fix never fails it; an ``allow`` entry (with its reason
and expiry) waives one that does. It requires no label and forbids nothing. It passes an
up-to-date Debian minbase image that runs as a non-root user (the golden debian-base), and
fails an image with any one of: a private key, a cloud key, a setuid binary, a world-writable
directory, SSH host keys, a package with a fixable high, critical or unrated vulnerability, or
no ``User``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, TypeVar
from urllib.parse import unquote

from packageurl import PackageURL
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError

from bakery.errors import PolicyError, UserError
from bakery.scan.licenses import choices
from bakery.scan.model import SEVERITY_ORDER, Category, Finding, Package, Severity
from bakery.yamldoc import compose, validation_error

API_VERSION = "bakery.dev/v1"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
#: GitHub code scanning's ``security-severity`` for each severity (unknown has none).
SECURITY_SEVERITY: dict[Severity, str] = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "2.0",
}

Threshold = Literal["none", "unknown", "low", "medium", "high", "critical"]

_T = TypeVar("_T")
#: A YAML list, held as a tuple (lists are accepted although the models are strict).
_Seq: TypeAlias = Annotated[tuple[_T, ...], Strict(False)]
_NonEmpty = Annotated[str, Field(min_length=1)]


def _iso_date(value: Any) -> Any:
    """A date written as YAML's 2027-01-31 or as the string "2027-01-31" (not a timestamp)."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) or not isinstance(value, date):
        raise PydanticCustomError(
            "date", "expected a date like 2027-01-31, got {value}", {"value": str(value)}
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class MaxSeverity(_Model):
    """Per category, the highest severity that passes (``none``: every finding fails)."""

    vulnerability: Threshold = "medium"
    secret: Threshold = "none"  # noqa: S105 (a severity limit, not a password)
    misconfiguration: Threshold = "medium"
    license: Threshold = "medium"
    package: Threshold = "medium"

    def limit(self, category: Category) -> Threshold:
        """The limit for findings of ``category``."""
        limit: Threshold = getattr(self, category)
        return limit


class Forbidden(_Model):
    """Packages (name or purl globs) and licences (SPDX id globs) an image must not have."""

    packages: _Seq[_NonEmpty] = ()
    licenses: _Seq[_NonEmpty] = ()


class Allowance(_Model):
    """A waiver for findings with one id (optionally under a path glob), until it expires."""

    id: _NonEmpty
    path: _NonEmpty | None = None
    reason: _NonEmpty
    expires: Annotated[date, BeforeValidator(_iso_date)]

    def active(self, today: date) -> bool:
        """True until the end of the ``expires`` day."""
        return today <= self.expires

    def matches(self, finding: Finding) -> bool:
        """True when ``finding`` has this id (or alias) and, if a path is given, a match."""
        ids = {finding.id.casefold(), *(alias.casefold() for alias in finding.aliases)}
        if self.id.casefold() not in ids:
            return False
        return self.path is None or (
            finding.path is not None and fnmatchcase(finding.path, self.path)
        )


class Policy(_Model):
    """A policy file; see the module doc."""

    api_version: Literal["bakery.dev/v1"] = Field(alias="apiVersion")
    kind: Literal["Policy"]
    max_severity: MaxSeverity = Field(default_factory=MaxSeverity, alias="maxSeverity")
    unknown_severity: Literal["fail", "pass"] = Field(default="fail", alias="unknownSeverity")
    ignore_unfixed: bool = Field(default=True, alias="ignoreUnfixed")
    forbidden: Forbidden = Field(default_factory=Forbidden)
    required_labels: _Seq[_NonEmpty] = Field(default=(), alias="requiredLabels")
    allow: _Seq[Allowance] = ()


#: The policy used when a recipe names none; see the module doc.
DEFAULT_POLICY = Policy.model_validate({"apiVersion": API_VERSION, "kind": "Policy"})


class Violation(_Model):
    """One reason the image fails the policy."""

    rule: Literal["max-severity", "forbidden-package", "forbidden-license", "required-label"]
    subject: str  # the finding id, the package purl or the label
    severity: Severity | None = None
    path: str | None = None
    message: str
    finding: Finding | None = None


class AllowedFinding(_Model):
    """A finding that would fail the policy, waived by an allowance."""

    finding: Finding
    allowance: Allowance


class PolicyResult(_Model):
    """The verdict, why, and what the policy waived or ignored."""

    passed: bool
    violations: list[Violation]
    allowed: list[AllowedFinding]
    expired_allowances: list[Allowance]
    ignored_unfixed: list[Finding]


# --- loading -------------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``; UserError with ``file:line`` if wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"policy not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise UserError(f"cannot read policy {path}: {exc.strerror}") from exc
    return parse_policy(text, path)


def parse_policy(text: str, path: Path) -> Policy:
    """Validate policy ``text``; ``path`` is where it comes from, for error messages."""
    data, source = compose(text, path, error=PolicyError, kind="policy")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, path, PolicyError) from exc


# --- evaluation ----------------------------------------------------------------------------


def evaluate(
    policy: Policy,
    findings: Iterable[Finding],
    packages: Iterable[Package],
    labels: Mapping[str, str],
    *,
    today: date,
) -> PolicyResult:
    """Judge an image's findings, packages and config labels against ``policy``."""
    active = [allowance for allowance in policy.allow if allowance.active(today)]
    expired = [allowance for allowance in policy.allow if not allowance.active(today)]
    violations: list[Violation] = []
    allowed: list[AllowedFinding] = []
    ignored: list[Finding] = []
    for finding in findings:
        limit = policy.max_severity.limit(finding.category)
        unrated = _fails_unrated(policy, finding)
        if not unrated and not _above(finding.severity, limit):
            continue
        if _ignored_unfixed(policy, finding):
            ignored.append(finding)
            continue
        allowance = next((entry for entry in active if entry.matches(finding)), None)
        if allowance is not None:
            allowed.append(AllowedFinding(finding=finding, allowance=allowance))
            continue
        violations.append(_severity_violation(finding, limit, expired, unrated=unrated))
    package_list = list(packages)
    violations += _forbidden_packages(policy.forbidden.packages, package_list)
    violations += _forbidden_licenses(policy.forbidden.licenses, package_list)
    violations += _missing_labels(policy.required_labels, labels)
    return PolicyResult(
        passed=not violations,
        violations=violations,
        allowed=allowed,
        expired_allowances=expired,
        ignored_unfixed=ignored,
    )


def _ignored_unfixed(policy: Policy, finding: Finding) -> bool:
    """True for a vulnerability without a fix when the policy ignores those."""
    return (
        policy.ignore_unfixed and finding.category == "vulnerability" and not finding.fixed_version
    )


def _fails_unrated(policy: Policy, finding: Finding) -> bool:
    """True for a vulnerability of unknown severity when the policy fails those."""
    return (
        policy.unknown_severity == "fail"
        and finding.category == "vulnerability"
        and finding.severity == "unknown"
    )


def _above(severity: Severity, limit: Threshold) -> bool:
    """True when ``severity`` is above ``limit`` (everything is above ``none``)."""
    return limit == "none" or SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(limit)


def _severity_violation(
    finding: Finding, limit: Threshold, expired: list[Allowance], *, unrated: bool = False
) -> Violation:
    """The violation of a finding above its category's limit (or unrated, when that fails)."""
    message = f"{finding.category} findings above {limit!r} fail"
    if unrated:
        message = "vulnerabilities of unknown severity fail (unknownSeverity: fail)"
    lapsed = next((entry for entry in expired if entry.matches(finding)), None)
    if lapsed is not None:
        message += f" (its allowance expired on {lapsed.expires.isoformat()})"
    return Violation(
        rule="max-severity",
        subject=finding.id,
        severity=finding.severity,
        path=_where(finding),
        message=message,
        finding=finding,
    )


def _forbidden_packages(patterns: Sequence[str], packages: list[Package]) -> list[Violation]:
    """A violation per installed package matching a forbidden name or purl glob."""
    violations = []
    for package in packages:
        pattern = next((p for p in patterns if _package_matches(p, package)), None)
        if pattern is not None:
            violations.append(
                Violation(
                    rule="forbidden-package",
                    subject=package.purl,
                    path=package.location,
                    message=f"package {package.name} {package.version} is forbidden ({pattern})",
                )
            )
    return violations


def _package_matches(pattern: str, package: Package) -> bool:
    """True when ``pattern`` (a name glob, or a purl glob if it starts with pkg:) matches."""
    if pattern.startswith("pkg:"):
        return fnmatchcase(package.purl, pattern) or fnmatchcase(unquote(package.purl), pattern)
    return fnmatchcase(package.name, pattern)


def _forbidden_licenses(patterns: Sequence[str], packages: list[Package]) -> list[Violation]:
    """A violation per package whose licences force a forbidden one on the image."""
    if not patterns:
        return []
    lowered = [pattern.lower() for pattern in patterns]
    violations = []
    for package in packages:
        forced = sorted({name for text in package.licenses for name in _forced(text, lowered)})
        if forced:
            violations.append(
                Violation(
                    rule="forbidden-license",
                    subject=package.purl,
                    path=package.location,
                    message=f"package {package.name} is licensed {', '.join(forced)}",
                )
            )
    return violations


def _missing_labels(required: Sequence[str], labels: Mapping[str, str]) -> list[Violation]:
    """A violation per required label that is missing or empty."""
    return [
        Violation(rule="required-label", subject=label, message=f"label {label} is not set")
        for label in required
        if not labels.get(label)
    ]


# --- licence expressions -------------------------------------------------------------------


def _forced(expression: str, patterns: list[str]) -> set[str]:
    """The forbidden licences every choice ``expression`` allows includes (empty: none).

    The expression is expanded into its choices (``A OR (B AND C)`` is {A} or {B, C}); it
    forces a forbidden licence when each choice holds one.
    """
    forced: set[str] = set()
    for choice in choices(expression):
        hits = {name for name in choice if any(fnmatchcase(name.lower(), p) for p in patterns)}
        if not hits:
            return set()
        forced |= hits
    return forced


# --- rendering -----------------------------------------------------------------------------


def render_table(result: PolicyResult, findings: Sequence[Finding] = ()) -> str:
    """The result as plain text: a verdict line, tables of what failed, was waived, lapsed, then
    every finding, grouped by severity (most severe first), then package (or path), with
    counts and what the policy made of each."""
    lines = [_verdict(result)]
    if result.violations:
        rows = [
            [v.severity or "-", v.rule, v.subject, v.path or "-", v.message]
            for v in result.violations
        ]
        lines += ["", "Violations:", *_table(["SEVERITY", "RULE", "ID", "WHERE", "WHY"], rows)]
    if result.allowed:
        rows = [
            [
                a.finding.severity,
                a.finding.id,
                _where(a.finding) or "-",
                a.allowance.expires.isoformat(),
                a.allowance.reason,
            ]
            for a in result.allowed
        ]
        headers = ["SEVERITY", "ID", "WHERE", "EXPIRES", "REASON"]
        lines += ["", "Allowed:", *_table(headers, rows)]
    if result.expired_allowances:
        rows = [
            [a.id, a.path or "-", a.expires.isoformat(), a.reason]
            for a in result.expired_allowances
        ]
        lines += ["", "Expired allowances:", *_table(["ID", "PATH", "EXPIRED", "REASON"], rows)]
    if findings:
        lines += ["", *_findings_by_severity(result, findings)]
    return "\n".join(lines) + "\n"


_TITLE_WIDTH = 72


def _findings_by_severity(result: PolicyResult, findings: Sequence[Finding]) -> list[str]:
    """``Findings: N (critical a, ...)``, then per severity its count and, per package or
    path, its count and one aligned line per finding."""
    counts = Counter(f.severity for f in findings)
    levels = list(reversed(SEVERITY_ORDER))
    lines = [
        f"Findings: {len(findings)} ("
        + ", ".join(f"{level} {counts[level]}" for level in levels)
        + ")"
    ]
    verdicts = _verdicts(result)
    for level in levels:
        at_level = [f for f in findings if f.severity == level]
        if not at_level:
            continue
        lines.append(f"  {level.upper()}: {len(at_level)}")
        groups: dict[str, list[Finding]] = {}
        for finding in sorted(at_level, key=lambda f: (_subject(f), f.id)):
            groups.setdefault(_subject(finding), []).append(finding)
        for subject, members in groups.items():
            lines.append(f"    {subject}: {len(members)}")
            rows = [_finding_row(f, verdicts.get(_identity(f), "passes")) for f in members]
            lines += ["      " + line for line in _aligned(rows)]
    return lines


def _verdicts(result: PolicyResult) -> dict[tuple[str, ...], str]:
    """What the policy made of each finding it did not pass, by the finding's identity."""
    verdicts = {_identity(f): "ignored: no fix" for f in result.ignored_unfixed}
    verdicts |= {_identity(a.finding): "allowed" for a in result.allowed}
    verdicts |= {_identity(v.finding): "FAILS" for v in result.violations if v.finding}
    return verdicts


def _identity(finding: Finding) -> tuple[str, ...]:
    """What tells one finding from another in one scan."""
    return (finding.category, finding.id, finding.package or "", finding.path or "")


def _subject(finding: Finding) -> str:
    """The package (``name version``) or the path a finding is about, else ``image``."""
    if finding.package:
        try:
            purl = PackageURL.from_string(finding.package)
        except ValueError:
            return finding.package
        return f"{purl.name} {purl.version}" if purl.version else purl.name
    return finding.path or "image"


def _finding_row(finding: Finding, verdict: str) -> list[str]:
    """id (and aliases), fix, severity source, verdict, title (shortened)."""
    if finding.category == "vulnerability":
        fix = f"fixed in {finding.fixed_version}" if finding.fixed_version else "no fix"
        source = finding.severity_source or "none"
    else:
        fix = f"{finding.category} (line {finding.line})" if finding.line else finding.category
        source = "rule"
    title = finding.title
    if len(title) > _TITLE_WIDTH:
        title = title[: _TITLE_WIDTH - 3].rstrip() + "..."
    return [_with_aliases(finding), fix, source, verdict, title]


def _with_aliases(finding: Finding, most: int = 2) -> str:
    """The id, with up to ``most`` aliases it does not already contain (a DSA's CVE ids)."""
    extra = [alias for alias in finding.aliases if alias not in finding.id]
    if not extra:
        return finding.id
    shown = ", ".join(extra[:most]) + (", ..." if len(extra) > most else "")
    return f"{finding.id} ({shown})"


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows with their columns aligned, two spaces apart."""
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _verdict(result: PolicyResult) -> str:
    """``Policy PASSED``/``Policy FAILED`` and the counts."""
    counts = [
        _count(len(result.violations), "violation"),
        _count(len(result.allowed), "allowed finding"),
        _count(len(result.expired_allowances), "expired allowance"),
        _count(len(result.ignored_unfixed), "ignored unfixed vulnerability", "ies"),
    ]
    return f"Policy {'PASSED' if result.passed else 'FAILED'}: {', '.join(counts)}"


def _count(number: int, noun: str, plural: str = "s") -> str:
    """``1 violation``, ``2 violations``, ``2 vulnerabilities``."""
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun[:-1] + plural if plural == 'ies' else noun + plural}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Rows aligned under their headers, two spaces between columns, indented by two."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]


def _where(finding: Finding) -> str | None:
    """``path:line``, ``path``, the package purl, or None."""
    if finding.path is not None:
        return f"{finding.path}:{finding.line}" if finding.line else finding.path
    return finding.package


# --- SARIF ---------------------------------------------------------------------------------


def to_sarif(
    findings: Iterable[Finding], *, tool_version: str, artifact_uri: str = "image"
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of ``findings`` for GitHub code scanning upload.

    One rule per finding id (with GitHub's ``security-severity``), one result per finding at
    its path inside the image (relative, so it reads like a repository path) and line;
    findings without a path (vulnerabilities) are located at ``artifact_uri``. Each result has
    a stable ``partialFingerprints`` entry so that re-uploads update alerts.
    """
    ordered = sorted(findings, key=_sort_key)
    rule_ids = sorted({finding.id for finding in ordered})
    rules = [_sarif_rule([f for f in ordered if f.id == rule_id]) for rule_id in rule_ids]
    index = {rule_id: position for position, rule_id in enumerate(rule_ids)}
    results = [_sarif_result(finding, index[finding.id], artifact_uri) for finding in ordered]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bakery",
                        "version": tool_version,
                        "semanticVersion": tool_version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


#: How to fix a finding of each category: the rule's ``help``, which GitHub requires (GH2012).
SARIF_HELP: dict[Category, str] = {
    "vulnerability": "Rebuild the image on a base or package set with the fixed version "
    "(`bakery lock --update`, then bake), or allowlist the id with a reason and an expiry.",
    "secret": "Remove the secret from the image and rotate it: it is readable by anyone who "
    "pulls the image. Pass build-time secrets with a step's `secrets:`, which never reach a layer.",
    "license": "Remove the package under this licence from the recipe, or change the policy's "
    "forbidden licences if it is acceptable.",
    "package": "Remove the forbidden package from the recipe (and from whatever pulls it in).",
    "misconfiguration": "Change the recipe so the image no longer has this property, or allowlist "
    "the rule with a reason and an expiry.",
}


def _sort_key(finding: Finding) -> tuple[str, str, int, str]:
    """Findings in a stable order: by id, then where."""
    return (finding.id, finding.path or "", finding.line or 0, finding.package or "")


def _sarif_rule(findings: list[Finding]) -> dict[str, Any]:
    """The reporting descriptor of one finding id (its worst severity across findings)."""
    first = findings[0]
    severity = max((f.severity for f in findings), key=SEVERITY_ORDER.index)
    properties: dict[str, Any] = {"tags": ["security", first.category], "precision": "high"}
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    rule: dict[str, Any] = {
        "id": first.id,
        "name": re.sub(r"[^A-Za-z0-9]+", "_", first.id),
        "shortDescription": {"text": first.title},
        "fullDescription": {"text": first.title},
        "defaultConfiguration": {"level": _level(severity)},
        "properties": properties,
    }
    if first.category == "vulnerability":
        rule["helpUri"] = f"https://osv.dev/vulnerability/{first.id}"
    remedy = SARIF_HELP[first.category]
    rule["help"] = {
        "text": f"{first.title}. {remedy}",
        "markdown": f"**{first.title}**\n\n{remedy}",
    }
    return rule


def _sarif_result(finding: Finding, rule_index: int, artifact_uri: str) -> dict[str, Any]:
    """One result: level, message (masked detail included), location, fingerprint."""
    uri = finding.path.lstrip("/") if finding.path else artifact_uri
    return {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": _level(finding.severity),
        "message": {"text": _message(finding)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": finding.line or 1},
                }
            }
        ],
        "partialFingerprints": {"bakeryFinding/v1": _fingerprint(finding)},
    }


def _message(finding: Finding) -> str:
    """What the result says: title, package and versions, detail."""
    text = f"{finding.title} [{finding.severity}]"
    if finding.package:
        text += f" in {finding.package}"
        if finding.installed_version:
            text += f" {finding.installed_version}"
        if finding.fixed_version:
            text += f" (fixed in {finding.fixed_version})"
    return f"{text}: {finding.detail}" if finding.detail else text


def _level(severity: Severity) -> str:
    """SARIF level: error for critical/high, warning for medium, note otherwise."""
    if severity in ("critical", "high"):
        return "error"
    return "warning" if severity == "medium" else "note"


def _fingerprint(finding: Finding) -> str:
    """A stable hash of what identifies a finding (never its secret: detail is excluded)."""
    parts = [finding.id, finding.path or "", str(finding.line or 0), finding.package or ""]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
