"""The tool registry's public API: tools and their immutable numbered versions, OpenAPI imports, the
OpenAI `tools` entries agents send to a model, and calling a tool (`call_tool`).

Services flush, never commit; every change is audited in the same transaction. Credentials are
encrypted with the server's secret (core/crypto) and leave this module only towards the tool's own
server: responses say `has_credential`, audit events name no value. Another team's tool answers 404
like a missing one. Calls are recorded in `tool_calls` (analytics.py reads them)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, visible
from axops.core import crypto
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.pagination import page_of, paginate_desc
from axops.guardrails import checks
from axops.tools import dataset_files, http_runner, openapi_import, python_runner, safe_schema
from axops.tools.models import McpServer, Tool, ToolCall, ToolVersion
from axops.tools.outcome import ToolOutcome
from axops.tools.schemas import TOOL_NAME_PATTERN, ToolCreate, ToolUpdate, ToolVersionIn

MAX_ERROR_CHARS = 500
Validator = safe_schema.Validator  # bounded `pattern` matching (a ReDoS pattern cannot hold the loop)


def _not_found(tool_id: Any) -> NotFound:
    return NotFound("No such tool.", code="tool_not_found", tool_id=str(tool_id))


def _changed(session: AsyncSession, tool: Tool, action: str, **summary: Any) -> None:
    audit.record(
        session,
        action,
        resource_type="tool",
        resource_id=tool.id,
        team_id=tool.team_id,
        summary={"name": tool.name, "kind": tool.kind, **summary},
    )


async def get_tool(session: AsyncSession, principal: Principal, tool_id: uuid.UUID, for_update: bool = False) -> Tool:
    q = select(Tool).where(Tool.id == tool_id, visible(principal, Tool))
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    tool = await session.scalar(q)
    if tool is None:
        raise _not_found(tool_id)
    return tool


async def get_version(session: AsyncSession, tool: Tool, version: int | None = None) -> ToolVersion:
    number = tool.latest_version if version is None else version
    row = await session.scalar(select(ToolVersion).where(ToolVersion.tool_id == tool.id, ToolVersion.version == number))
    if row is None:
        raise NotFound(f"The tool has no version {number}.", code="tool_version_not_found", version=number)
    return row


def _refuse_archived(tool: Tool) -> None:
    if tool.archived_at is not None:
        raise Conflict(f"The tool '{tool.name}' is archived.", code="tool_archived", name=tool.name)


def check_version(kind: str, parameters: dict, spec: dict) -> tuple[dict, dict]:
    """The stored parameters and spec, or 422 `tool_parameters_invalid` / `tool_spec_invalid`."""
    if safe_schema.depth(parameters) > safe_schema.MAX_DEPTH:
        raise Invalid(
            f"The parameter schema nests more than {safe_schema.MAX_DEPTH} levels deep.", code="tool_parameters_invalid"
        )
    try:
        Validator.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise Invalid(
            f"The parameter schema is not valid JSON schema at {where}: {exc.message[:300]}",
            code="tool_parameters_invalid",
        ) from None
    if parameters.get("type") != "object":
        raise Invalid("The parameter schema must be of type 'object'.", code="tool_parameters_invalid")
    try:
        if kind == "http":
            spec = http_runner.check_spec(spec)
        elif kind == "python":
            spec = python_runner.check_spec(spec)
        else:
            name = (spec.get("mcp") or {}).get("tool_name") if isinstance(spec.get("mcp"), dict) else None
            name = name or spec.get("tool_name")
            if not isinstance(name, str) or not 0 < len(name) <= 200:
                raise ValueError("tool_name is required")
            spec = {"tool_name": name}  # as tools/mcp_service.py writes and reads it
    except ValueError as exc:
        raise Invalid(f"The {kind} tool's spec is not valid: {exc}", code="tool_spec_invalid", kind=kind) from None
    if len(json.dumps(parameters)) > 256_000:
        raise Invalid("The parameter schema is larger than 256 kB.", code="tool_parameters_invalid")
    return parameters, spec


async def _mcp_server(session: AsyncSession, principal: Principal, server_id: uuid.UUID | None, team_id) -> McpServer:
    if server_id is None:
        raise Invalid("An MCP tool needs mcp_server_id.", code="tool_spec_invalid", kind="mcp")
    server = await session.scalar(select(McpServer).where(McpServer.id == server_id, visible(principal, McpServer)))
    if server is None or server.team_id != team_id:
        raise NotFound("No such MCP server in the tool's team.", code="mcp_server_not_found")
    return server


async def _insert(session: AsyncSession, tool: Tool) -> None:
    session.add(tool)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"The team has a tool named '{tool.name}' already.", code="tool_name_taken", name=tool.name
        ) from None


async def _add_version(
    session: AsyncSession, principal: Principal, tool: Tool, parameters: dict, spec: dict
) -> ToolVersion:
    tool.latest_version += 1
    row = ToolVersion(
        tool_id=tool.id,
        version=tool.latest_version,
        parameters=parameters,
        spec=spec,
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(row)
    await session.flush()
    return row


async def create_tool(session: AsyncSession, principal: Principal, data: ToolCreate, *, secret: str) -> Tool:
    team_id = owning_team(principal, data.team_id)
    parameters, spec = check_version(data.kind, data.parameters, data.spec)
    await dataset_files.check(session, principal, spec)
    if data.kind == "mcp":
        await _mcp_server(session, principal, data.mcp_server_id, team_id)
    elif data.mcp_server_id is not None:
        raise Invalid("Only MCP tools name an MCP server.", code="tool_spec_invalid", kind=data.kind)
    tool = Tool(
        team_id=team_id,
        name=data.name,
        kind=data.kind,
        description=data.description,
        latest_version=0,
        requires_approval=data.requires_approval,
        timeout_s=data.timeout_s,
        cost_per_call=data.cost_per_call,
        allow_hosts=[h.lower() for h in data.allow_hosts],
        credential_encrypted=crypto.encrypt(secret, data.credential) if data.credential else None,
        mcp_server_id=data.mcp_server_id,
        visibility="team",
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    require_owner(principal, tool, "tools:write", "tool")
    await _insert(session, tool)
    await _add_version(session, principal, tool, parameters, spec)
    _changed(session, tool, "tool.create", version=1, has_credential=tool.credential_encrypted is not None)
    return tool


async def new_version(
    session: AsyncSession, principal: Principal, tool_id: uuid.UUID, data: ToolVersionIn
) -> ToolVersion:
    tool = await get_tool(session, principal, tool_id, for_update=True)
    require_owner(principal, tool, "tools:write", "tool")
    _refuse_archived(tool)
    parameters, spec = check_version(tool.kind, data.parameters, data.spec)
    await dataset_files.check(session, principal, spec)
    dropped = {}
    if tool.kind == "http" and tool.credential_encrypted is not None:
        before = (await get_version(session, tool)).spec
        if _credential_target(before) != _credential_target(spec):
            # nobody reads the credential back, so nobody may send it somewhere new: set it again there
            tool.credential_encrypted, dropped = None, {"credential": "removed"}
    row = await _add_version(session, principal, tool, parameters, spec)
    _changed(session, tool, "tool.version", version=row.version, **dropped)
    return row


def _credential_target(spec: dict) -> tuple:
    """Where an HTTP spec sends its credential: the origin and the auth placement."""
    url = urlsplit(str(spec.get("base_url") or ""))
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    auth = spec.get("auth") or {}
    return url.scheme, (url.hostname or "").lower(), port, auth.get("type"), auth.get("name")


async def list_versions(session: AsyncSession, principal: Principal, tool_id: uuid.UUID) -> list[ToolVersion]:
    tool = await get_tool(session, principal, tool_id)
    q = select(ToolVersion).where(ToolVersion.tool_id == tool.id).order_by(ToolVersion.version.desc())
    return list((await session.scalars(q)).all())


async def update_tool(
    session: AsyncSession, principal: Principal, tool_id: uuid.UUID, data: ToolUpdate, *, secret: str
) -> Tool:
    tool = await get_tool(session, principal, tool_id, for_update=True)
    require_owner(principal, tool, "tools:write", "tool")
    changes = data.model_dump(exclude_unset=True, exclude_none=True, exclude={"credential", "clear_credential"})
    if "allow_hosts" in changes:
        changes["allow_hosts"] = [h.lower() for h in changes["allow_hosts"]]
    summary = audit.diff({k: getattr(tool, k) for k in changes}, changes)
    for k, v in changes.items():
        setattr(tool, k, v)
    if data.credential is not None:
        tool.credential_encrypted = crypto.encrypt(secret, data.credential)
        summary["credential"] = "replaced"
    elif data.clear_credential and tool.credential_encrypted is not None:
        tool.credential_encrypted = None
        summary["credential"] = "removed"
    if summary:
        tool.updated_at = datetime.now(UTC)
        await session.flush()
        _changed(session, tool, "tool.update", **summary)
    return tool


async def archive_tool(session: AsyncSession, principal: Principal, tool_id: uuid.UUID) -> Tool:
    tool = await get_tool(session, principal, tool_id, for_update=True)
    require_owner(principal, tool, "tools:write", "tool")
    if tool.archived_at is None:
        tool.archived_at = datetime.now(UTC)
        await session.flush()
        _changed(session, tool, "tool.archive")
    return tool


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_tools(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None = None,
    kind: str | None = None,
    team_id: uuid.UUID | None = None,
    include_archived: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Tool], str | None, int | None]:
    query = select(Tool).where(visible(principal, Tool))
    if q:
        like = f"%{_escape_like(q)}%"
        query = query.where(or_(Tool.name.ilike(like, escape="\\"), Tool.description.ilike(like, escape="\\")))
    if kind:
        query = query.where(Tool.kind == kind)
    if team_id:
        query = query.where(Tool.team_id == team_id)
    if not include_archived:
        query = query.where(Tool.archived_at.is_(None))
    total = None if cursor else await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list((await session.scalars(paginate_desc(query, Tool.created_at, Tool.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return rows, next_cursor, total


async def import_openapi(
    session: AsyncSession,
    principal: Principal,
    document: dict | str,
    *,
    team_id: uuid.UUID | None,
    secret: str,
    base_url: str | None = None,
    credential: str | None = None,
    allow_hosts: list[str] | None = None,
    prefix: str | None = None,
    auth: dict | None = None,
    timeout_s: float = 30.0,
    requires_approval: bool = False,
) -> list[Tool]:
    """One HTTP tool per operation of an OpenAPI 3 document; all or nothing (422 `openapi_invalid`)."""
    try:
        doc = openapi_import.parse(document)
        defs = openapi_import.operations(doc, base_url=base_url, prefix=prefix)
    except openapi_import.ImportError_ as exc:
        raise Invalid(str(exc), code="openapi_invalid") from None
    tools = []
    for d in defs:
        spec = {**d.spec, "auth": auth} if auth else d.spec
        data = ToolCreate(
            name=d.name if _valid_name(d.name) else "tool",
            kind="http",
            description=d.description,
            team_id=team_id,
            timeout_s=timeout_s,
            requires_approval=requires_approval,
            allow_hosts=allow_hosts or [],
            credential=credential,
            parameters=d.parameters,
            spec=spec,
        )
        tools.append(await create_tool(session, principal, data, secret=secret))
    return tools


def _valid_name(name: str) -> bool:
    return re.fullmatch(TOOL_NAME_PATTERN, name) is not None


async def openai_tools(session: AsyncSession, principal: Principal, tool_ids: list[uuid.UUID]) -> list[dict]:
    """OpenAI `tools` entries for the current versions of these tools (each must be visible and live)."""
    out = []
    for tool_id in tool_ids:
        tool = await get_tool(session, principal, tool_id)
        _refuse_archived(tool)
        version = await get_version(session, tool)
        out.append(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description[:1024],
                    "parameters": version.parameters,
                },
            }
        )
    return out


def argument_error(parameters: dict, arguments: Any) -> str | None:
    """What is wrong with `arguments` for the schema (which field, what), or None."""
    error = jsonschema.exceptions.best_match(Validator(parameters).iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(arguments)"
    return f"{where}: {error.message}"[:MAX_ERROR_CHARS]


def _screen(outcome: ToolOutcome) -> ToolOutcome:
    """Prompt injection arriving through a tool's answer: the output is withheld and the call reported
    `blocked` (the model sees the error, never the text)."""
    if not outcome.ok or outcome.output is None:
        return outcome
    text = outcome.output if isinstance(outcome.output, str) else json.dumps(outcome.output, ensure_ascii=False)
    hits = checks.injection(text)
    if not hits:
        return outcome
    signals = sorted({h.kind for h in hits})
    return ToolOutcome(
        ok=False,
        error="The tool's answer was withheld: it looks like a prompt injection.",
        error_kind="blocked",
        latency_ms=outcome.latency_ms,
        detail={**(outcome.detail or {}), "guardrail": "injection", "signals": signals, "score": hits[0].score},
    )


class _Borrowed:
    """A session for a runner's own reads, as `async with`: the caller's, left open (`call_tool`)."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc) -> None:
        return None


