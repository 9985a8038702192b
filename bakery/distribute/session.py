"""Connecting to registries from the edge (CLI, bake): credentials and options in one place.

The environment and home directory are passed in, so library code never reads them itself;
``bakery bake --push`` and ``bakery push`` both go through :func:`push_image`. Without
``--ca-file`` the CA bundle comes from the environment's ``SSL_CERT_FILE``, if set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from bakery.distribute import DEFAULT_JOBS
from bakery.distribute.client import ClientOptions, RegistryClient
from bakery.distribute.credentials import resolve_credentials
from bakery.distribute.reference import Reference
from bakery.distribute.tls import ca_file_of
from bakery.distribute.transfer import Progress, TransferResult, push
from bakery.oci.layout import OCILayout


def connect(
    registry: str,
    *,
    environ: Mapping[str, str],
    home: Path,
    options: ClientOptions | None = None,
) -> RegistryClient:
    """A client for ``registry`` with the credentials the environment / Docker config give,
    trusting ``options.ca_file``, else ``SSL_CERT_FILE``, else certifi's CAs."""
    options = options or ClientOptions()
    options = dataclasses.replace(options, ca_file=ca_file_of(options.ca_file, environ))
    credentials = resolve_credentials(registry, environ=environ, home=home)
    return RegistryClient(registry, credentials=credentials, options=options)


def push_image(
    layout: OCILayout,
    ref: str,
    dest: str,
    *,
    environ: Mapping[str, str],
    home: Path,
    insecure: bool = False,
    progress: Progress | None = None,
    jobs: int = DEFAULT_JOBS,
) -> TransferResult:
    """Push ``ref`` (a tag or digest in ``layout``) to ``dest`` (``HOST/REPO[:TAG]``)."""
    target = Reference.parse(dest)
    options = ClientOptions(insecure=insecure)
    with connect(target.registry, environ=environ, home=home, options=options) as client:
        return push(layout, ref, target, client, progress=progress, jobs=jobs)
