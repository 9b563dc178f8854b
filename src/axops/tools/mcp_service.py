"""MCP servers a team connects: register (headers encrypted, never returned), refresh (discover the
server's tools and keep one registry tool of kind `mcp` per server tool, versioned when its schema
changes, archived when it disappears), list, get, delete (its tools archived, their call history
kept), and `call_tool`, which the tool service runs for a tool of kind mcp. Stdio servers are local
commands: only `tools:admin` registers or deletes one, and it always runs in the sandbox (tools/mcp.py)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require, require_owner, team_clause
from axops.core import crypto
from axops.core.errors import Conflict, NotFound
from axops.tools import mcp, safe_schema
from axops.tools.mcp_schemas import McpServerCreate, McpServerOut
from axops.tools.models import McpServer, Tool, ToolVersion
from axops.tools.outcome import ToolOutcome

DISCOVERY_TIMEOUT_S = 10.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# What a server's tool list may hold: the rest is refused (named, up to a few, in `last_error` and the audit)
MAX_TOOLS = mcp.MAX_TOOLS
MAX_SCHEMA_BYTES = 64 * 1024
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


def _now() -> datetime:
    return datetime.now(UTC)


def headers_of(server: McpServer, secret: str) -> dict[str, str]:
    if not server.headers_encrypted:
        return {}
    plain = crypto.decrypt(secret, server.headers_encrypted)
    return json.loads(plain) if plain else {}


def spec_of(server: McpServer, secret: str, allowed_networks: str) -> mcp.McpServerSpec:
    return mcp.McpServerSpec(
        transport=server.transport,
        url=server.url,
        headers=headers_of(server, secret),
        command=list(server.command or []),
        allowed_networks=allowed_networks,
    )


async def _tools_by_mcp_name(session: AsyncSession, server_id: uuid.UUID) -> dict[str, tuple[Tool, ToolVersion | None]]:
    rows = (
        await session.execute(
            select(Tool, ToolVersion)
            .outerjoin(ToolVersion, (ToolVersion.tool_id == Tool.id) & (ToolVersion.version == Tool.latest_version))
            .where(Tool.mcp_server_id == server_id)
        )
    ).all()
    out = {}
    for tool, version in rows:
        name = ((version.spec if version else {}) or {}).get("tool_name")
        if name:
            out[name] = (tool, version)
    return out


async def out(session: AsyncSession, server: McpServer, secret: str) -> McpServerOut:
    await session.refresh(server)  # timestamps the database set on flush
    tools = await _tools_by_mcp_name(session, server.id)
    return McpServerOut(
        id=server.id,
        team_id=server.team_id,
        name=server.name,
        transport=server.transport,
        url=server.url,
        command=list(server.command or []),
        header_names=sorted(headers_of(server, secret)),
        tools=server.tools or [],
        tool_ids={name: tool.id for name, (tool, _) in tools.items() if tool.archived_at is None},
        status=server.status,
        last_error=server.last_error,
        discovered_at=server.discovered_at,
        created_by=server.created_by,
        created_at=server.created_at,
        updated_at=server.updated_at,
    )


async def register(
    session: AsyncSession, principal: Principal, body: McpServerCreate, *, secret: str, allowed_networks: str
) -> McpServer:
    require(principal, "tools:write")
    if body.transport == "stdio":
        require(principal, "tools:admin")
    team_id = owning_team(principal, body.team_id)
    server = McpServer(
        id=uuid.uuid4(),
        team_id=team_id,
        name=body.name,
        transport=body.transport,
        url=body.url,
        command=body.command,
        headers_encrypted=crypto.encrypt(secret, json.dumps(body.headers)) if body.headers else None,
        tools=[],
        status="new",
        created_by=principal.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(server)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"This team already has an MCP server named {body.name}.", code="mcp_server_name_taken", name=body.name
        ) from None
    audit.record(
        session,
        "tool.mcp_server.create",
        resource_type="mcp_server",
        resource_id=server.id,
        team_id=team_id,
        actor=principal,
        summary={
            "name": server.name,
            "transport": server.transport,
            "url": server.url,
            "command": server.command,
            "header_names": sorted(body.headers),
        },
    )
    await _refresh(session, principal, server, secret=secret, allowed_networks=allowed_networks)
    return server


async def list_servers(session: AsyncSession, principal: Principal) -> list[McpServer]:
    require(principal, "tools:read")
    rows = await session.scalars(
        select(McpServer).where(team_clause(principal, McpServer.team_id)).order_by(McpServer.name, McpServer.id)
    )
    return list(rows)


async def get_server(session: AsyncSession, principal: Principal, server_id: uuid.UUID) -> McpServer:
    require(principal, "tools:read")
    server = await session.get(McpServer, server_id)
    if server is None or not principal.sees_team(server.team_id):
        raise NotFound("No such MCP server.")
    return server


async def refresh(
    session: AsyncSession, principal: Principal, server_id: uuid.UUID, *, secret: str, allowed_networks: str
) -> McpServer:
    server = await get_server(session, principal, server_id)
    require_owner(principal, server, "tools:write", "MCP server")
    await _refresh(session, principal, server, secret=secret, allowed_networks=allowed_networks)
    return server


def _tool_name(server: McpServer, mcp_name: str) -> str:
    return _UNSAFE.sub("_", f"{server.name}_{mcp_name}")[:64]


def _screened(found: list[dict]) -> tuple[list[dict], list[str]]:
    """The tools a server lists that may become registry tools, and the names of those refused: past
    MAX_TOOLS, a name that is empty, too long or holds control characters, a schema that is too big,
    too deep or not JSON schema (a malicious server's list must not flood the registry or the model)."""
    kept, refused = [], []
    for item in found:
        name, schema = item.get("name"), item.get("input_schema")
        ok = isinstance(name, str) and _NAME.fullmatch(name) is not None and len(kept) < MAX_TOOLS
        if ok and isinstance(schema, dict):
            ok = (
                len(json.dumps(schema)) <= MAX_SCHEMA_BYTES
                and safe_schema.depth(schema) <= safe_schema.MAX_DEPTH
                and safe_schema.Validator(safe_schema.Validator.META_SCHEMA).is_valid(schema)
            )
        if ok:
            kept.append(item)
        else:
            refused.append(_UNSAFE.sub("_", str(name))[:64])
    return kept, refused


async def _refresh(
    session: AsyncSession, principal: Principal, server: McpServer, *, secret: str, allowed_networks: str
) -> None:
    """Discover the server's tools and bring its registry tools in line. A server that can't be reached
    is marked `unavailable` with the reason; its tools are left as they were."""
    try:
        found = await mcp.discover(spec_of(server, secret, allowed_networks), timeout_s=DISCOVERY_TIMEOUT_S)
    except (mcp.Unavailable, TimeoutError) as exc:
        server.status = "unavailable"
        server.last_error = str(exc) or f"The server did not answer within {DISCOVERY_TIMEOUT_S:g} s."
        audit.record(
            session,
            "tool.mcp_server.refresh",
            resource_type="mcp_server",
            resource_id=server.id,
            team_id=server.team_id,
            actor=principal,
            outcome="failure",
            summary={"error": server.last_error},
        )
        await session.flush()
        return
    found, refused = _screened(found)
    existing = await _tools_by_mcp_name(session, server.id)
    added, changed, archived, skipped = [], [], [], []
    for item in found:
        parameters = item["input_schema"] if isinstance(item["input_schema"], dict) else {"type": "object"}
        spec = {"tool_name": item["name"]}
        pair = existing.pop(item["name"], None)
        if pair is None:
            tool = Tool(
                id=uuid.uuid4(),
                team_id=server.team_id,
                name=_tool_name(server, item["name"]),
                kind="mcp",
                description=item["description"][:8000],
                latest_version=1,
                mcp_server_id=server.id,
                allow_hosts=[],
                created_by=principal.user_id,
            )
            try:
                async with session.begin_nested():
                    session.add(tool)
                    await session.flush()
            except IntegrityError:
                skipped.append(item["name"])  # another tool of the team has this name
                continue
            session.add(
                ToolVersion(tool_id=tool.id, version=1, parameters=parameters, spec=spec, created_by=principal.user_id)
            )
            added.append(tool.name)
            continue
        tool, version = pair
        touched = tool.archived_at is not None or tool.description != item["description"][:8000]
        tool.archived_at = None
        tool.description = item["description"][:8000]
        if version is None or version.parameters != parameters:
            tool.latest_version += 1
            session.add(
                ToolVersion(
                    tool_id=tool.id,
                    version=tool.latest_version,
                    parameters=parameters,
                    spec=spec,
                    created_by=principal.user_id,
                )
            )
            touched = True
        if touched:
            changed.append(tool.name)
    for tool, _ in existing.values():
        if tool.archived_at is None:
            tool.archived_at = _now()
            archived.append(tool.name)
    server.tools = found
    server.status = "ready"
    server.last_error = (
        f"Tools not added, their names are taken in this team: {', '.join(skipped)}" if skipped else None
    )
    if refused:
        shown = ", ".join(refused[:10]) + (f" and {len(refused) - 10} more" if len(refused) > 10 else "")
        server.last_error = ((server.last_error + " ") if server.last_error else "") + (
            f"Tools refused (more than {MAX_TOOLS}, a bad name, or a schema too big or invalid): {shown}"
        )
    server.discovered_at = _now()
    audit.record(
        session,
        "tool.mcp_server.refresh",
        resource_type="mcp_server",
        resource_id=server.id,
        team_id=server.team_id,
        actor=principal,
        summary={"added": added, "changed": changed, "archived": archived, "skipped": skipped, "refused": refused[:10]},
    )
    await session.flush()


async def delete(session: AsyncSession, principal: Principal, server_id: uuid.UUID) -> None:
    """Remove the server; its tools are archived (their call history stays for analytics)."""
    server = await get_server(session, principal, server_id)
    require_owner(principal, server, "tools:write", "MCP server")
    if server.transport == "stdio":
        require(principal, "tools:admin")
    tools = list(await session.scalars(select(Tool).where(Tool.mcp_server_id == server.id)))
    now = _now()
    for tool in tools:
        tool.archived_at = tool.archived_at or now
        tool.mcp_server_id = None
    await session.flush()
    audit.record(
        session,
        "tool.mcp_server.delete",
        resource_type="mcp_server",
        resource_id=server.id,
        team_id=server.team_id,
        actor=principal,
        summary={"name": server.name, "archived_tools": [t.name for t in tools]},
    )
    await session.delete(server)
    await session.flush()


async def call_tool(
    session: AsyncSession,
    tool: Tool,
    version: ToolVersion,
    arguments: dict,
    *,
    secret: str,
    allowed_networks: str,
    timeout_s: float | None = None,
) -> ToolOutcome:
    """Run a tool of kind mcp (the tool service checks access and arguments first, and records the call)."""
    server = await session.get(McpServer, tool.mcp_server_id) if tool.mcp_server_id else None
    if server is None:
        return ToolOutcome(ok=False, error="The tool's MCP server was removed.", error_kind="unavailable")
    tool_name = (version.spec or {}).get("tool_name") or ""
    return await mcp.call(spec_of(server, secret, allowed_networks), tool_name, arguments, timeout_s or tool.timeout_s)
