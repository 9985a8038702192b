"""A client of the service's write API, for ``bakery bake --registry-url``: it sends the same
:class:`~bakery.registry.facts.ArtifactFact` that :func:`~bakery.registry.record.record_artifact`
records locally, as its JSON, which is the body ``POST /api/v1/builds`` takes.

:class:`ServiceRecorder` is the :class:`~bakery.registry.recorder.Recorder` over this client:
the pipeline records through it exactly as through the local registry library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bakery.distribute.reference import is_loopback
from bakery.distribute.tls import cert_failed, tls_context
from bakery.errors import AuthError, RegistryDBError, UserError
from bakery.registry.facts import ArtifactFact, Recorded
from bakery.registry.recorder import SignatureKey
from bakery.registry.revocation import revoked_error
from bakery.registry.tags import immutable_error
from bakery.server.schemas import (
    ArtifactDetail,
    AuditEntryRef,
    RevocationView,
    SignatureView,
    SignedObject,
    TagCheck,
    TagCheckRequest,
)
from bakery.sign.keys import PublicKey

TIMEOUT = 60.0


class RegistryClient:
    """Records artifacts on a running ``bakery serve`` with a builder (or admin) token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ca_file: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        """``ca_file``: the PEM bundle of CAs to verify an https service against (else
        certifi's); the edge resolves it from ``--ca-file`` / ``SSL_CERT_FILE``."""
        check_service_url(url)
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            verify=tls_context(ca_file),
            transport=transport,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def record(self, fact: ArtifactFact) -> Recorded:
        """Record ``fact``; raises a BakeryError saying what the service refused."""
        body = fact.model_dump(mode="json", exclude_none=True)
        return Recorded.model_validate(self._send("POST", "/api/v1/builds", body, 201))

    def signatures(self, digest: str) -> list[SignatureView]:
        """The signatures and attestations recorded for ``digest``."""
        found = self._send("GET", f"/api/v1/artifacts/{digest}/signatures", None, 200)
        return [SignatureView.model_validate(item) for item in found]

    def record_signature(self, digest: str, signed: SignedObject) -> int | None:
        """Submit a signature or attestation of ``digest`` for the service to verify and
        record; the audit entry's number (None: recorded before)."""
        body = signed.model_dump(mode="json", exclude_none=True)
        sent = self._send("POST", f"/api/v1/artifacts/{digest}/signatures", body, 201)
        return AuditEntryRef.model_validate(sent).audit_entry

    def immovable(self, moves: Mapping[str, str]) -> list[str]:
        """Which of the tags in ``moves`` may not be set (immutable, pointing elsewhere)."""
        body = TagCheckRequest(tags=dict(moves)).model_dump(mode="json")
        return TagCheck.model_validate(
            self._send("POST", "/api/v1/tag-checks", body, 200)
        ).immovable

    def revocation(self, digest: str) -> RevocationView | None:
        """The revocation of ``digest`` (the first), or None: not revoked, or not recorded."""
        found = self._send("GET", f"/api/v1/artifacts/{digest}", None, 200, missing_ok=True)
        if found is None:
            return None
        revocations = ArtifactDetail.model_validate(found).revocations
        return revocations[0] if revocations else None

    def _send(
        self, method: str, path: str, body: Any, expected: int, *, missing_ok: bool = False
    ) -> Any:
        """One request; its JSON when the status is ``expected`` (None for a 404 when
        ``missing_ok``), else a BakeryError."""
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:
            if cert_failed(exc):
                raise RegistryDBError(
                    f"the TLS certificate of the registry service at {self._client.base_url} "
                    f"does not verify: {exc}",
                    hint="trust its CA with --ca-file CA.pem (or SSL_CERT_FILE=CA.pem)",
                ) from exc
            raise RegistryDBError(
                f"cannot reach the registry service at {self._client.base_url}: {exc}",
                hint="check --registry-url and that `bakery serve` is running",
            ) from exc
        if response.status_code == expected:
            return response.json()
        if missing_ok and response.status_code == 404:
            return None
        message = _message(response)
        if response.status_code in (401, 403):
            raise AuthError(
                message, hint="use a builder token (bakery tokens create … --role builder)"
            )
        if response.status_code < 500:
            raise UserError(f"the registry service refused the request: {message}")
        raise RegistryDBError(f"the registry service failed: {message}")


class ServiceRecorder:
    """Records on a running ``bakery serve`` (``--registry-url``) with a builder token: one
    request per fact, each recorded atomically by the service."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ca_file: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self._url = url
        self._client = RegistryClient(url, token, ca_file=ca_file, transport=transport)

    @property
    def where(self) -> str:
        return self._url

    def record(self, facts: Sequence[ArtifactFact]) -> Mapping[str, int | None]:
        return {fact.digest: self._client.record(fact).audit_entry for fact in facts}

    def signatures(self, digest: str, key_id: str) -> set[SignatureKey]:
        found = self._client.signatures(digest)
        return {(s.kind, s.predicate_type) for s in found if s.key_id == key_id}

    def record_signature(
        self, digest: str, signed: SignedObject, *, signer: PublicKey
    ) -> int | None:
        return self._client.record_signature(digest, signed)

    def ensure_not_revoked(self, digest: str, *, what: str) -> bool:
        found = self._client.revocation(digest)
        if found is not None:
            raise revoked_error(what, digest, found.reason, found.actor, found.at)
        return True

    def ensure_tags_movable(self, moves: Mapping[str, str]) -> None:
        refused = self._client.immovable(moves)
        if refused:
            raise immutable_error(refused)

    def close(self) -> None:
        self._client.close()


def check_service_url(url: str) -> None:
    """Refuse a service URL the token must not travel to: not http(s), or plain HTTP to a host
    other than this machine (the token would cross the network in clear text)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UserError(f"--registry-url {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UserError(
            f"--registry-url {url!r} is not an http(s) URL",
            hint="e.g. https://registry.example or http://127.0.0.1:8080",
        )
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    if parsed.scheme == "http" and not is_loopback(host):
        raise UserError(
            f"--registry-url {url} would send the token in clear text to {parsed.host}",
            hint="use https:// (plain HTTP is allowed for this machine's loopback only)",
        )


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
