"""Commands of sign, attest and verify (cosign formats, DSSE, SLSA provenance), and keys.

Images of the local store are signed and verified natively. A registry reference
(``HOST[:PORT]/REPO@sha256:…``) is signed and attested through the real cosign (which also
takes KMS URIs as ``--key``), and verified natively through the registry client.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from bakery.cli.options import (
    ca_file_option,
    err,
    insecure_option,
    out,
    skip_verify_option,
    store_option,
)
from bakery.errors import EXIT_FAILURE, UserError
from bakery.oci.source import ContentSource, LayoutSource
from bakery.sign.keys import (
    PASSWORD_ENV,
    SigningKey,
    load_public_key,
    load_signing_key,
    write_key_pair,
)
from bakery.sign.provenance import DEFAULT_BUILDER_ID
from bakery.sign.refs import is_registry_ref, local_image, repository_of
from bakery.sign.verify import (
    Check,
    SourceOpener,
    VerifyOptions,
    VerifyReport,
    report_json,
    verify_image,
)

if TYPE_CHECKING:
    from bakery.sign.cosign import RegistryAccess
from bakery.store import Store

#: ``--type`` names (cosign's where it has one) and the predicate types they mean
ATTESTATION_TYPES = {
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "cyclonedx": "https://cyclonedx.org/bom",
    "scan": "https://bakery.dev/attestations/scan/v1",
}

key_option = click.option(
    "--key",
    "key",
    help="A cosign.key (password in COSIGN_PASSWORD) or, for registry images, a KMS URI. "
    "Default: the store's development key.",
)


def _access(insecure: bool, skip_tls_verify: bool) -> RegistryAccess:
    """How cosign may reach a registry image's registry, from the options."""
    return "skip-verify" if skip_tls_verify else "http" if insecure else "verified"


def _password() -> bytes:
    return os.environ.get(PASSWORD_ENV, "").encode("utf-8")


def _signing_key(store: Store, key: str | None) -> SigningKey:
    """The key to sign local images with; the development key (announced) when none."""
    if key is None:
        from bakery.sign.devkey import development_key

        dev = development_key(store.keys_dir)
        err.print(dev.notice, style="yellow")
        return dev.key
    if "://" in key:
        raise UserError(
            f"a KMS key ({key.split('://')[0]}://) signs registry images only, through cosign",
            hint="push the image, then `bakery sign HOST/REPO@sha256:… --key URI`",
        )
    return load_signing_key(Path(key), _password())


def _cosign_key(store: Store, key: str | None) -> tuple[str, bytes]:
    """The ``--key`` value and password for cosign (the dev key file when none)."""
    if key is not None:
        return key, _password()
    from bakery.sign.devkey import DEV_PASSWORD, development_key

    dev = development_key(store.keys_dir)
    err.print(dev.notice, style="yellow")
    return str(dev.files.private), DEV_PASSWORD


@click.command("sign")
@click.argument("ref")
@store_option
@key_option
@insecure_option
@skip_verify_option
def sign_command(
    ref: str, store_dir: Path, key: str | None, insecure: bool, skip_tls_verify: bool
) -> None:
    """Sign REF by its manifest digest (a cosign signature, tag sha256-<hex>.sig).

    REF is an image of the store (NAME:TAG, NAME@sha256:…, a digest) or a registry digest
    reference HOST/REPO@sha256:… (signed with the cosign binary).
    """
    store = Store.open(store_dir)
    if is_registry_ref(ref):
        from bakery.sign.cosign import Cosign

        cosign = Cosign.locate(os.environ)
        cosign_key, password = _cosign_key(store, key)
        cosign.sign(ref, cosign_key, password=password, access=_access(insecure, skip_tls_verify))
        out.print(f"signed {ref} (cosign {cosign.version})")
        return
    from bakery.sign.local import sign_image

    image = local_image(store.oci, ref)
    signer = _signing_key(store, key)
    sig = sign_image(store.oci, image.repository, image.digest, signer)
    out.print(f"signed {image.repository}@{image.digest} (signatures: {sig.digest})")


