"""The web UI: server-rendered pages over the same reads as the API, no JavaScript.

A person signs in once with any valid token; the session lives in an HttpOnly,
SameSite=Strict cookie (see :mod:`.auth`). The UI reads, with one exception: an admin's
session may start an audit verification (a POST form that also carries a token bound to the
session, :func:`_form_token`, so no other site can make the browser send it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from bakery.errors import BakeryError, UserError
from bakery.registry import artifacts as a
from bakery.registry import channels as ch
from bakery.registry import queries as q
from bakery.registry.audit import jobs
from bakery.registry.audit.log import list_entries, log_size
from bakery.registry.db import Registry
from bakery.registry.refs import check_digest, resolve
from bakery.registry.revocation import list_revocations, revocations_of
from bakery.registry.signatures import signatures_of
from bakery.server.api.audit import verification_jobs
from bakery.server.auth import SESSION_COOKIE, Principal, session_cookie, session_principal
from bakery.server.errors import ApiError, status_of
from bakery.server.store_view import image_contents
from bakery.server.svg import lineage_svg

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE = 50
_MAX_FORM = 4096


class LoginRequired(Exception):
    """The page needs a session; the browser is sent to the login form."""


def _short(digest: str | None) -> str:
    return (digest[:19] + "…") if digest else "—"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    return value.strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["short"] = _short
templates.env.filters["when"] = _when
templates.env.filters["urlpart"] = lambda text: quote(str(text), safe="")


def _who(request: Request) -> Principal:
    principal = session_principal(request)
    if principal is None:
        raise LoginRequired
    return principal


def _registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def _render(request: Request, template: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


def _page(request: Request, name: str, build: Callable[[Session], dict[str, Any]]) -> HTMLResponse:
    """Render ``name`` with what ``build`` reads in one session; errors become an error page."""
    who = _who(request)
    try:
        with _registry(request).read() as session:
            context = build(session)
    except BakeryError as exc:
        status, _ = status_of(exc)
        return _render(request, "error.html", status, who=who, message=exc.one_line())
    return _render(request, name, who=who, **context)


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"{text[:40]!r} is not a time", hint="e.g. 2026-03-01T12:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _safe_next(target: str) -> str:
    """Only a local path: never another site (``//host``) or a scheme."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _render(request, "login.html", who=None, next=_safe_next(next), message=None)


@router.post("/login")
async def login(request: Request) -> Response:
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"), max_num_fields=4)
    raw = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    state = request.app.state
    info, message = None, "That token is not valid."
    try:
        info = state.tokens.verify(state.registry, raw) if raw and len(raw) <= 256 else None
    except ApiError as exc:  # a revoked or expired token is told so; a wrong one only that
        if "invalid" not in exc.message:
            message = f"That token cannot sign in: {exc.message}."
    if info is None:
        return _render(request, "login.html", 401, who=None, next=target, message=message)
    value, max_age = session_cookie(state.session_key, info, state.config.session_seconds)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=state.config.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
def dashboard(request: Request) -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        return {
            "builds": q.recent_builds(session, limit=15, offset=0),
            "channels": ch.list_channels(session),
            "revocations": list_revocations(session, limit=10, offset=0),
            "artifacts": a.list_artifacts(session, kind="image", name=None, limit=1, offset=0),
            "evidence": q.evidence_report(session, limit=1),  # the counts are shown
            "audit_size": log_size(session),
        }

    return _page(request, "dashboard.html", build)


@router.get("/artifacts")
def artifacts(request: Request, page: int = 0, kind: str = "image") -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        wanted = kind if kind in ("image", "disk", "sbom", "attestation", "signature") else None
        listing = a.list_artifacts(
            session, kind=wanted, name=None, limit=PAGE, offset=max(page, 0) * PAGE
        )
        return {"listing": listing, "page": max(page, 0), "kind": wanted}

    return _page(request, "artifacts.html", build)


@router.get("/artifacts/{digest}")
def artifact(request: Request, digest: str, page: int = 0) -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        row = resolve(session, check_digest(digest))
        graph = q.lineage_graph(session, row.digest, up=True, down=True, depth=20)
        svg = lineage_svg(
            graph.nodes, graph.edges, focus=row.digest, href=lambda d: f"/artifacts/{d}"
        )
        layers, config, note = image_contents(request.app.state.config.store_root, row.digest)
        offset = max(page, 0) * PAGE
        return {
            "artifact": a.summaries(session, [row])[0],
            "scan": a.scan_of(session, row.id),
            "revocations": revocations_of(session, row.id),
            "sboms": a.sboms_of(session, row.id),
            "subject": a.subject_of(session, row),
            "packages": a.packages_of(session, row.id, limit=PAGE, offset=offset),
            "page": max(page, 0),
            "findings": a.findings_of(session, row.id),
            "signatures": signatures_of(session, row.id),
            "provenance": q.provenance_of(session, row),
            "svg": Markup(svg),  # noqa: S704 - built by svg.py, every label escaped there
            "layers": layers,
            "config": config,
            "store_note": note,
        }

    return _page(request, "artifact.html", build)


@router.get("/search")
def search(
    request: Request, name: str = "", versions: str = "", purl: str = "", page: int = 0
) -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        context: dict[str, Any] = {"name": name, "versions": versions, "purl": purl, "hits": None}
        if not name and not purl:
            return context
        total, hits = q.artifacts_with_package(
            session,
            name=name or None,
            purl=purl or None,
            versions=versions or None,
            limit=PAGE,
            offset=max(page, 0) * PAGE,
        )
        return {**context, "hits": hits, "total": total, "page": max(page, 0)}

    return _page(request, "search.html", build)


@router.get("/vulnerabilities")
def vulnerabilities(request: Request, id: str = "") -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        hits = q.artifacts_affected_by(session, id.strip()) if id.strip() else None
        in_channels = [h for h in hits or [] if h.channels]
        return {"vuln": id, "hits": hits, "in_channels": in_channels}

    return _page(request, "vulnerabilities.html", build)


@router.get("/channels")
def channels(request: Request) -> HTMLResponse:
    return _page(request, "channels.html", lambda s: {"channels": ch.list_channels(s)})


@router.get("/channels/{channel}")
def channel_history(
    request: Request, channel: str, repository: str = "", at: str = ""
) -> HTMLResponse:
    def build(session: Session) -> dict[str, Any]:
        rows = ch.history(session, channel, repository or None)
        when = _parse_time(at) if at.strip() else None
        then = ch.pointed_at(session, channel, when, repository or None) if when else None
        return {
            "channel": channel,
            "repository": repository,
            "rows": rows,
            "at": at.strip(),
            "then": then,
        }

    return _page(request, "channel.html", build)


def _form_token(request: Request) -> str:
    """A token for the UI's state-changing forms, bound to this session (an HMAC of its
    cookie under the server's session key): a page of another site cannot know it."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    key: bytes = request.app.state.session_key
    return hmac.new(key, b"form:" + cookie.encode(), hashlib.sha256).hexdigest()


@router.get("/audit")
def audit(request: Request, page: int = 0) -> HTMLResponse:
    """The log's entries and the last verification's result; reading it verifies nothing."""

    def build(session: Session) -> dict[str, Any]:
        return {
            "status": jobs.status(session),
            "entries": list_entries(session, limit=PAGE, offset=max(page, 0) * PAGE),
            "page": max(page, 0),
            "form_token": _form_token(request),
        }

    return _page(request, "audit.html", build)


@router.post("/audit/verifications")
async def start_verification(request: Request) -> Response:
    """The audit page's button: an admin starts a verification; back to the page."""
    who = await run_in_threadpool(_who, request)  # it reads the token's row
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"), max_num_fields=4)
    sent = (form.get("form_token") or [""])[0]
    if not hmac.compare_digest(sent.encode(), _form_token(request).encode()):
        message = "the form has expired or came from elsewhere: reload the audit page"
        return _render(request, "error.html", 403, who=who, message=message)
    if not who.may("admin"):
        message = f"starting a verification needs the admin role; you are a {who.role}"
        return _render(request, "error.html", 403, who=who, message=message)
    try:
        await run_in_threadpool(verification_jobs(request).start, who.actor)
    except BakeryError as exc:
        status, _ = status_of(exc)
        return _render(request, "error.html", status, who=who, message=exc.one_line())
    return RedirectResponse("/audit", status_code=303)


def install(app: FastAPI) -> None:
    """Add the UI's routes and send visitors without a session to the login form."""
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
