"""Cosign key files: round trips, cosign-made keys, wrong passwords, the development key."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bakery.errors import SigningKeyError
from bakery.sign.devkey import development_key
from bakery.sign.keys import (
    PRIVATE_PEM_TYPE,
    PublicKey,
    SigningKey,
    load_public_key,
    load_signing_key,
    write_key_pair,
)

#: made by `COSIGN_PASSWORD= cosign generate-key-pair` (cosign v3.1.1)
COSIGN_PUB = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEANq0qlaMyi5UFM7fo/rnU1pN5hZ3
tmSZ4ckEJNOhoHjjkMgPje4ChturHSpn7B1o6rN+tDPOsKi/xYgu43js3w==
-----END PUBLIC KEY-----
"""


def test_key_file_round_trip(tmp_path: Path) -> None:
    key = SigningKey.generate()
    files = write_key_pair(key, tmp_path, b"s3cret")
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    loaded = load_signing_key(files.private, b"s3cret")
    assert loaded.public_key.pem() == key.public_key.pem() == files.public.read_bytes()
    signature = loaded.sign(b"data")
    assert load_public_key(files.public).verify(signature, b"data")


def test_encrypted_pem_is_cosign_format() -> None:
    pem = SigningKey.generate().encrypted_pem(b"")
    lines = pem.decode().splitlines()
    assert lines[0] == f"-----BEGIN {PRIVATE_PEM_TYPE}-----"
    assert lines[-1] == f"-----END {PRIVATE_PEM_TYPE}-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    import base64

    body = json.loads(base64.b64decode("".join(lines[1:-1])))
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"]["name"] == "scrypt"
    assert body["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert body["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    files = write_key_pair(SigningKey.generate(), tmp_path, b"right")
    with pytest.raises(SigningKeyError, match="wrong password") as info:
        load_signing_key(files.private, b"wrong")
    assert "right" not in info.value.one_line()


def test_empty_password_allowed(tmp_path: Path) -> None:
    files = write_key_pair(SigningKey.generate(), tmp_path, b"")
    load_signing_key(files.private, b"")
    with pytest.raises(SigningKeyError):
        load_signing_key(files.private, b"x")


def test_junk_key_files_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError, match="not an encrypted cosign private key"):
        load_signing_key(junk, b"")
    with pytest.raises(SigningKeyError, match="not a PEM public key"):
        load_public_key(junk)
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_public_key(tmp_path / "missing.pub")


def test_hostile_scrypt_parameters_refused() -> None:
    import base64

    document = {
        "kdf": {"name": "scrypt", "params": {"N": 1 << 30, "r": 8, "p": 1}, "salt": "AA=="},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(bytes(24)).decode()},
        "ciphertext": "AA==",
    }
    body = base64.b64encode(json.dumps(document).encode()).decode()
    pem = f"-----BEGIN {PRIVATE_PEM_TYPE}-----\n{body}\n-----END {PRIVATE_PEM_TYPE}-----\n"
    with pytest.raises(SigningKeyError, match="unsupported"):
        SigningKey.from_encrypted_pem(pem.encode(), b"")


def test_cosign_public_key_loads() -> None:
    key = PublicKey.from_pem(COSIGN_PUB)
    assert key.pem() == COSIGN_PUB
    assert len(key.key_id) == 64


def test_repr_hides_the_key() -> None:
    key = SigningKey.generate()
    assert "EllipticCurve" not in repr(key)


def test_development_key_made_once(tmp_path: Path) -> None:
    keys = tmp_path / "store" / "keys"
    first = development_key(keys)
    assert first.created
    assert "development key" in first.notice and "not for production" in first.notice
    assert stat.S_IMODE(first.files.private.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    second = development_key(keys)
    assert not second.created
    assert second.key.public_key.pem() == first.key.public_key.pem()
    assert first.files.public.read_bytes() == first.key.public_key.pem()
    assert sorted(p.name for p in keys.iterdir()) == ["cosign.key", "cosign.pub"]


def test_key_pair_never_overwritten(tmp_path: Path) -> None:
    write_key_pair(SigningKey.generate(), tmp_path, b"")
    with pytest.raises(SigningKeyError, match="already exists"):
        write_key_pair(SigningKey.generate(), tmp_path, b"")


def test_old_cosign_refused_by_version() -> None:
    from bakery.errors import ToolError
    from bakery.sign.cosign import Cosign

    with pytest.raises(ToolError, match="too old") as info:
        Cosign(executable="/nonexistent/cosign", version="v2.4.1", environ={})._check_version()
    assert "install-sid-tools.sh" in info.value.one_line()
    Cosign(executable="/nonexistent/cosign", version="v3.1.1", environ={})._check_version()
