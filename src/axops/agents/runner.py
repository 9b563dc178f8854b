"""The agent loop: a model call through the gateway with the agent's tools in OpenAI format, then the
tool calls of its answer (all of one answer in parallel, each through the tool registry's
`run_resolved` on the tool rows read once when the run started, which validates the arguments and never
raises for a tool's failure), their results back as `tool` messages, until an answer or a limit (steps,
tokens, cost, seconds: status `limit_reached`, `stop_reason` the limit).

A call to a tool that requires approval pauses the run (`waiting_approval`, one `agent_approvals` row a
call); the other calls of the same answer run first. The conversation and the calls awaiting a decision
are kept encrypted on the run while it waits and cleared when it ends; `resume` picks them up once
every call is decided (a rejected call is told to the model as declined).

Each step is written in a short transaction of its own (a model step with the run's totals; a batch of
tool calls' steps with their call records) behind the loop (`_write_behind`): the write runs while the
loop goes on to its next call, so a trace can be read while the run goes on, and no connection is held
while a model or a tool works. The loop yields events (`step`, `tool_call`, `tool_result`,
`approval_required`, `answer`, `error`, `done`) that the router streams as SSE."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from sqlalchemy import bindparam, func, insert, select, text, update

from axops import pii
from axops.auth.deps import Principal
from axops.core import crypto
from axops.tools import keywords
from axops.tools.outcome import ToolOutcome

from . import llm
from .models import AgentApproval, AgentRun, AgentStep

log = logging.getLogger("axops.agents")

DECLINED = "The person reviewing this call declined it; do not retry it."
MAX_STORED_CHARS = 20_000


def masked(value: Any) -> Any:
    """What the trace keeps of a text or JSON value: PII masked (as the gateway's request log), long text cut."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return pii.redact(value[:MAX_STORED_CHARS])
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    return pii.redact(str(value)[:MAX_STORED_CHARS])


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def tool_message_content(outcome: ToolOutcome) -> str:
    if outcome.ok:
        out = outcome.output
        return out if isinstance(out, str) else orjson.dumps(out).decode()
    return f"Error ({outcome.error_kind or 'tool_error'}): {outcome.error or 'the tool failed'}"


@dataclass
class Tool:
    id: uuid.UUID
    name: str
    requires_approval: bool
    timeout_s: float
    # the row and its current version, read once when the run starts or resumes (none when unavailable)
    row: Any = field(default=None, repr=False)
    version: Any = field(default=None, repr=False)
    unavailable: str | None = None


@dataclass
class Context:
    """What one execution of a run needs; built by `runs.py` at start and at resume."""

    state: Any
    principal: Principal  # the run's creator: tools run as them
    run_id: uuid.UUID
    route: str
    params: dict
    limits: dict
    tools: dict[str, Tool]  # by function name
    tool_specs: list[dict]  # OpenAI "tools" entries
    key: str
    messages: list[dict]
    started: float  # perf_counter of the run's start (the seconds limit counts wall time of this execution)
    next_index: int = 0
    steps: int = 0
    tokens: int = 0
    cost: float = 0.0
    call_share: float = 0.0  # the asking model step's cost split evenly among its calls (tool analytics)
    http: aiohttp.ClientSession | None = field(default=None, repr=False)
    status: str = "running"  # as the last finished trace write saw it (a cancel shows here)
    writing: asyncio.Task | None = field(default=None, repr=False)  # the trace writes behind the loop


def _event(event: str, **data) -> tuple[str, dict]:
    return event, data


# Trace writes of a running run do not wait for the WAL flush (a crash loses at most the last few
# steps of a run that then ends `failed` anyway); the run's end is committed durably. This is most of
# what keeps the loop's own time per step small on a disk where a flush takes milliseconds.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


_RUNS = AgentRun.__table__
# built once: the statement's compiled form is cached, so a step's write costs no ORM flush or compile
_ADD_TOTALS = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("b_run"))
    .values(
        steps=_RUNS.c.steps + 1,
        prompt_tokens=_RUNS.c.prompt_tokens + bindparam("b_pt"),
        completion_tokens=_RUNS.c.completion_tokens + bindparam("b_ct"),
        cost=_RUNS.c.cost + bindparam("b_cost"),
    )
    .returning(_RUNS.c.status)
)


def _values(row: Any) -> dict:
    """An ORM object's set column values, for a Core INSERT (column defaults apply to the rest)."""
    state = row.__dict__
    return {c.key: state[c.key] for c in row.__table__.columns if c.key in state}


