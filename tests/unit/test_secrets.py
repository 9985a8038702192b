"""Secret scanning: every rule on its plant, placeholders and clean trees, masking, hostile trees.

Planted values are built at run time from a seeded generator (never written out in the source,
so that no scanner mistakes this file for a leak). :func:`plant_secrets` is also used by the
policy tests and by docs/secrets-vs-trivy.md, which compares the result with trivy's.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from bakery.scan.secrets import SecretScan, scan_secrets
from bakery.scan.walk import walk_files
from tests.unit.test_misconfig import build_minbase

ALNUM = string.ascii_letters + string.digits
#: The part of a token that says what it is, shown in excerpts; the rest is the secret.
PUBLIC_PREFIX = re.compile(
    r"^(?:gh[pousr]_|github_pat_|glpat-|xox[bpar]-|https://hooks\.slack\.com/services/)"
)


class _Plant(Protocol):
    """The ``plant`` callback: record an expected finding and the secrets it covers."""

    def __call__(self, rule: str, path: str, line: int | None, *secrets: str) -> None: ...


@dataclass
class Planted:
    """What was planted: (rule, image path, line) expected, and every secret value."""

    expected: set[tuple[str, str, int | None]] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)


def _random(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _pem_body(rng: random.Random, size: int) -> str:
    raw = base64.b64encode(rng.randbytes(size)).decode()
    return "\n".join(raw[i : i + 64] for i in range(0, len(raw), 64))


def _pem(kind: str, body: str, headers: str = "") -> str:
    return f"-----BEGIN {kind}-----\n{headers}{body}\n-----END {kind}-----\n"


def _write(root: Path, path: str, content: str | bytes, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    target.write_bytes(content)
    target.chmod(mode)


def plant_secrets(root: Path, seed: int = 7) -> Planted:
    """Plant one or more secrets for every rule under ``root``; return what should be found."""
    rng = random.Random(seed)
    planted = Planted()

    def plant(rule: str, path: str, line: int | None, *secrets: str) -> None:
        planted.expected.add((f"secret.{rule}", path, line))
        planted.secrets.extend(secrets)

    _plant_keys(root, rng, plant)
    _plant_cloud(root, rng, plant)
    _plant_tokens(root, rng, plant)
    _plant_passwords(root, rng, plant)
    return planted


def _plant_keys(root: Path, rng: random.Random, plant: _Plant) -> None:
    for path, kind, size, headers in [
        ("/root/.ssh/id_rsa", "RSA PRIVATE KEY", 1190, ""),
        ("/home/app/.ssh/id_ed25519", "OPENSSH PRIVATE KEY", 300, ""),
        ("/etc/ssl/private/server.key", "PRIVATE KEY", 1210, ""),
        ("/opt/app/ec.pem", "EC PRIVATE KEY", 121, ""),
        ("/opt/app/encrypted.pem", "ENCRYPTED PRIVATE KEY", 1300, ""),
        (
            "/opt/app/dsa.pem",
            "DSA PRIVATE KEY",
            440,
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n",
        ),
    ]:
        body = _pem_body(rng, size)
        _write(root, path, _pem(kind, body, headers), 0o600)
        plant("private-key", path, 1, *body.splitlines())
    # A certificate bundle with a key after the certificate (line 5).
    cert = _pem("CERTIFICATE", _pem_body(rng, 300))
    body = _pem_body(rng, 600)
    _write(root, "/etc/nginx/tls/bundle.pem", cert + _pem("PRIVATE KEY", body))
    plant("private-key", "/etc/nginx/tls/bundle.pem", cert.count("\n") + 1, *body.splitlines())


def _plant_cloud(root: Path, rng: random.Random, plant: _Plant) -> None:
    key_id = "AKIA" + _random(rng, string.ascii_uppercase + "234567", 16)
    secret = _random(rng, ALNUM + "/+", 40)
    _write(
        root,
        "/root/.aws/credentials",
        f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n",
    )
    plant("aws-access-key", "/root/.aws/credentials", 2, key_id)
    plant("aws-secret-key", "/root/.aws/credentials", 3, secret)
    temp_id = "ASIA" + _random(rng, string.ascii_uppercase + "234567", 16)
    temp_secret = _random(rng, ALNUM + "/+", 40)
    _write(
        root,
        "/opt/app/credentials.csv",
        f"User name,Access key ID,Secret access key\ndeploy,{temp_id},{temp_secret}\n",
    )
    plant("aws-access-key", "/opt/app/credentials.csv", 2, temp_id)
    plant("aws-secret-key", "/opt/app/credentials.csv", 2, temp_secret)
    body = _pem_body(rng, 1210).replace("\n", "\\n")
    document = {
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": _random(rng, "0123456789abcdef", 40),
        "private_key": f"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n",
        "client_email": "svc@demo.iam.gserviceaccount.com",
    }
    text = json.dumps(document, indent=2).replace("\\\\n", "\\n")
    _write(root, "/opt/app/gcp-key.json", text)
    plant("gcp-service-account", "/opt/app/gcp-key.json", 2, *body.split("\\n"))
    # The PEM inside the JSON (escaped newlines) is a private key too.
    plant("private-key", "/opt/app/gcp-key.json", 5)


def _plant_tokens(root: Path, rng: random.Random, plant: _Plant) -> None:
    tokens = {
        "github-token": [
            "gh" + "p_" + _random(rng, ALNUM, 36),
            "gh" + "s_" + _random(rng, ALNUM, 36),
            "github" + "_pat_" + _random(rng, ALNUM, 22) + "_" + _random(rng, ALNUM, 59),
        ],
        "gitlab-token": ["gl" + "pat-" + _random(rng, ALNUM + "_-", 20)],
        "slack-token": [
            "xo" + "xb-" + _random(rng, string.digits, 12) + "-" + _random(rng, ALNUM, 24)
        ],
        "slack-webhook": [
            "https://hooks.slack.com/services/T"
            + _random(rng, string.ascii_uppercase + string.digits, 8)
            + "/B"
            + _random(rng, string.ascii_uppercase + string.digits, 8)
            + "/"
            + _random(rng, ALNUM, 24)
        ],
    }
    lines = ["// deployment settings", "module.exports = {"]
    for rule, values in tokens.items():
        for value in values:
            lines.append(f"  {rule.replace('-', '_')}: '{value}',")
            plant(rule, "/opt/app/config.js", len(lines), PUBLIC_PREFIX.sub("", value))
    _write(root, "/opt/app/config.js", "\n".join([*lines, "};", ""]))


def _plant_passwords(root: Path, rng: random.Random, plant: _Plant) -> None:
    def password() -> str:
        return _random(rng, ALNUM, 6) + "-" + _random(rng, ALNUM, 8)

    for path, template, line in [
        ("/etc/app/app.conf", "[db]\nhost = db\npassword = {}\n", 3),
        ("/etc/app/db.ini", "[client]\nuser=app\npasswd={} ; from the vault\n", 3),
        ("/etc/app/config.yaml", "db:\n  user: app\n  password: '{}'\n", 3),
        ("/etc/app/users.yml", "users:\n  - name: admin\n  - password: {}\n", 3),
        ("/opt/app/app.properties", "db.url=jdbc:x\ndb.password={}\n", 2),
        ("/etc/app/settings.toml", 'title = "x"\nDB_PWD = "{}"\n', 2),
        ("/etc/app/first.cnf", "password={}\n", 1),
        ("/root/.netrc", "machine git.example.org\n  login ci\n  password {}\n", 3),
        ("/var/lib/postgresql/.pgpass", "# comment\ndb:5432:app:app:{}\n", 2),
        ("/var/www/html/wp-config.php", "<?php\ndefine( 'DB_PASSWORD', '{}' );\n", 2),
    ]:
        value = password()
        _write(root, path, template.format(value))
        plant("config-password", path, line, value)
    env_values = [password(), password()]
    _write(
        root,
        "/opt/app/.env",
        '# app\nDEBUG=false\nDB_PASSWORD={}\nexport API_TOKEN="{}"\nEMPTY_SECRET=\n'.format(
            *env_values
        ),
    )
    plant("env-file", "/opt/app/.env", 3, *env_values)
    history_secret = password()
    _write(root, "/root/.bash_history", f"ls\nmysql -uroot -p{history_secret}\n", 0o600)
    plant("shell-history", "/root/.bash_history", None, history_secret)
    _write(root, "/home/app/.python_history", "import os\n", 0o600)
    plant("shell-history", "/home/app/.python_history", None)


def plant_lookalikes(root: Path) -> None:
    """Things that look like secrets but are not: none of them may be reported."""
    _write(root, "/etc/nsswitch.conf", "passwd:         files\ngroup:          files\n")
    _write(
        root,
        "/etc/app/placeholders.conf",
        "password =\npassword = changeme\npassword = ${DB_PASSWORD}\n"
        "password = <your password>\npassword = ****\npassword = %(pw)s\n"
        "password = {{ vault_pw }}\npassword: !vault |\npassword = $6$salt$hash\n"
        "password = Mot de passe\npassword_file = /run/secrets/db\n",
    )
    _write(root, "/etc/app/aws.conf", "key = AKIAIOSFODNN7EXAMPLE\n")
    _write(
        root,
        "/opt/app/docs.js",
        "const token = 'ghp_" + "x" * 36 + "';\n"
        "const hook = 'https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24 + "';\n"
        "const BEGIN = '-----BEGIN RSA PRIVATE KEY-----';\n"
        "const END = '-----END RSA PRIVATE KEY-----';\n"
        "const id = 'NOTAKIA" + "A" * 16 + "X';\n",
    )
    _write(root, "/opt/app/notes.txt", "password = hunter2-in-a-text-file\n")
    _write(root, "/etc/ssl/certs/ca.pem", _pem("CERTIFICATE", "MIIB" * 40))
    _write(root, "/etc/ssl/certs/pub.pem", _pem("PUBLIC KEY", "MIIB" * 40))
    _write(root, "/home/app/.bash_history", "")
    _write(root, "/opt/app/.env.example", "DB_PASSWORD=changeme\nAPI_TOKEN=\n")


def scan(root: Path, **kwargs: int) -> SecretScan:
    return scan_secrets(root, **kwargs)


def found(result: SecretScan) -> set[tuple[str, str | None, int | None]]:
    return {(f.id, f.path, f.line) for f in result.findings}


# --------------------------------------------------------------------------- rules


def test_every_rule_fires_on_its_plant(tmp_path: Path) -> None:
    planted = plant_secrets(tmp_path)
    result = scan(tmp_path)
    assert found(result) == planted.expected
    assert {f.id for f in result.findings} == {
        f"secret.{rule}"
        for rule in [
            "private-key",
            "aws-access-key",
            "aws-secret-key",
            "gcp-service-account",
            "github-token",
            "gitlab-token",
            "slack-token",
            "slack-webhook",
            "config-password",
            "env-file",
            "shell-history",
        ]
    }
    assert all(f.category == "secret" for f in result.findings)


def test_severities(tmp_path: Path) -> None:
    plant_secrets(tmp_path)
    severity = {f.id: f.severity for f in scan(tmp_path).findings}
    assert severity["secret.private-key"] == "critical"
    assert severity["secret.aws-secret-key"] == "critical"
    assert severity["secret.aws-access-key"] == "high"
    assert severity["secret.gcp-service-account"] == "critical"
    assert severity["secret.github-token"] == "critical"
    assert severity["secret.shell-history"] == "medium"


def test_lookalikes_and_placeholders_are_not_reported(tmp_path: Path) -> None:
    plant_lookalikes(tmp_path)
    result = scan(tmp_path)
    assert result.findings == []
    assert result.bytes_scanned > 0


def test_env_file_lists_keys_not_values(tmp_path: Path) -> None:
    plant_secrets(tmp_path)
    (env,) = [f for f in scan(tmp_path).findings if f.id == "secret.env-file"]
    assert env.detail.startswith("DB_PASSWORD, API_TOKEN set")
    assert "EMPTY_SECRET" not in env.detail and "DEBUG" not in env.detail


def test_aws_secret_needs_an_access_key_id_nearby(tmp_path: Path) -> None:
    rng = random.Random(1)
    secret = _random(rng, ALNUM + "/+", 40)
    _write(tmp_path, "/opt/a.txt", f"checksum = {secret}\n")
    far = "\n" * 10
    key_id = "AKIA" + _random(rng, string.ascii_uppercase, 16)
    _write(tmp_path, "/opt/b.txt", f"{key_id}{far}{secret}\n")
    assert found(scan(tmp_path)) == {("secret.aws-access-key", "/opt/b.txt", 1)}


def test_tokens_inside_longer_words_are_not_tokens(tmp_path: Path) -> None:
    rng = random.Random(2)
    _write(tmp_path, "/opt/a.txt", "x" + "ghp_" + _random(rng, ALNUM, 36) + "\n")
    _write(tmp_path, "/opt/b.txt", "ghp_" + _random(rng, ALNUM, 36) + "_more\n")
    assert scan(tmp_path).findings == []


# --------------------------------------------------------------------------- masking


def test_no_planted_secret_appears_in_anything_returned(tmp_path: Path) -> None:
    planted = plant_secrets(tmp_path)
    result = scan(tmp_path)
    dumped = result.model_dump_json() + repr(result) + "".join(map(str, result.findings))
    assert len(result.findings) == len(planted.expected)
    for secret in planted.secrets:
        windows = {secret[i : i + 8] for i in range(max(1, len(secret) - 7))}
        leaked = [window for window in windows if window in dumped]
        assert not leaked, f"a piece of a planted secret leaked: {leaked[:3]}"


def test_excerpts_show_at_most_a_public_prefix(tmp_path: Path) -> None:
    plant_secrets(tmp_path)
    details: dict[str, set[str]] = {}
    for finding in scan(tmp_path).findings:
        details.setdefault(finding.id, set()).add(finding.detail)
    assert details["secret.aws-access-key"] == {"AKIA****", "ASIA****"}
    assert details["secret.aws-secret-key"] == {"****"}
    assert details["secret.github-token"] == {"ghp_****", "ghs_****", "github_pat_****"}
    assert details["secret.gitlab-token"] == {"glpat-****"}
    assert details["secret.slack-token"] == {"xoxb-****"}
    assert details["secret.slack-webhook"] == {"https://hooks.slack.com/services/****"}
    assert "-----BEGIN RSA PRIVATE KEY----- ****" in details["secret.private-key"]
    assert "passwd=****" in details["secret.config-password"]
    histories = details.pop("secret.shell-history")
    assert histories == {"34 bytes", "10 bytes"}
    assert all("****" in detail for ids in details.values() for detail in ids)


# --------------------------------------------------------------------------- hostile trees


def test_symlinks_are_never_followed_out_of_the_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    plant_secrets(outside)
    root = tmp_path / "root"
    root.mkdir()
    (root / "dirlink").symlink_to(outside)
    (root / "abs").symlink_to("/")
    (root / "rel").symlink_to("../outside/root/.aws/credentials")
    (root / "key").symlink_to(outside / "root/.ssh/id_rsa")
    result = scan(root)
    assert result.findings == [] and result.bytes_scanned == 0


def test_symlink_loops_do_not_trap_the_walk(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "d").mkdir()
    (tmp_path / "d/up").symlink_to("..")
    (tmp_path / "d/self").symlink_to(".")
    walk = walk_files(tmp_path, max_size=100)
    entries = {entry.path: entry.kind for entry in walk}
    assert entries == {
        "a": "symlink",
        "b": "symlink",
        "d": "dir",
        "loop": "symlink",
        "d/self": "symlink",
        "d/up": "symlink",
    }
    assert walk.notes == []
    assert scan(tmp_path).findings == []


def test_proc_sys_and_dev_are_not_entered(tmp_path: Path) -> None:
    plant_secrets(tmp_path / "proc")
    plant_secrets(tmp_path / "dev")
    plant_secrets(tmp_path / "sys")
    plant_secrets(tmp_path / "opt/proc")
    assert {f.path.split("/")[1] for f in scan(tmp_path).findings if f.path} == {"opt"}


def test_files_above_the_size_limit_are_skipped_with_a_note(tmp_path: Path) -> None:
    rng = random.Random(4)
    _write(tmp_path, "/opt/small.pem", _pem("PRIVATE KEY", _pem_body(rng, 600)))
    _write(tmp_path, "/opt/big.pem", _pem("PRIVATE KEY", _pem_body(rng, 3000)))
    size = (tmp_path / "opt/big.pem").stat().st_size
    result = scan(tmp_path, max_file_size=2000)
    assert found(result) == {("secret.private-key", "/opt/small.pem", 1)}
    assert result.notes == [f"/opt/big.pem: skipped, {size} bytes is above the 2000 byte limit"]


def test_binary_files_are_skipped_quickly(tmp_path: Path) -> None:
    rng = random.Random(3)
    token = "ghp_" + _random(rng, ALNUM, 36)
    _write(tmp_path, "/usr/bin/tool", b"\x7fELF\x02\x01\x01\0" + token.encode() + b"\n")
    _write(tmp_path, "/usr/lib/data.gz", b"\x1f\x8b\x08" + token.encode() + b"\n")
    _write(tmp_path, "/opt/late-nul", token.encode() + b"\n" + b"a" * 9000 + b"\0")
    result = scan(tmp_path)
    assert found(result) == {("secret.github-token", "/opt/late-nul", 1)}
    assert "skipped 2 binary files (NUL byte or binary magic in the head)" in result.notes
    assert result.bytes_scanned == 9000 + len(token) + 2


def test_unreadable_files_and_directories_are_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant_secrets(tmp_path)
    denied_file = str(tmp_path / "root/.ssh/id_rsa")
    denied_dir = str(tmp_path / "opt/app")
    real_open, real_scandir = os.open, os.scandir

    def fake_open(path: str, flags: int, *args: int, **kwargs: int) -> int:
        if path == denied_file:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    def fake_scandir(path: str) -> object:
        if os.fspath(path) == denied_dir:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "scandir", fake_scandir)
    result = scan(tmp_path)
    assert "/root/.ssh/id_rsa: cannot read: Permission denied" in result.notes
    assert "/opt/app: cannot list directory: Permission denied" in result.notes
    paths = {f.path for f in result.findings}
    assert "/root/.aws/credentials" in paths
    assert not any(path and path.startswith(("/opt/app/", "/root/.ssh/")) for path in paths)


def test_fifos_and_sockets_are_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    assert scan(tmp_path).findings == []


def test_minbase_like_tree_is_clean(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    result = scan(tmp_path)
    assert result.findings == []
