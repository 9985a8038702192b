"""Misconfiguration rules: each fires on its plant, a minbase-like tree is clean, no escapes."""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path

import pytest

from bakery.oci.model import ImageConfig
from bakery.scan.misconfig import DEFAULT_SETUID_ALLOWLIST, scan_misconfig
from bakery.scan.model import Finding

#: What `find / -xdev -type f -perm /6000` prints on a bookworm minbase, with the modes.
MINBASE_SETUID = {
    "/usr/bin/chage": 0o2755,
    "/usr/bin/chfn": 0o4755,
    "/usr/bin/chsh": 0o4755,
    "/usr/bin/expiry": 0o2755,
    "/usr/bin/gpasswd": 0o4755,
    "/usr/bin/newgrp": 0o4755,
    "/usr/bin/passwd": 0o4755,
    "/usr/bin/mount": 0o4755,
    "/usr/bin/umount": 0o4755,
    "/usr/bin/su": 0o4755,
    "/usr/sbin/unix_chkpwd": 0o2755,
}


def write(root: Path, path: str, content: str | bytes = "", mode: int = 0o644) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    target.chmod(mode)
    return target


def mkdir(root: Path, path: str, mode: int = 0o755) -> None:
    target = root / path.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(mode)


def pem(kind: str, seed: int = 0, size: int = 600) -> str:
    body = base64.b64encode(random.Random(seed).randbytes(size)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


def build_minbase(root: Path) -> None:
    """A tree with what a bookworm minbase (+ a non-root user) has that the rules look at."""
    for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")]:
        root.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        "app:x:10001:10001::/home/app:/usr/sbin/nologin\n",
    )
    write(root, "/etc/shadow", "root:*:19000:0:99999:7:::\napp:!:19000::::::\n", 0o640)
    write(root, "/etc/group", "root:x:0:\nshadow:x:42:\napp:x:10001:\n")
    write(root, "/etc/nsswitch.conf", "passwd:         files\ngroup:          files\n")
    write(root, "/etc/login.defs", "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\n")
    write(root, "/etc/pam.d/common-password", "password\t[success=1]\tpam_unix.so yescrypt\n")
    write(root, "/etc/machine-id", "")
    write(root, "/etc/ssl/certs/ca-certificates.crt", pem("CERTIFICATE", 1) * 3)
    write(root, "/usr/share/doc/base-files/copyright", "This is Debian.\n")
    write(root, "/usr/bin/ls", b"\x7fELF\x02\x01\x01\0" + b"\0" * 64, 0o755)
    for path, mode in MINBASE_SETUID.items():
        write(root, path, b"\x7fELF\x02\x01\x01\0", mode)
    for path in ("/tmp", "/var/tmp", "/run/lock"):
        mkdir(root, path, 0o1777)
    for path in ("/var/mail", "/var/local"):
        mkdir(root, path, 0o2775)
    write(root, "/var/lib/apt/lists/lock", "", 0o640)
    mkdir(root, "/var/lib/apt/lists/partial", 0o700)
    write(root, "/var/cache/apt/archives/lock", "", 0o640)
    mkdir(root, "/var/cache/apt/archives/partial", 0o700)
    mkdir(root, "/home/app", 0o700)
    write(root, "/dev/not-scanned", "", 0o666)


