"""Commands of push, pull and copy between the local store and OCI registries."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.filesize import decimal

from bakery.cli.options import (
    ca_file_option,
    database_url_option,
    err,
    insecure_option,
    out,
    skip_verify_option,
    store_option,
)
from bakery.distribute import DEFAULT_JOBS

# The client (httpx, pydantic) and the store are imported when a command runs, not for --help.
if TYPE_CHECKING:
    from rich.progress import Progress

    from bakery.distribute.client import RegistryClient
    from bakery.distribute.transfer import Protected, TransferResult

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (for CI)."
)
jobs_option = click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=DEFAULT_JOBS,
    show_default=True,
    help="Blobs transferred at once.",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds a registry may stay silent before the request is retried.",
)


@dataclass(frozen=True, slots=True)
class _Transport:
    """How the command reaches registries: its --insecure, --insecure-skip-tls-verify,
    --ca-file and --timeout."""

    insecure: bool
    skip_tls_verify: bool
    ca_file: Path | None
    timeout: float


def _client(registry: str, transport: _Transport) -> RegistryClient:
    from bakery.distribute.client import ClientOptions
    from bakery.distribute.session import connect

    options = ClientOptions(
        insecure=transport.insecure,
        skip_tls_verify=transport.skip_tls_verify,
        ca_file=transport.ca_file,
        timeout=transport.timeout,
    )
    return connect(registry, environ=os.environ, home=Path.home(), options=options)


class _Bar:
    """A rich transfer bar on stderr, drawn only on a terminal (CI logs stay clean)."""

    def __init__(self, label: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._task = self._progress.add_task(label, total=0)

    def add_total(self, nbytes: int) -> None:
        """More bytes to move."""
        total = self._progress.tasks[0].total or 0
        self._progress.update(self._task, total=total + nbytes)

    def advance(self, nbytes: int) -> None:
        """Bytes moved (negative when a failed try is rolled back)."""
        self._progress.advance(self._task, nbytes)

    @contextlib.contextmanager
    def shown(self) -> Iterator[_Bar]:
        with self._progress:
            yield self


def _report(verb: str, result: TransferResult, as_json: bool) -> None:
    if as_json:
        click.echo(result.to_json())
        return
    extras = []
    if result.referrers:
        extras.append(f"{result.referrers} referrers")
    if result.cosign_tags:
        extras.append(", ".join(result.cosign_tags))
    out.print(
        f"{verb} {result.destination}@{result.digest}\n"
        f"  blobs: {result.blobs_pushed} transferred ({decimal(result.bytes_transferred)}), "
        f"{result.blobs_skipped} already there, {result.blobs_mounted} mounted"
        + (f"\n  with: {'; '.join(extras)}" if extras else "")
    )


@click.command("push")
@click.argument("ref")
@click.argument("dest")
@store_option
@database_url_option
@insecure_option
@skip_verify_option
@ca_file_option
@json_option
@jobs_option
@timeout_option
def push_command(
    ref: str,
    dest: str,
    store_dir: Path,
    database_url: str | None,
    insecure: bool,
    skip_tls_verify: bool,
    ca_file: Path | None,
    as_json: bool,
    jobs: int,
    timeout: float,
) -> None:
    """Push REF (a tag or digest in the store) to DEST (HOST[:PORT]/REPO[:TAG]).

    The image's referrers (SBOMs, scan results) and cosign .sig/.att/.sbom tags go with it.
    Without :TAG, DEST takes REF's tag. Credentials: BAKERY_REGISTRY_USERNAME/PASSWORD, else
    ~/.docker/config.json (or $DOCKER_CONFIG) with its credential helpers. A tag the
    metadata registry's tag rules make immutable (matched as REPO:TAG) is never moved.
    """
    from bakery.distribute.reference import Reference
    from bakery.distribute.transfer import push
    from bakery.store import Store

    target = Reference.parse(dest)
    store = Store.open(store_dir)
    transport = _Transport(insecure, skip_tls_verify, ca_file, timeout)
    protected = _protected(store_dir, database_url)
    with _client(target.registry, transport) as client, _Bar("push").shown() as bar:
        result = push(store.oci, ref, target, client, progress=bar, jobs=jobs, protected=protected)
    _report("pushed", result, as_json)


@click.command("pull")
@click.argument("src")
@store_option
@insecure_option
@skip_verify_option
@ca_file_option
@json_option
@jobs_option
@timeout_option
def pull_command(
    src: str,
    store_dir: Path,
    insecure: bool,
    skip_tls_verify: bool,
    ca_file: Path | None,
    as_json: bool,
    jobs: int,
    timeout: float,
) -> None:
    """Pull SRC (HOST[:PORT]/REPO:TAG or @sha256:…) into the store, every byte verified.

    It is tagged HOST[:PORT]/REPO:TAG in the store; referrers and cosign tags come along.
    """
    from bakery.distribute.reference import Reference
    from bakery.distribute.transfer import pull
    from bakery.store import Store

    source = Reference.parse(src)
    store = Store.open(store_dir)
    transport = _Transport(insecure, skip_tls_verify, ca_file, timeout)
    with _client(source.registry, transport) as client, _Bar("pull").shown() as bar:
        result = pull(source, store.oci, client, progress=bar, jobs=jobs)
    _report("pulled", result, as_json)


@click.command("copy")
@click.argument("src")
@click.argument("dest")
@store_option
@database_url_option
@insecure_option
@skip_verify_option
@ca_file_option
@json_option
@jobs_option
@timeout_option
def copy_command(
    src: str,
    dest: str,
    store_dir: Path,
    database_url: str | None,
    insecure: bool,
    skip_tls_verify: bool,
    ca_file: Path | None,
    as_json: bool,
    jobs: int,
    timeout: float,
) -> None:
    """Copy SRC to DEST, registry to registry, with referrers and cosign tags.

    Blobs are mounted when both are on the same registry, else streamed through (verified).
    A tag the metadata registry's tag rules make immutable (matched as REPO:TAG) is never
    moved.
    """
    from bakery.distribute.reference import Reference
    from bakery.distribute.transfer import copy

    source, target = Reference.parse(src), Reference.parse(dest)
    transport = _Transport(insecure, skip_tls_verify, ca_file, timeout)
    protected = _protected(store_dir, database_url)
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(_client(source.registry, transport))
        writer = reader
        if target.registry != source.registry:
            writer = stack.enter_context(_client(target.registry, transport))
        bar = stack.enter_context(_Bar("copy").shown())
        result = copy(source, target, reader, writer, progress=bar, jobs=jobs, protected=protected)
    _report("copied", result, as_json)


def _protected(store_dir: Path, database_url: str | None) -> Protected | None:
    """Whether a tag is immutable by the metadata registry's tag rules (None: no registry
    here, so no rule)."""
    from bakery.registry.db import DB_FILE

    if database_url is None and not (store_dir / DB_FILE).exists():
        return None
    from functools import partial

    from bakery.registry.db import open_registry
    from bakery.registry.tags import protects, tag_rules

    registry = open_registry(store_dir, database_url)
    try:
        with registry.read() as session:
            patterns = tag_rules(session)
    finally:
        registry.dispose()
    return partial(protects, patterns)
