"""SOURCE_DATE_EPOCH resolution, git metadata, and the CLI's error contract."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bakery.cli.main import cli, main
from bakery.errors import UserError
from bakery.recipe.source import describe


def test_epoch_from_environment_wins(tmp_path: Path) -> None:
    info = describe(tmp_path / "r.yaml", {"SOURCE_DATE_EPOCH": "42"})
    assert (info.source_date_epoch, info.epoch_from) == (42, "environment")


def test_malformed_epoch_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="SOURCE_DATE_EPOCH"):
        describe(tmp_path / "r.yaml", {"SOURCE_DATE_EPOCH": "1.5"})


def test_no_git_means_epoch_zero(tmp_path: Path) -> None:
    info = describe(tmp_path / "r.yaml", {})
    assert (info.source_date_epoch, info.epoch_from, info.revision) == (0, "default", None)


def test_git_commit_time_revision_and_credential_free_source(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        env = {
            "GIT_COMMITTER_DATE": "1600000000 +0000",
            "GIT_AUTHOR_DATE": "1600000000 +0000",
            "HOME": str(tmp_path),
        }
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True, env=env
        ).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    git("remote", "add", "origin", "https://user:tok3n@example.com/org/repo.git")
    (tmp_path / "r.yaml").write_text("x: 1\n")
    git("add", "r.yaml")
    git("commit", "-qm", "r")
    info = describe(tmp_path / "r.yaml", {})
    assert (info.source_date_epoch, info.epoch_from) == (1600000000, "git")
    assert info.revision == git("rev-parse", "HEAD").strip()
    assert info.repository == "https://example.com/org/repo.git"


def test_cli_user_error_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: bakery.dev/v1\nname: x/y\nversion: '1'\nbase: scratch\nbogus: 1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["bake", str(bad), "--store", str(tmp_path / "s")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml:5:1" in err and "Traceback" not in err


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("bake", "lock", "images", "inspect", "export", "store", "schema"):
        assert command in result.output