async def _run(
    sessions: Callable[[], Any],
    principal: Principal,
    tool: Tool,
    version: ToolVersion,
    arguments: dict,
    secret: str,
    settings,
) -> ToolOutcome:
    if tool.kind == "http":
        credential = crypto.decrypt(secret, tool.credential_encrypted) if tool.credential_encrypted else None
        return await http_runner.run(
            version.spec, arguments, credential=credential, allow_hosts=list(tool.allow_hosts), timeout_s=tool.timeout_s
        )
    if tool.kind == "python":
        opened = sessions()
        async with opened as session:
            files = await dataset_files.files_for(session, principal, version.spec, secret=secret, settings=settings)
            if version.spec.get("dataset_version_id") and not isinstance(opened, _Borrowed):
                await session.commit()  # a sensitive read's audit event (datasets.guard_rows) is kept
        if isinstance(files, str):
            return ToolOutcome(ok=False, error_kind="unavailable", error=files)
        return await python_runner.run(
            version.spec, arguments, timeout_s=tool.timeout_s, allow_hosts=list(tool.allow_hosts), files=files
        )
    from axops.tools import mcp_service  # the mcp SDK is imported only when an MCP tool runs

    allowed = getattr(settings, "mcp_allowed_networks", "") or ""
    async with sessions() as session:
        return await mcp_service.call_tool(session, tool, version, arguments, secret=secret, allowed_networks=allowed)


