"""Small synthetic images for the signing tests, built in a temporary OCI layout."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bakery.oci import mediatypes as mt
from bakery.oci.digest import sha256_digest
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.sign.cosign import INSTALL_HINT
from tests.conftest import require_tools


def layer_tar(name: str, content: bytes) -> bytes:
    """A one-file tar (fixed metadata)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def synthetic_image(
    layout: OCILayout,
    ref_name: str,
    content: bytes = b"hello\n",
    *,
    base: tuple[str, str] | None = None,
) -> Descriptor:
    """Store and tag a one-layer linux/amd64 image; ``base`` = (base name, base digest)."""
    tar = layer_tar("hello.txt", content)
    blob = gzip.compress(tar, mtime=0)
    layer = layout.put_blob(blob, mt.LAYER_GZIP)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.source": "https://example.test/app"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }
    config_desc = layout.put_blob(json.dumps(config).encode(), mt.CONFIG)
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.MANIFEST,
        "config": config_desc.model_dump(mode="json", by_alias=True, exclude_none=True),
        "layers": [layer.model_dump(mode="json", by_alias=True, exclude_none=True)],
    }
    if base is not None:
        manifest["annotations"] = {mt.ANN_BASE_NAME: base[0], mt.ANN_BASE_DIGEST: base[1]}
    desc = layout.put_blob(json.dumps(manifest).encode(), mt.MANIFEST)
    layout.tag(ref_name, desc)
    return layout.resolve(ref_name)


def new_layout(path: Path) -> OCILayout:
    return OCILayout.open(path, create=True)


# -- a real registry and the real cosign ---------------------------------------------------


def require_cosign() -> None:
    """Fail (never skip) with the install steps when cosign is missing."""
    if shutil.which("cosign") is None:
        pytest.fail(f"cosign is missing: {INSTALL_HINT}", pytrace=False)
    require_tools("skopeo")


def run(argv: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output (the caller checks the return code)."""
    return subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def skopeo_copy(src: str, dest: str) -> None:
    """Copy one image or cosign manifest between a layout and the registry, digests kept."""
    done = run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--preserve-digests",
            src,
            dest,
        ]
    )
    assert done.returncode == 0, done.stderr


def cosign(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    """Run the real cosign (offline flags are the caller's)."""
    return run(["cosign", *args], env={"COSIGN_PASSWORD": password})
