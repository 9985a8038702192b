"""Every test runs in a directory of its own, with a home, a store and a docker config of its own,
and fails when it reads or writes the repository's ``./.bakery`` or the real home.

Isolation (a pytest plugin, loaded by ``tests/conftest.py``):

- for the session (so session- and module-scoped fixtures are covered too): the working
  directory, ``HOME``, ``BAKERY_STORE``, ``DOCKER_CONFIG`` and the ``XDG_*`` directories point
  into a fresh directory under pytest's base temp;
- for each test, the same again in a fresh directory of the test's own (the :func:`isolated`
  fixture), removed when the test passes. ``BAKERY_STORE`` is ``./.bakery`` of the test's working
  directory: the CLI's default, made explicit, so a ``bakery`` subprocess finds no other store.

Detection (:class:`Guard`), always on from session start to session end:

- an audit hook (:func:`sys.addaudithook`) records every path this process opens, lists,
  creates, renames, removes or connects SQLite to under the repository's ``.bakery`` or the real
  home, and every subprocess whose working directory, path arguments (``--store=…``,
  ``oci:…:tag`` included) or ``HOME``/``BAKERY_STORE``/``DOCKER_CONFIG``/``XDG_*`` point there;
  under the real home, the Python installation, ``sys.path``, the repository and pytest's temp
  directory are exempt (a pyenv Python lives in the home);
- a snapshot (type, size and mtime of each entry) of the repository's ``.bakery`` (kept
  rootfs trees: their top only) and of the real home's top-level entries, the entries of its
  ``.cache``, ``.config`` and ``.local/share``, and the whole of the places this suite's tools
  write to (:data:`HOME_TREES`) catches what a subprocess created, changed or removed there.

Each test's teardown fails the test with what was touched; the snapshot is then re-taken, so
one offence fails one test. What a session- or module-scoped fixture does is charged to the
first test after it, and what the last teardowns do fails the session's teardown.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REPO_STORE = REPO / ".bakery"

#: under the real home, recorded whole (everything else there: names only, see Guard.snapshot)
HOME_TREES = (".bakery", ".docker", ".sigstore", ".cache/bakery", ".config/bakery")
#: under the real home, directories whose entries' names are recorded (a new tool's directory)
HOME_LISTED = ("", ".cache", ".config", ".local/share")
#: environment variables that name a place of the test's own
ISOLATED_ENV = (
    "HOME",
    "BAKERY_STORE",
    "DOCKER_CONFIG",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
)

#: audit events whose arguments are paths this process touches, by event: the indexes of the
#: paths and of the dir_fd each is relative to (os.stat and exists are not audited by Python;
#: a read or a write always is; fd-only calls are left to the snapshot)
_PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "open": ((0, None),),
    "os.listdir": ((0, None),),
    "os.scandir": ((0, None),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.link": ((0, 2), (1, 3)),
    "os.symlink": ((1, 2),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.utime": ((0, 3),),
    "os.chdir": ((0, None),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
    "shutil.copyfile": ((0, None), (1, None)),
    "shutil.copytree": ((0, None), (1, None)),
    "shutil.rmtree": ((0, 1),),
    "shutil.move": ((0, None), (1, None)),
    "sqlite3.connect": ((0, None),),
}
_SPAWN_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.exec"}
_EVENTS = frozenset(_PATH_EVENTS) | _SPAWN_EVENTS
_SPLIT = re.compile(r"[=:,\s]")

Entry = tuple[int, int, int]  # file type, size, mtime in ns

# bound now: a test may monkeypatch os (the guard's snapshot must not call its stand-ins)
_lstat, _listdir, _scandir, _readlink, _rmtree = (
    os.lstat, os.listdir, os.scandir, os.readlink, shutil.rmtree
)  # fmt: skip


def _norm(path: object, cwd: str | None = None) -> str | None:
    """An absolute, normalised path (not resolved: the hook must stay cheap), or None."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str) or not path or "\n" in path or len(path) > 4096:
        return None
    if not os.path.isabs(path):
        path = os.path.join(cwd or os.getcwd(), path)
    return os.path.normpath(path)


def _fd_path(fd: object) -> str | None:
    """The directory an open ``dir_fd`` names (os.open(name, dir_fd=…) in shutil.rmtree)."""
    if not isinstance(fd, int) or isinstance(fd, bool):
        return None
    try:
        return _readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _parts(word: object) -> list[str]:
    """A command-line word and its pieces: ``--store=P``, ``oci:P:tag``, a shell line's words."""
    if isinstance(word, os.PathLike):
        word = os.fspath(word)
    if isinstance(word, bytes):
        word = os.fsdecode(word)
    if not isinstance(word, str) or len(word) > 4096:
        return []
    return [word, *(part for part in _SPLIT.split(word) if part and part != word)]


