"""``bakery verify``: does an image carry everything a consumer should demand?

For one image digest, read through any :class:`~bakery.oci.source.ContentSource`:

- ``signature``  a cosign signature over this very digest by one of the keys;
- ``provenance`` a signed SLSA v1 provenance whose subject is this digest;
- ``builder``    made by the expected builder id;
- ``scan``       a signed scan attestation, passing the policy when one is given;
- ``lineage``    the base named by the image's ``org.opencontainers.image.base.digest``
                 annotation agrees with the provenance's; each base is then verified the same
                 way (transitively) and reported under ``bases``.

Every check is reported, passed or failed; nothing stops at the first failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bakery.errors import BakeryError, SignatureError
from bakery.oci import mediatypes as mt
from bakery.oci.layout import MAX_DOCUMENT_SIZE
from bakery.oci.model import ImageManifest, parse_config, parse_manifest
from bakery.oci.source import ContentSource
from bakery.scan.model import Finding, Package
from bakery.scan.policy import Policy, evaluate
from bakery.sign.attestations import AttestationFindings, find_attestations, find_signatures
from bakery.sign.intoto import BAKERY_SCAN_V1, CYCLONEDX_BOM, SLSA_PROVENANCE_V1
from bakery.sign.keys import PublicKey
from bakery.sign.provenance import DEFAULT_BUILDER_ID, Provenance
from bakery.sign.refs import repository_of
from bakery.sign.sbomread import packages_from_cyclonedx

#: opens the source of another repository (a base image may live in another one)
SourceOpener = Callable[[str], ContentSource]
MAX_DEPTH = 16


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Check(_Out):
    """One verification check and its outcome."""

    name: str
    passed: bool
    detail: str


class VerifyReport(_Out):
    """The checks of one image, and the reports of its base images."""

    repository: str
    digest: str
    checks: tuple[Check, ...]
    bases: tuple[VerifyReport, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(b.passed for b in self.bases)

    def failures(self) -> list[str]:
        """One line per failed check, here and in every base."""
        lines = [
            f"{self.repository}@{self.digest}: {c.name}: {c.detail}"
            for c in self.checks
            if not c.passed
        ]
        return lines + [line for base in self.bases for line in base.failures()]

    def raise_for_failure(self) -> None:
        """SignatureError listing every failure, unless all checks passed."""
        failures = self.failures()
        if failures:
            raise SignatureError(
                f"{len(failures)} verification check(s) failed: " + "; ".join(failures),
                hint="sign it with `bakery sign` (and attest with `bakery attest`) using the key",
            )


@dataclass(frozen=True)
class VerifyOptions:
    """What to demand. ``today`` dates policy waivers; it is required with a ``policy``."""

    keys: tuple[PublicKey, ...]
    builder_id: str | None = DEFAULT_BUILDER_ID
    policy: Policy | None = None
    today: date | None = None
    require_provenance: bool = True
    require_scan: bool = True


def verify_image(
    source: ContentSource,
    digest: str,
    options: VerifyOptions,
    *,
    open_source: SourceOpener | None = None,
) -> VerifyReport:
    """Verify the image ``digest`` of ``source`` and, transitively, its base images."""
    if not options.keys:
        raise SignatureError("no public key to verify with", hint="pass --key cosign.pub")
    opener = open_source or (lambda _repository: source)
    return _Verifier(options, opener).image(source, digest, seen=frozenset())


def verify_base(
    source: ContentSource,
    digest: str,
    keys: tuple[PublicKey, ...],
    *,
    open_source: SourceOpener | None = None,
) -> VerifyReport:
    """Is the base image ``digest`` signed by one of ``keys`` (and so is its own lineage)?

    Only signatures are demanded, not provenance or scans: this is what a recipe asks of the
    images it builds on. ``report.raise_for_failure()`` makes a bake refuse.
    """
    options = VerifyOptions(
        keys=keys, builder_id=None, require_provenance=False, require_scan=False
    )
    return verify_image(source, digest, options, open_source=open_source)


class _Verifier:
    def __init__(self, options: VerifyOptions, opener: SourceOpener) -> None:
        self.options = options
        self.opener = opener

    def image(self, source: ContentSource, digest: str, *, seen: frozenset[str]) -> VerifyReport:
        checks = [self._signature(source, digest)]
        provenance: Provenance | None = None
        if self.options.require_provenance or self.options.require_scan:
            try:
                found = find_attestations(source, digest, self.options.keys)
            except BakeryError as e:  # unreadable: every attestation check fails, saying why
                found = AttestationFindings(total=1, statements=(), rejected=(e.message,))
            provenance = _provenance(found)
            if self.options.require_provenance:
                checks.append(_provenance_check(found, provenance))
                if self.options.builder_id is not None:
                    checks.append(_builder_check(provenance, self.options.builder_id))
            if self.options.require_scan:
                checks.append(self._scan(source, digest, found))
        lineage, bases = _lineage(source, digest, provenance)
        reports = []
        for repository, base in bases:
            if base in seen or len(seen) >= MAX_DEPTH:
                lineage = Check(
                    name="lineage", passed=False, detail=f"base {base} loops or nests too deep"
                )
                continue
            reports.append(self.image(self.opener(repository), base, seen=seen | {digest}))
        return VerifyReport(
            repository=source.repository,
            digest=digest,
            checks=(*checks, lineage),
            bases=tuple(reports),
        )

    def _signature(self, source: ContentSource, digest: str) -> Check:
        try:
            found = find_signatures(source, digest, self.options.keys)
        except BakeryError as e:
            return Check(name="signature", passed=False, detail=f"unreadable: {e.message}")
        if found.valid:
            who = ", ".join(sorted({k.key_id[:12] for k in found.valid_keys}))
            return Check(name="signature", passed=True, detail=f"signed by key {who}")
        if found.total == 0:
            return Check(
                name="signature",
                passed=False,
                detail="no cosign signature found (.sig tag or sigstore bundle)",
            )
        reasons = "; ".join(sorted(set(found.rejected)))
        return Check(
            name="signature",
            passed=False,
            detail=f"none of {found.total} signature(s) is valid for this digest: {reasons}",
        )

    def _scan(self, source: ContentSource, digest: str, found: AttestationFindings) -> Check:
        scans = found.of_type(BAKERY_SCAN_V1)
        if not scans:
            return Check(name="scan", passed=False, detail=_missing(found, "scan attestation"))
        try:
            findings = _findings(scans[-1].predicate)
        except SignatureError as e:
            return Check(name="scan", passed=False, detail=e.message)
        policy = self.options.policy
        if policy is None:
            return Check(
                name="scan", passed=True, detail=f"signed scan result, {len(findings)} findings"
            )
        today = self.options.today or date.today()
        sboms = found.of_type(CYCLONEDX_BOM)
        packages: list[Package] = packages_from_cyclonedx(sboms[-1].predicate) if sboms else []
        try:
            labels = _labels(source, digest)
        except BakeryError as e:
            return Check(
                name="scan", passed=False, detail=f"cannot read the image config: {e.message}"
            )
        verdict = evaluate(policy, findings, packages, labels, today=today)
        if verdict.passed:
            return Check(name="scan", passed=True, detail="signed scan result passes the policy")
        reasons = ", ".join(f"{v.rule} {v.subject}" for v in verdict.violations[:5])
        more = f" and {len(verdict.violations) - 5} more" if len(verdict.violations) > 5 else ""
        return Check(
            name="scan",
            passed=False,
            detail=f"{len(verdict.violations)} policy violation(s): {reasons}{more}",
        )


def _provenance(found: AttestationFindings) -> Provenance | None:
    """The newest signed SLSA v1 provenance about the image, if any parses."""
    for statement in reversed(found.of_type(SLSA_PROVENANCE_V1)):
        try:
            return Provenance.model_validate(statement.predicate, strict=False)
        except ValidationError:
            continue
    return None


def _provenance_check(found: AttestationFindings, provenance: Provenance | None) -> Check:
    if provenance is None:
        return Check(name="provenance", passed=False, detail=_missing(found, "SLSA provenance"))
    build_type = provenance.build_definition.build_type
    return Check(name="provenance", passed=True, detail=f"signed SLSA v1 provenance ({build_type})")


def _builder_check(provenance: Provenance | None, expected: str) -> Check:
    if provenance is None:
        return Check(name="builder", passed=False, detail="no signed provenance names a builder")
    actual = provenance.run_details.builder.id
    if actual != expected:
        return Check(name="builder", passed=False, detail=f"built by {actual}, expected {expected}")
    return Check(name="builder", passed=True, detail=f"built by {actual}")


def _missing(found: AttestationFindings, what: str) -> str:
    if found.total == 0:
        return f"no {what}: the image has no attestations (.att)"
    rejected = f" ({'; '.join(sorted(set(found.rejected)))})" if found.rejected else ""
    return f"no valid signed {what} among {found.total} attestation(s){rejected}"


def _findings(predicate: dict[str, Any]) -> list[Finding]:
    try:
        return [Finding.model_validate(f) for f in predicate["result"]["findings"]]
    except (KeyError, TypeError, ValidationError) as e:
        raise SignatureError(f"the scan attestation is malformed: {e}") from e


def _labels(source: ContentSource, digest: str) -> dict[str, str]:
    manifest = _manifest(source, digest)
    if manifest is None or manifest.config.media_type not in mt.CONFIG_TYPES:
        return {}
    data = source.fetch_blob(manifest.config.digest, max_size=MAX_DOCUMENT_SIZE)
    config = parse_config(data, source=f"image config {manifest.config.digest}")
    return dict((config.config.labels if config.config else None) or {})


def _manifest(source: ContentSource, digest: str) -> ImageManifest | None:
    _, raw = source.fetch_manifest(digest)
    manifest = parse_manifest(raw, source=f"manifest {digest}")
    return manifest if isinstance(manifest, ImageManifest) else None


def _lineage(
    source: ContentSource, digest: str, provenance: Provenance | None
) -> tuple[Check, list[tuple[str, str]]]:
    """The lineage check and the (repository, digest) of each base to verify next."""
    try:
        manifest = _manifest(source, digest)
    except BakeryError as e:
        return Check(name="lineage", passed=False, detail=f"cannot read the image: {e.message}"), []
    annotations = (manifest.annotations if manifest else None) or {}
    bases: dict[str, str] = {}
    annotated = annotations.get(mt.ANN_BASE_DIGEST)
    if annotated:
        bases[annotated] = _repository_of(annotations.get(mt.ANN_BASE_NAME), source.repository)
    recorded = provenance.base_digests if provenance is not None else []
    for uri, base in recorded:
        name = uri.removeprefix("oci:") if uri else None
        bases.setdefault(base, _repository_of(name, source.repository))
    if annotated and recorded and annotated not in {d for _, d in recorded}:
        detail = f"the image names base {annotated}, its provenance {recorded[0][1]}"
        return Check(name="lineage", passed=False, detail=detail), [
            (r, d) for d, r in bases.items()
        ]
    if not bases:
        return Check(name="lineage", passed=True, detail="no base image"), []
    listed = ", ".join(f"{repository}@{base}" for base, repository in bases.items())
    return Check(name="lineage", passed=True, detail=f"base {listed}"), [
        (r, d) for d, r in bases.items()
    ]


def _repository_of(ref: str | None, default: str) -> str:
    """The repository a base's name is in; ``default`` (the image's own) when unnamed."""
    return repository_of(ref) if ref else default


def report_json(report: VerifyReport) -> str:
    """The report as indented JSON (with ``passed`` at every level)."""

    def document(r: VerifyReport) -> dict[str, Any]:
        return {
            "repository": r.repository,
            "digest": r.digest,
            "passed": r.passed,
            "checks": [c.model_dump() for c in r.checks],
            "bases": [document(b) for b in r.bases],
        }

    return json.dumps(document(report), indent=2)
