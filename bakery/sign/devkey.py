"""The development key: a cosign key pair made in the store on first use, when none is given.

It lets a bake be signed (and verified) on a laptop with no setup. It is not for production:
its private key sits unencrypted-by-password (empty password) beside the images it signs, so
callers must tell the user (see :attr:`DevelopmentKey.notice`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import SigningKeyError
from bakery.sign.keys import KeyPairFiles, SigningKey, load_signing_key, write_new_file

#: the development key's password (cosign accepts an empty one)
DEV_PASSWORD = b""


@dataclass(frozen=True)
class DevelopmentKey:
    """The store's development key pair; ``created`` is True when this call made it."""

    key: SigningKey
    files: KeyPairFiles
    created: bool

    @property
    def notice(self) -> str:
        """What to tell the user whenever this key signs something."""
        made = "made " if self.created else ""
        return (
            f"using a development key ({made}{self.files.private}): not for production; "
            "pass --key with your own cosign key"
        )


def development_key(keys_dir: Path) -> DevelopmentKey:
    """The key pair in ``keys_dir``, made there (``cosign.key`` mode 0600) if it is missing.

    Safe against two bakes racing: the private key is published with one ``link``, so exactly
    one random key wins and both use it.
    """
    files = KeyPairFiles(keys_dir / "cosign.key", keys_dir / "cosign.pub")
    created = False
    try:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not files.private.exists():
            created = _publish(SigningKey.generate(), files.private)
    except OSError as e:
        raise SigningKeyError(f"cannot create the development key in {keys_dir}: {e}") from e
    key = load_signing_key(files.private, DEV_PASSWORD)
    if not files.public.exists() or files.public.read_bytes() != key.public_key.pem():
        _replace(files.public, key.public_key.pem())
    return DevelopmentKey(key=key, files=files, created=created)


def _publish(key: SigningKey, path: Path) -> bool:
    """Write ``key`` to ``path`` unless another writer got there first; True if we did."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    write_new_file(tmp, key.encrypted_pem(DEV_PASSWORD), 0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    write_new_file(tmp, data, 0o644)
    os.replace(tmp, path)
