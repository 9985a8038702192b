"""Commands of the metadata registry: query, tag rules, promote, rollback, channels, revoke,
audit, tokens.

Each opens the registry of ``--store`` (or ``--database-url`` / ``BAKERY_DATABASE_URL``),
calls one library function and renders the result: a table, or JSON with ``--json``.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from bakery.cli.options import out, store_option
from bakery.errors import EXIT_FAILURE, UserError
from bakery.registry.db import Registry, open_registry

F = TypeVar("F", bound=Callable[..., Any])


def registry_options(func: F) -> F:
    """--store, --database-url and --json."""
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON (for CI).")(func)
    func = click.option(
        "--database-url",
        envvar="BAKERY_DATABASE_URL",
        default=None,
        help="postgresql+psycopg://… (env BAKERY_DATABASE_URL); default: SQLite in the store.",
    )(func)
    return store_option(func)


def actor_option(func: F) -> F:
    return click.option(
        "--actor", default=None, help="Who does this (default: the OS user); kept in history."
    )(func)


@contextmanager
def opened(store_dir: Path, database_url: str | None) -> Iterator[Registry]:
    registry = open_registry(store_dir, database_url)
    try:
        yield registry
    finally:
        registry.dispose()


def _who(actor: str | None) -> str:
    return actor or getpass.getuser()


def _emit(as_json: bool, data: Any, table: Table | str | None = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        out.print(table)


def _table(columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(box=None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def _short(digest: str | None) -> str:
    return (digest[:19] + "…") if digest else "-"


# -- query ---------------------------------------------------------------------------------


@click.group("query")
def query_group() -> None:
    """Ask the registry: packages, vulnerabilities, lineage, channels, builds, evidence."""


@query_group.command("package")
@click.argument("name", required=False)
@click.option("--purl", help="A package URL instead of NAME (its version, if any, must match).")
@click.option("--version", "versions", help="A range in the ecosystem's order, e.g. '<3.0.13'.")
@click.option("--type", "package_type", help="deb, pypi, npm or apk (default: any).")
@click.option("--source", is_flag=True, help="Match the source package name (deb) instead.")
@click.option("--limit", default=100, show_default=True)
@click.option("--offset", default=0, show_default=True)
@registry_options
def query_package(
    name: str | None,
    purl: str | None,
    versions: str | None,
    package_type: str | None,
    source: bool,
    limit: int,
    offset: int,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Artifacts containing package NAME (or --purl) within --version."""
    from bakery.registry.queries import artifacts_with_package

    if not name and not purl:
        raise UserError("name a package or give --purl", hint="bakery query package openssl")
    with opened(store_dir, database_url) as registry, registry.read() as session:
        total, hits = artifacts_with_package(
            session,
            name=name,
            purl=purl,
            package_type=package_type,
            versions=versions,
            source=source,
            limit=limit,
            offset=offset,
        )
    data = {"total": total, "offset": offset, "artifacts": [h.to_json() for h in hits]}
    rows = [[h.digest, h.artifact, h.package, h.version] for h in hits]
    _emit(as_json, data, _table(["DIGEST", "ARTIFACT", "PACKAGE", "VERSION"], rows))