async def _write(state, run_id: uuid.UUID, rows: list, totals: tuple[int, int, float] | None = None) -> str | None:
    """The steps and call records (ORM objects, written as Core INSERTs, one per table and set of
    columns) and, when given, a model step's (prompt tokens, completion tokens, cost) added to the
    run's totals; returns the run's status then (a cancel shows here)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        values = _values(row)
        groups.setdefault((row.__table__, tuple(values)), []).append(values)
    status = None
    async with state.db.engine.connect() as conn:
        await conn.execute(_ASYNC_COMMIT)
        for (table, _), batch in groups.items():
            await conn.execute(insert(table), batch)
        if totals is not None:
            pt, ct, cost = totals
            status = (
                await conn.execute(_ADD_TOTALS, {"b_run": run_id, "b_pt": pt, "b_ct": ct, "b_cost": cost})
            ).scalar()
        await conn.commit()
    return status


def _write_behind(ctx: Context, rows: list, totals: tuple[int, int, float] | None = None) -> None:
    """Queue a trace write: it runs while the loop goes on to the next model or tool call, one write
    at a time in order, so the loop does not wait for PostgreSQL between steps. `_settle` waits for
    them (before the run ends or pauses); a failed write fails the loop at its next step."""
    previous = ctx.writing

    async def write() -> None:
        if previous is not None:
            await previous
        status = await _write(ctx.state, ctx.run_id, rows, totals)
        if status is not None:
            ctx.status = status

    ctx.writing = asyncio.create_task(write())


async def _settle(ctx: Context) -> None:
    if ctx.writing is not None:
        writing, ctx.writing = ctx.writing, None
        await writing


def _limit_hit(ctx: Context) -> str | None:
    lim = ctx.limits
    if ctx.steps >= int(lim.get("max_steps") or 10):
        return "max_steps"
    if lim.get("max_tokens") and ctx.tokens >= lim["max_tokens"]:
        return "max_tokens"
    if lim.get("max_cost") and ctx.cost >= lim["max_cost"]:
        return "max_cost"
    if time.perf_counter() - ctx.started >= float(lim.get("max_seconds") or 120):
        return "max_seconds"
    return None


async def _call_one(ctx: Context, call: dict) -> tuple[ToolOutcome, Any]:
    """One call's outcome and its `tool_calls` row (none when no tool ran); holds no connection while
    the tool runs (a Python tool's dataset and an MCP tool's server are read in a session of their own)."""
    from axops.tools import service as tools

    fn = call.get("function") or {}
    tool = ctx.tools.get(fn.get("name") or "")
    if tool is None:
        return ToolOutcome(ok=False, error=f"No tool named '{fn.get('name')}'.", error_kind="invalid_arguments"), None
    raw = fn.get("arguments") or "{}"
    try:
        arguments = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        return ToolOutcome(ok=False, error="The arguments are not valid JSON.", error_kind="invalid_arguments"), None
    if not isinstance(arguments, dict):
        return ToolOutcome(ok=False, error="The arguments must be a JSON object.", error_kind="invalid_arguments"), None
    if tool.row is None:  # archived or no version when the run started
        return ToolOutcome(
            ok=False, error=tool.unavailable or "The tool is not available.", error_kind="unavailable"
        ), None
    start = time.perf_counter()
    try:
        # the tool's own timeout is enforced by its runner; this bound only guards against a stuck call
        outcome = await asyncio.wait_for(
            tools.run_resolved(
                ctx.state.db.sessionmaker,
                ctx.principal,
                tool.row,
                tool.version,
                arguments,
                secret=ctx.state.secret_key,
                settings=ctx.state.settings,
            ),
            timeout=tool.timeout_s + 10,
        )
    except TimeoutError:
        outcome = ToolOutcome(
            ok=False, error=f"The tool did not answer within {tool.timeout_s:.0f} s.", error_kind="timeout"
        )
    if not outcome.latency_ms:
        outcome.latency_ms = (time.perf_counter() - start) * 1000
    return outcome, tools.call_record(ctx.principal, tool.row, tool.version, outcome, ctx.run_id, ctx.call_share)


def _tool_step(ctx: Context, call: dict, outcome: ToolOutcome, group: int, started_at: datetime) -> AgentStep:
    fn = call.get("function") or {}
    step = AgentStep(
        run_id=ctx.run_id,
        index=ctx.next_index,
        kind="tool",
        name=(fn.get("name") or "")[:200],
        tool_call_id=str(call.get("id") or "")[:200],
        parallel_group=group,
        input=masked(fn.get("arguments")),
        output=masked(outcome.output) if outcome.ok else None,
        latency_ms=outcome.latency_ms,
        error=pii.redact(outcome.error) if outcome.error else None,
        error_kind=outcome.error_kind,
        started_at=started_at,
    )
    ctx.next_index += 1
    return step


async def run_calls(ctx: Context, calls: list[dict], group: int) -> AsyncIterator[tuple[str, dict]]:
    """Run tool calls in parallel; yields their events and leaves `(call, outcome)` pairs in the last event."""
    for c in calls:
        fn = c.get("function") or {}
        yield _event(
            "tool_call", id=c.get("id"), name=fn.get("name"), arguments=masked(fn.get("arguments")), group=group
        )
    started_at = datetime.now(UTC)
    done = await asyncio.gather(*(_call_one(ctx, c) for c in calls))
    outcomes = [o for o, _ in done]
    steps = [_tool_step(ctx, c, o, group, started_at) for c, o in zip(calls, outcomes, strict=True)]
    # the steps and the registry's call records of the whole batch in one short transaction
    _write_behind(ctx, steps + [r for _, r in done if r is not None])
    for c, o in zip(calls, outcomes, strict=True):
        yield _event(
            "tool_result",
            id=c.get("id"),
            name=(c.get("function") or {}).get("name"),
            ok=o.ok,
            error_kind=o.error_kind,
            latency_ms=round(o.latency_ms, 2),
        )
    yield _event(
        "_results", results={c.get("id"): tool_message_content(o) for c, o in zip(calls, outcomes, strict=True)}
    )


async def _finish(ctx: Context, status: str, stop_reason: str | None, output: str | None = None) -> None:
    """The run's end: status (unless it was cancelled meanwhile), the resume state cleared, the key revoked."""
    await _settle(ctx)
    async with ctx.state.db.sessionmaker() as session:
        run = await session.get(AgentRun, ctx.run_id, with_for_update=True)
        if run.status in ("running", "waiting_approval"):
            run.status, run.stop_reason = status, stop_reason
            if output is not None:
                run.output = masked(output)
        run.finished_at = run.finished_at or datetime.now(UTC)
        run.latency_ms = (run.latency_ms or 0) + (time.perf_counter() - ctx.started) * 1000
        if run.keywords is None:  # stored once for tool analytics (agents/tool_usage.py)
            run.keywords = await asyncio.to_thread(keywords.of_input, run.input)
        run.conversation, key_id, run.api_key_secret = None, run.api_key_id, None
        if key_id is not None:
            await llm.revoke_key(session, key_id)
        await session.commit()


