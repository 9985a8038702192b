"""``bakery trust``: the keys the registry verifies signatures with, and channel rules.

The metadata registry records a signature or attestation only when a key trusted for the
image's repository verifies it; promotion counts only evidence by keys still trusted, judged
by the channel's rule. These commands work on the local registry (or ``--database-url``);
on a running service an admin uses ``/api/v1/trusted-keys`` and ``/api/v1/channel-rules``.
"""

from __future__ import annotations

from pathlib import Path

import click

from bakery.cli.metadata import Target, actor_option, actor_or_user, registry_options, short_digest


@click.group("trust")
def trust_group() -> None:
    """Trusted signing keys and what promotion to a channel demands."""


@trust_group.command("add")
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--repository",
    "pattern",
    required=True,
    help="The repository (golden/nginx), every one under a prefix (golden/*) or '*'.",
)
@actor_option
@registry_options
def trust_add(public_key: Path, pattern: str, actor: str | None, target: Target) -> None:
    """Trust PUBLIC_KEY (a cosign.pub) for a repository's signatures and attestations."""
    from bakery.registry.trust import trust_key
    from bakery.sign.keys import load_public_key

    key = load_public_key(public_key)
    who = actor_or_user(actor)
    done = target.write(lambda r: trust_key(r, key, pattern, actor=who))
    target.emit(done.to_json(), f"trusted key {done.key_id[:16]}… for {pattern} (id {done.id})")


@trust_group.command("list")
@registry_options
def trust_list(target: Target) -> None:
    """Every key ever trusted, and when its trust was withdrawn."""
    from bakery.registry.trust import list_trusted

    target.rows(
        target.read(list_trusted),
        ["ID", "KEY ID", "REPOSITORY", "BY", "AT", "WITHDRAWN"],
        lambda k: [
            k.id,
            k.key_id,
            k.pattern,
            k.actor,
            k.at.isoformat(timespec="seconds"),
            k.withdrawn_at.isoformat(timespec="seconds") if k.withdrawn_at else "-",
        ],
    )


@trust_group.command("withdraw")
@click.argument("trusted_id", type=click.IntRange(1))
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@actor_option
@registry_options
def trust_withdraw(trusted_id: int, reason: str, actor: str | None, target: Target) -> None:
    """Trust the key of TRUSTED_ID (see `bakery trust list`) no more."""
    from bakery.registry.trust import distrust_key

    who = actor_or_user(actor)
    done = target.write(lambda r: distrust_key(r, trusted_id, reason=reason, actor=who))
    target.emit(done.to_json(), f"key {done.key_id[:16]}… is trusted for {done.pattern} no more")


@trust_group.command("rule")
@click.argument("repository")
@click.argument("channel")
@click.option(
    "--require-key",
    "required_keys",
    multiple=True,
    help="A key id (see `bakery trust list`) that must have signed; repeat for several.",
)
@click.option(
    "--policy",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A scan policy whose severity limits judge the signed scan findings.",
)
@actor_option
@registry_options
def trust_rule(
    repository: str,
    channel: str,
    required_keys: tuple[str, ...],
    policy: Path | None,
    actor: str | None,
    target: Target,
) -> None:
    """Set what promotion to CHANNEL of REPOSITORY demands (replaces the rule before)."""
    from bakery.registry.promotion import set_rule
    from bakery.scan.policy import load_policy

    loaded = load_policy(policy) if policy is not None else None
    who = actor_or_user(actor)
    done = target.write(
        lambda r: set_rule(
            r, repository, channel, required_keys=list(required_keys), policy=loaded, actor=who
        )
    )
    keys = ", ".join(short_digest(k) for k in done.required_keys) or "any trusted key"
    policy_text = "a policy" if done.policy else "the recipe's verdict"
    target.emit(
        done.to_json(), f"{repository} → {channel}: signed by {keys}; scan judged by {policy_text}"
    )
