"""A client of the service's write API, for ``bakery bake --registry-url``: it sends the same
:class:`~bakery.registry.record.ArtifactFact` that :func:`~bakery.registry.record.record_artifact`
records locally, as the JSON of :class:`~bakery.server.schemas.RecordRequest`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import httpx

from bakery.errors import AuthError, RegistryDBError, UserError
from bakery.registry.record import ArtifactFact
from bakery.server.schemas import (
    ArtifactDetail,
    AuditEntryRef,
    RecordedView,
    RecordRequest,
    RevocationView,
    SignatureIn,
    SignatureView,
)

TIMEOUT = 60.0


def record_request(fact: ArtifactFact) -> RecordRequest:
    """The request body that records ``fact`` (validated here, before anything is sent)."""
    data: dict[str, Any] = asdict(fact)
    data["parents"] = [{"digest": d, "relation": r} for d, r in fact.parents]
    data["sboms"] = [{"digest": d, "media_type": t, "size": n} for d, t, n in fact.sboms]
    return RecordRequest.model_validate(data)


class RegistryClient:
    """Records artifacts on a running ``bakery serve`` with a builder (or admin) token."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None):
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def record(self, fact: ArtifactFact) -> RecordedView:
        """Record ``fact``; raises a BakeryError saying what the service refused."""
        body = record_request(fact).model_dump(mode="json", exclude_none=True)
        return RecordedView.model_validate(self._send("POST", "/api/v1/builds", body, 201))

    def signatures(self, digest: str) -> list[SignatureView]:
        """The signatures and attestations recorded for ``digest``."""
        found = self._send("GET", f"/api/v1/artifacts/{digest}/signatures", None, 200)
        return [SignatureView.model_validate(item) for item in found]

    def record_signature(self, digest: str, signature: SignatureIn) -> int:
        """Record a signature or attestation of ``digest``; the audit entry's number."""
        body = signature.model_dump(mode="json", exclude_none=True)
        sent = self._send("POST", f"/api/v1/artifacts/{digest}/signatures", body, 201)
        return AuditEntryRef.model_validate(sent).audit_entry

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


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
