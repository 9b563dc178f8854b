"""HTTP routes of agents and their runs (`/api/agent/...`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.state import State

from . import runs, service
from .models import Agent, AgentApproval, AgentRun, AgentStep, AgentVersion
from .schemas import (
    AgentApprovalOut,
    AgentCreate,
    AgentOut,
    AgentPage,
    AgentRunCreate,
    AgentRunDetail,
    AgentRunOut,
    AgentRunPage,
    AgentStepOut,
    AgentUpdate,
    AgentVersionIn,
    AgentVersionOut,
    AgentVersionPage,
    ApprovalDecision,
)

router = APIRouter(prefix="/api/agent", tags=["agent"])
Reader = Annotated[Principal, require("agents:read")]
Writer = Annotated[Principal, require("agents:write")]
Limit = Annotated[int, Query(ge=1, le=200)]
SSE = {200: {"content": {"text/event-stream": {}}, "description": "The run's events when `stream` is true"}}


def version_out(v: AgentVersion) -> AgentVersionOut:
    return AgentVersionOut(
        version=v.version,
        route=v.route,
        system_prompt=v.system_prompt,
        prompt=v.prompt_ref,
        tool_ids=list(v.tool_ids or []),
        limits=v.limits or {},
        params=v.params or {},
        message=v.message,
        created_at=v.created_at,
    )


async def agents_out(session, agents: list[Agent]) -> list[AgentOut]:
    versions = await service.versions_of(session, [a.id for a in agents])
    out = []
    for a in agents:
        current = versions.get((a.id, a.latest_version))
        out.append(
            AgentOut(
                id=a.id,
                name=a.name,
                description=a.description,
                team_id=a.team_id,
                visibility=a.visibility,
                latest_version=a.latest_version,
                archived=a.archived_at is not None,
                created_at=a.created_at,
                updated_at=a.updated_at,
                current=version_out(current) if current else None,
            )
        )
    return out


def run_out(run: AgentRun, name: str) -> AgentRunOut:
    return AgentRunOut(
        id=run.id,
        agent_id=run.agent_id,
        agent_name=name,
        version=run.version,
        team_id=run.team_id,
        created_by=run.created_by,
        status=run.status,
        stop_reason=run.stop_reason,
        source=run.source,
        input=run.input or [],
        output=run.output,
        steps=run.steps,
        prompt_tokens=run.prompt_tokens,
        completion_tokens=run.completion_tokens,
        cost=run.cost,
        latency_ms=run.latency_ms,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def step_out(s: AgentStep) -> AgentStepOut:
    return AgentStepOut.model_validate(s, from_attributes=True)


def approval_out(a: AgentApproval) -> AgentApprovalOut:
    return AgentApprovalOut.model_validate(a, from_attributes=True)


async def run_detail(session, run: AgentRun) -> AgentRunDetail:
    names = await service.agent_names(session, {run.agent_id})
    steps, approvals = await service.trace(session, run.id)
    return AgentRunDetail(
        **run_out(run, names.get(run.agent_id, "")).model_dump(),
        trace=[step_out(s) for s in steps],
        approvals=[approval_out(a) for a in approvals],
    )


# --- agents ----------------------------------------------------------------------------------


@router.post("/agents", status_code=201)
async def create_agent(body: AgentCreate, principal: Writer, session: Session) -> AgentOut:
    return (await agents_out(session, [await service.create_agent(session, principal, body)]))[0]


@router.get("/agents")
async def list_agents(
    principal: Reader, session: Session, limit: Limit = 50, cursor: str | None = None, archived: bool = False
) -> AgentPage:
    rows, next_cursor = await service.list_agents(session, principal, cursor, limit, archived)
    return AgentPage(items=await agents_out(session, rows), next_cursor=next_cursor)


@router.get("/agents/{agent_id}")
async def get_agent(agent_id: uuid.UUID, principal: Reader, session: Session) -> AgentOut:
    return (await agents_out(session, [await service.get_agent(session, principal, agent_id)]))[0]


@router.patch("/agents/{agent_id}")
async def update_agent(agent_id: uuid.UUID, body: AgentUpdate, principal: Writer, session: Session) -> AgentOut:
    return (await agents_out(session, [await service.update_agent(session, principal, agent_id, body)]))[0]


@router.delete("/agents/{agent_id}", status_code=204)
async def delete_agent(agent_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await service.delete_agent(session, principal, agent_id)


@router.post("/agents/{agent_id}/versions", status_code=201)
async def create_agent_version(
    agent_id: uuid.UUID, body: AgentVersionIn, principal: Writer, session: Session
) -> AgentVersionOut:
    return version_out(await service.create_version(session, principal, agent_id, body))


@router.get("/agents/{agent_id}/versions")
async def list_agent_versions(agent_id: uuid.UUID, principal: Reader, session: Session) -> AgentVersionPage:
    return AgentVersionPage(items=[version_out(v) for v in await service.list_versions(session, principal, agent_id)])


# --- runs ------------------------------------------------------------------------------------


def sse(run_id: uuid.UUID, events: AsyncIterator[tuple[str, dict]]) -> StreamingResponse:
    """The events as SSE, the first one `run` with the run's id. The loop runs in its own task, so a client
    going away does not stop the run."""
    queue: asyncio.Queue = asyncio.Queue()
    queue.put_nowait(("run", {"run_id": str(run_id)}))

    async def pump() -> None:
        try:
            async for event in events:
                queue.put_nowait(event)
        except Exception as exc:  # the run's own end is recorded by the loop; tell the client too
            queue.put_nowait(("error", {"message": type(exc).__name__}))
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(pump())

    async def body():
        while (item := await queue.get()) is not None:
            kind, data = item
            yield b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        await task

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _drain(events: AsyncIterator[tuple[str, dict]]) -> None:
    async for _ in events:
        pass


async def _detail(state, principal: Principal, run_id: uuid.UUID) -> AgentRunDetail:
    async with state.db.sessionmaker() as session:
        return await run_detail(session, await service.get_run(session, principal, run_id))


@router.post("/agents/{agent_id}/runs", status_code=201, responses=SSE)
async def run_agent(agent_id: uuid.UUID, body: AgentRunCreate, principal: Writer, state: State) -> AgentRunDetail:
    ctx = await runs.start(state, principal, agent_id, runs.input_messages(body.input), version=body.version)
    from .runner import drive

    if body.stream:
        return sse(ctx.run_id, drive(ctx))  # type: ignore[return-value]
    await _drain(drive(ctx))
    return await _detail(state, principal, ctx.run_id)


@router.get("/runs")
async def list_agent_runs(
    principal: Reader,
    session: Session,
    agent_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> AgentRunPage:
    rows, next_cursor = await service.list_runs(session, principal, agent_id, cursor, limit)
    names = await service.agent_names(session, {r.agent_id for r in rows})
    return AgentRunPage(items=[run_out(r, names.get(r.agent_id, "")) for r in rows], next_cursor=next_cursor)


@router.get("/runs/{run_id}")
async def get_agent_run(run_id: uuid.UUID, principal: Reader, session: Session) -> AgentRunDetail:
    return await run_detail(session, await service.get_run(session, principal, run_id))


@router.post("/runs/{run_id}/approvals/{approval_id}", responses=SSE)
async def decide_approval(
    run_id: uuid.UUID,
    approval_id: uuid.UUID,
    body: ApprovalDecision,
    principal: Writer,
    state: State,
    stream: bool = False,
) -> AgentRunDetail:
    """Approve or reject a call the run waits for. The last decision resumes the run in this request:
    the answer is the run afterwards (or its events with `?stream=true`)."""
    _, claimed = await runs.decide(state, principal, run_id, approval_id, body.approve, body.comment)
    if claimed:
        if stream:
            return sse(run_id, runs.resume(state, run_id))  # type: ignore[return-value]
        await _drain(runs.resume(state, run_id))
    return await _detail(state, principal, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_agent_run(run_id: uuid.UUID, principal: Writer, session: Session) -> AgentRunOut:
    run = await runs.cancel(session, principal, run_id)
    names = await service.agent_names(session, {run.agent_id})
    return run_out(run, names.get(run.agent_id, ""))
