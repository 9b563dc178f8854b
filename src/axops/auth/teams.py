"""Teams and their members."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit, cache
from axops.auth.models import (
    Team,
    TeamMember,
    User,
)
from axops.auth.schemas import TeamCreate, TeamUpdate
from axops.auth.service import get_user, like_pattern
from axops.core.errors import Conflict, NotFound
from axops.core.pagination import page_of, paginate_desc

INVALID_LOGIN = "Invalid username or password."


def _member_count():
    return select(func.count()).where(TeamMember.team_id == Team.id).scalar_subquery().label("member_count")


async def list_teams(session: AsyncSession, q: str | None, cursor: str | None, limit: int):
    query = select(Team, _member_count())
    if q:
        query = query.where(func.lower(Team.name).like(like_pattern(q), escape="\\"))
    rows = (await session.execute(paginate_desc(query, Team.created_at, Team.id, cursor, limit))).all()
    return page_of(list(rows), limit, key=lambda r: (r[0].created_at, r[0].id))


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> tuple[Team, int]:
    row = (await session.execute(select(Team, _member_count()).where(Team.id == team_id))).first()
    if row is None:
        raise NotFound("No such team.", code="team_not_found")
    return row[0], row[1]


async def create_team(session: AsyncSession, data: TeamCreate) -> tuple[Team, int]:
    if await session.scalar(select(Team.id).where(func.lower(Team.name) == data.name.lower())):
        raise Conflict(f"A team named '{data.name}' exists.", code="team_name_taken", name=data.name)
    team = Team(name=data.name, description=data.description)
    session.add(team)
    await session.flush()
    audit.record(
        session, "team.create", resource_type="team", resource_id=team.id, team_id=team.id, summary={"name": team.name}
    )
    await session.refresh(team)
    return team, 0


async def update_team(session: AsyncSession, team_id: uuid.UUID, data: TeamUpdate) -> tuple[Team, int]:
    team, count = await get_team(session, team_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes and changes["name"].lower() != team.name.lower():
        if await session.scalar(select(Team.id).where(func.lower(Team.name) == changes["name"].lower())):
            raise Conflict(f"A team named '{changes['name']}' exists.", code="team_name_taken", name=changes["name"])
    before = {k: getattr(team, k) for k in changes}
    for key, value in changes.items():
        setattr(team, key, value)
    await session.flush()
    change = audit.diff(before, changes)
    if change:
        await cache.invalidate(session)
        audit.record(session, "team.update", resource_type="team", resource_id=team.id, team_id=team.id, summary=change)
    await session.refresh(team)
    return team, count


async def list_members(session: AsyncSession, team_id: uuid.UUID) -> list[User]:
    await get_team(session, team_id)
    q = select(User).join(TeamMember, TeamMember.user_id == User.id).where(TeamMember.team_id == team_id)
    return list((await session.scalars(q.order_by(User.username))).all())


async def add_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    team, _ = await get_team(session, team_id)
    user = await get_user(session, user_id)
    exists = await session.scalar(
        select(TeamMember.user_id).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if exists:
        return
    session.add(TeamMember(team_id=team_id, user_id=user_id))
    await session.flush()
    await cache.invalidate(session)
    audit.record(
        session,
        "team.member_add",
        resource_type="team",
        resource_id=team.id,
        team_id=team.id,
        summary={"team": team.name, "username": user.username},
    )


async def remove_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    team, _ = await get_team(session, team_id)
    user = await get_user(session, user_id)
    result = cast(
        CursorResult,
        await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)),
    )
    if result.rowcount:
        await cache.invalidate(session)
        audit.record(
            session,
            "team.member_remove",
            resource_type="team",
            resource_id=team.id,
            team_id=team.id,
            summary={"team": team.name, "username": user.username},
        )
