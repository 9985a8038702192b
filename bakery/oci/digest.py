"""Content digests (``sha256:<64 hex>``), the addresses of the content-addressed store."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bakery.errors import UserError

ALGORITHM = "sha256"
PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    """The OCI digest of ``data``."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def is_digest(text: str) -> bool:
    """True when ``text`` is a well-formed sha256 digest."""
    return _DIGEST_RE.match(text) is not None


def validate_digest(text: str) -> str:
    """Return ``text`` if it is a well-formed sha256 digest, else raise a UserError."""
    if not is_digest(text):
        raise UserError(
            f"malformed digest '{text}'", hint="a digest looks like sha256:<64 lowercase hex>"
        )
    return text


def digest_hex(digest: str) -> str:
    """The hex part of a digest (what names a blob file)."""
    return validate_digest(digest)[len(PREFIX) :]


def chain_id(diff_ids: list[str]) -> str:
    """ChainID of a layer stack (OCI image-spec config.md): identity of the stacked filesystem."""
    if not diff_ids:
        return sha256_digest(b"")
    current = diff_ids[0]
    for diff_id in diff_ids[1:]:
        current = sha256_digest(f"{current} {diff_id}".encode())
    return current


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed in 1 MiB reads (never the whole file in memory)."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()
