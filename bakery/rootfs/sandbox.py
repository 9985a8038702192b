"""Run commands inside a rootfs with bubblewrap.

The rootfs is bound read-write as ``/`` (read-only for image tests), with fresh ``/proc`` and
``/dev``, private pid/ipc/uts namespaces and, unless the step asks for the network, a private
network namespace. Extra files (the host's resolv.conf, secrets, apt pins) are bind-mounted for
the duration of the command only: any mount point bwrap needed is created before and removed
after, so nothing of them can reach a layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bakery import proc
from bakery.oci.securepath import secure_join

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def bwrap_argv(spec: SandboxSpec) -> list[str]:
    """The full bubblewrap command line for ``spec``."""
    argv = [
        proc.which("bwrap"),
        "--ro-bind" if spec.read_only else "--bind",
        str(spec.rootfs),
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        "bakery",
        "--die-with-parent",
        "--clearenv",
    ]
    if not spec.network:
        argv.append("--unshare-net")
    if spec.read_only:
        argv += ["--perms", "1777", "--tmpfs", "/tmp"]  # a writable /tmp, as at run time
    for mount in spec.mounts:
        argv += ["--ro-bind", str(mount.src), mount.dest]
    env = {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8", **spec.env}
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
    with _mount_points(spec.rootfs, mounts, create=not spec.read_only):
        return proc.run(bwrap_argv(spec), check=False)


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