def _is_bakery(words: object) -> bool:
    """A ``bakery`` (or ``python -m bakery``) command line without ``--store``."""
    if not isinstance(words, Sequence) or isinstance(words, str | bytes):
        return False
    texts = [os.fsdecode(w) if isinstance(w, bytes | os.PathLike) else str(w) for w in words]
    cli = os.path.basename(texts[0]) == "bakery" if texts else False
    cli = cli or texts[1:3] == ["-m", "bakery"]
    return cli and not any(t == "--store" or t.startswith("--store=") for t in texts)


def _within(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def _variants(path: Path) -> list[str]:
    """The path as given and as resolved (a symlinked checkout is reached both ways)."""
    return sorted({os.path.normpath(os.path.abspath(path)), os.path.realpath(path)})


class Guard:
    """Records what touches ``repo_store`` or a ``home`` (its ``exempt`` trees aside)."""

    def __init__(self, *, repo_store: Path, homes: Sequence[Path], exempt: Sequence[Path]) -> None:
        self.repo_store = repo_store
        self.homes = [home for home in homes if Path(os.path.abspath(home)) != Path("/")]
        self._store_roots = _variants(repo_store)
        self._home_roots = [root for home in self.homes for root in _variants(home)]
        # an exempt tree holding a whole home (PYTHONPATH=~) would exempt that home: dropped
        self._exempt = [
            root
            for path in exempt
            for root in _variants(path)
            if not any(_within(home, [root]) for home in self._home_roots)
        ]
        self._offences: list[str] = []
        self._paused = False
        self._baseline = self.snapshot()

    # -- what this process does (audit hook) ----------------------------------------------

    def place(self, path: str) -> str | None:
        """Which protected place ``path`` (absolute, normalised) is in, if any."""
        if _within(path, self._store_roots):
            return "the repository's .bakery"
        if _within(path, self._home_roots) and not _within(path, self._exempt):
            return "the real home"
        return None

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if self._paused:
            return
        if event in _SPAWN_EVENTS:
            self._audit_spawn(event, args)
            return
        for index, fd_index in _PATH_EVENTS[event]:
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            path = _norm(args[index], _fd_path(dir_fd)) if index < len(args) else None
            where = self.place(path) if path else None
            if where:
                self._offences.append(f"{event} {path} ({where})")

    def _audit_spawn(self, event: str, args: tuple[object, ...]) -> None:
        # subprocess.Popen: (executable, args, cwd, env); os.posix_spawn, os.exec: (path, argv, env)
        argv, env = args[1], args[-1]
        cwd = _norm(args[2]) if event == "subprocess.Popen" and args[2] is not None else None
        named = [("cwd", cwd)]
        words = [argv] if isinstance(argv, str | bytes | os.PathLike) else argv
        for word in words if isinstance(words, Iterable) else ():
            named += [("argument", _norm(part, cwd)) for part in _parts(word)]
        if isinstance(env, Mapping):
            named += [(name, _norm(env.get(name), cwd)) for name in ISOLATED_ENV]
        if _is_bakery(words):  # the store it reads without --store: BAKERY_STORE, else ./.bakery
            environ = env if isinstance(env, Mapping) else os.environ
            named.append(("bakery's store", _norm(environ.get("BAKERY_STORE") or ".bakery", cwd)))
        for what, path in named:
            where = self.place(path) if path else None
            if where:
                self._offences.append(f"{event} with {what} {path} ({where})")

    # -- what any process left behind (snapshot) ------------------------------------------

    def snapshot(self) -> dict[str, Entry]:
        self._paused = True
        try:
            found: dict[str, Entry] = {}
            _walk(self.repo_store, found, prune=_kept_rootfs)
            for home in self.homes:
                for listed in HOME_LISTED:
                    _list(home / listed, found)
                for tree in HOME_TREES:
                    _walk(home / tree, found, prune=lambda rel: False)
            return found
        finally:
            self._paused = False

    def check(self) -> list[str]:
        """What was touched since the last check (and a new baseline for the next)."""
        offences, self._offences = self._offences, []
        now = self.snapshot()
        before, self._baseline = self._baseline, now
        changed = [f"created {p}" for p in sorted(now.keys() - before.keys())]
        changed += [f"removed {p}" for p in sorted(before.keys() - now.keys())]
        changed += [
            f"changed {p}" for p in sorted(now.keys() & before.keys()) if now[p] != before[p]
        ]
        return list(dict.fromkeys(offences)) + changed


def _entry(path: str) -> Entry | None:
    try:
        st = _lstat(path)
    except OSError:
        return None
    return stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns


def _kept_rootfs(rel: str) -> bool:
    """``rootfs/<id>``: a whole Debian tree, recorded by its top directory only."""
    return rel.startswith("rootfs" + os.sep) and rel.count(os.sep) == 1


def _list(directory: Path, found: dict[str, Entry]) -> None:
    """The names in ``directory`` (a new entry shows; a changed one's mtime does not)."""
    try:
        names = _listdir(directory)
    except OSError:
        return
    for name in names:
        found[os.path.join(directory, name)] = (0, 0, 0)


def _walk(root: Path, found: dict[str, Entry], prune: Callable[[str], bool]) -> None:
    """Every entry under ``root`` (itself included), not descending where ``prune(rel)``."""
    top = os.fspath(root)
    entry = _entry(top)
    if entry is None:
        return
    found[top] = entry
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with _scandir(directory) as scan:
                children = list(scan)
        except OSError:
            continue
        for child in children:
            entry = _entry(child.path)
            if entry is None:
                continue
            found[child.path] = entry
            rel = os.path.relpath(child.path, top)
            if stat.S_ISDIR(entry[0]) and not prune(rel):
                stack.append(child.path)


# -- the process-wide hook: installed once, dispatching to the guards being used -----------

_GUARDS: list[Guard] = []


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _GUARDS or event not in _EVENTS:
        return
    try:
        for guard in _GUARDS:
            guard.audit(event, args)
    except Exception:  # noqa: BLE001 - an audit hook that raises breaks the audited call
        pass


sys.addaudithook(_hook)


@contextmanager
def watching(guard: Guard) -> Iterator[Guard]:
    """Record this process's accesses to ``guard``'s places while the block runs."""
    _GUARDS.append(guard)
    try:
        yield guard
    finally:
        _GUARDS.remove(guard)


def real_homes() -> list[Path]:
    """``$HOME`` and the account's home from the password database (when they differ)."""
    homes = [os.environ.get("HOME", ""), pwd.getpwuid(os.getuid()).pw_dir]
    return [Path(home) for home in dict.fromkeys(homes) if home]


def python_trees() -> list[Path]:
    """The interpreter, the venv and every import path: read by imports, wherever they live."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [Path(p) for p in sorted(prefixes | {p for p in sys.path if os.path.isdir(p)})]


def offence_report(offences: list[str], *, limit: int = 20) -> str:
    shown = "\n  ".join(offences[:limit])
    more = f"\n  … and {len(offences) - limit} more" if len(offences) > limit else ""
    return (
        "this test touched the repository's .bakery or the real home (tests/isolation.py):\n  "
        f"{shown}{more}\n"
        "use tmp_path and relative paths; the working directory, HOME, BAKERY_STORE and "
        "DOCKER_CONFIG are already the test's own (a tool that ignores HOME still leaks)"
    )


# -- the pytest side --------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolation:
    """The places a test (or the session) has to itself."""

    cwd: Path
    home: Path
    store: Path
    docker_config: Path

    @classmethod
    def make(cls, root: Path) -> Isolation:
        home, cwd = root / "home", root / "cwd"
        for directory in (cwd, home / ".docker", home / ".cache", home / ".config"):
            directory.mkdir(parents=True)
        return cls(cwd=cwd, home=home, store=cwd / ".bakery", docker_config=home / ".docker")

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(self.cwd)
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("BAKERY_STORE", str(self.store))
        monkeypatch.setenv("DOCKER_CONFIG", str(self.docker_config))
        monkeypatch.setenv("XDG_CACHE_HOME", str(self.home / ".cache"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(self.home / ".config"))
        monkeypatch.setenv("XDG_DATA_HOME", str(self.home / ".local" / "share"))
        monkeypatch.setenv("XDG_STATE_HOME", str(self.home / ".local" / "state"))


#: the session's guard, in ``config.stash``
GUARD_KEY = pytest.StashKey[Guard]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps each phase's report: a test's own directory is removed only when it passed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session", autouse=True)
def isolated_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Isolation]:
    """The session's own cwd, HOME, store and docker config; the guard, on all session long."""
    exempt = [REPO, tmp_path_factory.getbasetemp(), *python_trees()]
    guard = Guard(repo_store=REPO_STORE, homes=real_homes(), exempt=exempt)
    isolation = Isolation.make(tmp_path_factory.mktemp("session-isolated"))
    request.config.stash[GUARD_KEY] = guard
    with pytest.MonkeyPatch.context() as monkeypatch, watching(guard):
        isolation.apply(monkeypatch)
        yield isolation
        offences = guard.check()
    if offences:
        pytest.fail("at the session's end, " + offence_report(offences), pytrace=False)


@pytest.fixture(autouse=True)
def isolated(
    request: pytest.FixtureRequest,
    isolated_session: Isolation,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Isolation]:
    """This test's own cwd, HOME, BAKERY_STORE and DOCKER_CONFIG; fails the test at teardown
    if it (or a fixture set up for it) touched the repository's .bakery or the real home.

    Its own MonkeyPatch, not the ``monkeypatch`` fixture: the test's patches (of ``os`` too)
    are undone before this teardown runs, and the test's environment changes on top of these."""
    guard = request.config.stash[GUARD_KEY]
    name = re.sub(r"\W", "_", request.node.name)[:30]
    root = tmp_path_factory.mktemp(f"{name}-isolated", numbered=True)
    isolation = Isolation.make(root)
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolation.apply(monkeypatch)
        yield isolation
        offences = guard.check()
    reports = request.node.stash.get(_REPORTS, {})
    if not offences and not any(report.failed for report in reports.values()):
        _rmtree(root, ignore_errors=True)
    if offences:
        pytest.fail(offence_report(offences), pytrace=False)