async def _pause(ctx: Context, assistant: dict, pending: list[dict], results: dict, group: int) -> list[dict]:
    await _settle(ctx)
    blob = {
        "messages": ctx.messages,
        "calls": assistant.get("tool_calls") or [],
        "results": results,
        "group": group,
        "share": ctx.call_share,
    }
    async with ctx.state.db.sessionmaker() as session:
        rows = []
        for call in pending:
            fn = call.get("function") or {}
            tool = ctx.tools[fn.get("name")]
            rows.append(
                AgentApproval(
                    run_id=ctx.run_id,
                    tool_call_id=str(call.get("id") or "")[:200],
                    tool_id=tool.id,
                    tool_name=tool.name,
                    arguments=masked(fn.get("arguments")),
                )
            )
        session.add_all(rows)
        session.add(
            AgentStep(
                run_id=ctx.run_id,
                index=ctx.next_index,
                kind="approval",
                name=", ".join(r.tool_name for r in rows)[:200],
                parallel_group=group,
                output={"pending": [r.tool_call_id for r in rows]},
            )
        )
        ctx.next_index += 1
        await session.execute(
            update(AgentRun)
            .where(AgentRun.id == ctx.run_id, AgentRun.status == "running")
            .values(
                status="waiting_approval",
                conversation=crypto.encrypt(ctx.state.secret_key, orjson.dumps(blob).decode()),
                latency_ms=AgentRun.latency_ms + (time.perf_counter() - ctx.started) * 1000,
            )
        )
        await session.commit()
        return [
            {"approval_id": str(r.id), "tool_call_id": r.tool_call_id, "tool": r.tool_name, "arguments": r.arguments}
            for r in rows
        ]


