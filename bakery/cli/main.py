"""The ``bakery`` command line: thin click commands over the library.

Errors: one line on stderr saying what is wrong and how to fix it. Exit 2 for user errors
(recipes, arguments, references, locks), 1 for failures, 3 for policy violations, 130 when
interrupted. A traceback only with ``--debug``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console

from bakery.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, BakeryError

#: every command: its name, the module that defines it and the attribute. Commands are
#: imported only when run (or listed by --help), so `bakery push` does not load the database
#: layer, nor `bakery query` the build engine.
COMMANDS: dict[str, tuple[str, str]] = {
    "bake": ("bakery.cli.commands", "bake_command"),
    "lock": ("bakery.cli.commands", "lock_command"),
    "images": ("bakery.cli.commands", "images_command"),
    "inspect": ("bakery.cli.commands", "inspect_command"),
    "export": ("bakery.cli.commands", "export_command"),
    "store": ("bakery.cli.commands", "store_group"),
    "schema": ("bakery.cli.commands", "schema_command"),
    "scan": ("bakery.cli.scanning", "scan_command"),
    "sbom": ("bakery.cli.scanning", "sbom_command"),
    "db": ("bakery.cli.scanning", "db_group"),
    "push": ("bakery.cli.distribution", "push_command"),
    "pull": ("bakery.cli.distribution", "pull_command"),
    "copy": ("bakery.cli.distribution", "copy_command"),
    "sign": ("bakery.cli.signing", "sign_command"),
    "attest": ("bakery.cli.signing", "attest_command"),
    "verify": ("bakery.cli.signing", "verify_command"),
    "keys": ("bakery.cli.signing", "keys_group"),
    "query": ("bakery.cli.metadata", "query_group"),
    "tag-rules": ("bakery.cli.metadata", "tag_rules_group"),
    "promote": ("bakery.cli.metadata", "promote_command"),
    "rollback": ("bakery.cli.metadata", "rollback_command"),
    "channel": ("bakery.cli.metadata", "channel_group"),
    "revoke": ("bakery.cli.metadata", "revoke_command"),
    "audit": ("bakery.cli.metadata", "audit_group"),
    "tokens": ("bakery.cli.metadata", "tokens_group"),
    "serve": ("bakery.cli.serving", "serve_command"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command


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
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        code = cli.main(args=args, prog_name="bakery", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("interrupted", style="red")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BakeryError as e:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {e.one_line()}", markup=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - a bug: say so, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {type(e).__name__}: {e} "
            "(this is a bug in bakery; rerun with --debug for the traceback)",
            markup=True,
        )
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["Path", "cli", "main"]
