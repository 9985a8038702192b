"""Hostile steps: what a recipe runs (``run`` steps, package maintainer scripts, image
``command`` tests) cannot leave the sandbox or touch the host.

Real bwrap over a real Debian minbase rootfs (with strace and kmod), made once per session. Each
attack runs the way each caller runs the sandbox: a ``run`` step (read-write rootfs, no network),
a ``packages`` step (read-write, with the network) and a ``command`` test (read-only rootfs).
Each test asserts the specific refusal, not merely a failure, so that it fails when the sandbox
lets the attack through.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakery import proc
from bakery.checks import imagetests
from bakery.recipe.model import CommandTest, PackagesStep, RunStep
from bakery.rootfs import sandbox, steps
from bakery.rootfs.image import ImageState
from tests.conftest import require_root, require_tools

#: Docker's default capabilities less CAP_MKNOD and CAP_NET_RAW: CHOWN, DAC_OVERRIDE, FOWNER,
#: FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, AUDIT_WRITE, SETFCAP
EXPECTED_CAPS = "00000000a00405fb"
EPERM = "Operation not permitted"
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")

#: how each caller runs the sandbox: (read_only, network)
MODES = {"run-step": (False, False), "packages-step": (False, True), "command-test": (True, False)}


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Debian bookworm minbase with strace and kmod (~40 s, once per session)."""
    require_root()
    require_tools("mmdebstrap", "bwrap")
    root = tmp_path_factory.mktemp("hostile") / "rootfs"
    options = ["--quiet", "--variant=minbase", "--mode=root", "--include=strace,kmod"]
    proc.run(["mmdebstrap", *options, "bookworm", str(root)])
    return root


@pytest.fixture(autouse=True)
def _home_in_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME inside the sandbox is /root, a word tests/isolation.py reads in bwrap's command
    line as this machine's real home: these tests use another one."""
    monkeypatch.setattr(sandbox, "DEFAULT_HOME", "/")


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> tuple[bool, bool]:
    return MODES[request.param]


def _sandboxed(rootfs: Path, mode: tuple[bool, bool], script: str) -> proc.Completed:
    read_only, network = mode
    spec = sandbox.SandboxSpec(
        rootfs=rootfs, argv=["/bin/sh", "-c", script], read_only=read_only, network=network
    )
    return sandbox.run(spec)


def _device_nodes(root: Path) -> set[str]:
    found = set()
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
                found.add(os.path.relpath(os.path.join(directory, name), root))
    return found


def test_capabilities_are_reduced_with_no_new_privs_and_seccomp(
    rootfs: Path, mode: tuple[bool, bool]
) -> None:
    done = _sandboxed(
        rootfs, mode, "grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status"
    )
    status = dict(line.split(":\t") for line in done.stdout.splitlines())
    assert status == {
        "CapEff": EXPECTED_CAPS,
        "CapPrm": EXPECTED_CAPS,
        "NoNewPrivs": "1",
        "Seccomp": "2",  # a filter
    }, done.stderr


def test_a_run_step_has_the_reduced_capabilities(rootfs: Path, tmp_path: Path) -> None:
    ctx = steps.StepContext(
        rootfs=rootfs, scratch=tmp_path, env={}, workdir="/", source_date_epoch=0
    )
    step = RunStep(run="grep CapEff /proc/self/status > /capeff-run")
    steps.run_step(step, ctx, secrets=(), label="step 1")
    out = rootfs / "capeff-run"
    try:
        assert out.read_text().split() == ["CapEff:", EXPECTED_CAPS]
    finally:
        out.unlink()


def test_package_maintainer_scripts_have_the_reduced_capabilities(
    rootfs: Path, tmp_path: Path
) -> None:
    """apt and dpkg work in the sandbox, and what they run (here a DPkg::Pre-Invoke hook,
    run like a maintainer script) has only the reduced capabilities."""
    hook = rootfs / "etc/apt/apt.conf.d/99capeff"
    hook.write_text('DPkg::Pre-Invoke { "grep CapEff /proc/self/status > /capeff-dpkg"; };\n')
    out = rootfs / "capeff-dpkg"
    ctx = steps.StepContext(
        rootfs=rootfs, scratch=tmp_path, env={}, workdir="/", source_date_epoch=0
    )
    try:
        installed = steps.packages_step(
            PackagesStep(packages=["hello"]), ctx, pins=None, label="step 1"
        )
        assert [p.name for p in installed] == ["hello"]
        assert out.read_text().split() == ["CapEff:", EXPECTED_CAPS]
    finally:
        hook.unlink()
        out.unlink(missing_ok=True)


