"""The TLS context of every HTTPS client bakery opens (registries, token servers, the service).

Certificates are always verified, against certifi's CA bundle unless a CA file is given
(``--ca-file``, else ``SSL_CERT_FILE``: the edge resolves which with :func:`ca_file_of`).
Only an explicit ``skip_verify`` (``--insecure-skip-tls-verify``) turns verification off.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx

from bakery.errors import UserError

#: the environment variable naming a CA bundle (as OpenSSL, curl and httpx read it)
ENV_CA_FILE = "SSL_CERT_FILE"
#: the one hint every certificate failure carries
CA_HINT = (
    "trust its CA with --ca-file CA.pem (or SSL_CERT_FILE=CA.pem); "
    "--insecure-skip-tls-verify skips the check at your own risk"
)


def ca_file_of(option: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The CA bundle to trust: ``--ca-file`` if given, else ``SSL_CERT_FILE``, else None."""
    if option is not None:
        return option
    named = environ.get(ENV_CA_FILE)
    return Path(named) if named else None


def tls_context(ca_file: Path | None = None, *, skip_verify: bool = False) -> ssl.SSLContext:
    """A client context: verifying against ``ca_file`` (PEM) or certifi's bundle, or (only
    with ``skip_verify``) verifying nothing. An unreadable or invalid file is a UserError."""
    if skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is None:
        return httpx.create_ssl_context(trust_env=False)  # certifi's bundle
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(
            f"cannot load CA certificates from {ca_file}: {reason}",
            hint="--ca-file and SSL_CERT_FILE take a readable PEM file of CA certificates",
        ) from exc


def cert_failed(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a certificate that did not verify."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
