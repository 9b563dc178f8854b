"""The gateway client of agent runs and workflows: model calls go over HTTP to `settings.control_url`
+ `/v1/chat/completions` with a key issued to the run's creator (`auth.apikeys.issue_run_key`,
scopes `gateway:invoke`, one day, revoked when the run ends), so the gateway's limits, guardrails,
budgets and usage records apply exactly as for the creator's own calls.

`chat` never raises for a failed call: the failure is in `ChatResult.error` (with the HTTP status),
so a run can record it as a step and stop or go on. Cost comes from `usage.cost` (the gateway adds it)
or the `x-axops-cost` header."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import apikeys
from axops.auth.deps import Principal

CALL_TIMEOUT_S = 120.0
RUN_KEY_SCOPES = ["gateway:invoke"]


@dataclass(slots=True)
class ChatResult:
    message: dict = field(default_factory=dict)  # choices[0].message: role, content, tool_calls
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    status: int = 0  # HTTP status; 0 when no answer arrived
    error: str | None = None  # safe to show: the gateway's message, never the key

    @property
    def ok(self) -> bool:
        return self.error is None


async def issue_key(session: AsyncSession, principal: Principal, run_id: uuid.UUID, prefix: str = "agent-run"):
    """A key for one run's gateway calls (`.id`, `.key`); the caller revokes it with `revoke_key`."""
    return await apikeys.issue_run_key(session, principal, f"{prefix}-{str(run_id)[:8]}", RUN_KEY_SCOPES)


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    await apikeys.revoke_key_by_id(session, key_id)


def _error_message(raw: bytes, status: int) -> str:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"HTTP {status}: " + raw.decode("utf-8", "replace")[:200]
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return f"HTTP {status}: {str(err.get('message') or '')[:200]}" + (f" ({code})" if code else "")
    if isinstance(doc, dict) and doc.get("detail"):
        return f"HTTP {status}: {str(doc['detail'])[:200]}"
    return f"HTTP {status}"


async def chat(
    session: aiohttp.ClientSession, base_url: str, key: str, body: dict, *, timeout_s: float = CALL_TIMEOUT_S
) -> ChatResult:
    """One non-streaming chat completion through the gateway."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    start = time.perf_counter()
    try:
        async with session.post(
            url,
            data=orjson.dumps({**body, "stream": False}),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as r:
            raw = await r.read()
            status = r.status
            cost_header = r.headers.get("x-axops-cost")
    except TimeoutError:
        return ChatResult(latency_ms=(time.perf_counter() - start) * 1000, error=f"timed out after {timeout_s:.0f} s")
    except aiohttp.ClientError as exc:
        return ChatResult(
            latency_ms=(time.perf_counter() - start) * 1000, error=f"connection failed: {type(exc).__name__}"
        )
    latency_ms = (time.perf_counter() - start) * 1000
    if status != 200:
        return ChatResult(status=status, latency_ms=latency_ms, error=_error_message(raw, status))
    try:
        doc = orjson.loads(raw)
        choice = doc["choices"][0]
        message = choice["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ChatResult(status=status, latency_ms=latency_ms, error="the gateway's answer has no choices[0].message")
    usage = doc.get("usage") or {}
    cost = usage.get("cost")
    if cost is None and cost_header:
        try:
            cost = float(cost_header)
        except ValueError:
            cost = None
    return ChatResult(
        message=message if isinstance(message, dict) else {},
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cost=float(cost or 0.0),
        latency_ms=latency_ms,
        status=status,
    )
