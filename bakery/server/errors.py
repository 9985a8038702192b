"""Every error the service returns, in one shape: ``{"error": {"code", "message"}}``.

This module is the one place where Bakery's error classes become HTTP statuses. Anything that
is not a :class:`~bakery.errors.BakeryError` (or a request the framework rejected) is a bug: it
is logged with its traceback and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from bakery import errors as e

log = logging.getLogger("bakery.server")

#: most specific first: the first class an error is an instance of decides
STATUS: tuple[tuple[type[e.BakeryError], int, str], ...] = (
    (e.ReferenceNotFound, 404, "not_found"),
    (e.PromotionRefused, 409, "promotion_refused"),
    (e.ImmutableTag, 409, "immutable_tag"),
    (e.UserError, 400, "bad_request"),
    (e.RegistryDBError, 503, "database_unavailable"),
    (e.AuditError, 500, "audit_failed"),
    (e.StoreError, 500, "store_failed"),
)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """What every non-2xx API response carries."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def status_of(exc: e.BakeryError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


class ApiError(Exception):
    """Raised by handlers for HTTP-level refusals (authentication, authorisation)."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors()[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the one error shape."""

    @app.exception_handler(e.BakeryError)
    async def bakery_error(request: Request, exc: e.BakeryError) -> JSONResponse:
        status, code = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.one_line())
        return error_response(status, code, exc.one_line())

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, _HTTP_CODES.get(exc.status, "error"), exc.message, exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # the database refused a value the edge let through (e.g. a NUL byte): bad input
        log.warning("%s %s: the database refused a value", request.method, request.url.path)
        return error_response(400, "bad_request", "a value in the request is not acceptable")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s: internal error", request.method, request.url.path)
        return error_response(500, "internal", "internal error (see the server log)")
