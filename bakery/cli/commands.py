"""The commands. Each parses its options, calls the library and renders; nothing more."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.table import Table

from bakery.cli.baking import BakeSettings, bake_recipe
from bakery.cli.options import err, out, store_option
from bakery.cli.render import ConsoleReporter, bake_json, bake_summary, human_size
from bakery.disk.artifact import ARTIFACT_TYPE as DISK_ARTIFACT_TYPE
from bakery.disk.artifact import export_disk, read_disk
from bakery.disk.convert import FORMATS as DISK_FORMATS
from bakery.errors import EXIT_FAILURE, StoreError, UserError
from bakery.oci.archive import export_docker_archive, export_oci_archive
from bakery.oci.mediatypes import CONFIG_TYPES
from bakery.oci.model import ImageManifest
from bakery.pipeline.bake import BakeOptions, bake
from bakery.pipeline.publish import PublishOptions
from bakery.recipe.lock import lock_path_for, render_lock, write_lock
from bakery.recipe.schema import render_schema
from bakery.store import Store

recipe_argument = click.argument(
    "recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@click.command("bake")
@click.argument("recipe", metavar="RECIPE|DIR", type=click.Path(exists=True, path_type=Path))
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--no-cache", is_flag=True, help="Run every step; reuse nothing from the step cache.")
@click.option("--locked", is_flag=True, help="Fail unless RECIPE.lock exists and is current.")
@click.option("--no-scan", is_flag=True, help="Skip the scan stage and its policy gate.")
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy file (default: the recipe's `policy:`, else the built-in policy).",
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="BAKERY_SIGNING_KEY",
    help="cosign.key to sign with (env BAKERY_SIGNING_KEY; password in COSIGN_PASSWORD). "
    "Default: the store's development key.",
)
@click.option("--no-sign", is_flag=True, help="Do not sign or attest what the bake made.")
@click.option("--no-record", is_flag=True, help="Do not record the bake in the metadata registry.")
@click.option(
    "--database-url",
    envvar="BAKERY_DATABASE_URL",
    help="Record into this database (postgresql+psycopg://…; env BAKERY_DATABASE_URL) "
    "instead of the store's SQLite.",
)
@click.option(
    "--registry-url",
    envvar="BAKERY_REGISTRY_URL",
    metavar="URL",
    help="Record on a running `bakery serve` instead (env BAKERY_REGISTRY_URL; a builder token "
    "in BAKERY_REGISTRY_TOKEN).",
)
@click.option(
    "--push",
    "push_to",
    metavar="DEST",
    help="Push the image (with its signatures and SBOMs) to HOST/REPO[:TAG]; without a tag, "
    "under each of the recipe's tags.",
)
@click.option("--insecure", is_flag=True, help="--push: allow plain HTTP to a non-loopback host.")
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PEM",
    help="--registry-url and --push: trust the CA certificates in this PEM file for TLS "
    "(default: $SSL_CERT_FILE, else the certifi bundle).",
)
@click.option(
    "--changed",
    is_flag=True,
    help="DIR: bake only the stale recipes and those built on them (see `bakery plan DIR`).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="DIR: bake up to N recipes at a time, each after its base (default 1).",
)
def bake_command(
    recipe: Path,
    store_dir: Path,
    as_json: bool,
    no_cache: bool,
    locked: bool,
    no_scan: bool,
    policy: Path | None,
    key: Path | None,
    no_sign: bool,
    no_record: bool,
    database_url: str | None,
    registry_url: str | None,
    push_to: str | None,
    insecure: bool,
    ca_file: Path | None,
    changed: bool,
    jobs: int | None,
) -> None:
    """Bake RECIPE into the local store, tag, sign, record and (with --push) push it.

    Uses RECIPE.lock (beside the recipe) when it exists and is current. Every recipe the
    bake bakes (a parent too) is signed (SLSA provenance, SBOM and scan attestations) and
    recorded in the metadata registry; only RECIPE's image is pushed.

    With a directory, bakes every recipe under it, each after its base (`bakery plan DIR`
    shows the order): --changed bakes only the stale ones, --jobs N bakes N at a time. A
    failure stops the recipes built on the failed one only; all failures are listed at the end
    and the exit code is 1 if any.
    """
    settings = BakeSettings(
        store_dir=store_dir.absolute(),
        use_cache=not no_cache,
        locked=locked,
        scan=not no_scan,
        policy=policy,
        publishing=PublishOptions(sign=not no_sign, key=key, push=push_to, insecure=insecure),
        record=not no_record,
        database_url=database_url,
        registry_url=registry_url,
        ca_file=ca_file,
    )
    if recipe.is_dir():
        if push_to:
            raise UserError(
                "--push takes one recipe, not a directory",
                hint="bake the directory, then `bakery push REF DEST` each image",
            )
        from bakery.cli.fleet import bake_tree

        bake_tree(recipe, settings, changed=changed, jobs=jobs or 1, as_json=as_json)
        return
    if changed or jobs is not None:
        raise UserError(
            "--changed and --jobs are for a directory of recipes, not one recipe",
            hint=f"bakery bake {recipe.parent} --changed --jobs 2",
        )
    result, published = bake_recipe(recipe, settings, ConsoleReporter(err))
    if as_json:
        click.echo(bake_json(result, published))
    else:
        out.print(bake_summary(result, published[-1] if published else None))


@click.command("lock")
@recipe_argument
@store_option
@click.option(
    "--update", is_flag=True, help="Re-resolve everything from the mirror and registries."
)
@click.option(
    "--check", is_flag=True, help="Only report whether the lock would change (exit 1 if so)."
)
def lock_command(recipe: Path, store_dir: Path, update: bool, check: bool) -> None:
    """Resolve every moving input of RECIPE into RECIPE.lock.

    Debian packages (with dependencies) get exact versions and .deb sha256s, bases their
    digests, copied files their sha256. Unchanged parts keep their pins unless --update.
    """
    options = BakeOptions(
        store=Store.open(store_dir),
        environ=dict(os.environ),
        use_cache=not update,
        lock_mode=True,
        ignore_lock=update,
        reporter=ConsoleReporter(err),
    )
    result = bake(recipe, options)
    path = lock_path_for(recipe)
    text = render_lock(result.lock)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != text:
            err.print(f"{path} is out of date")
            sys.exit(EXIT_FAILURE)
        err.print(f"{path} is up to date")
        return
    write_lock(result.lock, path)
    packages = len(result.lock.base.packages) + sum(len(s.packages) for s in result.lock.steps)
    verb = "unchanged" if current == text else "written"
    out.print(f"{path} {verb}: {packages} Debian packages, base {result.lock.base.kind}")


@click.command("images")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def images_command(store_dir: Path, as_json: bool) -> None:
    """List the tags in the local store with their digests."""
    layout = Store.open(store_dir).oci
    rows: list[dict[str, str | int]] = []
    for name, desc in layout.tags():
        manifest = layout.read_manifest(desc.digest)
        size = desc.size
        if isinstance(manifest, ImageManifest):
            size += manifest.config.size + sum(layer.size for layer in manifest.layers)
        created = (desc.annotations or {}).get("org.opencontainers.image.created", "")
        rows.append({"tag": name, "digest": desc.digest, "size": size, "created": created})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None)
    for column in ("TAG", "DIGEST", "SIZE"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["tag"]), str(row["digest"])[:19] + "…", human_size(int(row["size"])))
    out.print(table)


@click.command("inspect")
@click.argument("ref")
@store_option
def inspect_command(ref: str, store_dir: Path) -> None:
    """Print the manifest, config and layers of REF (a tag or digest) as JSON."""
    layout = Store.open(store_dir).oci
    desc = layout.resolve(ref)
    manifest = layout.read_manifest(desc.digest)
    doc: dict[str, object] = {
        "digest": desc.digest,
        "manifest": json.loads(layout.read_blob(desc.digest)),
    }
    if isinstance(manifest, ImageManifest) and manifest.config.media_type not in CONFIG_TYPES:
        # an artifact (a disk, an SBOM, a signature): its config is not an image config
        doc["artifactType"] = manifest.artifact_type or manifest.config.media_type
        doc["layers"] = [
            {"digest": layer.digest, "size": layer.size, "mediaType": layer.media_type}
            for layer in manifest.layers
        ]
    elif isinstance(manifest, ImageManifest):
        config = layout.read_config(manifest)
        doc["config"] = json.loads(layout.read_blob(manifest.config.digest))
        doc["layers"] = [
            {
                "digest": layer.digest,
                "diff_id": diff_id,
                "size": layer.size,
                "mediaType": layer.media_type,
            }
            for layer, diff_id in zip(manifest.layers, config.rootfs.diff_ids, strict=True)
        ]
    click.echo(json.dumps(doc, indent=2))


@click.command("export")
@click.argument("ref")
@store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci-archive", "docker-archive", *DISK_FORMATS]),
    default=None,
    help="oci-archive (default) or docker-archive for images; raw, qcow2, vmdk or vhdx for"
    " disks (default: the format it was baked in; others are converted with qemu-img).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export_command(ref: str, store_dir: Path, fmt: str | None, output: Path) -> None:
    """Export REF: an image as a tar archive that other tools load (docker load, skopeo,
    podman), or a disk image as a file that hypervisors boot."""
    layout = Store.open(store_dir).oci
    manifest = layout.read_manifest(layout.resolve(ref))
    if isinstance(manifest, ImageManifest) and manifest.artifact_type == DISK_ARTIFACT_TYPE:
        disk_format = fmt or read_disk(layout, ref).format
        if disk_format not in DISK_FORMATS:
            raise UserError(
                f"{ref} is a disk image: it exports as {', '.join(DISK_FORMATS)}, not {fmt}"
            )
        export_disk(layout, ref, disk_format, output)
    elif fmt in DISK_FORMATS:
        raise UserError(f"{ref} is not a disk image: --format {fmt} is for disks")
    elif fmt in (None, "oci-archive"):
        export_oci_archive(layout, ref, output)
    else:
        repo_tag = ref if ":" in ref and not ref.startswith("sha256:") else f"{ref}:latest"
        export_docker_archive(layout, ref, output, repo_tag=repo_tag)
    out.print(f"wrote {output} ({human_size(output.stat().st_size)})")


@click.group("store")
def store_group() -> None:
    """Maintain the local store."""


@store_group.command("check")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON.")
def store_check_command(store_dir: Path, as_json: bool) -> None:
    """Verify every blob's hash and every reference; exit 1 on any error."""
    layout = Store.open(store_dir).oci
    problems = layout.check()
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"severity": p.severity, "location": p.location, "message": p.message}
                    for p in problems
                ],
                indent=2,
            )
        )
    else:
        for p in problems:
            colour = "red" if p.severity == "error" else "yellow"
            out.print(f"[{colour}]{p.severity}[/]: {p.location}: {p.message}")
        out.print(
            f"store {store_dir}: {len(errors)} errors, {len(problems) - len(errors)} warnings"
        )
    if errors:
        raise StoreError(f"the store at {store_dir} has {len(errors)} problems (listed above)")


@click.command("schema")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def schema_command(output: Path | None) -> None:
    """Print (or write) the JSON Schema of recipes."""
    text = render_schema()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
