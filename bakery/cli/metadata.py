"""Commands of the metadata registry: query, tag rules, promote, rollback, channels, revoke,
audit, tokens.

Each opens the registry of ``--store`` (or ``--database-url`` / ``BAKERY_DATABASE_URL``),
calls one library function and renders the result: a table, or JSON with ``--json``. What
they share is a :class:`Target`; a command states only its question and its columns.
"""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table

from bakery.cli.options import out, store_option
from bakery.errors import EXIT_FAILURE, UserError
from bakery.registry.db import Registry, open_registry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bakery.registry.views import Assignment, BuildRow, View

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
V = TypeVar("V", bound="View")


@contextmanager
def opened(store_dir: Path, database_url: str | None) -> Iterator[Registry]:
    registry = open_registry(store_dir, database_url)
    try:
        yield registry
    finally:
        registry.dispose()


@dataclass(frozen=True)
class Target:
    """The registry a command works on, and whether it prints JSON."""

    store_dir: Path
    database_url: str | None
    as_json: bool

    def read(self, ask: Callable[[Session], T]) -> T:
        """What ``ask`` reads in one read transaction."""
        with opened(self.store_dir, self.database_url) as registry, registry.read() as session:
            return ask(session)

    def write(self, act: Callable[[Registry], T]) -> T:
        """What ``act`` does to the open registry (it writes in its own transaction)."""
        with opened(self.store_dir, self.database_url) as registry:
            return act(registry)

    def emit(self, data: Any, text: Table | str | None = None) -> None:
        """``data`` as JSON with --json (or without ``text``), else ``text``."""
        if self.as_json or text is None:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            out.print(text)

    def rows(
        self, items: Sequence[V], columns: list[str], row: Callable[[V], list[object]]
    ) -> None:
        """The items as a table of ``columns``, one ``row`` each; or their JSON."""
        self.emit([i.to_json() for i in items], _table(columns, [row(i) for i in items]))


def registry_options(func: Callable[..., None]) -> Callable[..., None]:
    """--store, --database-url and --json, given to the command as one ``target``."""

    @functools.wraps(func)
    def command(
        *args: Any, store_dir: Path, database_url: str | None, as_json: bool, **kwargs: Any
    ) -> None:
        func(*args, target=Target(store_dir, database_url, as_json), **kwargs)

    command = click.option("--json", "as_json", is_flag=True, help="Print JSON (for CI).")(command)
    command = click.option(
        "--database-url",
        envvar="BAKERY_DATABASE_URL",
        default=None,
        help="postgresql+psycopg://… (env BAKERY_DATABASE_URL); default: SQLite in the store.",
    )(command)
    return store_option(command)


def actor_option(func: F) -> F:
    return click.option(
        "--actor", default=None, help="Who does this (default: the OS user); kept in history."
    )(func)


def actor_or_user(actor: str | None) -> str:
    return actor or getpass.getuser()


