"""A tool's recorded calls (`tool_calls`), newest first. The aggregates (success rate, latency, cost
share, the agent × tool matrix, keywords) are tools/usage.py."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import User
from axops.core.pagination import page_of, paginate_desc
from axops.tools.models import ToolCall
from axops.tools.schemas import ToolCallOut, ToolCallPage


async def recent_calls(
    session: AsyncSession, principal: Principal, tool_id, *, cursor: str | None = None, limit: int = 50
) -> ToolCallPage:
    """A tool's calls, newest first, with the caller's username (the tool is read with the caller's scope first)."""
    from axops.tools import service

    tool = await service.get_tool(session, principal, tool_id)
    query = (
        select(ToolCall, User.username)
        .outerjoin(User, User.id == ToolCall.caller_id)
        .where(ToolCall.tool_id == tool.id)
    )
    rows = list((await session.execute(paginate_desc(query, ToolCall.created_at, ToolCall.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit, key=lambda r: (r[0].created_at, r[0].id))
    return ToolCallPage(
        items=[
            ToolCallOut(
                id=c.id,
                version=c.version,
                status=c.status,
                error_kind=c.error_kind,
                latency_ms=c.latency_ms,
                cost=c.cost,
                agent_run_id=c.agent_run_id,
                caller_id=c.caller_id,
                caller_name=username,
                created_at=c.created_at,
            )
            for c, username in rows
        ],
        next_cursor=next_cursor,
    )