@click.command("attest")
@click.argument("ref")
@store_option
@key_option
@insecure_option
@skip_verify_option
@click.option(
    "--type",
    "kind",
    type=click.Choice(sorted(ATTESTATION_TYPES)),
    required=True,
    help="What to attest.",
)
@click.option(
    "--predicate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The predicate (JSON). Default for cyclonedx and scan: what the scan stage stored.",
)
def attest_command(
    ref: str,
    store_dir: Path,
    key: str | None,
    insecure: bool,
    skip_tls_verify: bool,
    kind: str,
    predicate: Path | None,
) -> None:
    """Attach a signed in-toto attestation to REF (cosign format, tag sha256-<hex>.att).

    `bakery bake` attests provenance, SBOM and scan result itself; this command adds or
    replaces one. slsaprovenance1 needs --predicate.
    """
    store = Store.open(store_dir)
    predicate_type = ATTESTATION_TYPES[kind]
    if is_registry_ref(ref):
        from bakery.sign.cosign import Cosign

        if predicate is None:
            raise UserError("attesting a registry image needs --predicate FILE")
        cosign = Cosign.locate(os.environ)
        cosign_key, password = _cosign_key(store, key)
        cosign.attest(
            ref,
            cosign_key,
            predicate,
            kind if kind != "scan" else predicate_type,
            password=password,
            access=_access(insecure, skip_tls_verify),
        )
        out.print(f"attested {kind} for {ref} (cosign {cosign.version})")
        return
    from bakery.sign.bake import stored_predicate
    from bakery.sign.intoto import statement_about
    from bakery.sign.local import attest_image

    image = local_image(store.oci, ref)
    document = (
        _read_predicate(predicate)
        if predicate is not None
        else stored_predicate(store.oci, image.digest, predicate_type)
    )
    if document is None:
        raise UserError(
            f"nothing to attest as {kind} for {ref}",
            hint="pass --predicate FILE"
            + ("" if kind == "slsaprovenance1" else f", or run `bakery scan {ref}` first"),
        )
    statement = statement_about(image.repository, image.digest, predicate_type, document)
    att = attest_image(store.oci, image.repository, statement, _signing_key(store, key))
    out.print(f"attested {kind} for {image.repository}@{image.digest} (attestations: {att.digest})")