async def drive(ctx: Context) -> AsyncIterator[tuple[str, dict]]:
    """The loop from the current conversation on; the run ends (or pauses) before the last event.
    A fault of the loop itself (not a model's or a tool's, which go back to the model) fails the run
    and revokes its key at once rather than leaving both to the stale-run sweep."""
    try:
        async for item in _drive(ctx):
            yield item
    except Exception as exc:
        log.exception("agent run %s failed in the loop", ctx.run_id)
        await asyncio.shield(_finish(ctx, "failed", f"internal error: {type(exc).__name__}"))
        yield _event("error", message="The run failed inside axops; it has been stopped.")
        yield _event("done", status="failed", stop_reason="internal_error")
    except asyncio.CancelledError:
        await asyncio.shield(_finish(ctx, "failed", "cancelled by the server"))
        raise


async def _drive(ctx: Context) -> AsyncIterator[tuple[str, dict]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        while True:
            if ctx.writing is not None and ctx.writing.done():
                ctx.writing.result()  # a failed trace write stops the loop here
            if ctx.status == "cancelled":
                await _finish(ctx, "cancelled", "cancelled")
                yield _event("done", status="cancelled", stop_reason="cancelled")
                return
            if limit := _limit_hit(ctx):
                await _finish(ctx, "limit_reached", limit)
                yield _event("done", status="limit_reached", stop_reason=limit)
                return
            body: dict = {"model": ctx.route, "messages": ctx.messages, **ctx.params}
            if ctx.tool_specs:
                body["tools"] = ctx.tool_specs
            remaining = float(ctx.limits.get("max_seconds") or 120) - (time.perf_counter() - ctx.started)
            started_at = datetime.now(UTC)
            result = await llm.chat(http, ctx.state.settings.control_url, ctx.key, body, timeout_s=max(remaining, 1.0))
            ctx.steps += 1
            ctx.tokens += result.prompt_tokens + result.completion_tokens
            ctx.cost += result.cost
            message = result.message
            calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)] if result.ok else []
            ctx.call_share = result.cost / len(calls) if calls else 0.0
            group = ctx.next_index
            step = AgentStep(
                run_id=ctx.run_id,
                index=ctx.next_index,
                kind="model" if result.ok else "error",
                name=ctx.route,
                input={"messages": len(ctx.messages)},
                output=masked({"content": message.get("content"), "tool_calls": calls or None}) if result.ok else None,
                latency_ms=result.latency_ms,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                cost=result.cost,
                error=result.error,
                error_kind=None if result.ok else "model_error",
                started_at=started_at,
            )
            ctx.next_index += 1
            _write_behind(
                ctx,
                [step],
                (result.prompt_tokens, result.completion_tokens, result.cost),
            )
            yield _event(
                "step",
                index=step.index,
                kind=step.kind,
                latency_ms=round(result.latency_ms, 2),
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                cost=result.cost,
                tool_calls=[(c.get("function") or {}).get("name") for c in calls],
            )
            if not result.ok:
                await _finish(ctx, "failed", (result.error or "model call failed")[:200])
                yield _event("error", message=result.error, status=result.status)
                yield _event("done", status="failed", stop_reason=result.error)
                return
            if not calls:
                answer = _content_text(message.get("content"))
                _write_behind(
                    ctx, [AgentStep(run_id=ctx.run_id, index=ctx.next_index, kind="answer", output=masked(answer))]
                )
                ctx.next_index += 1
                await _finish(ctx, "succeeded", result.finish_reason or "stop", answer)
                yield _event("answer", content=answer)
                yield _event("done", status="succeeded", stop_reason=result.finish_reason or "stop")
                return
            assistant = {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
            ctx.messages.append(assistant)
            pending = [
                c
                for c in calls
                if (t := ctx.tools.get((c.get("function") or {}).get("name") or "")) and t.requires_approval
            ]
            now_calls = [c for c in calls if c not in pending]
            results: dict = {}
            if now_calls:
                async for kind, data in run_calls(ctx, now_calls, group):
                    if kind == "_results":
                        results = data["results"]
                    else:
                        yield kind, data
            if pending:
                described = await _pause(ctx, assistant, pending, results, group)
                yield _event("approval_required", run_id=str(ctx.run_id), calls=described)
                yield _event("done", status="waiting_approval", stop_reason=None)
                return
            ctx.messages.extend(
                {"role": "tool", "tool_call_id": c.get("id"), "content": results.get(c.get("id"), "")} for c in calls
            )


async def next_index(session, run_id: uuid.UUID) -> int:
    last = await session.scalar(select(func.max(AgentStep.index)).where(AgentStep.run_id == run_id))
    return 0 if last is None else last + 1
