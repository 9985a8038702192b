"""The test isolation of tests/isolation.py: each test's own places, and a guard that fails."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.isolation import GUARD_KEY, REPO, REPO_STORE, Guard, Isolation, watching


def test_each_test_has_a_cwd_home_store_and_docker_config_of_its_own(
    isolated: Isolation, isolated_session: Isolation, request: pytest.FixtureRequest
) -> None:
    real_homes = request.config.stash[GUARD_KEY].homes
    assert Path.cwd() == isolated.cwd != isolated_session.cwd
    assert not isolated.cwd.is_relative_to(REPO)
    assert os.environ["HOME"] == str(isolated.home) and Path.home() == isolated.home
    assert isolated.home not in real_homes and isolated_session.home not in real_homes
    assert os.environ["BAKERY_STORE"] == str(isolated.cwd / ".bakery")
    assert os.environ["DOCKER_CONFIG"] == str(isolated.docker_config)
    assert list(isolated.docker_config.iterdir()) == []
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert Path(os.environ[name]).is_relative_to(isolated.home), name


@pytest.fixture
def fake(tmp_path: Path) -> Guard:
    """A guard over a fake repository store and a fake home (with a Python inside, exempt)."""
    store = tmp_path / "repo" / ".bakery"
    (store / "oci").mkdir(parents=True)
    (store / "bakery.db").write_bytes(b"db")
    (store / "rootfs" / "abc" / "etc").mkdir(parents=True)
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text("{}")
    (home / "python" / "lib").mkdir(parents=True)
    (home / "python" / "lib" / "os.py").write_text("")
    return Guard(repo_store=store, homes=[home], exempt=[home / "python", tmp_path / "repo"])


def _store(guard: Guard) -> Path:
    return guard.repo_store


def _home(guard: Guard) -> Path:
    return guard.homes[0]


def test_reads_by_this_process_are_caught(fake: Guard) -> None:
    store, home = _store(fake), _home(fake)
    with watching(fake):
        (store / "bakery.db").read_bytes()
        os.listdir(store / "oci")
        sqlite3.connect(store / "new.db").close()
        with contextlib.suppress(FileNotFoundError):
            (home / ".netrc").read_bytes()  # missing: the attempt alone is the offence
    offences = fake.check()
    assert f"open {store}/bakery.db (the repository's .bakery)" in offences
    assert f"os.listdir {store}/oci (the repository's .bakery)" in offences
    assert f"sqlite3.connect {store}/new.db (the repository's .bakery)" in offences
    assert f"open {home}/.netrc (the real home)" in offences
    assert f"created {store}/new.db" in offences  # the snapshot saw it too
    assert fake.check() == []  # one offence fails one test, not every test after it


def test_writes_by_a_subprocess_are_caught_by_the_snapshot(fake: Guard) -> None:
    store, home = _store(fake), _home(fake)
    script = (
        'echo blob > "$STORE/oci/blob" && echo x > "$HOME_DIR/.docker/config.json"'
        ' && mkdir "$HOME_DIR/.sigstore" && mkdir "$HOME_DIR/.newtool"'
    )
    env = {**os.environ, "STORE": str(store), "HOME_DIR": str(home)}
    with watching(fake):  # the paths travel in variables of no meaning: only the snapshot sees
        subprocess.run(["sh", "-c", script], env=env, check=True)
    offences = fake.check()
    assert [o for o in offences if not o.startswith(("created", "changed"))] == []
    assert {
        f"created {store}/oci/blob",
        f"changed {home}/.docker/config.json",
        f"created {home}/.sigstore",
        f"created {home}/.newtool",
    } <= set(offences)
    assert fake.check() == []


def test_subprocesses_pointed_at_the_store_or_the_home_are_caught(
    fake: Guard, tmp_path: Path
) -> None:
    store, home = _store(fake), _home(fake)
    repo = store.parent
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bakery").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "bakery").chmod(0o755)
    no_store = {k: v for k, v in os.environ.items() if k != "BAKERY_STORE"}
    with watching(fake):
        subprocess.run(["true", f"oci:{store}/oci:team/app:1"], check=True)
        subprocess.run(["true", "--store=.bakery"], cwd=repo, check=True)
        subprocess.run(["true"], env={**os.environ, "DOCKER_CONFIG": f"{home}/.docker"}, check=True)
        subprocess.run([bin_dir / "bakery", "images"], cwd=repo, env=no_store, check=True)
    offences = fake.check()
    assert offences == [
        f"subprocess.Popen with argument {store}/oci (the repository's .bakery)",
        f"subprocess.Popen with argument {store} (the repository's .bakery)",
        f"subprocess.Popen with DOCKER_CONFIG {home}/.docker (the real home)",
        f"subprocess.Popen with bakery's store {store} (the repository's .bakery)",
    ]


def test_exempt_and_unrelated_places_are_not_offences(fake: Guard, tmp_path: Path) -> None:
    store, home = _store(fake), _home(fake)
    elsewhere = tmp_path / "elsewhere"
    with watching(fake):
        (home / "python" / "lib" / "os.py").read_text()  # a Python installed in the home
        (store.parent / "README.md").write_text("x")  # the repository, not its store
        elsewhere.mkdir()
        (elsewhere / ".bakery").mkdir()
        os.listdir(elsewhere)
        subprocess.run(["true", str(home / "python" / "lib"), f"--store={elsewhere}"], check=True)
        subprocess.run(["sh", "-c", "true"], cwd=elsewhere, check=True)
        fake.audit("open", (3, "r", 0))  # an fd: nothing to say about it, and no error
    assert fake.check() == []


def test_a_kept_rootfs_is_recorded_by_its_top_only(fake: Guard) -> None:
    store = _store(fake)
    assert f"{store}/rootfs/abc" in fake.snapshot()
    assert not any(path.startswith(f"{store}/rootfs/abc/") for path in fake.snapshot())


_INNER_TESTS = """
import os
import subprocess

from tests.isolation import REPO_STORE


def test_reads_the_repository_store():
    try:
        open(REPO_STORE / "bakery.db", "rb").close()
    except OSError:
        pass


def test_a_tool_writes_the_real_home():
    script = 'mkdir -p "$REAL/.docker" && echo {} > "$REAL/.docker/config.json"'
    subprocess.run(["sh", "-c", script], check=True)


def test_minds_its_own_business(tmp_path):
    (tmp_path / "x").write_text("x")
    subprocess.run(["sh", "-c", "mkdir .bakery && echo > $HOME/.netrc"], check=True)
"""


def test_the_guard_fails_the_tests_that_touch_the_store_or_the_home(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pytest run of three tests, with the plugin: two fail at teardown, saying why."""
    real = tmp_path / "inner-real-home"  # the inner session's real home, not ours
    real.mkdir()
    monkeypatch.setenv("HOME", str(real))
    monkeypatch.setenv("REAL", str(real))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest('pytest_plugins = ("tests.isolation",)\n')
    pytester.makepyfile(test_inner=_INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_reads_the_repository_store*",
            f"*open {REPO_STORE}/bakery.db (the repository's .bakery)",
            "*ERROR at teardown of test_a_tool_writes_the_real_home*",
            f"*created {real}/.docker",
        ]
    )
    assert "test_minds_its_own_business" not in result.stdout.str().split("short test summary")[0]
    assert not (real / ".netrc").exists()
