"""The service's typed configuration, built at the edge (``bakery serve``) and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

#: a 10,000-component SBOM recorded through the API is about 2.5 MB of JSON
DEFAULT_MAX_BODY = 16 << 20


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Where the registry lives and how the service guards itself."""

    store_root: Path
    database_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: mark the UI's session cookie ``Secure`` (set it when a TLS proxy fronts the service)
    secure_cookies: bool = False
    #: how long a UI session lasts before the token must be entered again
    session_seconds: int = 8 * 3600
    #: how long a token made through the API lasts when the request does not say (the
    #: registry's default, :data:`bakery.registry.tokens.DEFAULT_LIFETIME`, unless told)
    token_lifetime: timedelta = timedelta(days=90)
