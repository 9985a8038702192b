"""Misconfigurations of an image: what it runs as, and what its rootfs should not contain.

Rules (finding id ``misconfig.<rule>``, category ``misconfiguration``):

====================  ========  ================================================================
rule                  severity  what
====================  ========  ================================================================
root-user             high      the config's ``User`` is empty, ``root``, ``0``, ``0:...`` or a
                                name that ``/etc/passwd`` maps to uid 0
setuid                high      a setuid regular file owned by root outside the allowlist
                                (medium when owned by another user: it only gains that user)
setgid                medium    a setgid regular file outside the allowlist (directories are
                                fine: setgid on a directory only sets the group of new files)
world-writable-dir    high      a world-writable directory without the sticky bit (anyone can
                                replace anyone's files in it)
world-writable-file   medium    a world-writable regular file
ssh-host-key          high      ``/etc/ssh/ssh_host_*_key``: every container shares the host key
machine-id            low       a non-empty ``/etc/machine-id`` (``uninitialized``, systemd's
                                first-boot marker, counts as empty): every container shares it
empty-password        high      an account whose password field is empty in ``/etc/shadow`` or
                                ``/etc/passwd`` (critical for uid 0); ``!`` and ``*`` are locked
apt-lists             low       files left in ``/var/lib/apt/lists`` (other than ``lock`` and
                                ``partial/``)
apt-cache             low       ``/var/cache/apt/*.bin`` and ``.deb`` files under
                                ``/var/cache/apt/archives``
git-directory         medium    a ``.git`` directory (history can hold secrets and source)
private-key           high      a file holding a PEM or OpenSSH private key (host keys are
                                reported as ssh-host-key only)
====================  ========  ================================================================

Well-known paths (``/etc/shadow``, ``/etc/ssh``, ...) are resolved with
:func:`~bakery.oci.securepath.secure_join`, following symlinks the way the image itself would
but never out of the rootfs; everything else comes from :func:`~bakery.scan.walk.walk_files`,
which follows no symlink at all.

The default setuid/setgid allowlist is exactly what a Debian 12 (bookworm) minbase ships
(``find / -xdev -type f -perm /6000`` on an ``mmdebstrap --variant=minbase`` tree), the same
files at their pre-merged-/usr paths (``/bin/su``, ...: older Debian releases), and two
documented additions that images commonly install on purpose: ``sudo`` and OpenSSH's
``ssh-keysign``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from bakery.errors import UnsafeLayerError
from bakery.oci.model import ImageConfig
from bakery.oci.securepath import secure_join
from bakery.scan.model import Finding, Severity
from bakery.scan.secrets import DEFAULT_MAX_FILE_SIZE, detect_private_keys, read_text
from bakery.scan.walk import FileEntry, open_no_follow, walk_files

_MINBASE_SETUID = frozenset(
    {
        "/usr/bin/chage",  # passwd (setgid shadow)
        "/usr/bin/chfn",  # passwd
        "/usr/bin/chsh",  # passwd
        "/usr/bin/expiry",  # passwd (setgid shadow)
        "/usr/bin/gpasswd",  # passwd
        "/usr/bin/newgrp",  # passwd
        "/usr/bin/passwd",  # passwd
        "/usr/bin/mount",  # mount
        "/usr/bin/umount",  # mount
        "/usr/bin/su",  # util-linux
        "/usr/sbin/unix_chkpwd",  # libpam-modules-bin (setgid shadow)
    }
)
_PRE_MERGED_USR = frozenset({"/bin/mount", "/bin/umount", "/bin/su", "/sbin/unix_chkpwd"})
_DOCUMENTED_EXTRAS = frozenset({"/usr/bin/sudo", "/usr/lib/openssh/ssh-keysign"})

#: Setuid/setgid files that are expected; see the module doc.
DEFAULT_SETUID_ALLOWLIST: frozenset[str] = _MINBASE_SETUID | _PRE_MERGED_USR | _DOCUMENTED_EXTRAS

#: Rule -> (severity, title).
RULES: dict[str, tuple[Severity, str]] = {
    "root-user": ("high", "Image runs as root"),
    "setuid": ("high", "Setuid file outside the allowlist"),
    "setgid": ("medium", "Setgid file outside the allowlist"),
    "world-writable-dir": ("high", "World-writable directory without the sticky bit"),
    "world-writable-file": ("medium", "World-writable file"),
    "ssh-host-key": ("high", "SSH host key baked into the image"),
    "machine-id": ("low", "Non-empty /etc/machine-id"),
    "empty-password": ("high", "Account with an empty password"),
    "apt-lists": ("low", "APT package lists left in the image"),
    "apt-cache": ("low", "APT cache left in the image"),
    "git-directory": ("medium", ".git directory in the image"),
    "private-key": ("high", "Private key in the image"),
}

_SMALL_FILE = 1024 * 1024  # /etc/passwd, /etc/shadow, /etc/machine-id are far smaller
_HOST_KEY = re.compile(r"ssh_host_[A-Za-z0-9]+_key")


def scan_misconfig(
    rootfs: Path,
    config: ImageConfig,
    *,
    setuid_allowlist: frozenset[str] = DEFAULT_SETUID_ALLOWLIST,
) -> list[Finding]:
    """Every misconfiguration of the image ``config`` + ``rootfs``; see the module doc."""
    uids = _uids(rootfs)
    findings = [
        *_root_user(config, uids),
        *_empty_passwords(rootfs, uids),
        *_machine_id(rootfs),
        *_ssh_host_keys(rootfs),
        *_apt_lists(rootfs),
        *_apt_cache(rootfs),
    ]
    host_keys = {finding.path for finding in findings if finding.id == "misconfig.ssh-host-key"}
    for entry in walk_files(rootfs, max_size=sys.maxsize):
        findings.extend(_entry_findings(entry, setuid_allowlist))
        if entry.kind == "file" and entry.image_path not in host_keys:
            findings.extend(_private_keys(entry))
    return findings


# --- the image config and account databases ------------------------------------------------


def _root_user(config: ImageConfig, uids: dict[str, int]) -> list[Finding]:
    """The image runs as root: no user, ``root``, ``0``, ``0:...``, or a name for uid 0."""
    user = (config.config.user if config.config is not None else None) or ""
    name = user.split(":", 1)[0]
    if name not in ("", "root", "0") and uids.get(name) != 0:
        return []
    detail = f"config User is {user!r}" if user else "config User is not set"
    return [_finding("root-user", None, detail)]


def _uids(rootfs: Path) -> dict[str, int]:
    """Account name -> uid, from the image's ``/etc/passwd`` (empty if it has none)."""
    uids = {}
    for fields in _colon_lines(rootfs, "/etc/passwd"):
        if len(fields) > 2 and fields[2].isdigit():
            uids[fields[0]] = int(fields[2])
    return uids


