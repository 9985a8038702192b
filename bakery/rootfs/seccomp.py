"""The seccomp filter every sandboxed command runs under, compiled with the system's libseccomp.

Modelled on Docker's default profile (moby ``profiles/seccomp/default.json``) for a container
without ``CAP_SYS_ADMIN``, ``CAP_SYS_PTRACE``, ``CAP_SYS_MODULE`` and the like, written as a
deny list: every system call is allowed except the ones below, which fail with ``EPERM`` (the
caller sees an ordinary error; nothing is killed). ``clone3`` fails with ``ENOSYS``, as in
Docker, because its flags live in memory a filter cannot read: glibc then falls back to
``clone``, whose namespace flags the filter does see.

The program is built through ``ctypes`` over ``libseccomp.so.2`` (Debian's ``libseccomp2``, a
dependency of apt, so present wherever Bakery runs) and exported as raw BPF, the format
``bwrap --seccomp FD`` loads. It covers x86-64 with its 32-bit (x86) and x32 ABIs, as Docker's
does, so a 32-bit system call cannot slip past it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from bakery.errors import ToolError

#: refused outright: mounts, namespaces, modules, kexec, keyrings, bpf, perf, handles, swap,
#: reboot, the clock, ptrace, accounting, quotas, raw I/O ports, the kernel log, io_uring
DENIED: tuple[str, ...] = (
    # mounts and the root
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # namespaces (clone's namespace flags: CLONE_FLAG_RULES)
    "unshare",
    "setns",
    # kernel modules and kexec
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    # keyrings
    "keyctl",
    "add_key",
    "request_key",
    # bpf, perf, fanotify, userfaultfd, io_uring
    "bpf",
    "perf_event_open",
    "fanotify_init",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    # file handles (the "shocker" escape)
    "open_by_handle_at",
    "name_to_handle_at",
    # swap, reboot, the clock
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "stime",
    # other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    # accounting, quotas, the kernel log, old and odd interfaces
    "acct",
    "quotactl",
    "syslog",
    "lookup_dcookie",
    "nfsservctl",
    "sysfs",
    "_sysctl",
    "uselib",
    "ustat",
    "vhangup",
    "ioperm",
    "iopl",
    "vm86",
    "vm86old",
)

#: answered with ENOSYS, so that libc falls back to a call the filter can judge
NOT_IMPLEMENTED: tuple[str, ...] = ("clone3",)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
#: any of these in clone's flags is refused (together, Docker's mask 0x7E020000)
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWNS,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
)

S_IFMT = 0o170000
TIOCSTI = 0x5412  # push a character into a terminal's input: a step typing into the user's shell
TIOCLINUX = 0x541C  # the console's selection can be pasted the same way


@dataclass(frozen=True)
class ArgRule:
    """Refuse ``syscall`` when ``args[index] & mask == value``."""

    syscall: str
    index: int
    mask: int
    value: int


#: argument-filtered refusals: new namespaces through clone, block and character devices
#: through mknod/mknodat (FIFOs, sockets and regular files may still be made), terminal input
#: injection (flatpak's rules; the ioctl number is compared on its low 32 bits only)
ARG_RULES: tuple[ArgRule, ...] = (
    *(ArgRule("clone", 0, flag, flag) for flag in CLONE_NAMESPACE_FLAGS),
    ArgRule("mknod", 1, S_IFMT, 0o060000),  # S_IFBLK
    ArgRule("mknod", 1, S_IFMT, 0o020000),  # S_IFCHR
    ArgRule("mknodat", 2, S_IFMT, 0o060000),
    ArgRule("mknodat", 2, S_IFMT, 0o020000),
    ArgRule("ioctl", 1, 0xFFFFFFFF, TIOCSTI),
    ArgRule("ioctl", 1, 0xFFFFFFFF, TIOCLINUX),
)

# libseccomp's ABI (seccomp.h, 2.5)
_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_CMP_MASKED_EQ = 7
_ARCH_X86 = 0x40000003  # AUDIT_ARCH_I386
_ARCH_X32 = 0x4000003E  # AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT's ABI
_ARCH_X86_64 = 0xC000003E
_NR_SCMP_ERROR = -1


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno(code: int) -> int:
    return _ACT_ERRNO | (code & 0xFFFF)


@functools.cache
def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as e:
        raise ToolError(
            f"libseccomp is not installed ({e})",
            hint="install it with: apt-get install -y libseccomp2 (or run `make setup`)",
        ) from e
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise ToolError(f"libseccomp: {what} failed: {os.strerror(-rc)}")


def _syscall(lib: ctypes.CDLL, name: str) -> int:
    number = int(lib.seccomp_syscall_resolve_name(name.encode()))
    if number == _NR_SCMP_ERROR:
        raise ToolError(f"libseccomp does not know the system call {name!r}")
    return number


def _rule(lib: ctypes.CDLL, ctx: int, action: int, name: str, args: Sequence[_ArgCmp]) -> None:
    array = (_ArgCmp * max(len(args), 1))(*args)
    rc = lib.seccomp_rule_add_array(ctx, action, _syscall(lib, name), len(args), array)
    _check(rc, f"rule for {name}")


@functools.cache
def default_filter() -> bytes:
    """The default filter as raw BPF (``struct sock_filter[]``), built once per process."""
    lib = _library()
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise ToolError("libseccomp: seccomp_init failed")
    try:
        if lib.seccomp_arch_native() == _ARCH_X86_64:
            for arch in (_ARCH_X86, _ARCH_X32):
                _check(lib.seccomp_arch_add(ctx, arch), "adding the x86 and x32 ABIs")
        for name in DENIED:
            _rule(lib, ctx, _errno(errno.EPERM), name, ())
        for name in NOT_IMPLEMENTED:
            _rule(lib, ctx, _errno(errno.ENOSYS), name, ())
        for rule in ARG_RULES:
            cmp = _ArgCmp(rule.index, _CMP_MASKED_EQ, rule.mask, rule.value)
            _rule(lib, ctx, _errno(errno.EPERM), rule.syscall, (cmp,))
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    with tempfile.TemporaryFile() as out:
        _check(lib.seccomp_export_bpf(ctx, out.fileno()), "exporting the filter")
        out.seek(0)
        return out.read()
