"""MLflow's REST conventions, shared by the tracking and artifact routes: errors as non-200
`{"error_code", "message"}`, auth by Bearer or Basic (the API key as password), JSON bodies, hex ids,
millisecond timestamps, {key, value} lists."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from axops.auth.deps import Principal, get_principal
from axops.auth.scoping import require
from axops.core.errors import AppError

_ERROR_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "INVALID_STATE",
    413: "INVALID_PARAMETER_VALUE",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
}


class MlflowError(AppError):
    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_code, self.status = error_code, status


def _error(code: str, message: str, status: int) -> Response:
    return Response(
        orjson.dumps({"error_code": code, "message": message}), status_code=status, media_type="application/json"
    )


class MlflowRoute(APIRoute):
    """Renders every error of these routes (auth, validation, service) in MLflow's form."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except MlflowError as exc:
                return _error(exc.error_code, exc.detail, exc.status)
            except AppError as exc:
                status = 400 if exc.status in (409, 413, 422) else exc.status
                if exc.status == 409 and "already exists" in exc.detail:
                    return _error("RESOURCE_ALREADY_EXISTS", exc.detail, 400)
                return _error(_ERROR_CODES.get(exc.status, "INTERNAL_ERROR"), exc.detail, status)
            except RequestValidationError:
                return _error("INVALID_PARAMETER_VALUE", "Invalid request parameters.", 400)

        return route


async def principal_for(request: Request, permission: str) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(credential.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise MlflowError("UNAUTHENTICATED", "Malformed Basic credentials.", 401) from exc
        scope = dict(request.scope)
        scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
        scope["headers"].append((b"authorization", f"Bearer {password}".encode()))
        request = Request(scope)
    principal = await get_principal(request)
    require(principal, permission)
    return principal


async def reader(request: Request) -> Principal:
    """The caller, who must hold training:read."""
    return await principal_for(request, "training:read")


async def writer(request: Request) -> Principal:
    """The caller, who must hold training:write."""
    return await principal_for(request, "training:write")


async def json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MlflowError("MALFORMED_REQUEST", "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise MlflowError("MALFORMED_REQUEST", "The request body must be a JSON object.")
    return body


def ok(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def parse_id(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST" if value else "INVALID_PARAMETER_VALUE",
            f"No {what} with id {value!r}." if value else f"Missing value for required parameter '{what}_id'.",
            404 if value else 400,
        ) from None


def required(body: dict, key: str) -> Any:
    value = body.get(key)
    if value is None or value == "":
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{key}'.")
    return value


def run_id_of(body: dict) -> uuid.UUID:
    return parse_id(body.get("run_id") or body.get("run_uuid") or required(body, "run_id"), "run")


def from_ms(ms: Any) -> datetime | None:
    if ms in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (ValueError, TypeError, OverflowError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid timestamp {ms!r}.") from None


def key_values(items: Any, what: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{what} must be a list of {{key, value}} objects.")
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Each of {what} needs a string key.")
        value = item.get("value", "")
        out[item["key"]] = value if isinstance(value, str) else str(value)
    return out
