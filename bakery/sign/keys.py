"""Cosign-format key pairs: ECDSA P-256, read and written exactly as ``cosign`` does.

``cosign.pub`` is a PEM ``PUBLIC KEY`` (PKIX). ``cosign.key`` is a PEM ``ENCRYPTED SIGSTORE
PRIVATE KEY`` whose body is the JSON document of go-securesystemslib's ``encrypted`` package::

    {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64},
     "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}

The ciphertext is the NaCl secretbox (XSalsa20-Poly1305, key = scrypt(password, salt)) of the
PKCS#8 DER private key. ``cosign sign --key`` accepts the keys made here, and keys made by
``cosign generate-key-pair`` load here. The password (``COSIGN_PASSWORD`` at the CLI edge) may
be empty. Private keys and passwords never appear in messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bakery.errors import SigningKeyError

PRIVATE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
#: what cosign before 2.0 wrote; still read
LEGACY_PEM_TYPES = ("ENCRYPTED COSIGN PRIVATE KEY",)
PUBLIC_PEM_TYPE = "PUBLIC KEY"
#: the environment variable cosign (and the bakery CLI) read the key password from
PASSWORD_ENV = "COSIGN_PASSWORD"  # noqa: S105 - a variable name, not a password
SCRYPT_N = 65536
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 32
_PEM_LINE = 64
#: scrypt parameters above these are refused (a hostile key file could ask for gigabytes)
_MAX_SCRYPT_N = 1 << 18
_MAX_SCRYPT_RP = 16


@dataclass(frozen=True)
class PublicKey:
    """An ECDSA P-256 verification key."""

    key: ec.EllipticCurvePublicKey = field(repr=False)

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "public key") -> PublicKey:
        """Parse a PEM ``PUBLIC KEY``; SigningKeyError unless it is an ECDSA P-256 key."""
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as e:
            raise SigningKeyError(
                f"{source} is not a PEM public key",
                hint="pass the cosign.pub of a cosign key pair",
            ) from e
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise SigningKeyError(f"{source} is not an ECDSA P-256 public key")
        return cls(key)

    def pem(self) -> bytes:
        """The PEM ``PUBLIC KEY`` (what cosign writes to ``cosign.pub``)."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """sha256 of the DER public key, hex: a stable name for reports."""
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` (ASN.1 DER) is this key's ECDSA-SHA256 signature of ``data``."""
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """An ECDSA P-256 private key. Its repr never shows the key."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 signature of ``data``, ASN.1 DER (the encoding cosign uses)."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def encrypted_pem(self, password: bytes) -> bytes:
        """The ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM of this key, as cosign writes it."""
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        salt = nacl.utils.random(SALT_SIZE)
        nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
        box = nacl.secret.SecretBox(_derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
        sealed = box.encrypt(der, nonce).ciphertext
        document = {
            "kdf": {
                "name": "scrypt",
                "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": _b64(salt),
            },
            "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
            "ciphertext": _b64(sealed),
        }
        return _pem(PRIVATE_PEM_TYPE, json.dumps(document, separators=(",", ":")).encode())

    @classmethod
    def from_encrypted_pem(
        cls, data: bytes, password: bytes, *, source: str = "private key"
    ) -> SigningKey:
        """Decrypt a cosign private key; SigningKeyError on a wrong password or a bad file."""
        document = _encrypted_document(data, source)
        try:
            kdf, cipher = document["kdf"], document["cipher"]
            params = kdf["params"]
            n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
            salt = base64.b64decode(kdf["salt"], validate=True)
            nonce = base64.b64decode(cipher["nonce"], validate=True)
            sealed = base64.b64decode(document["ciphertext"], validate=True)
            names = (kdf["name"], cipher["name"])
        except (KeyError, TypeError, ValueError) as e:
            raise SigningKeyError(f"{source} is not a cosign private key: {e}") from e
        if names != ("scrypt", "nacl/secretbox") or not _sane_scrypt(n, r, p):
            raise SigningKeyError(f"{source} uses an unsupported key encryption {names}")
        box = nacl.secret.SecretBox(_derive(password, salt, n, r, p))
        try:
            der = box.decrypt(sealed, nonce)
        except (nacl.exceptions.CryptoError, ValueError) as e:
            raise SigningKeyError(
                f"cannot decrypt {source}: wrong password",
                hint=f"set {PASSWORD_ENV} to the password the key was made with",
            ) from e
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise SigningKeyError(f"{source} is not an ECDSA P-256 key")
        return cls(key)


@dataclass(frozen=True)
class KeyPairFiles:
    """Where a key pair was written."""

    private: Path
    public: Path


def load_public_key(path: Path) -> PublicKey:
    """Read a ``cosign.pub``."""
    return PublicKey.from_pem(_read(path), source=str(path))


def load_signing_key(path: Path, password: bytes) -> SigningKey:
    """Read and decrypt a ``cosign.key``."""
    return SigningKey.from_encrypted_pem(_read(path), password, source=str(path))


def write_key_pair(
    key: SigningKey, directory: Path, password: bytes, *, prefix: str = "cosign"
) -> KeyPairFiles:
    """Write ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``; refuses to overwrite either."""
    files = KeyPairFiles(directory / f"{prefix}.key", directory / f"{prefix}.pub")
    for path in (files.private, files.public):
        if path.exists():
            raise SigningKeyError(f"{path} already exists", hint="remove it or pick another place")
    write_new_file(files.private, key.encrypted_pem(password), 0o600)
    write_new_file(files.public, key.public_key.pem(), 0o644)
    return files


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The secretbox key: scrypt needs 128 * N * r bytes, above Python's default ``maxmem``."""
    return hashlib.scrypt(
        password,
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r,
        dklen=nacl.secret.SecretBox.KEY_SIZE,
    )


def _sane_scrypt(n: int, r: int, p: int) -> bool:
    """Refuse parameters a hostile key file could use to ask for gigabytes."""
    power_of_two = n > 1 and n & (n - 1) == 0
    return (
        power_of_two and n <= _MAX_SCRYPT_N and 0 < r <= _MAX_SCRYPT_RP and 0 < p <= _MAX_SCRYPT_RP
    )


def _encrypted_document(data: bytes, source: str) -> dict[str, Any]:
    """The JSON body of an encrypted cosign PEM."""
    text = data.decode("ascii", "replace").strip()
    for pem_type in (PRIVATE_PEM_TYPE, *LEGACY_PEM_TYPES):
        begin, end = f"-----BEGIN {pem_type}-----", f"-----END {pem_type}-----"
        if text.startswith(begin) and text.endswith(end):
            body = "".join(text[len(begin) : -len(end)].split())
            try:
                document = json.loads(base64.b64decode(body, validate=True))
            except ValueError as e:
                raise SigningKeyError(f"{source} has a malformed body: {e}") from e
            if isinstance(document, dict):
                return document
            break
    raise SigningKeyError(
        f"{source} is not an encrypted cosign private key ({PRIVATE_PEM_TYPE})",
        hint="make one with `bakery keys generate` or `cosign generate-key-pair`",
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _pem(pem_type: str, body: bytes) -> bytes:
    """PEM with 64-character lines, as Go's ``encoding/pem`` writes it."""
    encoded = _b64(body)
    lines = [encoded[i : i + _PEM_LINE] for i in range(0, len(encoded), _PEM_LINE)]
    return "\n".join(
        [f"-----BEGIN {pem_type}-----", *lines, f"-----END {pem_type}-----", ""]
    ).encode()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"cannot read key {path}: {e.strerror}") from e


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (never wider, whatever the umask) and write ``data``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as e:
        raise SigningKeyError(f"cannot create {path}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
