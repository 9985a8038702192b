"""The ``bakery`` command line: thin click commands over the library.

Errors: one line on stderr saying what is wrong and how to fix it. Exit 2 for user errors
(recipes, arguments, references, locks), 1 for failures, 3 for policy violations, 70 for internal
errors (bugs: the line names the crash log holding the traceback, see :mod:`bakery.cli.crashlog`),
130 when interrupted. A traceback on stderr only with ``--debug``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from bakery.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, BakeryError

if TYPE_CHECKING:
    from rich.console import Console


class CommandEntry(NamedTuple):
    """Where a command is defined, and the line ``bakery --help`` shows for it."""

    module: str
    attribute: str
    summary: str


#: every command: its name, the module that defines it, the attribute and its one-line help.
#: Commands are imported only when run, so `bakery push` does not load the database layer, nor
#: `bakery query` the build engine, and `bakery --help` lists them all without importing any
#: (tests/unit/test_cli_commands.py keeps each summary equal to its command's own help).
COMMANDS: dict[str, CommandEntry] = {
    "bake": CommandEntry(
        "bakery.cli.commands",
        "bake_command",
        "Bake RECIPE into the local store, tag, sign, record and (with --push) push it.",
    ),
    "plan": CommandEntry(
        "bakery.cli.planning",
        "plan_command",
        "Show the recipes under DIR in bake order, and which are stale and why.",
    ),
    "lock": CommandEntry(
        "bakery.cli.commands",
        "lock_command",
        "Resolve every moving input of RECIPE into RECIPE.lock.",
    ),
    "images": CommandEntry(
        "bakery.cli.commands",
        "images_command",
        "List the tags in the local store with their digests.",
    ),
    "inspect": CommandEntry(
        "bakery.cli.commands",
        "inspect_command",
        "Print the manifest, config and layers of REF (a tag or digest) as JSON.",
    ),
    "export": CommandEntry(
        "bakery.cli.commands",
        "export_command",
        (
            "Export REF: an image as a tar archive that other tools load (docker load, "
            "skopeo, podman), or a disk image as a file that hypervisors boot."
        ),
    ),
    "store": CommandEntry("bakery.cli.commands", "store_group", "Maintain the local store."),
    "schema": CommandEntry(
        "bakery.cli.commands", "schema_command", "Print (or write) the JSON Schema of recipes."
    ),
    "scan": CommandEntry(
        "bakery.cli.scanning",
        "scan_command",
        "Scan REF (a tag or digest in the store): packages, vulnerabilities, secrets, misconfig.",
    ),
    "sbom": CommandEntry(
        "bakery.cli.scanning",
        "sbom_command",
        "Print (or write) the SBOM of REF kept in the store by its bake or `bakery scan`.",
    ),
    "db": CommandEntry(
        "bakery.cli.scanning", "db_group", "The local vulnerability database (OSV data)."
    ),
    "push": CommandEntry(
        "bakery.cli.distribution",
        "push_command",
        "Push REF (a tag or digest in the store) to DEST (HOST[:PORT]/REPO[:TAG]).",
    ),
    "pull": CommandEntry(
        "bakery.cli.distribution",
        "pull_command",
        "Pull SRC (HOST[:PORT]/REPO:TAG or @sha256:…) into the store, every byte verified.",
    ),
    "copy": CommandEntry(
        "bakery.cli.distribution",
        "copy_command",
        "Copy SRC to DEST, registry to registry, with referrers and cosign tags.",
    ),
    "sign": CommandEntry(
        "bakery.cli.signing",
        "sign_command",
        "Sign REF by its manifest digest (a cosign signature, tag sha256-<hex>.sig).",
    ),
    "attest": CommandEntry(
        "bakery.cli.signing",
        "attest_command",
        "Attach a signed in-toto attestation to REF (cosign format, tag sha256-<hex>.att).",
    ),
    "verify": CommandEntry(
        "bakery.cli.signing",
        "verify_command",
        "Check REF's signature, provenance, builder, scan (and policy) and its base images.",
    ),
    "keys": CommandEntry("bakery.cli.signing", "keys_group", "Signing keys (cosign format)."),
    "query": CommandEntry(
        "bakery.cli.metadata",
        "query_group",
        "Ask the registry: packages, vulnerabilities, lineage, channels, builds, evidence.",
    ),
    "tag-rules": CommandEntry(
        "bakery.cli.metadata",
        "tag_rules_group",
        "Immutability rules: tags matching one can never be moved or deleted.",
    ),
    "promote": CommandEntry(
        "bakery.cli.metadata",
        "promote_command",
        "Point --channel of REF's repository at REF (signed, scanned, passing, not revoked).",
    ),
    "rollback": CommandEntry(
        "bakery.cli.metadata",
        "rollback_command",
        "Point --channel back at its previous assignment (REPOSITORY when several have it).",
    ),
    "channel": CommandEntry("bakery.cli.metadata", "channel_group", "Channels and their history."),
    "revoke": CommandEntry(
        "bakery.cli.metadata",
        "revoke_command",
        "Revoke REF: it can no longer be promoted, verified or used as a base.",
    ),
    "audit": CommandEntry(
        "bakery.cli.metadata",
        "audit_group",
        "The append-only audit log (RFC 6962 Merkle tree, signed checkpoints).",
    ),
    "trust": CommandEntry(
        "bakery.cli.trust",
        "trust_group",
        "Trusted signing keys and what promotion to a channel demands.",
    ),
    "tokens": CommandEntry(
        "bakery.cli.metadata", "tokens_group", "API tokens (reader, builder, admin)."
    ),
    "serve": CommandEntry(
        "bakery.cli.serving",
        "serve_command",
        "Serve the registry's REST API (/api/v1, OpenAPI at /api/v1/openapi.json) and web UI.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands" section of --help, from the summaries in :data:`COMMANDS`."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click.Group's
        # a stand-in command with the summary as its help: click shortens it to the width
        # exactly as it would the real command's help
        rows = [
            (name, click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="bakery")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Bake immutable infrastructure: YAML recipes → reproducible OCI images and disks.

    \b
    Quick start:
      bakery bake recipes/debian-base.yaml     bake, sign and record into ./.bakery
      bakery images                            list what the store holds
      bakery inspect golden/debian-base:12     manifest, config and layers
      bakery verify golden/debian-base:12 --key .bakery/keys/cosign.pub
    """
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``bakery`` console script."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("BAKERY_DEBUG") == "1"
    try:
        code = cli.main(args=args, prog_name="bakery", standalone_mode=False)
    except click.exceptions.Abort:
        _stderr().print("interrupted", style="red")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BakeryError as e:
        if debug:
            traceback.print_exc()
        _stderr().print(f"[bold red]error:[/] {e.one_line()}", markup=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _stderr().print("interrupted", style="red")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - a bug: its own exit code, a crash log
        _internal_error(e, args, debug)
    sys.exit(code if isinstance(code, int) else 0)


def _internal_error(exc: Exception, args: list[str], debug: bool) -> NoReturn:
    """Report a bug: one line naming the crash log (the traceback too with --debug), exit 70."""
    from datetime import UTC, datetime

    from bakery.cli import crashlog

    if debug:
        traceback.print_exc()
    line = crashlog.report(exc, args, environ=os.environ, now=datetime.now(UTC), pid=os.getpid())
    with contextlib.suppress(Exception):  # stderr itself failing must not change the exit code
        from rich.markup import escape  # the message and path are text, not markup

        _stderr().print(f"[bold red]internal error:[/] {escape(line)}", markup=True)
    sys.exit(EXIT_INTERNAL)


def _stderr() -> Console:
    """A console on stderr for the error message (rich is imported only when there is one)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


__all__ = ["Path", "cli", "main"]
