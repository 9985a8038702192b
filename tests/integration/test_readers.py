"""Independent readers accept what Bakery writes: skopeo, umoci, docker load, docker run."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import bakery, require_tools


def test_skopeo_inspects_the_store(baked: dict[str, Any], session_store: Path) -> None:
    require_tools("skopeo")
    done = subprocess.run(
        ["skopeo", "inspect", f"oci:{session_store / 'oci'}:golden/debian-base:12"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["Digest"] == baked["debian-base"]["digest"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"


def test_umoci_unpacks_the_image(
    baked: dict[str, Any], session_store: Path, tmp_path: Path
) -> None:
    require_tools("umoci")
    bundle = tmp_path / "bundle"
    done = subprocess.run(
        ["umoci", "unpack", "--image", f"{session_store / 'oci'}:golden/nginx:1.22", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rootfs = bundle / "rootfs"
    assert (rootfs / "usr/sbin/nginx").is_file()
    assert (rootfs / "etc/machine-id").read_bytes() == b""
    assert not any((rootfs / "var/lib/apt/lists").glob("*_Packages"))
    assert "app:x:10001:10001" in (rootfs / "etc/passwd").read_text()


def test_docker_loads_and_runs_nginx(
    baked: dict[str, Any], session_store: Path, tmp_path: Path, dockerd: None
) -> None:
    archive = tmp_path / "nginx.tar"
    done = bakery(
        "export",
        "golden/nginx:1.22",
        "--store",
        session_store,
        "--format",
        "docker-archive",
        "-o",
        archive,
    )
    assert done.returncode == 0, done.stderr
    load = subprocess.run(
        ["docker", "load", "-i", str(archive)], capture_output=True, text=True, check=False
    )
    assert load.returncode == 0, load.stderr
    assert "golden/nginx:1.22" in load.stdout
    name = f"bakery-nginx-test-{int(time.time())}"
    run = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-p",
            "127.0.0.1::8080",
            "golden/nginx:1.22",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    try:
        port = subprocess.run(
            ["docker", "port", name, "8080/tcp"], capture_output=True, text=True, check=True
        ).stdout
        url = "http://" + port.strip().splitlines()[0]
        body, status = _get_with_retry(url)
        assert status == 200
        assert "Baked by Bakery" in body
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        ).stdout
        assert user.strip() == "10001"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _get_with_retry(url: str) -> tuple[str, int]:
    deadline = time.monotonic() + 30
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode(), response.status
        except OSError as e:
            last = e
            time.sleep(0.5)
    raise AssertionError(f"nginx never answered on {url}: {last}")
