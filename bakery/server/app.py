"""The ASGI application: API routers under ``/api/v1``, ``/healthz``, the web UI, middleware."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bakery.errors import RegistryDBError
from bakery.registry.audit.jobs import VerificationJobs
from bakery.registry.audit.verify import VERIFIED_CHECKPOINT
from bakery.registry.db import Registry, trusted_verifiers
from bakery.server import errors, ui
from bakery.server.api import artifacts, audit, channels, queries, tokens, trust
from bakery.server.auth import TokenCache, new_session_key
from bakery.server.config import ServerConfig
from bakery.server.middleware import AccessLogAndHeaders, BodyLimit
from bakery.server.schemas import Health

API = "/api/v1"
STATIC = Path(__file__).parent / "static"


def _version() -> str:
    try:
        return version("bakery")
    except PackageNotFoundError:
        return "0"


def create_app(config: ServerConfig, registry: Registry) -> FastAPI:
    """The service over an open registry (the caller opens and disposes it)."""
    app = FastAPI(
        title="Bakery metadata registry",
        version=_version(),
        description="Provenance, lineage, channels, revocations and the audit log of baked "
        "artifacts. Authenticate with `Authorization: Bearer <token>`; roles: reader (queries), "
        "builder (records builds and submits signatures to verify), admin (promote, rollback, "
        "revoke, tokens, trusted keys, channel rules).",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    app.state.registry = registry
    app.state.tokens = TokenCache()
    app.state.session_key = new_session_key()
    store = config.store_root.absolute()
    app.state.audit_jobs = VerificationJobs(
        registry, trusted_verifiers(store, registry.signer), store / VERIFIED_CHECKPOINT
    )
    errors.install(app)
    for module in (artifacts, queries, channels, trust, tokens, audit):
        app.include_router(module.router, prefix=API)

    @app.get("/healthz", tags=["health"], responses={503: {"model": errors.ErrorBody}})
    def healthz(request: Request) -> Health:
        """Liveness and database reachability (no token needed)."""
        reg: Registry = request.app.state.registry
        try:
            with reg.read() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise RegistryDBError("the registry database is unreachable") from exc
        return Health(status="ok", database=reg.dialect)

    ui.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(AccessLogAndHeaders)
    return app
