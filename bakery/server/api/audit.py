"""The audit log: entries, inclusion proofs, and its verifications.

Reading never verifies: a verification reads the whole log, so it runs only when an admin
starts one (``POST /audit/verifications``), in the background, one at a time per service
(:class:`~bakery.registry.audit.jobs.VerificationJobs`); everyone else reads the recorded
results.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from bakery.registry.audit import jobs
from bakery.registry.audit.log import inclusion_proof, list_entries
from bakery.server import schemas as s
from bakery.server.deps import ERRORS, Admin, Limit, Offset, Reader, registry

router = APIRouter(tags=["audit"], responses=ERRORS)

JobId = Annotated[int, Path(ge=1, le=2**62)]


def verification_jobs(request: Request) -> jobs.VerificationJobs:
    runner: jobs.VerificationJobs = request.app.state.audit_jobs
    return runner


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


@router.post("/audit/verifications", status_code=202)
def start_verification(request: Request, response: Response, who: Admin) -> s.VerificationView:
    """Start a full verification of the log in the background (admin): recompute the tree;
    check the signature and root of every checkpoint since the one verified before,
    consistency with that one, and every row an entry covers. Answers the run at once
    (``running``); when one is running in this service already, answers that one instead."""
    job_id = verification_jobs(request).start(who.actor)
    response.headers["Location"] = f"/api/v1/audit/verifications/{job_id}"
    with registry(request).read() as session:
        return jobs.get(session, job_id)


@router.get("/audit/verifications/latest")
def latest_verification(request: Request, _: Reader) -> s.VerificationStatus:
    """The last verification that finished (``ok`` false: tampering; ``problems`` says
    what) and the one running, if any. Reading it runs nothing."""
    with registry(request).read() as session:
        return jobs.status(session)


@router.get("/audit/verifications")
def verifications(
    request: Request, _: Reader, limit: Limit = 50, offset: Offset = 0
) -> s.Page[s.VerificationView]:
    """Every recorded verification (by the service or ``bakery audit verify``), newest first."""
    with registry(request).read() as session:
        return jobs.list_verifications(session, limit=limit, offset=offset)


@router.get("/audit/verifications/{job_id}")
def verification(request: Request, _: Reader, job_id: JobId) -> s.VerificationView:
    """One verification, by the id its start answered."""
    with registry(request).read() as session:
        return jobs.get(session, job_id)
