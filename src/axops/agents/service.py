"""Agents and their versions (CRUD, audited), and the reads of runs and their traces.

An agent's name is unique across the installation (case-insensitively): `/v1` callers name it
`agent:NAME`. Versions are immutable and numbered without gaps under the agent's row lock. Tools
attached to a version must be ones the caller sees (`tools.service.get_tool`): another team's tool
answers 404 like a missing one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, visible
from axops.core.errors import Conflict, NotFound
from axops.core.pagination import page_of, paginate_desc

from .models import Agent, AgentApproval, AgentRun, AgentStep, AgentVersion
from .schemas import AgentCreate, AgentUpdate, AgentVersionIn


def _not_found() -> NotFound:
    return NotFound("No such agent.", code="agent_not_found")


def _changed(session: AsyncSession, agent: Agent, action: str, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="agent",
        resource_id=agent.id,
        team_id=agent.team_id,
        summary={"name": agent.name, **summary},
    )


async def get_agent(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, for_update: bool = False
) -> Agent:
    q = select(Agent).where(Agent.id == agent_id, visible(principal, Agent))
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    agent = await session.scalar(q)
    if agent is None:
        raise _not_found()
    return agent


async def get_agent_by_name(session: AsyncSession, principal: Principal, name: str) -> Agent:
    agent = await session.scalar(select(Agent).where(func.lower(Agent.name) == name.lower(), visible(principal, Agent)))
    if agent is None or agent.archived_at is not None:
        raise NotFound(f"No agent named '{name}'.", code="agent_not_found", name=name)
    return agent


async def _check_tools(session: AsyncSession, principal: Principal, tool_ids: list[uuid.UUID]) -> None:
    from axops.tools import service as tools

    for tool_id in tool_ids:
        await tools.get_tool(session, principal, tool_id)  # NotFound for another team's tool


async def _check_prompt(session: AsyncSession, principal: Principal, ref: dict | None) -> None:
    if ref is not None:
        await resolve_prompt(session, principal, ref)


async def resolve_prompt(session: AsyncSession, principal: Principal, ref: dict) -> str:
    """The system prompt a saved-prompt reference stands for (a text prompt, or a chat prompt's system messages)."""
    from axops.prompts import service as prompts

    prompt = await prompts.get_prompt(session, principal, ref["name"])
    version = await prompts.select_version(session, prompt, ref.get("label"), ref.get("version"))
    template = version.template
    if isinstance(template, str):
        return template
    return "\n\n".join(str(m.get("content") or "") for m in template if isinstance(m, dict))


async def create_agent(session: AsyncSession, principal: Principal, data: AgentCreate) -> Agent:
    team_id = owning_team(principal, data.team_id)
    if await session.scalar(select(Agent.id).where(func.lower(Agent.name) == data.name.lower())):
        raise Conflict(f"An agent named '{data.name}' exists already.", code="agent_name_taken", name=data.name)
    agent = Agent(
        name=data.name,
        description=data.description,
        team_id=team_id,
        visibility=data.visibility,
        created_by=principal.user_id if principal.auth != "system" else None,
        latest_version=0,
    )
    session.add(agent)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"An agent named '{data.name}' exists already.", code="agent_name_taken", name=data.name
        ) from exc
    _changed(session, agent, "agent.create", visibility=agent.visibility)
    await add_version(session, principal, agent, data.version)
    await session.refresh(agent)
    return agent


