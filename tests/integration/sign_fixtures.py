"""Small synthetic images for the signing tests, built in a temporary OCI layout."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from dataclasses import dataclass
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


@dataclass
class LocalRegistry:
    """A ``docker-registry serve`` on 127.0.0.1 (no auth, storage in a temp dir)."""

    host: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(tmp: Path) -> LocalRegistry:
    """Start the registry on a free loopback port and wait until ``/v2/`` answers."""
    require_tools("docker-registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "registry.yml").write_text(json.dumps(config))  # JSON is YAML
    log = tmp / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(tmp / "registry.yml")], stdout=out, stderr=out
        )
    registry = LocalRegistry(f"127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}", pytrace=False)
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1).close()
            return registry
        except OSError:
            time.sleep(0.05)
    registry.stop()
    pytest.fail(f"docker-registry did not start: {log.read_text()[-2000:]}", pytrace=False)


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
