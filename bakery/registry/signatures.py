"""Signatures and attestations of artifacts (what issue 4's signing stage records)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import SignatureError, UserError
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.db import Registry, now
from bakery.registry.refs import check_text, repository_of, resolve
from bakery.registry.trust import trusted_for
from bakery.registry.views import SignatureView
from bakery.sign.evidence import SignedObject, verify_signed
from bakery.sign.intoto import BAKERY_SCAN_V1


def record_signature(
    registry: Registry, ref: str, signed: SignedObject, *, actor: str
) -> int | None:
    """Verify ``signed`` with the keys trusted for REF's repository, then record it.

    The recorded key id, predicate type and ``verified_at`` are what the verification proved,
    never what the submitter said. Returns the audit entry's number; None when the very same
    object was recorded before. A signature that no trusted key verifies, or that is about
    another image, is refused (UserError) and nothing is written.
    """
    check_text(actor, "actor", limit=255)
    with registry.write() as session:
        artifact = resolve(session, ref)
        repository = repository_of(session, artifact, artifact.digest)
        trusted = trusted_for(session, repository)
        if not trusted:
            raise UserError(
                f"no key is trusted for {repository}: the {signed.kind} cannot be verified",
                hint="an admin trusts the signing key: bakery trust add cosign.pub "
                f"--repository {repository}",
            )
        try:
            proven = verify_signed(signed, artifact.digest, [t.key for t in trusted])
        except SignatureError as e:
            raise UserError(
                f"the {signed.kind} of {artifact.digest[:19]}… is refused: {e.message}",
                hint=f"sign with a key trusted for {repository} (see `bakery trust list`)",
            ) from e
        key_id = proven.key.key_id
        if _recorded(session, artifact.id, key_id, proven.object_digest):
            return None
        at = now()
        row = m.Signature(
            artifact_id=artifact.id,
            kind=proven.kind,
            key_id=key_id,
            predicate_type=proven.predicate_type,
            signature_digest=proven.object_digest,
            verified_at=at,
            recorded_at=at,
            predicate=_kept_predicate(proven.predicate_type, proven.predicate),
        )
        session.add(row)
        session.flush()
        subject = {"digest": artifact.digest, "kind": proven.kind, "key_id": key_id}
        return append(
            session, kind=proven.kind, actor=actor, at=at, subject=subject, rows=[cover(row)]
        )


def _recorded(session: Session, artifact_id: int, key_id: str, object_digest: str) -> bool:
    found = session.scalars(
        select(m.Signature.id).where(
            m.Signature.artifact_id == artifact_id,
            m.Signature.key_id == key_id,
            m.Signature.signature_digest == object_digest,
        )
    )
    return found.first() is not None


def _kept_predicate(predicate_type: str | None, predicate: dict[str, Any] | None) -> str | None:
    """The predicate promotion judges (a scan's), as canonical JSON; others are not kept."""
    if predicate_type != BAKERY_SCAN_V1 or predicate is None:
        return None
    return json.dumps(predicate, sort_keys=True, separators=(",", ":"))


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
