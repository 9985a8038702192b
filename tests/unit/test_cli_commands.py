"""The command table of the CLI: its summaries match the commands, and --help stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from bakery.cli.main import COMMANDS, cli


def _real_commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    commands = {}
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        commands[name] = command
    return commands


def test_each_summary_is_its_commands_own_short_help() -> None:
    for name, command in _real_commands().items():
        assert command.name == name
        assert not command.hidden and not command.deprecated, name
        assert COMMANDS[name].summary == command.get_short_help_str(limit=1_000), (
            f"COMMANDS[{name!r}].summary in bakery/cli/main.py differs from the first sentence "
            f"of {COMMANDS[name].module}.{COMMANDS[name].attribute}'s help: update the table"
        )


@pytest.mark.parametrize("width", [40, 80, 200])
def test_help_lists_commands_as_click_would_from_the_commands_themselves(width: int) -> None:
    real = click.Group("bakery", commands=_real_commands())
    expected = click.HelpFormatter(width=width)
    real.format_commands(click.Context(real), expected)
    listed = click.HelpFormatter(width=width)
    cli.format_commands(click.Context(cli), listed)
    assert listed.getvalue() == expected.getvalue()


def _modules_loaded_by(*args: str) -> set[str]:
    """The modules a fresh interpreter has loaded after ``bakery ARGS``."""
    script = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from bakery.cli.main import cli\n"
        f"result = CliRunner().invoke(cli, {list(args)!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def test_top_level_help_imports_no_command() -> None:
    loaded = _modules_loaded_by("--help")
    assert not {entry.module for entry in COMMANDS.values()} & loaded


@pytest.mark.parametrize("command", ["push", "pull", "copy"])
def test_distribution_help_imports_neither_client_nor_store(command: str) -> None:
    loaded = _modules_loaded_by(command, "--help")
    heavy = {"httpx", "pydantic", "bakery.distribute.client", "bakery.oci.layout"}
    assert not heavy & loaded