def plant_misconfig(root: Path) -> set[tuple[str, str | None, str]]:
    """Plant every misconfiguration; return (id, path, severity) expected (config: no User)."""
    write(root, "/usr/local/bin/backdoor", b"#!/bin/sh\n", 0o4755)
    write(root, "/usr/local/bin/games", b"#!/bin/sh\n", 0o2755)
    mkdir(root, "/opt/shared", 0o777)
    write(root, "/opt/app/app.log", "log\n", 0o666)
    write(root, "/etc/ssh/ssh_host_rsa_key", pem("RSA PRIVATE KEY", 2), 0o600)
    write(root, "/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAA root@build\n")
    write(root, "/etc/ssh/ssh_host_ed25519_key", pem("OPENSSH PRIVATE KEY", 3), 0o600)
    write(root, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    write(
        root,
        "/etc/shadow",
        "root::19000:0:99999:7:::\nbob::19000::::::\nlocked:!:19000::::::\n"
        "star:*:19000::::::\n+::::::::\n",
        0o640,
    )
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write("eve::1001:1001::/home/eve:/bin/sh\n")
    write(root, "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "x")
    write(root, "/var/cache/apt/pkgcache.bin", b"\0")
    write(root, "/var/cache/apt/archives/telnet_0.17_amd64.deb", b"!<arch>\n")
    write(root, "/opt/app/src/.git/HEAD", "ref: refs/heads/main\n")
    write(root, "/opt/app/tls/server.key", "# key\n" + pem("PRIVATE KEY", 4), 0o600)
    return {
        ("misconfig.root-user", None, "high"),
        ("misconfig.setuid", "/usr/local/bin/backdoor", "high"),
        ("misconfig.setgid", "/usr/local/bin/games", "medium"),
        ("misconfig.world-writable-dir", "/opt/shared", "high"),
        ("misconfig.world-writable-file", "/opt/app/app.log", "medium"),
        ("misconfig.ssh-host-key", "/etc/ssh/ssh_host_rsa_key", "high"),
        ("misconfig.ssh-host-key", "/etc/ssh/ssh_host_ed25519_key", "high"),
        ("misconfig.machine-id", "/etc/machine-id", "low"),
        ("misconfig.empty-password", "/etc/shadow", "critical"),
        ("misconfig.empty-password", "/etc/shadow", "high"),
        ("misconfig.empty-password", "/etc/passwd", "high"),
        ("misconfig.apt-lists", "/var/lib/apt/lists", "low"),
        ("misconfig.apt-cache", "/var/cache/apt", "low"),
        ("misconfig.git-directory", "/opt/app/src/.git", "medium"),
        ("misconfig.private-key", "/opt/app/tls/server.key", "high"),
    }


def config(user: str | None = None) -> ImageConfig:
    document: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    if user is not None:
        document["config"] = {"User": user}
    return ImageConfig.model_validate(document)


def found(findings: list[Finding]) -> set[tuple[str, str | None, str]]:
    return {(f.id, f.path, f.severity) for f in findings}


# --------------------------------------------------------------------------- rules


def test_minbase_like_tree_with_a_user_is_clean(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    assert scan_misconfig(tmp_path, config("app")) == []


def test_default_allowlist_is_exactly_minbase_plus_documented_extras() -> None:
    extras = DEFAULT_SETUID_ALLOWLIST - set(MINBASE_SETUID)
    assert set(MINBASE_SETUID) <= DEFAULT_SETUID_ALLOWLIST
    assert extras == {
        "/bin/mount",
        "/bin/umount",
        "/bin/su",
        "/sbin/unix_chkpwd",
        "/usr/bin/sudo",
        "/usr/lib/openssh/ssh-keysign",
    }


def test_every_rule_fires_on_its_plant(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    expected = plant_misconfig(tmp_path)
    findings = scan_misconfig(tmp_path, config())
    assert found(findings) == expected
    assert len(findings) == len(expected)
    assert all(f.category == "misconfiguration" and f.title for f in findings)


def test_details(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    plant_misconfig(tmp_path)
    detail = {(f.id, f.severity): f.detail for f in scan_misconfig(tmp_path, config())}
    assert detail[("misconfig.root-user", "high")] == "config User is not set"
    assert detail[("misconfig.empty-password", "critical")] == "account 'root' has no password"
    assert detail[("misconfig.setuid", "high")] == "mode -rwsr-xr-x, owner uid 0"
    assert detail[("misconfig.apt-cache", "low")] == "pkgcache.bin, 1 .deb files"


@pytest.mark.parametrize(
    ("user", "is_root"),
    [
        (None, True),
        ("", True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:app", True),
        ("toor", True),  # uid 0 in /etc/passwd
        ("app", False),
        ("10001:10001", False),
        ("nobody-unknown", False),
    ],
)
def test_root_user(tmp_path: Path, user: str | None, is_root: bool) -> None:
    build_minbase(tmp_path)
    with (tmp_path / "etc/passwd").open("a") as passwd:
        passwd.write("toor:x:0:0::/root:/bin/sh\n")
    ids = [f.id for f in scan_misconfig(tmp_path, config(user))]
    assert ids == (["misconfig.root-user"] if is_root else [])


def test_setuid_owned_by_another_user_is_medium(tmp_path: Path) -> None:
    target = write(tmp_path, "/usr/games/score", b"x", 0o4755)
    os.chown(target, 5, 60)
    target.chmod(0o4755)  # chown clears the setuid bit
    assert found(scan_misconfig(tmp_path, config("app"))) == {
        ("misconfig.setuid", "/usr/games/score", "medium")
    }


def test_allowlist_can_be_narrowed(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    findings = scan_misconfig(tmp_path, config("app"), setuid_allowlist=frozenset())
    assert {(f.id, f.path) for f in findings} == {
        ("misconfig.setuid" if mode & 0o4000 else "misconfig.setgid", path)
        for path, mode in MINBASE_SETUID.items()
    }


def test_uninitialized_machine_id_is_empty(tmp_path: Path) -> None:
    write(tmp_path, "/etc/machine-id", "uninitialized\n")
    assert scan_misconfig(tmp_path, config("app")) == []


def test_binary_with_a_key_string_is_not_a_private_key(tmp_path: Path) -> None:
    write(tmp_path, "/usr/lib/libtls.so", b"\x7fELF\0" + pem("RSA PRIVATE KEY").encode(), 0o755)
    assert scan_misconfig(tmp_path, config("app")) == []


# --------------------------------------------------------------------------- hostile trees


def test_well_known_paths_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "host"
    write(outside, "/shadow", "root::1:0:99999:7:::\n")
    write(outside, "/machine-id", "0123456789abcdef0123456789abcdef\n")
    write(outside, "/ssh/ssh_host_rsa_key", pem("RSA PRIVATE KEY"))
    root = tmp_path / "root"
    mkdir(root, "/etc")
    (root / "etc/shadow").symlink_to("../../host/shadow")
    (root / "etc/machine-id").symlink_to(outside / "machine-id")
    (root / "etc/ssh").symlink_to("/../../../host/ssh")
    (root / "var/lib/apt").mkdir(parents=True)
    (root / "var/lib/apt/lists").symlink_to(outside)
    assert scan_misconfig(root, config("app")) == []


def test_symlinks_inside_the_rootfs_are_followed_like_the_image_would(tmp_path: Path) -> None:
    write(tmp_path, "/usr/share/base/machine-id", "0123456789abcdef0123456789abcdef\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").symlink_to("/usr/share/base/machine-id")
    assert found(scan_misconfig(tmp_path, config("app"))) == {
        ("misconfig.machine-id", "/etc/machine-id", "low")
    }


def test_symlink_loops_are_harmless(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/shadow").symlink_to("shadow")
    (tmp_path / "etc/ssh").symlink_to("/etc/ssh")
    (tmp_path / "loop").symlink_to(".")
    assert scan_misconfig(tmp_path, config("app")) == []
