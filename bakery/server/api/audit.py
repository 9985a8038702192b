"""The audit log: entries, inclusion proofs, and a full verification of the log."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Path, Request

from bakery.registry.audit.log import inclusion_proof, list_entries
from bakery.registry.audit.verify import VERIFIED_CHECKPOINT, verify_log
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Limit, Offset, Reader, registry, store_root

router = APIRouter(tags=["audit"], responses=ERRORS)

_verify_lock = threading.Lock()


@router.get("/audit/entries")
def entries(
    request: Request, _: Reader, limit: Limit = 50, offset: Offset = 0
) -> s.Page[s.AuditEntryView]:
    """Audit entries, newest first; ``data`` is the exact leaf bytes (canonical JSON)."""
    with registry(request).read() as session:
        return list_entries(session, limit=limit, offset=offset)


@router.get("/audit/entries/{seq}/proof")
def proof(request: Request, _: Reader, seq: Annotated[int, Path(ge=0, le=2**62)]) -> s.ProofView:
    """The RFC 6962 inclusion proof of entry ``seq`` in the latest signed checkpoint."""
    with registry(request).read() as session:
        return inclusion_proof(session, seq).view()


def verify_state(request: Request) -> s.VerifyView:
    """Recompute the log and check checkpoints, consistency and covered rows."""
    reg = registry(request)
    with _verify_lock, reg.read() as session:
        trusted = store_root(request).absolute() / VERIFIED_CHECKPOINT
        report = verify_log(session, reg.signer.verifier, trusted=trusted)
    return report.view()


@router.get("/audit/verify")
def verify(request: Request, _: Reader) -> s.VerifyView:
    """Recompute the whole tree; check the signature and root of every checkpoint since the one
    verified before, consistency with that one, and every row an entry covers (``ok`` false:
    tampering)."""
    return verify_state(request)
