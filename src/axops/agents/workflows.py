"""Workflows: team-owned, named, with immutable numbered versions of their graph, and runs.

A run happens in the request (bounded by the version's `limits.max_seconds`): model calls go through
the gateway over HTTP with a key issued to the caller for this run and revoked at its end
(agents/llm.py), tool calls through the tool registry (`tools.service.call_tool`), saved prompts
through the prompt registry. A run writes its own short transactions (`run_workflow`): the `running`
row at its start, its end and node traces at once when it ends; no connection is held while it
works. The other services flush, never commit; every change is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops import pii
from axops.agents import llm
from axops.agents.workflow_engine import Deps, Engine, ModelAnswer, NodeFailed, PromptContent, capped, masked
from axops.agents.workflow_graph import Graph, build
from axops.agents.workflow_models import Workflow, WorkflowNodeRun, WorkflowRun, WorkflowVersion
from axops.agents.workflow_schemas import Definition, WorkflowCreate, WorkflowRunIn, WorkflowVersionIn
from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, team_clause
from axops.core.errors import AppError, Conflict, Invalid, NotFound
from axops.core.ids import uuid7
from axops.core.pagination import page_of, paginate_desc
from axops.prompts import service as prompts
from axops.tools.outcome import ToolOutcome

_TYPES = {"string": str, "number": (int, float), "integer": int, "list": list, "object": dict}


def _not_found(workflow_id) -> NotFound:
    return NotFound("No such workflow.", code="workflow_not_found", workflow_id=str(workflow_id))


def _actor(principal: Principal) -> uuid.UUID | None:
    return principal.user_id if principal.auth != "system" else None


def _audit(session: AsyncSession, wf: Workflow, action: str, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="workflow",
        resource_id=wf.id,
        team_id=wf.team_id,
        summary={"name": wf.name, **summary},
    )


async def get_workflow(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, for_update: bool = False
) -> Workflow:
    """Another team's workflow answers 404, as a missing one does."""
    q = select(Workflow).where(Workflow.id == workflow_id, team_clause(principal, Workflow.team_id))
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    wf = await session.scalar(q)
    if wf is None:
        raise _not_found(workflow_id)
    return wf


def _refuse_archived(wf: Workflow) -> None:
    if wf.archived_at is not None:
        raise Conflict(f"The workflow '{wf.name}' is archived.", code="workflow_archived", name=wf.name)


def checked(definition: Definition) -> Graph:
    return build(definition)


async def create_workflow(session: AsyncSession, principal: Principal, data: WorkflowCreate) -> Workflow:
    require_owner_of_team = owning_team(principal, data.team_id)
    if data.version is not None:
        checked(data.version.definition)  # refused before anything is written
    taken = await session.scalar(
        select(Workflow.id).where(
            Workflow.team_id == require_owner_of_team, func.lower(Workflow.name) == data.name.lower()
        )
    )
    if taken:
        raise Conflict(
            f"A workflow named '{data.name}' exists in the team.", code="workflow_name_taken", name=data.name
        )
    wf = Workflow(
        name=data.name,
        description=data.description,
        team_id=require_owner_of_team,
        created_by=_actor(principal),
        latest_version=0,
    )
    require_owner(principal, wf, "agents:write", "workflow")
    session.add(wf)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A workflow named '{data.name}' exists in the team.", code="workflow_name_taken", name=data.name
        ) from exc
    _audit(session, wf, "workflow.create")
    if data.version is not None:
        await create_version(session, principal, wf.id, data.version)
    await session.refresh(wf)
    return wf


async def set_archived(session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, archived: bool) -> Workflow:
    wf = await get_workflow(session, principal, workflow_id, for_update=True)
    require_owner(principal, wf, "agents:write", "workflow")
    if (wf.archived_at is not None) != archived:
        wf.archived_at = datetime.now(UTC) if archived else None
        await session.flush()
        _audit(session, wf, "workflow.archive" if archived else "workflow.unarchive")
        await session.refresh(wf)
    return wf


