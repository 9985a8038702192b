"""The ``bakery`` command line: thin click commands over the library."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """Bake immutable infrastructure from YAML recipes."""


def main() -> None:
    cli()
