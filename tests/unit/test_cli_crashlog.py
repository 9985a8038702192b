"""An internal error (a bug) exits 70, not 1, with one line naming a crash log that holds the
traceback; the log never holds a secret argument, and an unwritable log still exits 70."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from bakery import __version__
from bakery.cli import crashlog
from bakery.cli import main as cli_main
from bakery.errors import EXIT_FAILURE, EXIT_INTERNAL

TOKEN = "tok-s3cr3t-9f8e"
DB_PASSWORD = "pg-s3cr3t-1a2b"


@click.command("explode")
@click.option("--token")
@click.option("--database-url")
def explode_command(token: str | None, database_url: str | None) -> None:
    """Fail as a bug would."""
    raise ValueError("boom [bold]not markup[/bold]\nsecond line")


@pytest.fixture
def explode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``bakery explode``: the real ``main()`` imports and runs it like any command."""
    entry = cli_main.CommandEntry(__name__, "explode_command", "Fail as a bug would.")
    monkeypatch.setitem(cli_main.COMMANDS, "explode", entry)


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(list(args))
    code = exit_info.value.code
    assert isinstance(code, int)
    return code


def _secret_args() -> list[str]:
    return ["explode", "--token", TOKEN, "--database-url", f"postgresql://u:{DB_PASSWORD}@db/x"]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BAKERY_CRASH_DIR", raising=False)
    monkeypatch.delenv("BAKERY_DEBUG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.usefixtures("explode")
def test_bug_exits_internal_with_one_line_naming_the_crash_log(
    cache_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(*_secret_args()) == EXIT_INTERNAL != EXIT_FAILURE
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("internal error: ValueError: boom [bold]not markup[/bold] second line")
    found = re.search(r"the traceback is in (\S+\.log); please attach it to a report\)$", err)
    assert found, err
    log = Path(found.group(1))
    assert log.parent == cache_home / "bakery" / "crash"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert f"bakery: {__version__}" in text and "python: " in text and "platform: " in text
    assert "Traceback (most recent call last)" in text and "in explode_command" in text
    assert "ValueError: boom [bold]not markup[/bold]\nsecond line" in text
    assert "argv: bakery explode --token '<redacted>' --database-url" in text
    assert TOKEN not in text and DB_PASSWORD not in text


@pytest.mark.usefixtures("explode")
def test_debug_also_prints_the_traceback(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAKERY_DEBUG", "1")
    assert _run("explode") == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in explode_command" in err
    assert err.splitlines()[-1].startswith("internal error: ValueError: boom")
    assert len(list((cache_home / "bakery" / "crash").iterdir())) == 1


@pytest.mark.usefixtures("explode")
def test_unwritable_crash_dir_still_exits_internal_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")  # even root cannot make a directory under a file
    monkeypatch.setenv("BAKERY_CRASH_DIR", str(blocker / "crash"))
    monkeypatch.delenv("BAKERY_DEBUG", raising=False)
    assert _run(*_secret_args()) == EXIT_INTERNAL
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("internal error: ValueError: boom")
    assert f"its crash log could not be written to {blocker / 'crash'}: " in err
    assert "rerun with --debug for the traceback" in err
    assert blocker.read_text() == "not a directory\n"


def test_crash_dir_override_then_xdg_then_home(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert crashlog.crash_dir(home) == tmp_path / ".cache/bakery/crash"
    xdg = {**home, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert crashlog.crash_dir(xdg) == tmp_path / "xdg/bakery/crash"
    relative = {**home, "XDG_CACHE_HOME": "relative/cache"}  # invalid per the XDG spec
    assert crashlog.crash_dir(relative) == tmp_path / ".cache/bakery/crash"
    override = {**xdg, "BAKERY_CRASH_DIR": str(tmp_path / "ci-artifacts")}
    assert crashlog.crash_dir(override) == tmp_path / "ci-artifacts"


def test_crashes_in_the_same_second_do_not_clobber(tmp_path: Path) -> None:
    now = datetime(2026, 12, 4, 14, 22, 5, tzinfo=UTC)
    first = crashlog.write(tmp_path / "crash", "one", now=now, pid=1234)
    second = crashlog.write(tmp_path / "crash", "two", now=now, pid=1234)
    assert first.name == "2026-12-04T14-22-05Z-1234.log"
    assert second != first and second.name.startswith("2026-12-04T14-22-05Z-1234")
    assert (first.read_text(), second.read_text()) == ("one", "two")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["push", "--password", "hunter2", "ref"], ["push", "--password", "<redacted>", "ref"]),
        (["x", "--api-token=abc123"], ["x", "--api-token=<redacted>"]),
        (["x", "REGISTRY_PASSWORD=abc123"], ["x", "REGISTRY_PASSWORD=<redacted>"]),
        (
            ["x", "--database-url", "postgresql+psycopg://bob:pw@db:5432/reg"],
            ["x", "--database-url", "postgresql+psycopg://bob:<redacted>@db:5432/reg"],
        ),
        (
            ["x", "--url", "https://h/cb?access_token=abc&x=1"],
            ["x", "--url", "https://h/cb?access_token=<redacted>&x=1"],
        ),
        # a flag followed by an option: nothing to hide
        (
            ["serve", "--init-admin-token", "--port", "1"],
            ["serve", "--init-admin-token", "--port", "1"],
        ),
        (
            ["bake", "recipes/a.yaml", "--key", "k.key"],
            ["bake", "recipes/a.yaml", "--key", "k.key"],
        ),
    ],
)
def test_redact_argv(argv: list[str], expected: list[str]) -> None:
    assert crashlog.redact_argv(argv) == expected


def test_log_names_bakery_variables_but_never_their_values() -> None:
    try:
        raise RuntimeError("x")
    except RuntimeError as e:
        text = crashlog.render(
            e,
            [],
            environ={"BAKERY_REGISTRY_TOKEN": "tok-value", "HOME": "/h"},
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    assert "environment (names only): BAKERY_REGISTRY_TOKEN" in text
    assert "tok-value" not in text