async def list_workflows(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None = None,
    include_archived: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Workflow], str | None, int | None]:
    query = select(Workflow).where(team_clause(principal, Workflow.team_id))
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Workflow.name.ilike(like, escape="\\"))
    if not include_archived:
        query = query.where(Workflow.archived_at.is_(None))
    total = None if cursor else await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list((await session.scalars(paginate_desc(query, Workflow.created_at, Workflow.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return rows, next_cursor, total


# --- versions --------------------------------------------------------------------------------


async def create_version(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, data: WorkflowVersionIn
) -> WorkflowVersion:
    """The next version, numbered under the workflow row's lock (no gaps, no duplicates)."""
    checked(data.definition)
    wf = await get_workflow(session, principal, workflow_id, for_update=True)
    require_owner(principal, wf, "agents:write", "workflow")
    _refuse_archived(wf)
    wf.latest_version += 1
    wf.updated_at = datetime.now(UTC)
    version = WorkflowVersion(
        workflow_id=wf.id,
        version=wf.latest_version,
        definition=data.definition.model_dump(mode="json"),
        message=data.message,
        created_by=_actor(principal),
    )
    session.add(version)
    await session.flush()
    _audit(session, wf, "workflow.version_create", version=version.version, nodes=len(data.definition.nodes))
    await session.refresh(version)
    return version


async def get_version(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, number: int | None = None
) -> tuple[Workflow, WorkflowVersion]:
    wf = await get_workflow(session, principal, workflow_id)
    number = number or wf.latest_version
    version = await session.scalar(
        select(WorkflowVersion).where(WorkflowVersion.workflow_id == wf.id, WorkflowVersion.version == number)
    )
    if version is None:
        raise NotFound(
            f"The workflow '{wf.name}' has no version {number}."
            if number
            else f"The workflow '{wf.name}' has no version yet.",
            code="workflow_version_not_found",
            version=number,
        )
    return wf, version


async def list_versions(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, limit: int = 200
) -> list[WorkflowVersion]:
    wf = await get_workflow(session, principal, workflow_id)
    q = select(WorkflowVersion).where(WorkflowVersion.workflow_id == wf.id)
    return list((await session.scalars(q.order_by(WorkflowVersion.version.desc()).limit(limit))).all())


# --- runs ------------------------------------------------------------------------------------


def _checked_inputs(definition: Definition, given: dict) -> dict:
    declared = {i.name: i for i in definition.inputs}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise Invalid(f"Unknown input '{unknown[0]}'.", code="workflow_input_invalid", input=unknown[0])
    values = {}
    for name, spec in declared.items():
        value = given.get(name)
        if value is None:
            if spec.required:
                raise Invalid(f"The input '{name}' is required.", code="workflow_input_invalid", input=name)
            values[name] = None
            continue
        ok = (
            isinstance(value, bool)
            if spec.type == "boolean"
            else (not isinstance(value, bool) and isinstance(value, _TYPES[spec.type]))
        )
        if not ok:
            raise Invalid(f"The input '{name}' must be of type {spec.type}.", code="workflow_input_invalid", input=name)
        values[name] = value
    return values


def _deps(principal: Principal, state, http, key: str | None) -> Deps:
    """The engine's calls. None holds a PostgreSQL connection while a model or a tool works: reads and
    the tool's call record are short transactions of their own."""
    from axops.tools import service as tools

    async def chat(body: dict) -> ModelAnswer:
        if key is None:  # cannot happen: a key is issued whenever the graph has a model node
            return ModelAnswer(None, error="no gateway key for this run")
        r = await llm.chat(http, state.settings.control_url, key, body)
        content = r.message.get("content") if r.ok else None
        return ModelAnswer(content, r.prompt_tokens, r.completion_tokens, r.cost, r.latency_ms, r.error)

    async def call_tool(tool_id: str, arguments: dict) -> ToolOutcome:
        if not isinstance(arguments, dict):
            return ToolOutcome(ok=False, error_kind="invalid_arguments", error="The arguments are not an object.")
        try:
            async with state.db.sessionmaker() as session:
                tool, version = await tools.resolve(session, principal, uuid.UUID(tool_id))
        except AppError as exc:  # another team's or an archived tool: the node fails, the run records why
            return ToolOutcome(ok=False, error_kind="unavailable", error=exc.detail)
        if tool.requires_approval:  # checked per call: the flag may be set after the workflow was saved
            return ToolOutcome(
                ok=False,
                error_kind="unavailable",
                error=f"The tool '{tool.name}' needs a person's approval for each call; a workflow cannot "
                "pause for one (run it from an agent).",
            )
        outcome = await tools.run_resolved(
            state.db.sessionmaker, principal, tool, version, arguments, secret=state.secret_key, settings=state.settings
        )
        async with state.db.sessionmaker() as session:
            session.add(tools.call_record(principal, tool, version, outcome))
            await session.commit()
        return outcome

    async def prompt(name: str, version: int | None, label: str | None) -> PromptContent:
        try:
            async with state.db.sessionmaker() as session:
                p = await prompts.get_prompt(session, principal, name)
                if p.archived_at is not None:
                    raise NodeFailed(f"The prompt '{name}' is archived.")
                v = await prompts.select_version(session, p, label, version)
        except AppError as exc:
            raise NodeFailed(exc.detail) from None
        return PromptContent(v.kind, v.template, v.variables, v.binding)

    return Deps(chat=chat, call_tool=call_tool, prompt=prompt)


async def run_workflow(state, principal: Principal, workflow_id: uuid.UUID, data: WorkflowRunIn) -> WorkflowRun:
    """Run a version in the caller's request, in short transactions of its own: the run row (`running`)
    and the run's key are committed before the graph runs, the engine holds no connection, and the end
    (status, node traces, the key revoked, the audit event) lands in one transaction. A run whose
    process died stays `running` until `fail_stale_runs` ends it."""
    async with state.db.sessionmaker() as session:
        wf, version = await get_version(session, principal, workflow_id, data.version)
        require_owner(principal, wf, "agents:write", "workflow")
        _refuse_archived(wf)
        definition = Definition.model_validate(version.definition)
        graph = checked(definition)
        inputs = _checked_inputs(definition, data.input)
        run = WorkflowRun(
            id=uuid7(),
            workflow_id=wf.id,
            version=version.version,
            team_id=wf.team_id,
            created_by=_actor(principal),
            status="running",
            input=capped(masked(inputs)),
            totals={},
            started_at=datetime.now(UTC),
        )
        session.add(run)
        key_id, key = None, None
        if graph.model_nodes:  # committed now: the gateway must know the key
            created = await llm.issue_key(session, principal, run.id, prefix="workflow-run")
            key_id, key = created.id, created.key
            run.api_key_id = key_id
        await session.commit()
    result = None
    try:
        async with aiohttp.ClientSession() as http:
            result = await Engine(graph, definition.limits, _deps(principal, state, http, key)).run(inputs)
    finally:
        async with state.db.sessionmaker() as session:
            run = await session.get(WorkflowRun, run.id, with_for_update=True)
            if result is None:  # the engine itself raised (or the request was cancelled)
                run.status, run.error = "failed", "The run stopped before it finished."
            else:
                # a tool's or model's error may echo its arguments: masked like every other trace value
                run.status, run.error_node = result.status, result.error_node
                run.error = pii.redact(result.error) if result.error else None
                run.output = capped(masked(result.output)) if result.output is not None else None
                result.totals["cost"] = round(result.totals["cost"], 8)
                run.totals = result.totals
                session.add_all(
                    WorkflowNodeRun(
                        run_id=run.id,
                        seq=seq,
                        node_id=t.node_id,
                        node_type=t.node_type,
                        iteration=t.iteration,
                        status=t.status,
                        input=t.input,
                        output=t.output,
                        latency_ms=t.latency_ms,
                        prompt_tokens=t.prompt_tokens,
                        completion_tokens=t.completion_tokens,
                        cost=t.cost,
                        error=pii.redact(t.error) if t.error else None,
                    )
                    for seq, t in enumerate(result.traces)
                )
            run.finished_at = datetime.now(UTC)
            if key_id is not None:
                await llm.revoke_key(session, key_id)
            await session.flush()
            _audit(session, wf, "workflow.run", run_id=str(run.id), version=version.version, status=run.status)
            await session.commit()
    return run


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> tuple[WorkflowRun, list]:
    run = await session.scalar(
        select(WorkflowRun).where(WorkflowRun.id == run_id, team_clause(principal, WorkflowRun.team_id))
    )
    if run is None:
        raise NotFound("No such workflow run.", code="workflow_run_not_found", run_id=str(run_id))
    nodes = await session.scalars(
        select(WorkflowNodeRun).where(WorkflowNodeRun.run_id == run.id).order_by(WorkflowNodeRun.seq)
    )
    return run, list(nodes.all())


def run_out(run: WorkflowRun, nodes: list[WorkflowNodeRun]) -> dict[str, Any]:
    return {
        **{c: getattr(run, c) for c in ("id", "workflow_id", "version", "team_id", "created_by", "status")},
        **{c: getattr(run, c) for c in ("input", "output", "error", "error_node", "totals", "started_at")},
        "finished_at": run.finished_at,
        "nodes": [
            {
                c: getattr(n, c)
                for c in (
                    "seq",
                    "node_id",
                    "node_type",
                    "iteration",
                    "status",
                    "input",
                    "output",
                    "latency_ms",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost",
                    "error",
                )
            }
            for n in nodes
        ],
    }
