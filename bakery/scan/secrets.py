"""Secrets left in an image rootfs: private keys, cloud and SaaS tokens, passwords, histories.

Every regular text file up to ``max_file_size`` is read once. Binary files are skipped after
their first 8 KiB (a NUL byte or a known binary magic). A text file is searched only when one
of the rules' literal anchors occurs in it (``AKIA``, ``PRIVATE KEY``, ``ghp_``, ...: a few
fast substring tests), and then with ONE compiled regular expression, an alternation with a
named group per rule; configuration files (by name) use the same expression with one more
branch for ``password = ...`` lines. ``.env`` files, ``.netrc``, ``.pgpass`` and
``wp-config.php`` have small dedicated parsers; shell histories are reported by name.

Rules (finding id ``secret.<rule>``):

=====================  ========  ============================================================
rule                   severity  what
=====================  ========  ============================================================
private-key            critical  a PEM (RSA, EC, DSA, PKCS#8, ENCRYPTED, PGP) or OpenSSH private
                                 key block: header, at least 40 base64 characters, footer
aws-access-key         high      an access key id, ``AKIA``/``ASIA`` + 16 (ids ending in EXAMPLE
                                 are AWS's documentation placeholders and are ignored)
aws-secret-key         critical  a 40-character secret access key within 5 lines of an id
gcp-service-account    critical  a service-account JSON key (``"type": "service_account"`` and
                                 a ``"private_key"`` holding a PEM key)
github-token           critical  ``ghp_ gho_ ghu_ ghs_ ghr_`` tokens, ``github_pat_`` tokens
gitlab-token           critical  ``glpat-`` tokens
slack-token            high      ``xoxb- xoxp- xoxa- xoxr-`` tokens
slack-webhook          medium    ``https://hooks.slack.com/{services,workflows,triggers}/...``
config-password        high      ``*password``/``*passwd``/``*_pwd`` keys in ``*.conf *.cnf *.cfg
                                 *.ini *.yaml *.yml *.properties *.toml``; ``password`` in
                                 ``.netrc``; the password field of ``.pgpass``; ``DB_PASSWORD``
                                 in ``wp-config.php``
env-file               high      a ``.env``/``.env.*``/``*.env`` file with secret-looking keys
                                 (PASSWORD, SECRET, TOKEN, API_KEY, ...) set to real values
shell-history          medium    a non-empty ``.bash_history .zsh_history .ash_history
                                 .sh_history .python_history .mysql_history .psql_history``
=====================  ========  ============================================================

Placeholders are not secrets and are ignored: an empty value, a reference to something else
(``$VAR``, ``${VAR}``, ``%(name)s``, ``{{ var }}``, ``<password>``), masks (``****``, ``xxxx``),
flags (``true``, ``no``, ...), words such as ``changeme``, ``password``, ``secret``, ``example``
(a default password that was never changed is a weak-credential problem, not a leaked
secret), values with inner whitespace (labels and prose, e.g. translations of "password"),
and tokens made of at most 4 distinct characters (``ghp_xxxx...``, ``T00000000/B00000000``).

Findings never hold a secret: ``detail`` is a masked excerpt that shows at most a public
prefix (``AKIA****``, ``ghp_****``), a key name (``DB_PASSWORD=****``) or a PEM header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bakery.scan.model import Finding, Severity
from bakery.scan.walk import FileEntry, open_no_follow, walk_files

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
SNIFF_SIZE = 8192
AWS_SECRET_WINDOW = 5  # lines either side of an access key id searched for its secret
MASK = "****"

#: Rule -> (severity, title).
RULES: dict[str, tuple[Severity, str]] = {
    "private-key": ("critical", "Private key"),
    "aws-access-key": ("high", "AWS access key id"),
    "aws-secret-key": ("critical", "AWS secret access key"),
    "gcp-service-account": ("critical", "GCP service account key"),
    "github-token": ("critical", "GitHub token"),
    "gitlab-token": ("critical", "GitLab personal access token"),
    "slack-token": ("high", "Slack token"),
    "slack-webhook": ("medium", "Slack webhook URL"),
    "config-password": ("high", "Password in a configuration file"),
    "env-file": ("high", ".env file with secrets"),
    "shell-history": ("medium", "Shell history file"),
}

_BINARY_MAGIC = (
    b"\x7fELF",
    b"\x1f\x8b",  # gzip
    b"PK\x03\x04",  # zip, jar, wheel
    b"\x89PNG",
    b"\xff\xd8\xff",  # jpeg
    b"GIF8",
    b"\xfd7zXZ",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"BZh",
    b"!<arch>\n",  # ar, .deb
    b"\xca\xfe\xba\xbe",  # java class, mach-o fat
    b"%PDF-",
)

#: Cheap tests, one of which every generic match passes; a file failing all is not searched.
_ANCHOR_STRINGS = (b"PRIVATE KEY", b"service_account", b"xox", b"hooks.slack.com")
_ANCHOR_PATTERNS = (re.compile(rb"A[KS]IA"), re.compile(rb"g(?:h[pousr]_|ithub_pat_|lpat-)"))
_PASSWORD_ANCHORS = (b"pass", b"pwd")  # searched in the lower-cased text of config files

# Every branch starts with a literal byte outside its named group, so that the compiled
# alternation skips ahead to the bytes that can start a match instead of trying each branch
# at every offset (an order of magnitude faster). ``match.start(name)`` is where the named
# part starts, ``match.group(0)`` the whole token.
_PEM_BODY = (
    rb"(?P<pem>----BEGIN (?P<pem_kind>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
    rb"(?: BLOCK)?)-----(?P<pem_body>[A-Za-z0-9+/=\s\\:,.()@_-]{40,65536}?)"
    rb"-----END (?P=pem_kind)-----)"
)
_PASSWORD_LINE = (
    rb"(?P<pw>[ \t]*(?:export[ \t]+|-[ \t]+)?[\"']?"
    rb"(?P<pw_key>[A-Za-z0-9_.-]*?(?i:pass(?:word|wd)|[_.-]pwd))"
    rb"[\"']?[ \t]*[:=][ \t]*(?P<pw_value>[^\r\n]*))"
)
_GENERIC_BRANCHES = (
    b"-" + _PEM_BODY,
    rb"A(?P<aws_id>(?:KIA|SIA)[A-Z0-9]{16})",
    rb"g(?P<github>h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})",
    rb"g(?P<gitlab>lpat-[A-Za-z0-9_-]{20,})",
    rb"x(?P<slack>ox[bpar]-[0-9]+-[A-Za-z0-9-]{10,})",
    rb"h(?P<webhook>ttps://hooks\.slack\.com/(?:services|workflows|triggers)/"
    rb"(?P<webhook_path>[A-Za-z0-9_/+-]{20,}))",
    rb"s(?P<gcp>ervice_account\")",
)
_GENERIC = re.compile(b"|".join(_GENERIC_BRANCHES))
_CONFIG = re.compile(b"|".join((*_GENERIC_BRANCHES, b"\n" + _PASSWORD_LINE)))
_FIRST_LINE_PASSWORD = re.compile(_PASSWORD_LINE)  # the first line has no newline before it
_PRIVATE_KEY = re.compile(b"-" + _PEM_BODY)
_GCP_TYPE = re.compile(rb"\"type\"\s*:\s*\"$")
_GCP_PRIVATE_KEY = re.compile(rb"\"private_key\"\s*:\s*\"-----BEGIN ")
_AWS_SECRET = re.compile(rb"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_TOKEN_PREFIX = re.compile(rb"gh[pousr]_|github_pat_|glpat-|xox[bpar]-")
_TOKEN_RULES = {"github": "github-token", "gitlab": "gitlab-token", "slack": "slack-token"}
_BASE64 = re.compile(rb"[A-Za-z0-9+/=]+")
_WORD_CHAR = re.compile(rb"[A-Za-z0-9_]")

#: Configuration files whose ``passwd:`` keys are not passwords (NSS database names).
_NOT_CREDENTIAL_FILES = frozenset({"nsswitch.conf"})
_CONFIG_SUFFIXES = frozenset(
    {".conf", ".cnf", ".cfg", ".ini", ".yaml", ".yml", ".properties", ".toml"}
)
_HISTORY_FILES = frozenset(
    {
        ".bash_history",
        ".zsh_history",
        ".ash_history",
        ".sh_history",
        ".python_history",
        ".mysql_history",
        ".psql_history",
    }
)
_ENV_LINE = re.compile(
    rb"^[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*(?P<value>[^\r\n]*)",
    re.MULTILINE,
)
_ENV_SECRET_KEY = re.compile(
    r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL",
    re.IGNORECASE,
)
_NETRC_PASSWORD = re.compile(rb"(?:^|\s)password\s+(?P<value>\S+)")
_WP_PASSWORD = re.compile(
    rb"define\(\s*['\"]DB_PASSWORD['\"]\s*,\s*(?P<quote>['\"])(?P<value>.*?)(?P=quote)\s*\)"
)
_PLACEHOLDER_WORDS = frozenset(
    {
        "changeme",
        "change_me",
        "change-me",
        "password",
        "passwd",
        "secret",
        "example",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "~",
        "-",
        "todo",
        "fixme",
        "redacted",
    }
)
#: References to a value kept elsewhere, encrypted values and password hashes.
_NOT_PLAINTEXT = re.compile(
    r"^(?:\$\{?[A-Za-z_]|%\(|\{\{|<[^>]*>$|!|ENC\[|\$[0-9a-z]+\$|\{[A-Za-z0-9-]+\})"
)


class SecretScan(BaseModel):
    """What :func:`scan_secrets` found, what it could not look at, and how much it read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    findings: list[Finding]
    notes: list[str]  # what was skipped: unreadable, too large, binary (a count)
    bytes_scanned: int  # bytes of text searched (the sniffed heads of binaries not included)


