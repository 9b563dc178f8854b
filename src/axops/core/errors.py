"""Errors as exceptions carrying status and a stable code, rendered as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from axops.core import context

log = logging.getLogger("axops.errors")

PROBLEM_TYPE_BASE = "https://axops.dev/problems/"


class AppError(Exception):
    """An error the client can act on. The problem `type` is PROBLEM_TYPE_BASE + code: the class's generic code
    (not_found, conflict, ...) or a specific one given as `code=` (dataset_not_found, username_taken, ...). The UI
    translates by that code, filling its message from the extension fields (`**extra`: the values a message needs,
    never secrets); `detail` stays English for API clients. Every specific code is listed in docs/PROBLEMS.md and has
    a message in web/src/i18n/{ko,en}.ts under `problems` (tests/test_problem_codes.py checks both)."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class NotAuthenticated(AppError):
    status, code, title = 401, "not_authenticated", "Not authenticated"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class Invalid(AppError):
    status, code, title = 422, "validation_error", "Invalid request"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class StorageUnavailable(AppError):
    status, code, title = 503, "storage_unavailable", "Storage unavailable"


class TooManyRequests(AppError):
    status, code, title = 429, "too_many_requests", "Too many requests"


def problem_response(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": context.current().request_id,
    }
    for key, value in extra.items():  # extension fields never replace the standard members
        body.setdefault(key, value)
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers)


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def _clean_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never echo the submitted value back (it may be a password): location, message, type, and the constraint the
    # value broke (`ctx`: min_length, gt, pattern...; scalars only) so that the UI can say it in the reader's language.
    cleaned = []
    for e in errors:
        item: dict[str, Any] = {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        ctx = {k: v for k, v in (e.get("ctx") or {}).items() if k != "error" and isinstance(v, str | int | float)}
        if ctx:
            item["ctx"] = ctx
        cleaned.append(item)
    return cleaned


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> Response:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = _clean_errors(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "malformed_json", "Malformed JSON", "The request body is not valid JSON.")
        fields = ", ".join(".".join(str(p) for p in e["loc"] if p != "body") or "body" for e in errors)
        return problem_response(422, "validation_error", "Invalid request", f"Invalid fields: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(exc.status_code, code, title, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", exc_info=exc)
        return problem_response(500, "internal_error", "Internal server error", "An unexpected error occurred.")