def _empty_passwords(rootfs: Path, uids: dict[str, int]) -> list[Finding]:
    """Accounts whose password field is empty (``!``/``*`` prefixes are locked: fine)."""
    findings = []
    for path in ("/etc/shadow", "/etc/passwd"):
        for fields in _colon_lines(rootfs, path):
            if len(fields) > 1 and fields[0][:1] not in ("", "+", "-") and fields[1] == "":
                root = uids.get(fields[0]) == 0 or fields[0] == "root"
                severity: Severity = "critical" if root else "high"
                detail = f"account {fields[0]!r} has no password"
                findings.append(_finding("empty-password", path, detail, severity=severity))
    return findings


def _colon_lines(rootfs: Path, path: str) -> Iterator[list[str]]:
    """The ``:``-separated fields of each line of a small text file of the image."""
    data = _read_image_file(rootfs, path)
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            yield line.split(":")


def _machine_id(rootfs: Path) -> list[Finding]:
    """A machine id baked into the image (systemd's ``uninitialized`` marker is fine)."""
    content = (_read_image_file(rootfs, "/etc/machine-id") or b"").strip()
    if not content or content == b"uninitialized":
        return []
    return [_finding("machine-id", "/etc/machine-id", "every container gets the same id")]


# --- well-known directories ----------------------------------------------------------------


def _ssh_host_keys(rootfs: Path) -> list[Finding]:
    """Private SSH host keys (``/etc/ssh/ssh_host_*_key``, not the ``.pub`` halves)."""
    return [
        _finding("ssh-host-key", f"/etc/ssh/{name}", "generate host keys when a container starts")
        for name in _regular_files(rootfs, "/etc/ssh")
        if _HOST_KEY.fullmatch(name)
    ]


