"""Keyset (cursor) pagination on (created_at, id): stable order, constant cost per page."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from starlette.responses import Response

from axops.core.errors import Invalid

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(id_)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, id_ = orjson.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(id_)
    except Exception as exc:
        raise Invalid(
            "The cursor is malformed; use the next_cursor value from the previous page.", code="invalid_cursor"
        ) from exc


def paginate_desc(query: Select, created_col, id_col, cursor: str | None, limit: int) -> Select:
    """Newest first. Fetches limit + 1 rows so the caller knows whether another page exists."""
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(or_(created_col < created, and_(created_col == created, id_col < id_)))
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def page_of(rows: list, limit: int, key=lambda r: (r.created_at, r.id)) -> tuple[list, str | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(*key(rows[-1]))
    return rows, None


def json_response(data: Any, status_code: int = 200) -> Response:
    """Serialise with orjson, skipping FastAPI's response validation: for large, hot list answers
    whose rows come straight from SQL (the route still declares its response_model for the docs)."""
    return Response(orjson.dumps(data, default=str), status_code=status_code, media_type="application/json")


def json_page_response(docs: list[str], next_cursor: str | None) -> Response:
    """A page whose items are already JSON documents (rendered by PostgreSQL)."""
    body = '{"items":[' + ",".join(docs) + '],"next_cursor":' + orjson.dumps(next_cursor).decode() + "}"
    return Response(body.encode(), media_type="application/json")