def scan_secrets(rootfs: Path, *, max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> SecretScan:
    """Search every text file of ``rootfs`` for secrets; see the module doc for the rules."""
    walk = walk_files(rootfs, max_size=max_file_size)
    findings: list[Finding] = []
    notes: list[str] = []
    scanned = binary = 0
    for entry in walk:
        if entry.kind != "file":
            continue
        if os.path.basename(entry.path) in _HISTORY_FILES and entry.stat.st_size > 0:
            findings.append(_history_finding(entry))
        try:
            data = read_text(entry.host_path, max_file_size)
        except OSError as exc:
            notes.append(f"{entry.image_path}: cannot read: {exc.strerror}")
            continue
        if data is None:
            binary += 1
            continue
        scanned += len(data)
        findings.extend(scan_text(entry.image_path, data))
    if binary:
        notes.append(f"skipped {binary} binary files (NUL byte or binary magic in the head)")
    return SecretScan(findings=findings, notes=[*walk.notes, *notes], bytes_scanned=scanned)


def read_text(path: str, limit: int) -> bytes | None:
    """The first ``limit`` bytes of the regular file at ``path``, or None if it is binary.

    The file is opened without following a final symlink. Its first 8 KiB are read and
    checked (NUL byte, binary magic); a binary file is not read further.
    """
    fd = open_no_follow(path)
    try:
        head = os.read(fd, min(SNIFF_SIZE, limit))
        if _is_binary(head):
            return None
        if len(head) < SNIFF_SIZE:
            return head
        chunks = [head]
        remaining = limit - len(head)
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def scan_text(image_path: str, data: bytes) -> list[Finding]:
    """The secrets in ``data``, the content of the text file at ``image_path``."""
    name = image_path.rsplit("/", 1)[-1]
    special = _SPECIAL_FILES.get(name)
    if special is not None:
        return [*special(image_path, data), *_search(image_path, data)]
    if _is_env_file(name):
        return [*_env_file(image_path, data), *_search(image_path, data)]
    return _search(image_path, data, passwords=_is_config_file(name) and _has_password(data))


def detect_private_keys(data: bytes) -> list[tuple[int, str]]:
    """The PEM/OpenSSH private keys in ``data``: (line, kind such as "RSA PRIVATE KEY")."""
    if b"PRIVATE KEY" not in data:
        return []
    return [
        (_line_of(data, match.start()), match.group("pem_kind").decode())
        for match in _PRIVATE_KEY.finditer(data)
        if _is_pem_body(match.group("pem_body"))
    ]


# --- the combined search ----------------------------------------------------------------


def _search(image_path: str, data: bytes, *, passwords: bool = False) -> list[Finding]:
    """Findings of the combined expression (with password lines if ``passwords``)."""
    if not passwords and not _has_anchor(data):
        return []
    findings: list[Finding] = []
    lines = _LineCounter(data)
    id_lines: list[int] = []
    for match in _matches(data, passwords=passwords):
        classified = _classify(match, data)
        if classified is None:
            continue
        rule, excerpt = classified
        line = lines.line_of(match.start(match.lastgroup or 0))
        findings.append(_finding(rule, image_path, line, excerpt))
        if rule == "aws-access-key":
            id_lines.append(line)
    return findings + _aws_secrets(image_path, data, id_lines)


def _matches(data: bytes, *, passwords: bool) -> Iterator[re.Match[bytes]]:
    """Matches of the generic expression, or of the configuration one and its first line."""
    if not passwords:
        yield from _GENERIC.finditer(data)
        return
    first = _FIRST_LINE_PASSWORD.match(data)
    if first is not None:
        yield first
    yield from _CONFIG.finditer(data)


def _classify(match: re.Match[bytes], data: bytes) -> tuple[str, str] | None:
    """The rule a match of the combined expression is for and its masked excerpt, or None."""
    group = match.lastgroup
    if group == "pem":
        if not _is_pem_body(match.group("pem_body")):
            return None
        return "private-key", f"-----BEGIN {match.group('pem_kind').decode()}----- {MASK}"
    if group == "gcp":
        before = data[max(0, match.start() - 40) : match.start()]
        if _GCP_TYPE.search(before) is None or _GCP_PRIVATE_KEY.search(data) is None:
            return None
        return "gcp-service-account", f'"type": "service_account", "private_key": "{MASK}"'
    if group == "pw":
        if _is_placeholder(_clean_value(match.group("pw_value"))):
            return None
        return "config-password", f"{match.group('pw_key').decode()}={MASK}"
    return _classify_token(group, match, data)


def _classify_token(
    group: str | None, match: re.Match[bytes], data: bytes
) -> tuple[str, str] | None:
    """Tokens: checked for word boundaries and placeholders, masked after their prefix."""
    if not _is_bounded(data, match.start(), match.end()):
        return None
    value = match.group(0)
    if group == "aws_id":
        return None if value.endswith(b"EXAMPLE") else ("aws-access-key", _mask(value, 4))
    if group == "webhook":
        path = match.group("webhook_path")
        if _distinct(path.rsplit(b"/", 1)[-1]) <= 4:
            return None
        return "slack-webhook", _mask(value, len(value) - len(path))
    prefix = _TOKEN_PREFIX.match(value)
    if prefix is None or group not in _TOKEN_RULES or _distinct(value[prefix.end() :]) <= 4:
        return None
    return _TOKEN_RULES[group], _mask(value, prefix.end())


def _aws_secrets(image_path: str, data: bytes, id_lines: list[int]) -> list[Finding]:
    """Secret access keys within :data:`AWS_SECRET_WINDOW` lines of an access key id."""
    offsets: set[int] = set()
    for line in id_lines:
        start = _line_start(data, line - AWS_SECRET_WINDOW)
        end = _line_start(data, line + AWS_SECRET_WINDOW + 1)
        offsets.update(
            match.start()
            for match in _AWS_SECRET.finditer(data, start, end)
            if b"EXAMPLE" not in match.group(0) and _looks_random(match.group(0))
        )
    return [
        _finding("aws-secret-key", image_path, _line_of(data, offset), MASK)
        for offset in sorted(offsets)
    ]


# --- files with their own format ---------------------------------------------------------


def _netrc(image_path: str, data: bytes) -> list[Finding]:
    """``password <value>`` tokens of a ``.netrc``."""
    return [
        _finding(
            "config-password", image_path, _line_of(data, match.start("value")), f"password {MASK}"
        )
        for match in _NETRC_PASSWORD.finditer(data)
        if not _is_placeholder(_clean_value(match.group("value")))
    ]


def _pgpass(image_path: str, data: bytes) -> list[Finding]:
    """Lines ``host:port:database:user:password`` of a ``.pgpass`` with a real password."""
    findings = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.lstrip().startswith(b"#"):
            continue
        fields = re.split(rb"(?<!\\):", line, maxsplit=4)
        if len(fields) == 5 and not _is_placeholder(_clean_value(fields[4])):
            where = b":".join(fields[:4]).decode("utf-8", "replace")
            findings.append(_finding("config-password", image_path, number, f"{where}:{MASK}"))
    return findings


def _wp_config(image_path: str, data: bytes) -> list[Finding]:
    """``define('DB_PASSWORD', '...')`` in a WordPress ``wp-config.php``."""
    return [
        _finding("config-password", image_path, _line_of(data, m.start()), f"DB_PASSWORD={MASK}")
        for m in _WP_PASSWORD.finditer(data)
        if not _is_placeholder(m.group("value").decode("utf-8", "replace"))
    ]


def _env_file(image_path: str, data: bytes) -> list[Finding]:
    """One finding for a ``.env`` file that sets secret-looking keys to real values."""
    keys: list[str] = []
    first_line = 0
    for match in _ENV_LINE.finditer(data):
        key = match.group("key").decode()
        if not _ENV_SECRET_KEY.search(key) or _is_placeholder(_clean_value(match.group("value"))):
            continue
        keys.append(key)
        first_line = first_line or _line_of(data, match.start())
    if not keys:
        return []
    return [_finding("env-file", image_path, first_line, f"{', '.join(keys)} set ({MASK})")]


_SPECIAL_FILES: dict[str, Callable[[str, bytes], list[Finding]]] = {
    ".netrc": _netrc,
    "_netrc": _netrc,
    ".pgpass": _pgpass,
    "wp-config.php": _wp_config,
}


def _history_finding(entry: FileEntry) -> Finding:
    """A non-empty shell history: commands typed while building often hold credentials."""
    return _finding("shell-history", entry.image_path, None, f"{entry.stat.st_size} bytes")


# --- helpers ------------------------------------------------------------------------------


def _finding(rule: str, image_path: str, line: int | None, excerpt: str) -> Finding:
    """A secret finding; ``excerpt`` is already masked."""
    severity, title = RULES[rule]
    return Finding(
        category="secret",
        id=f"secret.{rule}",
        severity=severity,
        title=title,
        path=image_path,
        line=line,
        detail=excerpt,
    )


class _LineCounter:
    """Line numbers of increasing offsets, counting each newline once."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0
        self._line = 1

    def line_of(self, offset: int) -> int:
        """The 1-based line of ``offset``; offsets must not decrease between calls."""
        if offset < self._offset:
            return _line_of(self._data, offset)
        self._line += self._data.count(b"\n", self._offset, offset)
        self._offset = offset
        return self._line


def _line_of(data: bytes, offset: int) -> int:
    """The 1-based line of ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1


def _line_start(data: bytes, line: int) -> int:
    """The offset where 1-based ``line`` starts (0 before the first, len(data) after the last)."""
    offset = 0
    for _ in range(line - 1):
        found = data.find(b"\n", offset)
        if found < 0:
            return len(data)
        offset = found + 1
    return offset


def _is_binary(head: bytes) -> bool:
    """True for content with a NUL byte or a known binary magic at its start."""
    return b"\0" in head or head.startswith(_BINARY_MAGIC)


def _has_anchor(data: bytes) -> bool:
    """True when ``data`` passes one of the cheap tests every generic match passes."""
    return any(anchor in data for anchor in _ANCHOR_STRINGS) or any(
        pattern.search(data) is not None for pattern in _ANCHOR_PATTERNS
    )


def _is_config_file(name: str) -> bool:
    """A configuration file (by suffix) whose ``password = ...`` lines may hold passwords."""
    return os.path.splitext(name)[1] in _CONFIG_SUFFIXES and name not in _NOT_CREDENTIAL_FILES


def _has_password(data: bytes) -> bool:
    """True when ``data`` mentions pass/pwd in any case (worth the password branch)."""
    lowered = data.lower()
    return any(anchor in lowered for anchor in _PASSWORD_ANCHORS)


def _is_env_file(name: str) -> bool:
    """``.env``, ``.env.production``, ``app.env``."""
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def _is_pem_body(body: bytes) -> bool:
    """True when a PEM body holds at least 40 base64 characters once headers are dropped.

    Newlines may be escaped (``\\n`` in JSON and shell strings); header lines
    (``Proc-Type: 4,ENCRYPTED``, PGP's ``Version: ...``) are those with a colon.
    """
    text = body.replace(b"\\r", b"").replace(b"\\n", b"\n")
    lines = [line for line in text.splitlines() if b":" not in line]
    payload = b"".join(b"".join(line.split()) for line in lines)
    return len(payload) >= 40 and _BASE64.fullmatch(payload) is not None


def _is_bounded(data: bytes, start: int, end: int) -> bool:
    """True when the match ``data[start:end]`` is not part of a longer word."""
    before = data[start - 1 : start] if start else b""
    after = data[end : end + 1]
    return not (before and _WORD_CHAR.match(before)) and not (after and _WORD_CHAR.match(after))


def _clean_value(raw: bytes) -> str:
    """A configuration value without quotes, trailing comments and separators."""
    text = raw.decode("utf-8", "replace").strip()
    if text[:1] in ("'", '"'):
        closing = text.find(text[0], 1)
        return text[1:closing] if closing > 0 else text[1:]
    for comment in (" #", "\t#", " ;", "\t;"):
        text = text.split(comment, 1)[0]
    return text.rstrip(",;").strip()


def _is_placeholder(value: str) -> bool:
    """True for a value that is not a secret; see the module doc."""
    return (
        not value
        or value.lower() in _PLACEHOLDER_WORDS
        or _NOT_PLAINTEXT.match(value) is not None
        or any(char.isspace() for char in value)
        or _distinct(value.encode()) <= 2
        or value.lower().startswith(("your", "example", "changeme", "dummy"))
    )


def _looks_random(value: bytes) -> bool:
    """True for a 40-character token with upper and lower case letters and digits/symbols."""
    return (
        re.search(rb"[A-Z]", value) is not None
        and re.search(rb"[a-z]", value) is not None
        and re.search(rb"[0-9/+]", value) is not None
    )


def _distinct(value: bytes) -> int:
    """How many distinct bytes ``value`` has (placeholders have few)."""
    return len(set(value))


def _mask(value: bytes, keep: int) -> str:
    """``value`` masked: its first ``keep`` bytes (a public prefix), then ``****``."""
    return value[:keep].decode("ascii", "replace") + MASK
