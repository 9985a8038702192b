"""Unit-level checks of the service with FastAPI's TestClient (in process, SQLite in a temp
store): the SVG lineage graph, the error mapping, the login redirect guard, headers, the token
cache and the bootstrap admin token."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from bakery import errors as e
from bakery.cli.serving import _bootstrap_admin
from bakery.recipe.loader import load_recipe
from bakery.recipe.model import Output
from bakery.registry import tokens
from bakery.registry.db import open_registry
from bakery.registry.tokens import create_token
from bakery.registry.views import EdgeView, LineageNode
from bakery.server import auth
from bakery.server.app import create_app
from bakery.server.config import ServerConfig
from bakery.server.errors import ApiError, status_of
from bakery.server.svg import MAX_PER_ROW, lineage_svg
from bakery.server.ui import _safe_next
from tests.conftest import RECIPES, REPO

D = [f"sha256:{i:064x}" for i in range(40)]


def node(i: int, distance: int, name: str | None = None, **kw: object) -> LineageNode:
    return LineageNode.model_validate(
        {"digest": D[i], "name": name, "distance": distance, "channels": [], "revoked": False, **kw}
    )


def test_svg_is_well_formed_and_escapes_every_label() -> None:
    nodes = [
        node(0, -1, "base"),
        node(1, 0, '<script>alert("x")</script>', channels=["a@<b>"]),
        node(2, 1, "child & co", revoked=True),
    ]
    edges = [
        EdgeView(parent=D[0], child=D[1], relation="recipe"),
        EdgeView(parent=D[1], child=D[2], relation="image"),
        EdgeView(parent=D[30], child=D[31], relation="image"),  # not in the graph: not drawn
    ]
    svg = lineage_svg(nodes, edges, focus=D[1], href=lambda d: f"/artifacts/{d}?x=1&y=2")
    root = ET.fromstring(svg)  # well-formed XML
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}line")) == 2
    groups = root.findall(f".//{ns}g")
    assert [g.get("class") for g in groups] == ["node", "node focus", "node revoked"]
    assert root.find(f"{ns}title") is not None and root.get("role") == "img"


def test_svg_rows_are_bounded() -> None:
    nodes = [node(0, 0, "root")] + [node(i, 1, f"c{i}") for i in range(1, 35)]
    svg = lineage_svg(nodes, [], focus=D[0], href=str)
    assert svg.count('class="node"') == MAX_PER_ROW
    assert f"+{34 - MAX_PER_ROW} more" in svg


def test_error_classes_map_to_statuses() -> None:
    assert status_of(e.ReferenceNotFound("x")) == (404, "not_found")
    assert status_of(e.PromotionRefused("x")) == (409, "promotion_refused")
    assert status_of(e.ImmutableTag("x")) == (409, "immutable_tag")
    assert status_of(e.LockError("x")) == (400, "bad_request")
    assert status_of(e.RegistryDBError("x")) == (503, "database_unavailable")
    assert status_of(e.BuildError("x")) == (500, "internal")


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/artifacts", "/artifacts"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_redirects_stay_local(target: str, expected: str) -> None:
    assert _safe_next(target) == expected


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    store = tmp_path / ".bakery"
    registry = open_registry(store)
    token, _ = create_token(registry, "unit", "reader", actor="test")
    app = create_app(ServerConfig(store_root=store, max_body_bytes=4096), registry)
    try:
        with TestClient(app) as test_client:
            yield test_client, token
    finally:
        registry.dispose()


def test_headers_docs_and_413(client: tuple[TestClient, str]) -> None:
    test_client, token = client
    response = test_client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert test_client.get("/docs").status_code == 404  # no CDN-loaded Swagger UI
    too_big = test_client.post(
        "/api/v1/builds", content=b"x" * 5000, headers={"Authorization": f"Bearer {token}"}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"
    reader = test_client.post(
        "/api/v1/builds", json={"digest": D[1]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert reader.status_code == 403


def test_deployment_files_agree_with_the_recipe() -> None:
    """registry/compose.yaml runs the image recipes/bakery-server.yaml bakes, beside
    PostgreSQL and a distribution registry also baked from recipes/, on loopback only."""
    recipe = load_recipe(RECIPES / "bakery-server.yaml").recipe
    tags = [t for output in recipe.outputs for t in output.oci.tags]  # type: ignore[union-attr]
    compose = yaml.safe_load((REPO / "registry" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"bakery-server", "postgres", "oci-registry"} <= set(services)
    assert services["bakery-server"]["image"] in {f"{recipe.name}:{t}" for t in tags}
    baked = {
        f"{r.name}:{t}"
        for path in RECIPES.glob("*.yaml")
        for r in [load_recipe(path).recipe]
        for output in r.outputs
        if isinstance(output, Output)
        for t in output.oci.tags
    }
    for name, service in services.items():  # every image is one a recipe here bakes
        assert service["image"] in baked, f"{name}: {service['image']}"
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    env = dict(
        line.split("=", 1)
        for line in (REPO / "registry" / "bakery-server.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["BAKERY_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert f":{env['POSTGRES_PASSWORD']}@postgres" in env["BAKERY_DATABASE_URL"]
    distribution = yaml.safe_load((REPO / "registry" / "distribution.yml").read_text())
    assert distribution["http"]["addr"].endswith(":5000")


def test_ui_escapes_recorded_text(tmp_path: Path) -> None:
    """Names, tags and reasons recorded by a builder are shown as text, never as markup."""
    from bakery.registry.channels import promote
    from bakery.registry.signatures import record_signature
    from tests.evidence import signature
    from tests.integration.server_fixtures import plant

    store = tmp_path / ".bakery"
    registry = open_registry(store)
    try:
        planted = plant(registry, store)
        hostile = '<img src=x onerror="alert(1)">'
        record_signature(registry, planted.app, signature("team/app", planted.app), actor=hostile)
        promote(registry, planted.base, "prod", reason=hostile, actor=hostile)
        token, _ = create_token(registry, "unit", "reader", actor="test")
        app = create_app(ServerConfig(store_root=store), registry)
        with TestClient(app) as client:
            assert client.post("/login", data={"token": token}).status_code == 200
            pages = [
                client.get(f"/artifacts/{planted.app}").text,
                client.get("/channels/prod").text,
                client.get("/").text,
                client.get("/audit").text,
            ]
        for text in pages:
            assert hostile not in text
        # key ids are the service's own now (a hash of the verified key): the actor and the
        # reason are the recorded text left to escape
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in pages[1]
        assert "&lt;img" in pages[3]
    finally:
        registry.dispose()


def test_the_token_cache_skips_scrypt_but_never_serves_a_revoked_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = open_registry(tmp_path / ".bakery")
    identified: list[str] = []

    def counting(reg: object, raw: str) -> object:
        identified.append(raw)
        return tokens.identify(registry, raw)

    monkeypatch.setattr(auth, "identify", counting)
    try:
        raw, info = create_token(registry, "unit", "reader", actor="test")
        cache = auth.TokenCache()
        assert cache.verify(registry, raw).id == info.id
        assert cache.verify(registry, raw).id == info.id
        assert len(identified) == 1  # one scrypt; the second came from the cache
        tokens.revoke_token(registry, info.id, actor="test")  # as another process would
        with pytest.raises(ApiError, match="the token was revoked") as refused:
            cache.verify(registry, raw)
        assert refused.value.status == 401
        assert cache.check(registry, raw) is None  # the login form's question
        assert len(identified) == 1
        with pytest.raises(ApiError, match="the token is invalid"):
            cache.verify(registry, raw[:-1] + ("A" if raw[-1] != "A" else "B"))
        expired, _ = create_token(
            registry, "old", "reader", actor="test", expires_at=datetime.now(UTC)
        )
        with pytest.raises(ApiError, match="the token expired"):
            cache.verify(registry, expired)
    finally:
        registry.dispose()


def test_the_bootstrap_admin_token_lasts_24_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = open_registry(tmp_path / ".bakery")
    try:
        _bootstrap_admin(registry)
        printed = capsys.readouterr().out
        raw = re.search(r"admin token \(shown once, store it now\): (bkr_\S+)", printed)
        assert raw is not None and "expires in 24 hours" in printed
        info = tokens.authenticate(registry, raw.group(1))
        assert info is not None and info.role == "admin" and info.expires_at is not None
        assert info.expires_at - info.created_at == timedelta(hours=24)
        _bootstrap_admin(registry)
        assert "exists already" in capsys.readouterr().err
        tokens.revoke_token(registry, info.id, actor="test")  # a revoked admin does not count
        _bootstrap_admin(registry)
        assert "admin token (shown once" in capsys.readouterr().out
    finally:
        registry.dispose()
