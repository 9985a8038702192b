"""Signed notes and checkpoints (C2SP signed-note and tlog-checkpoint), Ed25519 only.

A note is UTF-8 text ending in a newline, then a blank line, then signature lines
``— <name> <base64(key hash || signature)>``. The key hash is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || public key)``; the signature covers the text exactly.
Keys use the same encodings as Go's ``golang.org/x/mod/sumdb/note``: a verifier key is
``<name>+<hex hash>+<base64(0x01 || public key)>``, a signer key
``PRIVATE+KEY+<name>+<hex hash>+<base64(0x01 || private key)>``.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bakery.errors import AuditError, UserError

ALG_ED25519 = 0x01
DASH = "\u2014"
_MAX_SIGNATURES = 100


class NoteError(AuditError):
    """A note or checkpoint is malformed, or no trusted signature on it verifies."""


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise UserError(f"{name!r} is not a valid note key name", hint="no spaces and no '+'")
    return name


def key_hash(name: str, public: bytes) -> bytes:
    """The four-byte key hash of an Ed25519 key named ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key."""

    name: str
    public: bytes

    @property
    def hash(self) -> bytes:
        return key_hash(self.name, self.public)

    def encode(self) -> str:
        """``<name>+<hex hash>+<base64(0x01 || key)>``."""
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.hash.hex()}+{raw}"

    @classmethod
    def decode(cls, text: str) -> Verifier:
        name, hexhash, raw = _split_key(text.strip(), 3)
        verifier = cls(name=name, public=_key_bytes(raw))
        if verifier.hash.hex() != hexhash:
            raise NoteError("the verifier key's hash does not match its name and key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key."""

    name: str
    private: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name=_check_name(name), private=raw)

    @functools.cached_property
    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.private)

    @functools.cached_property
    def verifier(self) -> Verifier:
        key = self._key.public_key()
        return Verifier(self.name, key.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encode(self) -> str:
        """``PRIVATE+KEY+<name>+<hex hash>+<base64(0x01 || private key)>``."""
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.private).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash.hex()}+{raw}"

    @classmethod
    def decode(cls, text: str) -> Signer:
        parts = _split_key(text.strip(), 5)
        if parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("not a signer key (it must start with PRIVATE+KEY+)")
        signer = cls(name=parts[2], private=_key_bytes(parts[4]))
        if signer.verifier.hash.hex() != parts[3]:
            raise NoteError("the signer key's hash does not match its name and key")
        return signer

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, one signature line."""
        _check_text(text)
        signature = self._key.sign(text.encode())
        blob = base64.b64encode(self.verifier.hash + signature).decode()
        return f"{text}\n{DASH} {self.name} {blob}\n"


def _split_key(text: str, count: int) -> list[str]:
    parts = text.split("+", count - 1)
    if len(parts) != count or not all(parts):
        raise NoteError("malformed note key")
    _check_name(parts[-3])
    return parts


def _key_bytes(raw: str) -> bytes:
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise NoteError("malformed note key (bad base64)") from exc
    if len(data) != 33 or data[0] != ALG_ED25519:
        raise NoteError("not an Ed25519 note key")
    return data[1:]


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note's text ends with a newline and has no control characters")


def open_note(note: str, verifier: Verifier) -> str:
    """The text of ``note`` when ``verifier`` signed it; NoteError otherwise.

    Signature lines by other keys are ignored; a line by this key's name and hash whose
    signature fails is an error.
    """
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise NoteError("malformed note: no blank line before its signatures")
    text += "\n"
    _check_text(text)
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError("too many signatures on the note")
    verified = False
    for line in lines:
        prefix = f"{DASH} "
        if not line.startswith(prefix):
            raise NoteError("malformed signature line")
        name, _, blob = line[len(prefix) :].rpartition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error as exc:
            raise NoteError("malformed signature (bad base64)") from exc
        if len(raw) < 5:
            raise NoteError("malformed signature (too short)")
        if name != verifier.name or raw[:4] != verifier.hash:
            continue
        if not verifier.verify(text.encode(), raw[4:]):
            raise NoteError(f"the signature by {name} does not verify")
        verified = True
    if not verified:
        raise NoteError(f"the note has no signature by {verifier.name}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, size and root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or not lines[0] or not lines[1].isdigit():
            raise NoteError("malformed checkpoint")
        if lines[1] != str(int(lines[1])):
            raise NoteError("malformed checkpoint size (leading zeros)")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error as exc:
            raise NoteError("malformed checkpoint root hash") from exc
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin=lines[0], size=int(lines[1]), root=root)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    return signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """The checkpoint in a signed note, after checking the signature (and the origin)."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
