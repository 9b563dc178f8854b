"""Per-request context (request id, client address, acting principal) for logs and audit events."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    actor_type: str = "anonymous"


_current: ContextVar[RequestContext | None] = ContextVar("axops_request_context", default=None)


def current() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext(actor_type="system", actor_name="system")
    return ctx


def bind(ctx: RequestContext):
    return _current.set(ctx)


def reset(token) -> None:
    _current.reset(token)
