"""Which :class:`~bakery.registry.recorder.Recorder` a command records through: the service's
HTTP client for ``--registry-url`` (token in BAKERY_REGISTRY_TOKEN; TLS verified against
``--ca-file``, else SSL_CERT_FILE, else certifi's CAs), else the registry library
on the store's SQLite or ``--database-url``."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from pathlib import Path

from bakery.errors import UserError
from bakery.registry.recorder import LocalRecorder, Recorder
from bakery.store import Store


def open_recorder(
    store: Store,
    environ: Mapping[str, str],
    database_url: str | None,
    registry_url: str | None,
    *,
    ca_file: Path | None = None,
) -> Recorder:
    """The recorder the options name; close it when done."""
    if registry_url:
        from bakery.distribute.tls import ca_file_of
        from bakery.server.client import ServiceRecorder

        trusted = ca_file_of(ca_file, environ)
        return ServiceRecorder(registry_url, service_token(environ), ca_file=trusted)
    return LocalRecorder(store.root, database_url, actor=getpass.getuser())


def service_token(environ: Mapping[str, str]) -> str:
    """The token for ``--registry-url``, from BAKERY_REGISTRY_TOKEN."""
    token = environ.get("BAKERY_REGISTRY_TOKEN")
    if not token:
        raise UserError(
            "--registry-url needs a token in BAKERY_REGISTRY_TOKEN",
            hint="create one on the server: bakery tokens create NAME --role builder",
        )
    return token