@query_group.command("vuln")
@click.argument("vuln_id")
@registry_options
def query_vuln(vuln_id: str, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Artifacts affected by a vulnerability id or alias (e.g. a CVE)."""
    from bakery.registry.queries import artifacts_affected_by

    with opened(store_dir, database_url) as registry, registry.read() as session:
        hits = artifacts_affected_by(session, vuln_id)
    rows = [
        [h.digest, h.artifact, h.vuln_id, h.severity, h.fixed_version, ",".join(h.channels)]
        for h in hits
    ]
    _emit(
        as_json,
        [h.to_json() for h in hits],
        _table(["DIGEST", "ARTIFACT", "VULN", "SEVERITY", "FIXED", "CHANNELS"], rows),
    )


@query_group.command("lineage")
@click.argument("ref")
@click.option("--up/--no-up", default=True, help="Show the bases (ancestors).")
@click.option("--down/--no-down", default=True, help="Show what was built on it.")
@click.option("--depth", default=20, show_default=True)
@registry_options
def query_lineage(
    ref: str,
    up: bool,
    down: bool,
    depth: int,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """REF's bases and descendants, with the channels each is in."""
    from bakery.registry.queries import lineage

    with opened(store_dir, database_url) as registry, registry.read() as session:
        nodes = lineage(session, ref, up=up, down=down, depth=depth)
    rows = [
        [n.distance, n.digest, n.name, ",".join(n.channels), "revoked" if n.revoked else ""]
        for n in nodes
    ]
    _emit(
        as_json,
        [n.to_json() for n in nodes],
        _table(["DISTANCE", "DIGEST", "NAME", "CHANNELS", ""], rows),
    )


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"{text!r} is not a time", hint="ISO 8601, e.g. 2026-03-01T12:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@query_group.command("channel")
@click.argument("channel")
@click.option("--at", "at_text", required=True, help="ISO 8601 time (UTC if no zone).")
@click.option("--repository", help="The repository, when several have this channel.")
@registry_options
def query_channel(
    channel: str,
    at_text: str,
    repository: str | None,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """What CHANNEL pointed at, at time --at."""
    from bakery.registry.channels import pointed_at

    at = _parse_time(at_text)
    with opened(store_dir, database_url) as registry, registry.read() as session:
        found = pointed_at(session, channel, at, repository)
    data = found.to_json() if found else None
    text = f"{channel} pointed at {found.digest or 'nothing'}" if found else f"{channel} was empty"
    _emit(as_json, data, text)


@query_group.command("builds")
@click.argument("recipe")
@registry_options
def query_builds(recipe: str, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Every recorded bake of RECIPE (e.g. golden/nginx), newest first."""
    from bakery.registry.queries import builds_of

    with opened(store_dir, database_url) as registry, registry.read() as session:
        builds = builds_of(session, recipe)
    _emit_builds(builds, as_json)


@query_group.command("commit")
@click.argument("commit")
@registry_options
def query_commit(commit: str, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Every artifact built from git commit COMMIT (a prefix of 4+ hex digits works)."""
    from bakery.registry.queries import built_from_commit

    with opened(store_dir, database_url) as registry, registry.read() as session:
        builds = built_from_commit(session, commit)
    _emit_builds(builds, as_json)


def _emit_builds(builds: list[Any], as_json: bool) -> None:
    rows = [
        [b.id, b.recipe, b.version, b.status, b.digest, (b.git_commit or "")[:12], b.finished_at]
        for b in builds
    ]
    columns = ["BUILD", "RECIPE", "VERSION", "STATUS", "DIGEST", "COMMIT", "FINISHED"]
    _emit(as_json, [b.to_json() for b in builds], _table(columns, rows))


@query_group.command("evidence")
@click.option(
    "--limit", default=100, show_default=True, help="Digests listed per category (all counted)."
)
@registry_options
def query_evidence(limit: int, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Images lacking a signature, SBOM, provenance or scan; bad channel pointers. Exit 1 if any."""
    from bakery.registry.queries import evidence_report

    with opened(store_dir, database_url) as registry, registry.read() as session:
        report = evidence_report(session, limit=limit)
    data = report.to_json()
    lines = [
        f"{report.counts[key]} {label}"
        for key, label in (
            ("unsigned", "images unsigned"),
            ("no_sbom", "without an SBOM"),
            ("no_provenance", "without provenance"),
            ("unscanned", "never scanned"),
            ("revoked_in_channel", "revoked but in a channel"),
            ("failing_in_channel", "failing their policy but in a channel"),
        )
    ]
    _emit(as_json, data, f"{report.images} images: " + ", ".join(lines))
    if not report.complete:
        sys.exit(EXIT_FAILURE)


@query_group.command("tags")
@click.argument("ref")
@registry_options
def query_tags(ref: str, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """The history of tag REF (REPOSITORY:TAG), or of every tag of REPOSITORY."""
    from bakery.registry.tags import tag_history

    with opened(store_dir, database_url) as registry, registry.read() as session:
        changes = tag_history(session, ref)
    rows = [
        [c.at.isoformat(timespec="seconds"), f"{c.repository}:{c.tag}", c.action, c.digest, c.actor]
        for c in changes
    ]
    table = _table(["AT", "TAG", "ACTION", "DIGEST", "WHO"], rows)
    _emit(as_json, [c.to_json() for c in changes], table)


# -- tags, channels, revocation --------------------------------------------------------------


@click.group("tag-rules")
def tag_rules_group() -> None:
    """Immutability rules: tags matching one can never be moved or deleted."""


@tag_rules_group.command("add")
@click.argument("pattern")
@actor_option
@registry_options
def tag_rules_add(
    pattern: str, actor: str | None, store_dir: Path, database_url: str | None, as_json: bool
) -> None:
    """Make tags matching PATTERN (a glob over REPOSITORY:TAG, e.g. 'golden/*:1.*') immutable."""
    from bakery.registry.tags import add_tag_rule

    with opened(store_dir, database_url) as registry:
        entry = add_tag_rule(registry, pattern, actor=_who(actor))
    _emit(as_json, {"pattern": pattern, "audit_entry": entry}, f"immutable: {pattern}")


@tag_rules_group.command("list")
@registry_options
def tag_rules_list(store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """The immutability rules."""
    from bakery.registry.tags import tag_rules

    with opened(store_dir, database_url) as registry, registry.read() as session:
        rules = tag_rules(session)
    _emit(as_json, rules, "\n".join(rules) or "no rules")


# -- channels, revocation --------------------------------------------------------------------


@click.command("promote")
@click.argument("ref")
@click.option("--channel", required=True, help="e.g. staging or prod.")
@click.option("--require-channel", help="Refuse unless REF was in this channel before.")
@click.option("--reason", required=True, help="Why (kept in the channel history).")
@actor_option
@registry_options
def promote_command(
    ref: str,
    channel: str,
    require_channel: str | None,
    reason: str,
    actor: str | None,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Point --channel of REF's repository at REF (signed, scanned, passing, not revoked)."""
    from bakery.registry.channels import promote

    with opened(store_dir, database_url) as registry:
        done = promote(
            registry,
            ref,
            channel,
            reason=reason,
            actor=_who(actor),
            require_channel=require_channel,
        )
    _emit(as_json, done.to_json(), f"{done.repository}@{done.channel} → {done.digest}")


@click.command("rollback")
@click.argument("repository", required=False)
@click.option("--channel", required=True, help="The channel to roll back.")
@click.option("--reason", default="rollback", show_default=True, help="Why.")
@actor_option
@registry_options
def rollback_command(
    repository: str | None,
    channel: str,
    reason: str,
    actor: str | None,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Point --channel back at its previous assignment (REPOSITORY when several have it)."""
    from bakery.registry.channels import rollback

    with opened(store_dir, database_url) as registry:
        done = rollback(registry, channel, repo=repository, reason=reason, actor=_who(actor))
    _emit(as_json, done.to_json(), f"{done.repository}@{done.channel} → {done.digest}")


@click.group("channel")
def channel_group() -> None:
    """Channels and their history."""


@channel_group.command("history")
@click.argument("channel")
@click.option("--repository", help="The repository, when several have this channel.")
@registry_options
def channel_history(
    channel: str, repository: str | None, store_dir: Path, database_url: str | None, as_json: bool
) -> None:
    """Every assignment of CHANNEL, newest first: what, who, when, why, and what before."""
    from bakery.registry.channels import history

    with opened(store_dir, database_url) as registry, registry.read() as session:
        rows = history(session, channel, repository)
    table = _table(
        ["AT", "ACTION", "DIGEST", "PREVIOUS", "WHO", "WHY"],
        [
            [
                r.at.isoformat(timespec="seconds"),
                r.action,
                r.digest,
                _short(r.previous),
                r.actor,
                r.reason,
            ]
            for r in rows
        ],
    )
    _emit(as_json, [r.to_json() for r in rows], table)


@click.command("revoke")
@click.argument("ref")
@click.option("--reason", required=True, help="Why (kept with the revocation).")
@click.option("--cascade", is_flag=True, help="Also revoke everything built on REF.")
@actor_option
@registry_options
def revoke_command(
    ref: str,
    reason: str,
    cascade: bool,
    actor: str | None,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Revoke REF: it can no longer be promoted, verified or used as a base."""
    from bakery.registry.revocation import revoke

    with opened(store_dir, database_url) as registry:
        done = revoke(registry, ref, reason=reason, actor=_who(actor), cascade=cascade)
    text = f"revoked {len(done.revoked)} artifacts; {done.channel_fallbacks} channels fell back"
    _emit(as_json, done.to_json(), text)


# -- audit -----------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The append-only audit log (RFC 6962 Merkle tree, signed checkpoints)."""


@audit_group.command("proof")
@click.argument("entry", type=int)
@registry_options
def audit_proof(entry: int, store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """The inclusion proof of audit ENTRY in the latest signed checkpoint."""
    from bakery.registry.audit.log import inclusion_proof

    with opened(store_dir, database_url) as registry, registry.read() as session:
        proof = inclusion_proof(session, entry)
    if not proof.verifies():
        raise UserError(f"the proof of entry {entry} does not verify", hint="bakery audit verify")
    lines = [
        f"entry {proof.seq} of {proof.size}",
        f"leaf hash {proof.leaf_hash.hex()}",
        *(f"  {h.hex()}" for h in proof.proof),
        f"root hash {proof.root.hex()}",
        "",
        proof.checkpoint.rstrip("\n"),
    ]
    _emit(as_json, proof.view().model_dump(mode="json", exclude={"verifies"}), "\n".join(lines))


@audit_group.command("verify")
@registry_options
def audit_verify(store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """Recompute the tree; check checkpoints, consistency and every covered row. Exit 1 if bad."""
    from bakery.registry.audit.verify import VERIFIED_CHECKPOINT, verify_log
    from bakery.registry.db import trusted_verifiers

    with opened(store_dir, database_url) as registry, registry.read() as session:
        trusted = store_dir.absolute() / VERIFIED_CHECKPOINT
        keys = trusted_verifiers(store_dir.absolute(), registry.signer)
        report = verify_log(session, keys, trusted=trusted)
    if report.ok:
        text = (
            f"audit log OK: {report.size} entries, root {report.root.hex()}, "
            f"{report.checkpoints} checkpoints, {report.rows_checked} rows checked"
        )
    else:
        text = "audit log FAILED:\n" + "\n".join(f"  {p}" for p in report.problems)
    _emit(as_json, report.view().to_json(), text)
    if not report.ok:
        sys.exit(EXIT_FAILURE)


@audit_group.command("key")
@store_option
def audit_key(store_dir: Path) -> None:
    """This store's checkpoint verifier key (for other stores' audit.trusted-keys)."""
    from bakery.registry.db import load_signer

    click.echo(load_signer(store_dir.absolute()).verifier.encode())


# -- tokens ----------------------------------------------------------------------------------


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (reader, builder, admin)."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["reader", "builder", "admin"]), required=True)
@click.option("--expires-days", type=int, default=None, help="Expire after this many days.")
@actor_option
@registry_options
def tokens_create(
    name: str,
    role: str,
    expires_days: int | None,
    actor: str | None,
    store_dir: Path,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Create a token; the raw token is printed once and never stored."""
    from bakery.registry.tokens import create_token

    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    with opened(store_dir, database_url) as registry:
        raw, info = create_token(registry, name, role, actor=_who(actor), expires_at=expires)
    text = f"{raw}\n(shown once: store it now; the registry keeps only its hash)"
    _emit(as_json, {**info.to_json(), "token": raw}, text)


@tokens_group.command("list")
@registry_options
def tokens_list(store_dir: Path, database_url: str | None, as_json: bool) -> None:
    """The tokens (never their secrets)."""
    from bakery.registry.tokens import list_tokens

    with opened(store_dir, database_url) as registry:
        tokens = list_tokens(registry)
    rows = [[t.id, t.name, t.role, t.created_by, t.created_at, t.expires_at] for t in tokens]
    table = _table(["ID", "NAME", "ROLE", "CREATED BY", "CREATED", "EXPIRES"], rows)
    _emit(as_json, [t.to_json() for t in tokens], table)
