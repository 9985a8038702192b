"""Commands of the scanner stage: scan, sbom, db import, db status."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from bakery import __version__
from bakery.cli.options import err, out, store_option
from bakery.errors import EXIT_POLICY, UserError
from bakery.oci.model import ImageManifest
from bakery.rootfs.layers import apply_layers
from bakery.store import Store


@click.command("scan")
@click.argument("ref")
@store_option
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
)
def scan_command(ref: str, store_dir: Path, policy: Path | None, fmt: str) -> None:
    """Scan REF (a tag or digest in the store): packages, vulnerabilities, secrets, misconfig.

    Exits 3 when the image fails the policy (--policy, else the built-in default). The SBOMs
    and the result are kept beside the image in the store.
    """
    from bakery.scan.policy import DEFAULT_POLICY, load_policy, render_table, to_sarif
    from bakery.scan.stage import ScanOptions, scan_image, store_report

    store = Store.open(store_dir)
    desc = store.oci.resolve(ref)
    manifest = store.oci.read_manifest(desc)
    if not isinstance(manifest, ImageManifest):
        raise UserError(f"{ref} is an index, not an image", hint="scan one of its images")
    config = store.oci.read_config(manifest)
    options = ScanOptions(
        vulndb=store.vulndb_path,
        policy=load_policy(policy) if policy is not None else DEFAULT_POLICY,
        today=date.today(),
    )
    with store.work_dir() as work:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        apply_layers(store.oci, manifest.layers, rootfs, on_warning=lambda m: err.print(m))
        report = scan_image(rootfs, config, options=options)
    store_report(store.oci, desc, report, image_name=ref.rsplit(":", 1)[0])
    result = report.result
    if fmt == "json":
        click.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    elif fmt == "sarif":
        click.echo(json.dumps(to_sarif(result.findings, tool_version=__version__), indent=2))
    else:
        out.print(render_table(result.policy, result.findings), markup=False, highlight=False)
    if not result.policy.passed:
        sys.exit(EXIT_POLICY)


@click.command("sbom")
@click.argument("ref")
@store_option
@click.option("--format", "fmt", type=click.Choice(["cyclonedx", "spdx"]), default="cyclonedx")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def sbom_command(ref: str, store_dir: Path, fmt: str, output: Path | None) -> None:
    """Print (or write) the SBOM of REF kept in the store by its bake or `bakery scan`."""
    from bakery.scan.stage import CYCLONEDX, SPDX, read_referrer

    store = Store.open(store_dir)
    desc = store.oci.resolve(ref)
    data = read_referrer(store.oci, desc.digest, CYCLONEDX if fmt == "cyclonedx" else SPDX)
    if data is None:
        raise UserError(f"no {fmt} SBOM is stored for {ref}", hint=f"run `bakery scan {ref}`")
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        out.print(f"wrote {output}")


@click.group("db")
def db_group() -> None:
    """The local vulnerability database (OSV data)."""


@db_group.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "osv", "nvd", "debian-tracker"]),
    default="auto",
    show_default=True,
    help="osv: records (a directory, .json or zip); nvd: NVD CVE JSON 2.0 (.json, .json.gz or "
    "a directory); debian-tracker: security-tracker.debian.org/tracker/data/json. "
    "auto tells them apart.",
)
def db_import_command(source: Path, store_dir: Path, fmt: str) -> None:
    """Load advisories (OSV) or severity data (NVD, Debian security tracker), in one transaction.

    Severity data is joined to the advisories through their CVE ids, whichever is imported
    first; every advisory is re-rated after each import.
    """
    from bakery.scan.enrich import detect_format, import_debian_tracker, import_nvd
    from bakery.scan.vulndb import import_osv

    store = Store.open(store_dir)
    kind = detect_format(source) if fmt == "auto" else fmt
    if kind == "osv":
        report = import_osv(store.vulndb_path, source)
        skipped = sum(report.skipped.values())
        out.print(f"imported {report.imported}, unchanged {report.unchanged}, skipped {skipped}")
        for reason, count in sorted(report.skipped.items()):
            out.print(f"  skipped {count}: {reason}")
        lines = [f"  e.g. {example}" for example in report.examples]
        lines += [f"  note: {note}" for note in report.notes]
    else:
        load = import_nvd if kind == "nvd" else import_debian_tracker
        enriched = load(store.vulndb_path, source)
        what = "NVD CVEs" if kind == "nvd" else "Debian tracker urgencies"
        out.print(
            f"imported {enriched.imported} {what}, unchanged {enriched.unchanged}; "
            f"{enriched.rerated} advisories re-rated"
        )
        lines = [f"  note: {note}" for note in enriched.notes]
    for line in lines:
        out.print(line, markup=False, highlight=False)


@db_group.command("status")
@store_option
@click.option("--json", "as_json", is_flag=True)
def db_status_command(store_dir: Path, as_json: bool) -> None:
    """Advisories per ecosystem and the newest `modified` date."""
    from bakery.scan.vulndb import status

    store = Store.open(store_dir)
    if not store.vulndb_path.exists():
        raise UserError("no vulnerability database yet", hint="run `bakery db import PATH`")
    info = status(store.vulndb_path)
    if as_json:
        click.echo(json.dumps(info.__dict__, indent=2))
        return
    out.print(f"{info.total} advisories, newest modified {info.newest_modified}")
    for ecosystem, count in sorted(info.counts_per_ecosystem.items()):
        out.print(f"  {ecosystem}: {count}")
    out.print(
        f"severity data: {info.nvd_cves} NVD CVEs, {info.debian_urgencies} Debian tracker urgencies"
    )
    for source, count in info.by_source.items():
        out.print(f"  rated by {source}: {count}")