async def resolve(session: AsyncSession, principal: Principal, tool_id: uuid.UUID) -> tuple[Tool, ToolVersion]:
    """The tool and its current version, as `call_tool` runs them (404 unseen, 409 archived)."""
    tool = await get_tool(session, principal, tool_id)
    _refuse_archived(tool)
    return tool, await get_version(session, tool)


async def run_resolved(
    sessions: Callable[[], Any],
    principal: Principal,
    tool: Tool,
    version: ToolVersion,
    arguments: dict,
    *,
    secret: str,
    settings: Any = None,
) -> ToolOutcome:
    """Check the arguments and run a resolved tool; never raises for the tool's failure. `sessions()`
    opens a session for the few kinds that read rows (a Python tool's dataset, an MCP tool's server),
    so a caller can pass `db.sessionmaker` and hold no connection while an HTTP tool runs."""
    try:
        problem = argument_error(version.parameters, arguments)
    except jsonschema.SchemaError:  # an MCP server's own schema that is not valid JSON schema
        problem = None
    except Exception:  # e.g. a $ref that does not resolve (remote references are never fetched)
        problem = "The tool's parameter schema cannot be checked."
    if problem is not None:
        return ToolOutcome(ok=False, error_kind="invalid_arguments", error=problem)
    try:
        return _screen(await _run(sessions, principal, tool, version, arguments, secret, settings))
    except Exception as exc:  # a runner's own bug must not break the agent's loop
        return ToolOutcome(ok=False, error_kind="crash", error=f"The tool runner failed ({type(exc).__name__}).")


