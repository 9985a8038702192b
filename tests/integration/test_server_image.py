"""The bakery-server image: baked from recipes/bakery-server.yaml with a wheel built from
this checkout (twice: the same image), loaded into Docker, run, and queried over HTTP
(/healthz and /api/v1)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, bakery, require_root, require_tools
from tests.integration.conftest import SDE, copy_recipes, dockerd
from tests.integration.pg_fixtures import postgres_server, postgres_url
from tests.integration.server_fixtures import digest, free_port, verify_now

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["dockerd", "postgres_server", "postgres_url"]

IMAGE = "golden/bakery-server:0.1"


def _run(*argv: str | Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _wheel(dest: Path, work: Path) -> Path:
    """A wheel of this checkout (built from a copy, so the tree gets no build/ or egg-info)."""
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "bakery", src / "bakery", ignore=shutil.ignore_patterns("__pycache__"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dest, src)
    (wheel,) = dest.glob("bakery-*.whl")
    return wheel


def _logs(name: str) -> str:
    """The container's stdout and stderr."""
    done = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


@dataclass(frozen=True)
class ServerBake:
    recipes: Path
    store: Path
    digest: str


def _bake(recipes: Path, store: Path, recipe: str = "bakery-server.yaml") -> str:
    """Bake ``recipe`` (and its Debian base) into ``store``; its digest."""
    done = bakery("bake", recipes / recipe, "--store", store, "--json", env=SDE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return str(json.loads(done.stdout)["digest"])


def _docker_load(image: str, store: Path, archive: Path) -> None:
    """Export ``image`` from ``store`` as a docker archive and load it into dockerd."""
    done = bakery("export", image, "--format", "docker-archive", "-o", archive, "--store", store)
    assert done.returncode == 0, done.stderr
    _run("docker", "load", "-i", archive)


@pytest.fixture(scope="module")
def server_bake(tmp_path_factory: pytest.TempPathFactory) -> ServerBake:
    require_root()
    require_tools("mmdebstrap", "bwrap", "pigz")
    work = tmp_path_factory.mktemp("server-image")
    recipes = copy_recipes(work / "recipes")
    _wheel(recipes / "files" / "bakery-server" / "dist", work)
    store = work / ".bakery"
    return ServerBake(recipes, store, _bake(recipes, store))


def test_the_server_image_is_reproducible(server_bake: ServerBake, tmp_path: Path) -> None:
    """Baked again in a new store from the same inputs (the wheel, the pinned PyPI
    dependencies of requirements.txt, the Debian snapshot), it is the same image."""
    assert _bake(server_bake.recipes, tmp_path / ".bakery") == server_bake.digest


@pytest.fixture(scope="module")
def server_image(server_bake: ServerBake, dockerd: None) -> Iterator[str]:
    require_tools("docker")
    _docker_load(IMAGE, server_bake.store, server_bake.store.parent / "server.tar")
    try:
        yield IMAGE
    finally:
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def container(request: pytest.FixtureRequest, server_image: str) -> Iterator[tuple[str, str, str]]:
    """The image running on the host's loopback (host network), over SQLite in its volume or
    the test PostgreSQL server: (base URL, admin token, database)."""
    port = free_port()
    name = f"bakery-server-test-{port}"
    database = []
    if request.param == "postgresql":
        database = ["--database-url", request.getfixturevalue("postgres_url")]
    _run(
        "docker", "run", "-d", "--rm", "--name", name, "--network", "host", "--read-only",
        "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
        server_image, "--host", "127.0.0.1", "--port", str(port), "--init-admin-token",
        *database,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the container did not answer /healthz:\n{_logs(name)}")
        logs = _logs(name)
        found = re.search(r"admin token \(shown once, store it now\): (bkr_\S+)", logs)
        assert found, logs
        yield url, found.group(1), request.param
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_the_baked_server_image_serves_the_api(container: tuple[str, str, str]) -> None:
    url, token, database = container
    health = httpx.get(f"{url}/healthz").json()
    assert health == {"status": "ok", "database": database}
    assert httpx.get(f"{url}/api/v1/artifacts").status_code == 401
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/openapi.json").json()["info"]["title"]
        recorded = client.post(
            "/api/v1/builds",
            json={
                "digest": digest(42),
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "size": 10,
                "name": "golden/in-docker",
                "tags": ["golden/in-docker:1"],
                "packages": [
                    {"purl": "pkg:deb/debian/zlib1g@1.2.13", "type": "deb", "name": "zlib1g",
                     "version": "1:1.2.13.dfsg-1"}
                ],
            },
        )  # fmt: skip
        assert recorded.status_code == 201, recorded.text
        found = client.get("/api/v1/packages/search", params={"name": "zlib1g"}).json()
        assert [h["digest"] for h in found["items"]] == [digest(42)]
        assert verify_now(client)["ok"] is True
    login = httpx.get(f"{url}/", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"].startswith("/login")
    page = httpx.get(f"{url}/login")
    assert page.status_code == 200 and "Sign in" in page.text
    assert httpx.get(f"{url}/static/bakery.css").status_code == 200
    # the token was printed once at bootstrap, never by the access log
    logs = _logs(container_name(url))
    assert logs.count(token) == 1 and "bakery.server.access" in logs


def container_name(url: str) -> str:
    return f"bakery-server-test-{url.rsplit(':', 1)[1]}"


STACK_IMAGES = {
    "postgres.yaml": "golden/postgres:15",
    "distribution.yaml": "golden/distribution:2.8",
}
STACK_PORTS = (8080, 5000)  # what registry/compose.yaml publishes on loopback


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_the_compose_stack_runs_on_baked_images(
    server_bake: ServerBake, server_image: str, tmp_path: Path
) -> None:
    """registry/compose.yaml as shipped, on the three images Bakery bakes (none pulled)."""
    require_tools("docker-compose")
    busy = [port for port in STACK_PORTS if not _port_free(port)]
    assert not busy, f"the stack publishes 127.0.0.1:{busy}, which something else holds"
    for recipe, image in STACK_IMAGES.items():
        _bake(server_bake.recipes, server_bake.store, recipe)
        _docker_load(image, server_bake.store, tmp_path / "image.tar")
    stack = tmp_path / "registry"
    shutil.copytree(REPO / "registry", stack)
    example = (stack / "bakery-server.env.example").read_text()
    (stack / "bakery-server.env").write_text(example.replace("change-me", "stack-test-pw"))
    compose = ["docker-compose", "-f", str(stack / "compose.yaml"), "-p", f"bakery{os.getpid()}"]
    try:
        _run(*compose, "up", "-d", "--wait", timeout=300)
        assert httpx.get("http://127.0.0.1:8080/healthz").json() == {
            "status": "ok",
            "database": "postgresql",
        }
        printed = _run(*compose, "run", "--rm", "bakery-server-init")
        found = re.search(r"^(bkr_\S+)$", printed, re.M)
        assert found, printed
        api = httpx.get(
            "http://127.0.0.1:8080/api/v1/artifacts",
            headers={"Authorization": f"Bearer {found.group(1)}"},
        )
        assert api.status_code == 200, api.text
        pushed = bakery(
            "push", "golden/distribution:2.8", "127.0.0.1:5000/golden/distribution:2.8",
            "--store", server_bake.store,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
    finally:
        subprocess.run([*compose, "down", "-v"], capture_output=True, check=False, timeout=120)
        subprocess.run(
            ["docker", "rmi", "-f", *STACK_IMAGES.values()], capture_output=True, check=False
        )