def test_a_command_test_has_the_reduced_capabilities(rootfs: Path) -> None:
    test = CommandTest.model_validate(
        {
            "command": {
                "run": "grep CapEff /proc/self/status",
                "stdout": f"CapEff:\\s+{EXPECTED_CAPS}$",
            }
        }
    )
    [outcome] = imagetests.run_tests((test,), rootfs, ImageState())
    assert outcome.passed, outcome.detail


def test_core_pattern_cannot_be_written_and_the_host_keeps_its_own(
    rootfs: Path, mode: tuple[bool, bool]
) -> None:
    before = CORE_PATTERN.read_text()
    try:
        done = _sandboxed(
            rootfs,
            mode,
            "echo bakery-hostile-core > /proc/sys/kernel/core_pattern; echo rc=$?",
        )
        after = CORE_PATTERN.read_text()
    finally:
        if CORE_PATTERN.read_text() != before:  # the sandbox failed: put the host right
            CORE_PATTERN.write_text(before)
    assert after == before
    assert done.stdout.split() == ["rc=2"], done.stderr
    assert "Read-only file system" in done.stderr


def test_the_read_only_proc_cannot_be_unmounted_or_remounted(
    rootfs: Path, mode: tuple[bool, bool]
) -> None:
    done = _sandboxed(
        rootfs,
        mode,
        "umount /proc/sys; echo rc=$?; mount -o remount,rw /proc/sys; echo rc=$?;"
        "umount /proc; echo rc=$?",
    )
    assert done.stdout.split() == ["rc=32", "rc=32", "rc=32"], done.stderr
    assert "not mounted" not in done.stderr  # refused, not merely absent


def test_kernel_state_is_masked_and_there_is_no_sys_and_a_minimal_dev(
    rootfs: Path, mode: tuple[bool, bool]
) -> None:
    done = _sandboxed(
        rootfs,
        mode,
        "cat /proc/keys /proc/timer_list; echo rc=$?; echo sys: $(ls -A /sys);"
        "echo dev: $(ls -A /dev)",
    )
    rc, sys_listing, dev_listing = done.stdout.splitlines()
    assert rc == "rc=1", done.stdout  # /dev/null over them, on a nodev mount: EACCES
    assert done.stderr.count("Permission denied") == 2, done.stderr
    assert sys_listing.split() == ["sys:"]
    allowed = {"dev:", "core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr"}
    allowed |= {"stdin", "stdout", "tty", "urandom", "zero", "console"}
    assert set(dev_listing.split()) <= allowed, dev_listing


def test_no_block_or_character_device_can_be_made(rootfs: Path, mode: tuple[bool, bool]) -> None:
    before = _device_nodes(rootfs)
    try:
        done = _sandboxed(
            rootfs,
            mode,
            "mknod /tmp/hostile-blk b 8 0; echo rc=$?; mknod /tmp/hostile-chr c 1 1; echo rc=$?;"
            "mkfifo /tmp/hostile-fifo; echo rc=$?; rm -f /tmp/hostile-fifo",
        )
        after = _device_nodes(rootfs)
    finally:
        for name in ("hostile-blk", "hostile-chr"):
            (rootfs / "tmp" / name).unlink(missing_ok=True)
    assert after == before
    # block and character devices refused; a FIFO (no device) is still allowed
    assert done.stdout.split() == ["rc=1", "rc=1", "rc=0"], done.stderr
    assert done.stderr.count(EPERM) == 2, done.stderr


def test_nothing_can_be_mounted(rootfs: Path, mode: tuple[bool, bool]) -> None:
    done = _sandboxed(
        rootfs,
        mode,
        "mount -t tmpfs none /mnt; echo rc=$?; mount --bind /tmp /mnt; echo rc=$?;"
        "grep -c ' /mnt ' /proc/self/mountinfo",
    )
    assert done.stdout.split() == ["rc=32", "rc=32", "0"], done.stderr
    assert done.stderr.count("permission denied") == 2, done.stderr


def test_no_kernel_module_can_be_loaded(rootfs: Path, mode: tuple[bool, bool]) -> None:
    done = _sandboxed(
        rootfs,
        mode,
        "printf '\\177ELF' > /tmp/hostile.ko; head -c 64 /dev/zero >> /tmp/hostile.ko;"
        "insmod /tmp/hostile.ko; echo rc=$?; rm -f /tmp/hostile.ko",
    )
    assert done.stdout.split() == ["rc=1"], done.stderr
    assert f"could not insert module /tmp/hostile.ko: {EPERM}" in done.stderr


