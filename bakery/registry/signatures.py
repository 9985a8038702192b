"""Signatures and attestations of artifacts (what issue 4's signing stage records)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.db import Registry, now
from bakery.registry.refs import check_text, resolve
from bakery.registry.views import SignatureView

SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"


def record_signature(
    registry: Registry,
    ref: str,
    *,
    key_id: str,
    actor: str,
    kind: str = "signature",
    predicate_type: str | None = None,
    signature_digest: str | None = None,
    verified_at: datetime | None = None,
) -> int:
    """Record that REF carries a signature (or an attestation of ``predicate_type``).

    Returns the audit entry's number. An attestation needs a predicate type; SLSA provenance
    is ``https://slsa.dev/provenance/v1``.
    """
    if kind not in ("signature", "attestation"):
        raise UserError(f"{kind!r} is neither a signature nor an attestation")
    if kind == "attestation" and not predicate_type:
        raise UserError("an attestation needs its predicate type")
    check_text(key_id, "key id", limit=255)
    check_text(actor, "actor", limit=255)
    with registry.write() as session:
        artifact = resolve(session, ref)
        at = now()
        row = m.Signature(
            artifact_id=artifact.id,
            kind=kind,
            key_id=key_id,
            predicate_type=predicate_type,
            signature_digest=signature_digest,
            verified_at=verified_at,
            recorded_at=at,
        )
        session.add(row)
        session.flush()
        subject = {"digest": artifact.digest, "kind": kind, "key_id": key_id}
        return append(session, kind=kind, actor=actor, at=at, subject=subject, rows=[cover(row)])


def recorded_signatures(
    registry: Registry, digest: str, *, key_id: str
) -> set[tuple[str, str | None]]:
    """(kind, predicate type) of every signature and attestation by ``key_id`` recorded for the
    artifact ``digest``: a re-bake of the same image records only what is new."""
    with registry.read() as session:
        artifact = resolve(session, digest)
        rows = session.execute(
            select(m.Signature.kind, m.Signature.predicate_type).where(
                m.Signature.artifact_id == artifact.id, m.Signature.key_id == key_id
            )
        )
        return {(kind, predicate_type) for kind, predicate_type in rows}


def signatures_of(session: Session, artifact_id: int) -> list[SignatureView]:
    """The signatures and attestations recorded for the artifact, oldest first."""
    rows = session.scalars(
        select(m.Signature).where(m.Signature.artifact_id == artifact_id).order_by(m.Signature.id)
    ).all()
    return [SignatureView.from_row(r) for r in rows]
