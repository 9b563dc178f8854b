"""HTTP routes of the tool registry (`/api/tool/...`): thin, the work is in tools/service.py."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal, Session, require
from axops.core.state import SecretKey, SettingsDep
from axops.tools import analytics, service, usage
from axops.tools.models import KINDS, Tool, ToolVersion
from axops.tools.schemas import (
    OpenApiImportIn,
    ToolAnalytics,
    ToolCallPage,
    ToolCreate,
    ToolOut,
    ToolOutcomeOut,
    ToolPage,
    ToolTestIn,
    ToolUpdate,
    ToolVersionIn,
    ToolVersionOut,
    ToolVersionPage,
)

router = APIRouter(prefix="/api/tool", tags=["tool"])
Reader = Annotated[Principal, require("tools:read")]
Writer = Annotated[Principal, require("tools:write")]


def version_out(v: ToolVersion) -> ToolVersionOut:
    return ToolVersionOut(
        tool_id=v.tool_id,
        version=v.version,
        parameters=v.parameters,
        spec=v.spec,
        created_by=v.created_by,
        created_at=v.created_at,
    )


async def tool_out(session: AsyncSession, tool: Tool, with_version: bool = True, fresh: bool = False) -> ToolOut:
    if not fresh:  # after a change: the server-set timestamps are read back
        await session.refresh(tool)
    current = None
    if with_version and tool.latest_version:
        current = version_out(await service.get_version(session, tool))
    return ToolOut(
        id=tool.id,
        team_id=tool.team_id,
        name=tool.name,
        kind=tool.kind,
        description=tool.description,
        latest_version=tool.latest_version,
        requires_approval=tool.requires_approval,
        timeout_s=tool.timeout_s,
        cost_per_call=tool.cost_per_call,
        allow_hosts=list(tool.allow_hosts),
        has_credential=tool.credential_encrypted is not None,
        mcp_server_id=tool.mcp_server_id,
        visibility=tool.visibility,
        created_by=tool.created_by,
        archived_at=tool.archived_at,
        created_at=tool.created_at,
        updated_at=tool.updated_at,
        current=current,
    )


@router.get("/tools")
async def list_tools(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(KINDS) + ")$")] = None,
    team_id: uuid.UUID | None = None,
    include_archived: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ToolPage:
    tools, next_cursor, total = await service.list_tools(
        session,
        principal,
        q=q,
        kind=kind,
        team_id=team_id,
        include_archived=include_archived,
        cursor=cursor,
        limit=limit,
    )
    return ToolPage(
        items=[await tool_out(session, t, False, fresh=True) for t in tools], next_cursor=next_cursor, total=total
    )


@router.post("/tools", status_code=201)
async def create_tool(body: ToolCreate, principal: Writer, session: Session, secret: SecretKey) -> ToolOut:
    return await tool_out(session, await service.create_tool(session, principal, body, secret=secret))


@router.post("/tools/import-openapi", status_code=201)
async def import_openapi(body: OpenApiImportIn, principal: Writer, session: Session, secret: SecretKey) -> ToolPage:
    """One HTTP tool per operation of an OpenAPI 3 document (object, or JSON/YAML text); all or nothing.
    Only local `$ref`s are resolved: a remote one is refused, never fetched."""
    tools = await service.import_openapi(
        session,
        principal,
        body.document,
        team_id=body.team_id,
        secret=secret,
        base_url=body.base_url,
        credential=body.credential,
        allow_hosts=body.allow_hosts,
        prefix=body.prefix,
        auth=body.auth.model_dump(exclude_none=True) if body.auth else None,
        timeout_s=body.timeout_s,
        requires_approval=body.requires_approval,
    )
    return ToolPage(items=[await tool_out(session, t) for t in tools], total=len(tools))


@router.get("/tools/{tool_id}")
async def get_tool(tool_id: uuid.UUID, principal: Reader, session: Session) -> ToolOut:
    return await tool_out(session, await service.get_tool(session, principal, tool_id))


@router.patch("/tools/{tool_id}")
async def update_tool(
    tool_id: uuid.UUID, body: ToolUpdate, principal: Writer, session: Session, secret: SecretKey
) -> ToolOut:
    return await tool_out(session, await service.update_tool(session, principal, tool_id, body, secret=secret))


@router.delete("/tools/{tool_id}")
async def archive_tool(tool_id: uuid.UUID, principal: Writer, session: Session) -> ToolOut:
    """Archives the tool: agents can no longer call it; its versions and calls stay for the record."""
    return await tool_out(session, await service.archive_tool(session, principal, tool_id))


@router.get("/tools/{tool_id}/versions")
async def list_versions(tool_id: uuid.UUID, principal: Reader, session: Session) -> ToolVersionPage:
    return ToolVersionPage(items=[version_out(v) for v in await service.list_versions(session, principal, tool_id)])


@router.post("/tools/{tool_id}/versions", status_code=201)
async def new_version(tool_id: uuid.UUID, body: ToolVersionIn, principal: Writer, session: Session) -> ToolVersionOut:
    return version_out(await service.new_version(session, principal, tool_id, body))


@router.post("/tools/{tool_id}/test")
async def test_tool(
    tool_id: uuid.UUID, body: ToolTestIn, principal: Writer, session: Session, secret: SecretKey, settings: SettingsDep
) -> ToolOutcomeOut:
    """Runs the tool's current version with these arguments, as an agent would (recorded in analytics)."""
    outcome = await service.call_tool(session, principal, tool_id, body.arguments, secret=secret, settings=settings)
    return ToolOutcomeOut(**dataclasses.asdict(outcome))


@router.get("/tools/{tool_id}/calls")
async def list_tool_calls(
    tool_id: uuid.UUID,
    principal: Reader,
    session: Session,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ToolCallPage:
    """The tool's calls, newest first: status, error kind, latency, the agent run behind it and the caller."""
    return await analytics.recent_calls(session, principal, tool_id, cursor=cursor, limit=limit)


@router.get("/analytics")
async def tool_analytics(
    principal: Reader,
    session: Session,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    team_id: uuid.UUID | None = None,
) -> ToolAnalytics:
    """Per tool calls, success rate, latency, error kinds, own and attributed model cost and cost share;
    the agent × tool matrix; each tool's task keywords (rules in tools/usage.py)."""
    return await usage.tool_analytics(session, principal, days=days, team_id=team_id)
