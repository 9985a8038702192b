"""Run commands inside a rootfs with bubblewrap.

The rootfs is bound read-write as ``/`` (read-only for image tests), with fresh ``/proc`` and
``/dev``, private pid/ipc/uts/cgroup namespaces and, unless the step asks for the network, a
private network namespace. Extra files (the host's resolv.conf, secrets, apt pins) are
bind-mounted for the duration of the command only: any mount point bwrap needed is created
before and removed after, so nothing of them can reach a layer.

What runs there is untrusted (a recipe's ``run`` steps, package maintainer scripts, image
``command`` tests) and runs as root, so it is confined as a container runtime confines it:

- capabilities: only :data:`CAPABILITIES` (Docker's default set less ``CAP_MKNOD`` and
  ``CAP_NET_RAW``) in the effective, permitted, inheritable and ambient sets. bwrap run as root
  leaves the bounding set full (it trims it only with ``--unshare-user``); ``no_new_privs``
  is what keeps an ``execve`` (of anything, root's implicit file capabilities and set-id or
  file-capability binaries included) from gaining a capability beyond the permitted set;
- the seccomp filter of :mod:`bakery.rootfs.seccomp` (mount, namespaces, modules, ptrace,
  keyrings, bpf, block and character devices, ... fail with ``EPERM``);
- ``no_new_privs`` (bwrap sets it before every sandboxed ``execve``);
- a session of its own (``--new-session``): no controlling terminal whose input it could
  fill with ``TIOCSTI`` (which the filter refuses too);
- ``/proc/sys``, ``/proc/sysrq-trigger``, ``/proc/irq``, ``/proc/bus``, ``/proc/fs`` read-only,
  ``/proc/kcore``, ``/proc/keys`` and the other kernel-state files Docker masks hidden behind
  ``/dev/null`` (directories behind an empty read-only tmpfs); no ``/sys``; ``/dev`` holds
  bwrap's minimal set only (null, zero, full, random, urandom, tty, ptmx, pts, shm).

There is no user namespace: root in the sandbox is root on the host, held back by the above.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bakery import proc
from bakery.oci.securepath import secure_join
from bakery.rootfs import seccomp

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: HOME inside the sandbox unless the step's environment sets it
DEFAULT_HOME = "/root"

#: the capabilities a sandboxed command keeps: Docker's default set without CAP_MKNOD (block and
#: character devices are refused by the seccomp filter anyway, and FIFOs need no capability)
#: and CAP_NET_RAW. What apt and dpkg use: CHOWN, FOWNER, FSETID and DAC_OVERRIDE to unpack
#: files with their owners and set-id modes, SETUID/SETGID (apt downloads as _apt; adduser, su
#: and setpriv in scripts and image tests), KILL (apt stops its _apt methods), SETFCAP (postinsts
#: such as iputils-ping's run setcap); SETPCAP, NET_BIND_SERVICE, SYS_CHROOT and AUDIT_WRITE
#: are Docker's and harmless.
CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
)

#: kernel interfaces under /proc made read-only (Docker's ReadonlyPaths)
PROC_READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
#: kernel state under /proc hidden (Docker's MaskedPaths): files behind /dev/null,
#: directories behind an empty read-only tmpfs
PROC_MASKED = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
)


@dataclass(frozen=True)
class Mount:
    """A host file or directory bound read-only at ``dest`` (absolute, inside the sandbox)."""

    src: Path
    dest: str


@dataclass(frozen=True)
class SandboxSpec:
    """How to run one command over a rootfs."""

    rootfs: Path
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    read_only: bool = False
    workdir: str = "/"
    mounts: Sequence[Mount] = ()


def bwrap_argv(spec: SandboxSpec, *, seccomp_fd: int) -> list[str]:
    """The full bubblewrap command line for ``spec``; ``seccomp_fd`` is an open file holding
    the filter (:func:`bakery.rootfs.seccomp.default_filter`) that bwrap inherits."""
    argv = [
        proc.which("bwrap"),
        "--ro-bind" if spec.read_only else "--bind",
        str(spec.rootfs),
        "/",
        "--proc",
        "/proc",
        *_proc_hardening(),
        "--dev",
        "/dev",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "bakery",
        "--die-with-parent",
        "--new-session",  # no controlling terminal to push input into (TIOCSTI)
        "--clearenv",
        "--cap-drop",
        "ALL",
    ]
    for cap in CAPABILITIES:
        argv += ["--cap-add", cap]
    argv += ["--seccomp", str(seccomp_fd)]
    if not spec.network:
        argv.append("--unshare-net")
    if spec.read_only:
        argv += ["--perms", "1777", "--tmpfs", "/tmp"]  # a writable /tmp, as at run time
    for mount in spec.mounts:
        argv += ["--ro-bind", str(mount.src), mount.dest]
    env = {"PATH": DEFAULT_PATH, "HOME": DEFAULT_HOME, "LANG": "C.UTF-8", **spec.env}
    for key in sorted(env):
        argv += ["--setenv", key, env[key]]
    argv += ["--chdir", spec.workdir, "--", *spec.argv]
    return argv


def run(spec: SandboxSpec) -> proc.Completed:
    """Run the command; never raises for a non-zero exit (the caller reports it)."""
    mounts = list(spec.mounts)
    if spec.network:
        mounts.append(Mount(Path("/etc/resolv.conf"), "/etc/resolv.conf"))
    spec = SandboxSpec(
        rootfs=spec.rootfs,
        argv=spec.argv,
        env=spec.env,
        network=spec.network,
        read_only=spec.read_only,
        workdir=spec.workdir,
        mounts=mounts,
    )
    with _mount_points(spec.rootfs, mounts, create=not spec.read_only), _filter() as fd:
        return proc.run(bwrap_argv(spec, seccomp_fd=fd), check=False, pass_fds=(fd,))


def _proc_hardening() -> list[str]:
    """bwrap arguments, after ``--proc /proc``, that make kernel interfaces read-only and hide
    kernel state; only for entries this kernel has (the sandbox's /proc shows the same ones)."""
    argv = []
    for path in PROC_READ_ONLY:
        if Path(path).exists():
            argv += ["--ro-bind", path, path]
    for path in PROC_MASKED:
        if Path(path).is_dir():
            argv += ["--tmpfs", path, "--remount-ro", path]
        elif Path(path).exists():
            argv += ["--ro-bind", "/dev/null", path]
    return argv


@contextlib.contextmanager
def _filter() -> Iterator[int]:
    """An open file descriptor on the seccomp filter, positioned at its start."""
    with tempfile.TemporaryFile() as f:
        f.write(seccomp.default_filter())
        f.flush()
        f.seek(0)
        yield f.fileno()


@contextlib.contextmanager
def _mount_points(rootfs: Path, mounts: Sequence[Mount], *, create: bool) -> Iterator[None]:
    """Create missing mount points inside ``rootfs``; remove exactly those afterwards."""
    created: list[Path] = []
    try:
        if create:
            for mount in mounts:
                created += _make_mount_point(rootfs, mount)
        yield
    finally:
        for path in reversed(created):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)


def _make_mount_point(rootfs: Path, mount: Mount) -> list[Path]:
    target = secure_join(rootfs, mount.dest)
    created: list[Path] = []
    missing = [p for p in [*reversed(target.parents), target] if p.is_relative_to(rootfs)]
    for path in missing:
        if path.exists() or path.is_symlink():
            continue
        if path == target and not mount.src.is_dir():
            path.touch(mode=0o600)
        else:
            path.mkdir(mode=0o755)
        created.append(path)
    return created