def call_record(
    principal: Principal,
    tool: Tool,
    version: ToolVersion,
    outcome: ToolOutcome,
    agent_run_id: uuid.UUID | None = None,
    model_cost: float = 0.0,
) -> ToolCall:
    """The `tool_calls` row of one call, for the caller to add to its own transaction. The tool's price
    is charged when the tool was reached: not for arguments refused before it ran."""
    charged = outcome.error_kind not in ("invalid_arguments", "unavailable")
    return ToolCall(
        tool_id=tool.id,
        version=version.version,
        team_id=tool.team_id,
        caller_id=principal.user_id if principal.auth != "system" else None,
        agent_run_id=agent_run_id,
        status="ok" if outcome.ok else "error",
        error_kind=outcome.error_kind,
        latency_ms=outcome.latency_ms,
        cost=float(tool.cost_per_call or 0.0) if charged else 0.0,
        model_cost=model_cost,
    )


async def call_tool(
    session: AsyncSession,
    principal: Principal,
    tool_id: uuid.UUID,
    arguments: dict,
    *,
    agent_run_id: uuid.UUID | None = None,
    secret: str,
    settings: Any = None,
) -> ToolOutcome:
    """Run the tool's current version with `arguments` and record the call. A tool that fails, hangs or
    answers with an injection is an outcome, never an exception; a tool the caller cannot see is 404
    and an archived one 409. The caller's own permission (tools:write for a test run, agents:write for
    an agent) is checked by its route. The session stays in its transaction while the tool runs: a
    long-lived caller (an agent run, a workflow) uses `resolve`, `run_resolved` and `call_record` with
    short sessions of its own instead."""
    tool, version = await resolve(session, principal, tool_id)
    outcome = await run_resolved(
        lambda: _Borrowed(session), principal, tool, version, arguments, secret=secret, settings=settings
    )
    session.add(call_record(principal, tool, version, outcome, agent_run_id))
    await session.flush()
    return outcome
