"""Commands of the metadata registry's HTTP service: serve."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bakery.cli.options import store_option
from bakery.errors import UserError
from bakery.server.config import DEFAULT_MAX_BODY, ServerConfig

if TYPE_CHECKING:
    from bakery.registry.db import Registry


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--database-url",
    envvar="BAKERY_DATABASE_URL",
    default=None,
    help="postgresql+psycopg://… (env BAKERY_DATABASE_URL); default: SQLite in the store.",
)
@click.option(
    "--max-body",
    default=DEFAULT_MAX_BODY,
    show_default=True,
    type=click.IntRange(1024, 1 << 30),
    help="Largest request body in bytes; larger ones get 413 unread.",
)
@click.option(
    "--secure-cookies", is_flag=True, help="Mark the UI's session cookie Secure (behind TLS)."
)
@click.option(
    "--init-admin-token",
    is_flag=True,
    help="When no usable admin token exists, create one and print it once (bootstrap); it "
    "expires in 24 hours: make a lasting one with it.",
)
@click.option(
    "--token-lifetime",
    envvar="BAKERY_TOKEN_LIFETIME",
    default="90d",
    show_default=True,
    metavar="DURATION",
    help="How long a token created through the API lasts when the request does not say "
    "(e.g. 12h, 30d, 2w; env BAKERY_TOKEN_LIFETIME).",
)
@click.option(
    "--trust-key",
    "trusted",
    multiple=True,
    metavar="REPOSITORY=PUBKEY",
    help="Trust the cosign.pub at PUBKEY for REPOSITORY (golden/nginx, golden/* or *) before "
    "serving; repeat for several. Builders' signatures are recorded only when a trusted key "
    "verifies them.",
)
@store_option
def serve_command(
    host: str,
    port: int,
    database_url: str | None,
    max_body: int,
    secure_cookies: bool,
    init_admin_token: bool,
    trusted: tuple[str, ...],
    token_lifetime: str,
    store_dir: Path,
) -> None:
    """Serve the registry's REST API (/api/v1, OpenAPI at /api/v1/openapi.json) and web UI."""
    import uvicorn

    from bakery.registry.db import open_registry
    from bakery.registry.tokens import parse_lifetime
    from bakery.server.app import create_app

    lifetime = parse_lifetime(token_lifetime)
    registry = open_registry(store_dir, database_url, long_lived=True)
    try:
        if init_admin_token:
            _bootstrap_admin(registry)
        _trust_keys(registry, trusted)
        config = ServerConfig(
            store_root=store_dir.absolute(),
            database_url=database_url,
            max_body_bytes=max_body,
            secure_cookies=secure_cookies,
            token_lifetime=lifetime,
        )
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
        )
        app = create_app(config, registry)
        # uvicorn's own access log prints query strings: ours (bakery.server.access) does not
        uvicorn.run(app, host=host, port=port, access_log=False, server_header=False)
    finally:
        registry.dispose()


def _trust_keys(registry: Registry, trusted: tuple[str, ...]) -> None:
    """Trust each ``REPOSITORY=PUBKEY`` of ``--trust-key`` (a no-op for one trusted already)."""
    from bakery.registry.trust import trust_key
    from bakery.sign.keys import load_public_key

    for item in trusted:
        pattern, sep, path = item.partition("=")
        if not sep or not pattern or not path:
            raise UserError(
                f"--trust-key {item!r} is not REPOSITORY=PUBKEY", hint="e.g. golden/*=cosign.pub"
            )
        done = trust_key(registry, load_public_key(Path(path)), pattern, actor="bakery serve")
        click.echo(f"trusting key {done.key_id[:16]}… for {pattern}", err=True)


def _bootstrap_admin(registry: Registry) -> None:
    from datetime import UTC, datetime

    from bakery.registry.tokens import BOOTSTRAP_LIFETIME, create_token, list_tokens, state

    now = datetime.now(UTC)
    admins = [t for t in list_tokens(registry) if t.role == "admin" and state(t, now) == "active"]
    if admins:
        click.echo("an admin token exists already: none created", err=True)
        return
    raw, info = create_token(
        registry, "initial-admin", "admin", actor="bakery serve", expires_at=BOOTSTRAP_LIFETIME
    )
    assert info.expires_at is not None
    click.echo(f"admin token (shown once, store it now): {raw}")
    click.echo(
        f"it expires in 24 hours (at {info.expires_at:%Y-%m-%d %H:%M} UTC): create a lasting "
        "admin token with it (POST /api/v1/tokens, or bakery tokens create NAME --role admin)"
    )
    sys.stdout.flush()
