"""Options and consoles shared by every command."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from bakery.store import DEFAULT_STORE

#: wide enough for a digest on one line when output goes to a file or a CI log
_PIPE_WIDTH = 160
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)

store_option = click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BAKERY_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    help="The local store (env BAKERY_STORE).",
)

database_url_option = click.option(
    "--database-url",
    envvar="BAKERY_DATABASE_URL",
    help="The metadata registry's database (env BAKERY_DATABASE_URL) instead of the store's "
    "SQLite.",
)
ca_file_option = click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PEM",
    help="Trust the CA certificates in this PEM file for TLS (default: $SSL_CERT_FILE, else "
    "the certifi bundle).",
)
insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="Allow plain HTTP to a registry that does not speak TLS (a loopback one always may). "
    "TLS certificates are still verified.",
)
SKIP_VERIFY_WARNING = (
    "warning: --insecure-skip-tls-verify: registry TLS certificates are NOT verified; "
    "anyone on the network path can impersonate the registry"
)


def _warn_skip_verify(_: click.Context, __: click.Parameter, value: bool) -> bool:
    if value:
        err.print(SKIP_VERIFY_WARNING, style="bold red", markup=False)
    return value


skip_verify_option = click.option(
    "--insecure-skip-tls-verify",
    "skip_tls_verify",
    is_flag=True,
    callback=_warn_skip_verify,
    help="DANGEROUS: do not verify registries' TLS certificates (warns on every use). "
    "Prefer --ca-file.",
)
