"""The scan stage: SBOMs, vulnerabilities, secrets and misconfiguration of the finished image,
kept beside each output, then the policy gate. A verdict is cached per image, scanner version,
vulnerability DB, policy and day, so a warm re-bake scans nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bakery import __version__
from bakery.errors import PolicyViolation
from bakery.oci.digest import sha256_file
from bakery.oci.model import Descriptor, ImageConfig
from bakery.recipe.loader import LoadedRecipe
from bakery.result import ScanSummary
from bakery.rootfs.cache import StepCache, cache_key
from bakery.scan.model import NO_VULNDB
from bakery.store import Store

if TYPE_CHECKING:
    from bakery.scan.stage import ScanResult


@dataclass(frozen=True)
class ScanRequest:
    """What the scan stage needs from the bake."""

    loaded: LoadedRecipe
    store: Store
    cache: StepCache
    use_cache: bool
    #: a policy file overriding the recipe's (and the built-in default)
    policy: Path | None
    #: the day allowlist expiry dates are judged against
    today: date
    #: the image's config and the manifest of each output
    config_desc: Descriptor
    config: ImageConfig
    manifests: tuple[Descriptor, ...]
    #: the finished rootfs, made on demand (a cached verdict needs none)
    rootfs: Callable[[], Path]
    warn: Callable[[str], None]


def scan(request: ScanRequest) -> ScanSummary:
    """Scan the image, keep SBOMs and results beside each output, apply the policy gate."""
    loaded = request.loaded
    recipe = loaded.recipe
    policy_path = request.policy or (loaded.directory / recipe.policy if recipe.policy else None)
    vulndb = request.store.vulndb_path
    key = cache_key(
        "scan",
        request.config_desc.digest,
        [desc.digest for desc in request.manifests],
        __version__,
        _file_stamp(vulndb),
        sha256_file(policy_path) if policy_path is not None and policy_path.is_file() else None,
        request.today.isoformat(),
    )
    record = request.cache.get_scan(key) if request.use_cache else None
    if record is None:
        # the scanners (SBOM libraries above all) take a second to import: only on a miss
        from bakery.scan.policy import DEFAULT_POLICY, load_policy, render_table
        from bakery.scan.stage import ScanOptions, scan_image, store_report

        policy = load_policy(policy_path) if policy_path is not None else DEFAULT_POLICY
        options = ScanOptions(vulndb=vulndb, policy=policy, today=request.today)
        report = scan_image(request.rootfs(), request.config, options=options)
        for desc in request.manifests:
            store_report(request.store.oci, desc, report, image_name=recipe.name)
        table = render_table(report.result.policy, report.result.findings)
        record = _summary(report.result, table=table)
        request.cache.put_scan(key, record)
    if NO_VULNDB in record.notes:
        request.warn(NO_VULNDB)
    if not record.passed:
        raise PolicyViolation(
            f"{recipe.name} fails its policy"
            f" ({policy_path or 'the built-in default policy'}); nothing was tagged:\n"
            + record.table
        )
    return record


def _summary(result: ScanResult, *, table: str) -> ScanSummary:
    """The verdict as the bake reports (and caches) it."""
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding.category] = counts.get(finding.category, 0) + 1
    return ScanSummary(
        passed=result.policy.passed,
        packages=result.packages,
        findings=dict(sorted(counts.items())),
        violations=len(result.policy.violations),
        notes=tuple(result.notes),
        table=table,
    )


def _file_stamp(path: Path) -> list[int] | None:
    """Identifies a version of a file cheaply (for cache keys): size and mtime."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]