def test_no_namespace_can_be_made_to_regain_capabilities(
    rootfs: Path, mode: tuple[bool, bool]
) -> None:
    done = _sandboxed(
        rootfs,
        mode,
        "unshare -U -r id; echo rc=$?; unshare -m true; echo rc=$?; unshare -n true; echo rc=$?",
    )
    assert done.stdout.split() == ["rc=1", "rc=1", "rc=1"], done.stdout + done.stderr
    assert done.stderr.count(f"unshare failed: {EPERM}") == 3, done.stderr


def test_no_process_can_be_traced(rootfs: Path, mode: tuple[bool, bool]) -> None:
    """Neither pid 1 (bwrap's init in the pid namespace) nor a child of the step."""
    done = _sandboxed(
        rootfs,
        mode,
        "timeout 10 strace -o /dev/null -p 1; echo rc=$?;"
        "timeout 10 strace -o /dev/null true; echo rc=$?",
    )
    assert done.stdout.split() == ["rc=1", "rc=1"], done.stderr
    assert f"ptrace(PTRACE_SEIZE, 1): {EPERM}" in done.stderr or (
        f"ptrace(PTRACE_ATTACH, 1): {EPERM}" in done.stderr
    ), done.stderr


#: push a character into the input of the controlling terminal, then of stdin
INJECT = r"""
for my $path ("/dev/tty", "/proc/self/fd/0") {
    my $c = "x";
    if (!open(my $t, "+<", $path)) { print "no $path: $!\n" }
    elsif (ioctl($t, 0x5412, $c)) { print "injected into $path\n" }
    else { print "refused on $path: $!\n" }
}
"""

#: runs a command in the sandbox from another process, whose terminal `script` provides
RUNNER = """
import sys
from pathlib import Path
from bakery.rootfs import sandbox
spec = sandbox.SandboxSpec(rootfs=Path(sys.argv[1]), argv=["perl", "/tmp/hostile-inject.pl"])
print(sandbox.run(spec).stdout)
"""


def test_no_input_can_be_pushed_into_the_terminal_bakery_runs_in(
    rootfs: Path, tmp_path: Path
) -> None:
    """A step of a bake run from a terminal cannot type into it (TIOCSTI): the sandbox has no
    controlling terminal (its own session), and the ioctl is refused on its stdin."""
    require_tools("script")
    (rootfs / "tmp/hostile-inject.pl").write_text(INJECT)
    (tmp_path / "runner.py").write_text(RUNNER)
    command = shlex.join([sys.executable, str(tmp_path / "runner.py"), str(rootfs)])
    try:
        done = subprocess.run(
            ["script", "--quiet", "--return", "--command", command, "/dev/null"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        (rootfs / "tmp/hostile-inject.pl").unlink()
    lines = done.stdout.replace("\r", "").splitlines()
    assert "no /dev/tty: No such device or address" in lines, done.stdout + done.stderr
    assert f"refused on /proc/self/fd/0: {EPERM}" in lines, done.stdout + done.stderr
    assert "injected" not in done.stdout


@pytest.fixture
def listener() -> Iterator[tuple[str, int, threading.Thread, list[bytes]]]:
    """A TCP server on the host's own address (not loopback) accepting one connection in a
    thread; yields the address, the thread and what it received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the route
        host = probe.getsockname()[0]
    server = socket.create_server((host, 0))
    server.settimeout(15)
    received: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield host, server.getsockname()[1], thread, received
    finally:
        server.close()
        thread.join(20)


@pytest.mark.parametrize("read_only", [False, True], ids=["run-step", "command-test"])
def test_the_network_is_unreachable_without_network_true(
    rootfs: Path, read_only: bool, listener: tuple[str, int, threading.Thread, list[bytes]]
) -> None:
    host, port, thread, received = listener
    script = f"echo hostile > /dev/tcp/{host}/{port}; echo rc=$?"
    argv = ["/bin/bash", "-c", script]
    done = sandbox.run(sandbox.SandboxSpec(rootfs=rootfs, argv=argv, read_only=read_only))
    assert done.stdout.split() == ["rc=1"], done.stderr
    assert "Network is unreachable" in done.stderr
    # the same connection with `network: true` arrives: the probe itself works
    opened = sandbox.run(sandbox.SandboxSpec(rootfs=rootfs, argv=argv, network=True))
    assert opened.stdout.split() == ["rc=0"], opened.stderr
    thread.join(10)
    assert received == [b"hostile\n"]