def _read_predicate(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable JSON predicate: {e}") from e
    if not isinstance(document, dict):
        raise UserError(f"{path}: a predicate is a JSON object")
    return document


@click.command("verify")
@click.argument("ref")
@store_option
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A cosign.pub to accept (repeatable: any one of them suffices).",
)
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Judge the signed scan result against this policy file.",
)
@click.option(
    "--builder-id", default=DEFAULT_BUILDER_ID, show_default=True, help="The builder to demand."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@insecure_option
@skip_verify_option
@ca_file_option
@click.option(
    "--database-url",
    envvar="BAKERY_DATABASE_URL",
    help="The metadata registry to ask about revocations (default: the store's, if any).",
)
def verify_command(
    ref: str,
    store_dir: Path,
    keys: tuple[Path, ...],
    policy: Path | None,
    builder_id: str,
    as_json: bool,
    insecure: bool,
    skip_tls_verify: bool,
    ca_file: Path | None,
    database_url: str | None,
) -> None:
    """Check REF's signature, provenance, builder, scan (and policy) and its base images.

    Exit 0 only when every check holds for REF and, transitively, each base image.
    """
    from bakery.scan.policy import load_policy

    options = VerifyOptions(
        keys=tuple(load_public_key(path) for path in keys),
        builder_id=builder_id,
        policy=load_policy(policy) if policy is not None else None,
        today=date.today(),
    )
    access = ClientAccess(insecure=insecure, skip_tls_verify=skip_tls_verify, ca_file=ca_file)
    source, digest, opener = _source(ref, store_dir, access)
    report = verify_image(source, digest, options, open_source=opener)
    report = _with_revocations(report, store_dir, database_url)
    if as_json:
        click.echo(report_json(report))
    else:
        out.print(_table(report))
    if not report.passed:
        failures = report.failures()
        err.print(f"verification failed ({len(failures)} check(s)):", style="red")
        for line in failures:
            err.print(f"  {line}", markup=False)
        sys.exit(EXIT_FAILURE)


def _with_revocations(
    report: VerifyReport, store_dir: Path, database_url: str | None
) -> VerifyReport:
    """``report`` with a ``revocation`` check on REF and every base: the metadata registry
    must not know it as revoked. With no registry (no bakery.db, no URL) nothing is added."""
    from bakery.registry.db import DB_FILE, open_registry
    from bakery.registry.revocation import is_revoked

    if database_url is None and not (store_dir / DB_FILE).exists():
        return report
    registry = open_registry(store_dir, database_url)
    try:

        def checked(node: VerifyReport) -> VerifyReport:
            revoked = is_revoked(registry, node.digest)
            check = Check(
                name="revocation",
                passed=not revoked,
                detail="revoked in the metadata registry" if revoked else "not revoked",
            )
            return node.model_copy(
                update={
                    "checks": (*node.checks, check),
                    "bases": tuple(checked(base) for base in node.bases),
                }
            )

        return checked(report)
    finally:
        registry.dispose()


@dataclass(frozen=True)
class ClientAccess:
    """How ``verify`` reaches registries: plain HTTP allowed, TLS unverified, a CA file."""

    insecure: bool
    skip_tls_verify: bool
    ca_file: Path | None


def _source(
    ref: str, store_dir: Path, access: ClientAccess
) -> tuple[ContentSource, str, SourceOpener]:
    """Where REF's signatures live, its digest, and how to open a base image's repository."""
    if not is_registry_ref(ref):
        layout = Store.open(store_dir).oci
        image = local_image(layout, ref)
        return (
            LayoutSource(layout, image.repository),
            image.digest,
            lambda repository: LayoutSource(layout, repository),
        )
    from bakery.distribute.client import ClientOptions
    from bakery.distribute.reference import Reference
    from bakery.distribute.session import connect
    from bakery.distribute.source import RegistrySource

    parsed = Reference.parse(ref)
    options = ClientOptions(
        insecure=access.insecure, skip_tls_verify=access.skip_tls_verify, ca_file=access.ca_file
    )
    client = connect(
        parsed.registry,
        environ=os.environ,
        home=Path.home(),
        options=options,
    )
    source = RegistrySource(client, parsed.repository)
    digest = parsed.digest
    if digest is None:
        found = source.resolve_tag(parsed.tag or "latest")
        if found is None:
            raise UserError(f"no image {ref} in the registry")
        digest = found.digest

    def opener(repository: str) -> ContentSource:
        if is_registry_ref(repository):
            other = Reference.parse(repository)
            if other.registry != parsed.registry:
                host = connect(
                    other.registry,
                    environ=os.environ,
                    home=Path.home(),
                    options=options,
                )
                return RegistrySource(host, other.repository)
            return RegistrySource(client, other.repository)
        return RegistrySource(client, repository_of(repository))

    return source, digest, opener


def _table(report: VerifyReport) -> Table:
    table = Table(box=None)
    for column in ("IMAGE", "CHECK", "RESULT", "DETAIL"):
        table.add_column(column)
    for image in _walk(report):
        for check in image.checks:
            verdict = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
            name = f"{image.repository}@{image.digest[:19]}…"
            table.add_row(name, check.name, verdict, check.detail)
    return table


def _walk(report: VerifyReport) -> list[VerifyReport]:
    return [report, *(r for base in report.bases for r in _walk(base))]


@click.group("keys")
def keys_group() -> None:
    """Signing keys (cosign format)."""


@keys_group.command("generate")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write PREFIX.key and PREFIX.pub.",
)
@click.option("--prefix", default="cosign", show_default=True)
def keys_generate_command(output_dir: Path, prefix: str) -> None:
    """Make an ECDSA P-256 key pair that cosign reads (password from COSIGN_PASSWORD).

    The private key is encrypted as cosign does it (scrypt + NaCl secretbox), mode 0600.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    files = write_key_pair(SigningKey.generate(), output_dir, _password(), prefix=prefix)
    if not os.environ.get(PASSWORD_ENV):
        err.print(f"the private key has an empty password (set {PASSWORD_ENV} to choose one)")
    out.print(f"private key: {files.private}\npublic key:  {files.public}")
