"""HTTP routes of MCP servers (`/api/tool/mcp-servers`): register (stdio: tools:admin), list, get,
refresh (discover again), delete (its tools archived)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response

from axops.auth.deps import Principal, Session, require
from axops.core.state import SecretKey, SettingsDep
from axops.tools import mcp_service as service
from axops.tools.mcp_schemas import McpServerCreate, McpServerOut, McpServerPage

router = APIRouter(prefix="/api/tool/mcp-servers", tags=["tool"])
Reader = Annotated[Principal, require("tools:read")]
Writer = Annotated[Principal, require("tools:write")]


@router.post("", status_code=201)
async def register_server(
    body: McpServerCreate, principal: Writer, session: Session, secret: SecretKey, settings: SettingsDep
) -> McpServerOut:
    """Register a server and discover its tools at once (a server that can't be reached is kept as
    `unavailable`, with the reason in `last_error`; refresh it later)."""
    server = await service.register(
        session, principal, body, secret=secret, allowed_networks=settings.mcp_allowed_networks
    )
    return await service.out(session, server, secret)


@router.get("")
async def list_servers(principal: Reader, session: Session, secret: SecretKey) -> McpServerPage:
    servers = await service.list_servers(session, principal)
    return McpServerPage(items=[await service.out(session, s, secret) for s in servers])


@router.get("/{server_id}")
async def get_server(server_id: uuid.UUID, principal: Reader, session: Session, secret: SecretKey) -> McpServerOut:
    return await service.out(session, await service.get_server(session, principal, server_id), secret)


@router.post("/{server_id}/refresh")
async def refresh_server(
    server_id: uuid.UUID, principal: Writer, session: Session, secret: SecretKey, settings: SettingsDep
) -> McpServerOut:
    server = await service.refresh(
        session, principal, server_id, secret=secret, allowed_networks=settings.mcp_allowed_networks
    )
    return await service.out(session, server, secret)


@router.delete("/{server_id}", status_code=204)
async def delete_server(server_id: uuid.UUID, principal: Writer, session: Session) -> Response:
    await service.delete(session, principal, server_id)
    return Response(status_code=204)