async def add_version(session: AsyncSession, principal: Principal, agent: Agent, data: AgentVersionIn) -> AgentVersion:
    require_owner(principal, agent, "agents:write", "agent")
    if agent.archived_at is not None:
        raise Conflict("The agent is archived: unarchive it first.", code="agent_archived")
    await _check_tools(session, principal, data.tool_ids)
    prompt_ref = data.prompt.model_dump(exclude_none=True) if data.prompt else None
    await _check_prompt(session, principal, prompt_ref)
    agent.latest_version += 1
    version = AgentVersion(
        agent_id=agent.id,
        version=agent.latest_version,
        route=data.route,
        system_prompt=data.system_prompt,
        prompt_ref=prompt_ref,
        tool_ids=list(dict.fromkeys(data.tool_ids)),
        limits=data.limits.model_dump(),
        params=data.params.model_dump(exclude_none=True),
        message=data.message,
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(version)
    await session.flush()
    _changed(
        session, agent, "agent.version_create", version=version.version, route=data.route, tools=len(version.tool_ids)
    )
    return version


async def create_version(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, data: AgentVersionIn
) -> AgentVersion:
    agent = await get_agent(session, principal, agent_id, for_update=True)
    return await add_version(session, principal, agent, data)


async def update_agent(session: AsyncSession, principal: Principal, agent_id: uuid.UUID, data: AgentUpdate) -> Agent:
    agent = await get_agent(session, principal, agent_id, for_update=True)
    require_owner(principal, agent, "agents:write", "agent")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    archived = changes.pop("archived", None)
    before = {k: getattr(agent, k) for k in changes}
    if change := audit.diff(before, changes):
        for k, v in changes.items():
            setattr(agent, k, v)
        await session.flush()
        _changed(session, agent, "agent.update", **change)
    if archived is not None and (agent.archived_at is not None) != archived:
        agent.archived_at = datetime.now(UTC) if archived else None
        await session.flush()
        _changed(session, agent, "agent.archive" if archived else "agent.unarchive")
    await session.refresh(agent)
    return agent


async def delete_agent(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> None:
    agent = await get_agent(session, principal, agent_id, for_update=True)
    require_owner(principal, agent, "agents:write", "agent")
    if await session.scalar(
        select(AgentRun.id)
        .where(AgentRun.agent_id == agent.id, AgentRun.status.in_(("running", "waiting_approval")))
        .limit(1)
    ):
        raise Conflict("The agent has runs in progress: cancel them first.", code="agent_runs_active")
    _changed(session, agent, "agent.delete")
    await session.delete(agent)
    await session.flush()


async def list_agents(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int, archived: bool = False
) -> tuple[list[Agent], str | None]:
    q = select(Agent).where(visible(principal, Agent))
    q = q.where(Agent.archived_at.is_not(None) if archived else Agent.archived_at.is_(None))
    rows = (await session.scalars(paginate_desc(q, Agent.created_at, Agent.id, cursor, limit))).all()
    return page_of(list(rows), limit)


async def get_version(session: AsyncSession, agent: Agent, number: int | None = None) -> AgentVersion:
    number = number or agent.latest_version
    version = await session.scalar(
        select(AgentVersion).where(AgentVersion.agent_id == agent.id, AgentVersion.version == number)
    )
    if version is None:
        raise NotFound(f"The agent has no version {number}.", code="agent_version_not_found", version=number)
    return version


async def versions_of(session: AsyncSession, agent_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, int], AgentVersion]:
    rows = (await session.scalars(select(AgentVersion).where(AgentVersion.agent_id.in_(agent_ids)))).all()
    return {(v.agent_id, v.version): v for v in rows}


async def list_versions(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> list[AgentVersion]:
    agent = await get_agent(session, principal, agent_id)
    return list(
        (
            await session.scalars(
                select(AgentVersion).where(AgentVersion.agent_id == agent.id).order_by(AgentVersion.version.desc())
            )
        ).all()
    )


# --- runs ------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID, for_update: bool = False) -> AgentRun:
    """Runs are never organisation-wide: the run's team's members (and Admins) see it."""
    q = select(AgentRun).where(AgentRun.id == run_id)
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    run = await session.scalar(q)
    if run is None or not principal.sees_team(run.team_id):
        raise NotFound("No such agent run.", code="agent_run_not_found")
    return run


async def list_runs(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID | None, cursor: str | None, limit: int
) -> tuple[list[AgentRun], str | None]:
    from axops.auth.scoping import team_clause

    q = select(AgentRun).where(team_clause(principal, AgentRun.team_id))
    if agent_id is not None:
        await get_agent(session, principal, agent_id)
        q = q.where(AgentRun.agent_id == agent_id)
    rows = (await session.scalars(paginate_desc(q, AgentRun.created_at, AgentRun.id, cursor, limit))).all()
    return page_of(list(rows), limit)


async def trace(session: AsyncSession, run_id: uuid.UUID) -> tuple[list[AgentStep], list[AgentApproval]]:
    steps = (await session.scalars(select(AgentStep).where(AgentStep.run_id == run_id).order_by(AgentStep.index))).all()
    approvals = (
        await session.scalars(
            select(AgentApproval).where(AgentApproval.run_id == run_id).order_by(AgentApproval.created_at)
        )
    ).all()
    return list(steps), list(approvals)


async def agent_names(session: AsyncSession, agent_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not agent_ids:
        return {}
    return dict((await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))).all())