def _apt_lists(rootfs: Path) -> list[Finding]:
    """Package lists left behind by ``apt-get update`` (``lock`` and ``partial/`` are fine)."""
    names = [name for name in _regular_files(rootfs, "/var/lib/apt/lists") if name != "lock"]
    if not names:
        return []
    detail = f"{len(names)} files; run `rm -rf /var/lib/apt/lists/*` in the same step"
    return [_finding("apt-lists", "/var/lib/apt/lists", detail)]


def _apt_cache(rootfs: Path) -> list[Finding]:
    """APT's binary caches and downloaded ``.deb`` files."""
    bins = [name for name in _regular_files(rootfs, "/var/cache/apt") if name.endswith(".bin")]
    debs = [
        name
        for directory in ("/var/cache/apt/archives", "/var/cache/apt/archives/partial")
        for name in _regular_files(rootfs, directory)
        if name.endswith(".deb")
    ]
    if not bins and not debs:
        return []
    detail = ", ".join([*bins, f"{len(debs)} .deb files"] if debs else bins)
    return [_finding("apt-cache", "/var/cache/apt", detail)]


def _regular_files(rootfs: Path, directory: str) -> list[str]:
    """Names of the regular files directly in an image directory, sorted; [] if it is absent."""
    try:
        with os.scandir(secure_join(rootfs, directory + "/.")) as entries:
            return sorted(entry.name for entry in entries if entry.is_file(follow_symlinks=False))
    except (OSError, UnsafeLayerError):
        return []


def _read_image_file(rootfs: Path, path: str) -> bytes | None:
    """The content of a small regular file of the image (symlinks resolved inside it)."""
    try:
        fd = open_no_follow(os.fspath(secure_join(rootfs, path + "/.")))
    except (OSError, UnsafeLayerError):
        return None
    try:
        return os.read(fd, _SMALL_FILE)
    except OSError:
        return None
    finally:
        os.close(fd)


# --- every entry of the rootfs -------------------------------------------------------------


def _entry_findings(entry: FileEntry, setuid_allowlist: frozenset[str]) -> list[Finding]:
    """Findings about one entry's mode (setuid/setgid, world-writable) or name (``.git``)."""
    mode = entry.stat.st_mode
    path = entry.image_path
    findings = []
    if entry.kind == "file" and path not in setuid_allowlist:
        if mode & stat.S_ISUID:
            severity: Severity = "high" if entry.stat.st_uid == 0 else "medium"
            detail = f"mode {stat.filemode(mode)}, owner uid {entry.stat.st_uid}"
            findings.append(_finding("setuid", path, detail, severity=severity))
        if mode & stat.S_ISGID:
            detail = f"mode {stat.filemode(mode)}, group gid {entry.stat.st_gid}"
            findings.append(_finding("setgid", path, detail))
    if entry.kind == "file" and mode & stat.S_IWOTH:
        findings.append(_finding("world-writable-file", path, f"mode {stat.filemode(mode)}"))
    if entry.kind == "dir" and mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        findings.append(_finding("world-writable-dir", path, f"mode {stat.filemode(mode)}"))
    if entry.kind == "dir" and os.path.basename(entry.path) == ".git":
        findings.append(_finding("git-directory", path, "remove it or add it to .dockerignore"))
    return findings


def _private_keys(entry: FileEntry) -> list[Finding]:
    """A finding for a text file holding private keys (unreadable files are skipped)."""
    if entry.stat.st_size > DEFAULT_MAX_FILE_SIZE:
        return []
    try:
        data = read_text(entry.host_path, DEFAULT_MAX_FILE_SIZE)
    except OSError:
        return []
    keys = detect_private_keys(data) if data is not None else []
    if not keys:
        return []
    kinds = ", ".join(sorted({kind for _, kind in keys}))
    return [_finding("private-key", entry.image_path, kinds, line=keys[0][0])]


def _finding(
    rule: str,
    path: str | None,
    detail: str,
    *,
    severity: Severity | None = None,
    line: int | None = None,
) -> Finding:
    """A misconfiguration finding of ``rule`` (at the rule's severity unless given)."""
    default_severity, title = RULES[rule]
    return Finding(
        category="misconfiguration",
        id=f"misconfig.{rule}",
        severity=severity or default_severity,
        title=title,
        path=path,
        line=line,
        detail=detail,
    )
