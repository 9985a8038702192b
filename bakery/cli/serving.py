"""Commands of the metadata registry's HTTP service: serve."""

from __future__ import annotations

import click

COMMANDS: tuple[click.Command, ...] = ()


def register(group: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    for command in COMMANDS:
        group.add_command(command)