def _table(columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(box=None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def short_digest(digest: str | None) -> str:
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
    target: Target,
) -> None:
    """Artifacts containing package NAME (or --purl) within --version."""
    from bakery.registry.queries import artifacts_with_package

    if not name and not purl:
        raise UserError("name a package or give --purl", hint="bakery query package openssl")
    total, hits = target.read(
        lambda s: artifacts_with_package(
            s,
            name=name,
            purl=purl,
            package_type=package_type,
            versions=versions,
            source=source,
            limit=limit,
            offset=offset,
        )
    )
    data = {"total": total, "offset": offset, "artifacts": [h.to_json() for h in hits]}
    rows = [[h.digest, h.artifact, h.package, h.version] for h in hits]
    target.emit(data, _table(["DIGEST", "ARTIFACT", "PACKAGE", "VERSION"], rows))


@query_group.command("vuln")
@click.argument("vuln_id")
@registry_options
def query_vuln(vuln_id: str, target: Target) -> None:
    """Artifacts affected by a vulnerability id or alias (e.g. a CVE)."""
    from bakery.registry.queries import artifacts_affected_by

    target.rows(
        target.read(lambda s: artifacts_affected_by(s, vuln_id)),
        ["DIGEST", "ARTIFACT", "VULN", "SEVERITY", "FIXED", "CHANNELS"],
        lambda h: [
            h.digest,
            h.artifact,
            h.vuln_id,
            h.severity,
            h.fixed_version,
            ",".join(h.channels),
        ],
    )


@query_group.command("lineage")
@click.argument("ref")
@click.option("--up/--no-up", default=True, help="Show the bases (ancestors).")
@click.option("--down/--no-down", default=True, help="Show what was built on it.")
@click.option("--depth", default=20, show_default=True)
@registry_options
def query_lineage(ref: str, up: bool, down: bool, depth: int, target: Target) -> None:
    """REF's bases and descendants, with the channels each is in."""
    from bakery.registry.queries import lineage

    target.rows(
        target.read(lambda s: lineage(s, ref, up=up, down=down, depth=depth)),
        ["DISTANCE", "DIGEST", "NAME", "CHANNELS", ""],
        lambda n: [
            n.distance,
            n.digest,
            n.name,
            ",".join(n.channels),
            "revoked" if n.revoked else "",
        ],
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
def query_channel(channel: str, at_text: str, repository: str | None, target: Target) -> None:
    """What CHANNEL pointed at, at time --at."""
    from bakery.registry.channels import pointed_at

    at = _parse_time(at_text)
    found = target.read(lambda s: pointed_at(s, channel, at, repository))
    data = found.to_json() if found else None
    text = f"{channel} pointed at {found.digest or 'nothing'}" if found else f"{channel} was empty"
    target.emit(data, text)


@query_group.command("builds")
@click.argument("recipe")
@registry_options
def query_builds(recipe: str, target: Target) -> None:
    """Every recorded bake of RECIPE (e.g. golden/nginx), newest first."""
    from bakery.registry.queries import builds_of

    _show_builds(target, target.read(lambda s: builds_of(s, recipe)))


@query_group.command("commit")
@click.argument("commit")
@registry_options
def query_commit(commit: str, target: Target) -> None:
    """Every artifact built from git commit COMMIT (a prefix of 4+ hex digits works)."""
    from bakery.registry.queries import built_from_commit

    _show_builds(target, target.read(lambda s: built_from_commit(s, commit)))


def _show_builds(target: Target, builds: list[BuildRow]) -> None:
    target.rows(
        builds,
        ["BUILD", "RECIPE", "VERSION", "STATUS", "DIGEST", "COMMIT", "FINISHED"],
        lambda b: [
            b.id,
            b.recipe,
            b.version,
            b.status,
            b.digest,
            (b.git_commit or "")[:12],
            b.finished_at,
        ],
    )


@query_group.command("evidence")
@click.option(
    "--limit", default=100, show_default=True, help="Digests listed per category (all counted)."
)
@registry_options
def query_evidence(limit: int, target: Target) -> None:
    """Images lacking a signature, SBOM, provenance or scan; bad channel pointers. Exit 1 if any."""
    from bakery.registry.queries import evidence_report

    report = target.read(lambda s: evidence_report(s, limit=limit))
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
    target.emit(report.to_json(), f"{report.images} images: " + ", ".join(lines))
    if not report.complete:
        sys.exit(EXIT_FAILURE)


@query_group.command("tags")
@click.argument("ref")
@registry_options
def query_tags(ref: str, target: Target) -> None:
    """The history of tag REF (REPOSITORY:TAG), or of every tag of REPOSITORY."""
    from bakery.registry.tags import tag_history

    target.rows(
        target.read(lambda s: tag_history(s, ref)),
        ["AT", "TAG", "ACTION", "DIGEST", "WHO"],
        lambda c: [
            c.at.isoformat(timespec="seconds"),
            f"{c.repository}:{c.tag}",
            c.action,
            c.digest,
            c.actor,
        ],
    )


# -- tags, channels, revocation --------------------------------------------------------------


@click.group("tag-rules")
def tag_rules_group() -> None:
    """Immutability rules: tags matching one can never be moved or deleted."""


@tag_rules_group.command("add")
@click.argument("pattern")
@actor_option
@registry_options
def tag_rules_add(pattern: str, actor: str | None, target: Target) -> None:
    """Make tags matching PATTERN (a glob over REPOSITORY:TAG, e.g. 'golden/*:1.*') immutable."""
    from bakery.registry.tags import add_tag_rule

    entry = target.write(lambda r: add_tag_rule(r, pattern, actor=actor_or_user(actor)))
    target.emit({"pattern": pattern, "audit_entry": entry}, f"immutable: {pattern}")


@tag_rules_group.command("list")
@registry_options
def tag_rules_list(target: Target) -> None:
    """The immutability rules."""
    from bakery.registry.tags import tag_rules

    rules = target.read(tag_rules)
    target.emit(rules, "\n".join(rules) or "no rules")


# -- channels, revocation --------------------------------------------------------------------


def _show_assignment(target: Target, done: Assignment) -> None:
    target.emit(done.to_json(), f"{done.repository}@{done.channel} → {done.digest}")


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
    target: Target,
) -> None:
    """Point --channel of REF's repository at REF (signed, scanned, passing, not revoked)."""
    from bakery.registry.channels import promote

    who = actor_or_user(actor)
    done = target.write(
        lambda r: promote(
            r, ref, channel, reason=reason, actor=who, require_channel=require_channel
        )
    )
    _show_assignment(target, done)


@click.command("rollback")
@click.argument("repository", required=False)
@click.option("--channel", required=True, help="The channel to roll back.")
@click.option("--reason", default="rollback", show_default=True, help="Why.")
@actor_option
@registry_options
def rollback_command(
    repository: str | None, channel: str, reason: str, actor: str | None, target: Target
) -> None:
    """Point --channel back at its previous assignment (REPOSITORY when several have it)."""
    from bakery.registry.channels import rollback

    who = actor_or_user(actor)
    done = target.write(lambda r: rollback(r, channel, repo=repository, reason=reason, actor=who))
    _show_assignment(target, done)


@click.group("channel")
def channel_group() -> None:
    """Channels and their history."""


@channel_group.command("history")
@click.argument("channel")
@click.option("--repository", help="The repository, when several have this channel.")
@registry_options
def channel_history(channel: str, repository: str | None, target: Target) -> None:
    """Every assignment of CHANNEL, newest first: what, who, when, why, and what before."""
    from bakery.registry.channels import history

    target.rows(
        target.read(lambda s: history(s, channel, repository)),
        ["AT", "ACTION", "DIGEST", "PREVIOUS", "WHO", "WHY"],
        lambda r: [
            r.at.isoformat(timespec="seconds"),
            r.action,
            r.digest,
            short_digest(r.previous),
            r.actor,
            r.reason,
        ],
    )


@click.command("revoke")
@click.argument("ref")
@click.option("--reason", required=True, help="Why (kept with the revocation).")
@click.option("--cascade", is_flag=True, help="Also revoke everything built on REF.")
@actor_option
@registry_options
def revoke_command(ref: str, reason: str, cascade: bool, actor: str | None, target: Target) -> None:
    """Revoke REF: it can no longer be promoted, verified or used as a base."""
    from bakery.registry.revocation import revoke

    who = actor_or_user(actor)
    done = target.write(lambda r: revoke(r, ref, reason=reason, actor=who, cascade=cascade))
    text = f"revoked {len(done.revoked)} artifacts; {done.channel_fallbacks} channels fell back"
    target.emit(done.to_json(), text)


# -- audit -----------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The append-only audit log (RFC 6962 Merkle tree, signed checkpoints)."""


@audit_group.command("proof")
@click.argument("entry", type=int)
@registry_options
def audit_proof(entry: int, target: Target) -> None:
    """The inclusion proof of audit ENTRY in the latest signed checkpoint."""
    from bakery.registry.audit.log import inclusion_proof

    proof = target.read(lambda s: inclusion_proof(s, entry))
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
    target.emit(proof.view().model_dump(mode="json", exclude={"verifies"}), "\n".join(lines))


@audit_group.command("verify")
@actor_option
@registry_options
def audit_verify(actor: str | None, target: Target) -> None:
    """Recompute the tree; check checkpoints, consistency and every covered row. Exit 1 if bad.

    The result is recorded in the registry (what `bakery serve` shows as the last
    verification)."""
    from bakery.registry.audit.jobs import verify_and_record
    from bakery.registry.audit.verify import VERIFIED_CHECKPOINT
    from bakery.registry.db import trusted_verifiers

    store = target.store_dir.absolute()
    who = actor_or_user(actor)
    with opened(target.store_dir, target.database_url) as registry:
        keys = trusted_verifiers(store, registry.signer)
        report, run = verify_and_record(registry, keys, store / VERIFIED_CHECKPOINT, started_by=who)
    if report.ok:
        text = (
            f"audit log OK: {report.size} entries, root {report.root.hex()}, "
            f"{report.checkpoints} checkpoints, {report.rows_checked} rows checked "
            f"(verification {run})"
        )
    else:
        text = "audit log FAILED:\n" + "\n".join(f"  {p}" for p in report.problems)
    target.emit({**report.view().to_json(), "verification": run}, text)
    if not report.ok:
        sys.exit(EXIT_FAILURE)


@audit_group.command("verifications")
@click.option("--limit", default=20, show_default=True)
@registry_options
def audit_verifications(limit: int, target: Target) -> None:
    """The recorded verifications (by the service or `audit verify`), newest first."""
    from bakery.registry.audit.jobs import list_verifications

    page = target.read(lambda s: list_verifications(s, limit=limit, offset=0))
    target.rows(
        page.items,
        ["ID", "STATE", "OK", "SIZE", "ROOT", "STARTED", "BY", "FINISHED"],
        lambda v: [
            v.id,
            v.state,
            v.ok,
            v.checked_size,
            short_digest(v.root_hash),
            v.started_at,
            v.started_by,
            v.finished_at,
        ],
    )


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
@click.option(
    "--expires-in",
    metavar="DURATION",
    default=None,
    help="Expire after this long: 90m, 12h, 30d, 2w (default: 90 days).",
)
@click.option("--no-expiry", is_flag=True, help="Never expire (revoke it when it is done with).")
@actor_option
@registry_options
def tokens_create(
    name: str,
    role: str,
    expires_in: str | None,
    no_expiry: bool,
    actor: str | None,
    target: Target,
) -> None:
    """Create a token; the raw token is printed once and never stored."""
    from bakery.registry.tokens import DEFAULT_LIFETIME, create_token, parse_lifetime

    if no_expiry and expires_in is not None:
        raise UserError("--expires-in and --no-expiry contradict each other", hint="give one")
    lifetime = None if no_expiry else parse_lifetime(expires_in) if expires_in else DEFAULT_LIFETIME
    who = actor_or_user(actor)
    raw, info = target.write(lambda r: create_token(r, name, role, actor=who, expires_at=lifetime))
    until = f"expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "never expires"
    text = f"{raw}\n(shown once: store it now; the registry keeps only its hash; it {until})"
    target.emit({**info.to_json(), "token": raw}, text)


@tokens_group.command("list")
@registry_options
def tokens_list(target: Target) -> None:
    """The tokens, revoked and expired ones too (never their secrets), with their last use."""
    from bakery.registry.tokens import list_tokens, state

    at = datetime.now(UTC)
    target.rows(
        target.write(list_tokens),
        ["ID", "NAME", "ROLE", "STATE", "CREATED BY", "CREATED", "EXPIRES", "LAST USED"],
        lambda t: [
            t.id,
            t.name,
            t.role,
            f"revoked {_when(t.revoked_at)} by {t.revoked_by}" if t.revoked_at else state(t, at),
            t.created_by,
            _when(t.created_at),
            _when(t.expires_at) if t.expires_at else "never",
            _when(t.last_used_at) if t.last_used_at else "never",
        ],
    )


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID")
@actor_option
@registry_options
def tokens_revoke(token_id: str, actor: str | None, target: Target) -> None:
    """Revoke the token ID (as `tokens list` shows it) for good; the audit log records it."""
    from bakery.registry.tokens import revoke_token

    who = actor_or_user(actor)
    info = target.write(lambda r: revoke_token(r, token_id, actor=who))
    target.emit(info.to_json(), f"revoked token {info.id} ({info.name}, {info.role})")


def _when(at: datetime | None) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M}"
