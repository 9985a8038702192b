"""The ``bakery`` command line: thin click commands over the library.

Errors: one line on stderr saying what is wrong and how to fix it. Exit 2 for user errors
(recipes, arguments, references, locks), 1 for failures, 3 for policy violations, 130 when
interrupted. A traceback only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console

from bakery.cli import commands, distribution, metadata, serving, signing
from bakery.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, BakeryError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="bakery")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Bake immutable infrastructure: YAML recipes → reproducible OCI images.

    \b
    Quick start:
      bakery bake recipes/debian-base.yaml     bake into ./.bakery
      bakery images                            list what the store holds
      bakery inspect golden/debian-base:12     manifest, config and layers
    """
    ctx.obj = {"debug": debug}


for module in (commands, distribution, signing, metadata, serving):
    module.register(cli)


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
