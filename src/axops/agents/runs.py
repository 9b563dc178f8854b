"""Starting, resuming, deciding and cancelling agent runs (the loop itself is `runner.py`).

A run starts in the caller's request: the version's system prompt (or saved prompt) is resolved, the
tools the caller sees are turned into OpenAI entries, a key is issued to the caller for the run's
gateway calls (`llm.issue_key`, kept encrypted on the run until it ends), and the run row is committed
before the first model call so its trace can be read while it goes on. Deciding the last pending
approval claims the run (`waiting_approval` → `running` under the row lock, so it resumes once) and
the loop goes on in that request, as the creator."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from sqlalchemy import select

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import User
from axops.auth.scoping import require_owner
from axops.auth.service import principal_of
from axops.core import crypto
from axops.core.errors import AppError, Conflict, NotFound
from axops.core.ids import uuid7

from . import llm, runner, service
from .models import AgentApproval, AgentRun
from .runner import DECLINED, Context, Tool


def input_messages(value: str | list) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [m if isinstance(m, dict) else m.model_dump(exclude_none=True) for m in value]


async def _tools(session, principal: Principal, tool_ids: list[uuid.UUID]) -> tuple[dict[str, Tool], list[dict]]:
    if not tool_ids:
        return {}, []
    from axops.tools import service as tools

    specs = await tools.openai_tools(session, principal, list(tool_ids))
    by_name: dict[str, Tool] = {}
    for tool_id in tool_ids:
        t = await tools.get_tool(session, principal, tool_id)
        entry = Tool(
            id=t.id, name=t.name, requires_approval=bool(t.requires_approval), timeout_s=float(t.timeout_s or 30)
        )
        if t.archived_at is not None:
            entry.unavailable = f"The tool '{t.name}' is archived."
        else:  # read once for the run: a step reads no tool rows
            try:
                entry.row, entry.version = t, await tools.get_version(session, t)
            except AppError as exc:
                entry.unavailable = exc.detail
        by_name[t.name] = entry
    return by_name, specs


async def start(
    state,
    principal: Principal,
    agent_id: uuid.UUID | None,
    messages: list[dict],
    *,
    version: int | None = None,
    agent_name: str | None = None,
    source: str = "api",
) -> Context:
    """A new run of an agent the caller sees (by id, or by name for `/v1`), committed and ready to drive."""
    async with state.db.sessionmaker() as session:
        if agent_name is not None:
            agent = await service.get_agent_by_name(session, principal, agent_name)
        else:
            agent = await service.get_agent(session, principal, agent_id)
        if agent.archived_at is not None:
            raise Conflict("The agent is archived: unarchive it first.", code="agent_archived")
        # an organisation-wide agent is visible to all, but its runs belong to its team: members only
        require_owner(principal, agent, "agents:write", "agent")
        v = await service.get_version(session, agent, version)
        system = v.system_prompt
        if v.prompt_ref:
            system = await service.resolve_prompt(session, principal, v.prompt_ref)
        tools_by_name, specs = await _tools(session, principal, v.tool_ids)
        conversation = ([{"role": "system", "content": system}] if system else []) + messages
        run = AgentRun(
            id=uuid7(),
            agent_id=agent.id,
            version=v.version,
            team_id=agent.team_id,
            created_by=principal.user_id,
            status="running",
            source=source,
            input=runner.masked(messages),
        )
        created = await llm.issue_key(session, principal, run.id)
        run.api_key_id, run.api_key_secret = created.id, crypto.encrypt(state.secret_key, created.key)
        session.add(run)
        await session.flush()
        audit.record(
            session,
            "agent.run_start",
            resource_type="agent_run",
            resource_id=run.id,
            team_id=agent.team_id,
            summary={"agent": agent.name, "version": v.version, "source": source},
        )
        await session.commit()
    return Context(
        state=state,
        principal=principal,
        run_id=run.id,
        route=v.route,
        params=dict(v.params or {}),
        limits=dict(v.limits or {}),
        tools=tools_by_name,
        tool_specs=specs,
        key=created.key,
        messages=conversation,
        started=time.perf_counter(),
    )


async def decide(
    state, principal: Principal, run_id: uuid.UUID, approval_id: uuid.UUID, approve: bool, comment: str
) -> tuple[AgentApproval, bool]:
    """Record a decision; True when it was the last pending one and the run was claimed to resume."""
    async with state.db.sessionmaker() as session:
        run = await service.get_run(session, principal, run_id, for_update=True)
        approval = await session.scalar(
            select(AgentApproval).where(AgentApproval.id == approval_id, AgentApproval.run_id == run.id)
        )
        if approval is None:
            raise NotFound("No such approval on this run.", code="agent_approval_not_found")
        service_require_decider(principal, run)
        if approval.status != "pending" or run.status != "waiting_approval":
            raise Conflict("This call was decided already.", code="agent_approval_decided", decision=approval.status)
        approval.status = "approved" if approve else "rejected"
        approval.comment = runner.masked(comment) if comment else None
        approval.decided_by, approval.decided_at = principal.user_id, datetime.now(UTC)
        await session.flush()
        audit.record(
            session,
            "agent.approval_" + approval.status,
            resource_type="agent_run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"tool": approval.tool_name, "tool_call_id": approval.tool_call_id},
        )
        left = await session.scalar(
            select(AgentApproval.id).where(AgentApproval.run_id == run.id, AgentApproval.status == "pending").limit(1)
        )
        claimed = left is None
        if claimed:
            run.status = "running"
        await session.commit()
        await session.refresh(approval)
        return approval, claimed


def service_require_decider(principal: Principal, run: AgentRun) -> None:
    from axops.auth.scoping import require_owner

    require_owner(principal, run, "agents:write", "agent run")


async def resume(state, run_id: uuid.UUID) -> AsyncIterator[tuple[str, dict]]:
    """Continue a claimed run: decided calls run (approved) or are declined (rejected), then the loop."""
    async with state.db.sessionmaker() as session:
        run = await session.get(AgentRun, run_id)
        creator = await session.get(User, run.created_by) if run.created_by else None
        blob = orjson.loads(crypto.decrypt(state.secret_key, run.conversation or "") or "null")
        key = crypto.decrypt(state.secret_key, run.api_key_secret or "")
        if creator is None or not creator.is_active or blob is None or key is None:
            ctx_fail = True
        else:
            ctx_fail = False
            principal = await principal_of(session, creator)
            agent = await service.get_agent(session, principal, run.agent_id)
            v = await service.get_version(session, agent, run.version)
            tools_by_name, specs = await _tools(session, principal, v.tool_ids)
            decisions = {
                a.tool_call_id: a
                for a in (await session.scalars(select(AgentApproval).where(AgentApproval.run_id == run.id))).all()
            }
            index = await runner.next_index(session, run.id)
            totals = (run.steps, run.prompt_tokens + run.completion_tokens, run.cost, run.latency_ms)
    if ctx_fail:
        async with state.db.sessionmaker() as session:
            run = await session.get(AgentRun, run_id, with_for_update=True)
            run.status, run.stop_reason, run.finished_at = "failed", "the run can no longer resume", datetime.now(UTC)
            run.conversation = run.api_key_secret = None
            if run.api_key_id:
                await llm.revoke_key(session, run.api_key_id)
            await session.commit()
        yield "done", {"status": "failed", "stop_reason": "the run can no longer resume"}
        return
    ctx = Context(
        state=state,
        principal=principal,
        run_id=run_id,
        route=v.route,
        params=dict(v.params or {}),
        limits=dict(v.limits or {}),
        tools=tools_by_name,
        tool_specs=specs,
        key=key,
        messages=blob["messages"],
        # the seconds limit counts the run's working time, not the time it waited for a person
        started=time.perf_counter() - totals[3] / 1000,
        next_index=index,
        steps=totals[0],
        tokens=totals[1],
        cost=totals[2],
        call_share=float(blob.get("share") or 0.0),
    )
    results: dict = dict(blob["results"])
    approved = [
        c
        for c in blob["calls"]
        if c.get("id") not in results
        and decisions.get(str(c.get("id")))
        and decisions[str(c.get("id"))].status == "approved"
    ]
    for c in blob["calls"]:
        d = decisions.get(str(c.get("id")))
        if c.get("id") not in results and d is not None and d.status == "rejected":
            results[c.get("id")] = f"Error (rejected): {DECLINED}" + (f" Comment: {d.comment}" if d.comment else "")
    if approved:
        async for kind, data in runner.run_calls(ctx, approved, blob["group"]):
            if kind == "_results":
                results.update(data["results"])
            else:
                yield kind, data
    ctx.messages.extend(
        {"role": "tool", "tool_call_id": c.get("id"), "content": results.get(c.get("id"), "")} for c in blob["calls"]
    )
    async for event in runner.drive(ctx):
        yield event


async def cancel(session, principal: Principal, run_id: uuid.UUID) -> AgentRun:
    run = await service.get_run(session, principal, run_id, for_update=True)
    service_require_decider(principal, run)
    if run.status not in ("running", "waiting_approval"):
        raise Conflict("The run has ended already.", code="agent_run_ended", run_status=run.status)
    waiting = run.status == "waiting_approval"
    run.status, run.stop_reason = "cancelled", "cancelled"
    if waiting:  # no loop holds it: end it here
        run.finished_at, run.conversation, run.api_key_secret = datetime.now(UTC), None, None
        if run.api_key_id:
            await llm.revoke_key(session, run.api_key_id)
    await session.flush()
    audit.record(session, "agent.run_cancel", resource_type="agent_run", resource_id=run.id, team_id=run.team_id)
    return run
