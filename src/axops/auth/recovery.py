"""Recoverable deletion of a team-owned resource (models, datasets): delete, restore, purge.

`DELETE` marks the row `deleted_at`/`deleted_by`: its versions and files stay, but `scoping.visible`
hides it from every read. Its team may restore it until the purge removes the rows and the objects,
at the earliest `deleted_retention_days` after the deletion; an Admin may purge a deleted row at once.
The name stays held meanwhile (`<noun>_name_held_by_deleted`, checked by the domain at creation).
A domain describes its table with a `Recoverable`; the checks before a deletion stay in the domain."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team, User
from axops.auth.scoping import SYSTEM, require_owner, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.storage import ObjectStore


@dataclass(frozen=True)
class Recoverable:
    table: Any  # an ORM class with id, name, team_id, deleted_at and deleted_by
    noun: str  # "model": audit actions model.delete/restore/purge, the resource type, messages, not-found code
    permission: str  # what changing it needs, with membership of its team
    versions: Callable[[AsyncSession, uuid.UUID], Awaitable[int]]
    object_keys: Callable[[AsyncSession, uuid.UUID], Awaitable[list[str]]]  # what a purge removes from the store


async def mark_deleted(
    session: AsyncSession, principal: Principal, kind: Recoverable, row: Any, confirm_name: str, retention_days: int
) -> None:
    """Delete a row the caller may change (the domain loaded it and ran its in-use checks)."""
    require_owner(principal, row, kind.permission, kind.noun)
    if confirm_name != row.name:
        raise Invalid(f"To delete a {kind.noun}, type its exact name in confirm_name.", code="confirm_name_mismatch")
    row.deleted_at = datetime.now(UTC)
    row.deleted_by = principal.user_id
    await session.flush()
    audit.record(
        session,
        f"{kind.noun}.delete",
        resource_type=kind.noun,
        resource_id=row.id,
        team_id=row.team_id,
        summary={
            "name": row.name,
            "versions": await kind.versions(session, row.id),
            "restorable_until": (row.deleted_at + timedelta(days=retention_days)).isoformat(),
        },
    )


async def _deleted(session: AsyncSession, principal: Principal, kind: Recoverable, row_id: uuid.UUID) -> Any:
    """A deleted row of the caller's teams (any for an Admin); others' and live ones answer 404."""
    t = kind.table
    row = await session.scalar(
        select(t).where(t.id == row_id, t.deleted_at.is_not(None), team_clause(principal, t.team_id)).with_for_update()
    )
    if row is None:
        raise NotFound(f"No such deleted {kind.noun}.", code=f"{kind.noun}_not_found")
    return row


async def restore(session: AsyncSession, principal: Principal, kind: Recoverable, row_id: uuid.UUID) -> Any:
    row = await _deleted(session, principal, kind, row_id)
    require_owner(principal, row, kind.permission, kind.noun)
    deleted_at = row.deleted_at
    row.deleted_at = None
    row.deleted_by = None
    await session.flush()
    audit.record(
        session,
        f"{kind.noun}.restore",
        resource_type=kind.noun,
        resource_id=row.id,
        team_id=row.team_id,
        summary={"name": row.name, "deleted_at": deleted_at.isoformat()},
    )
    await session.refresh(row)
    return row


async def list_deleted(
    session: AsyncSession, principal: Principal, kind: Recoverable, retention_days: int
) -> list[dict]:
    """The caller's teams' deleted rows (every team's for an Admin), newest deletion first."""
    t = kind.table
    rows = await session.execute(
        select(t.id, t.name, t.team_id, Team.name, t.deleted_at, User.username)
        .join(Team, Team.id == t.team_id)
        .outerjoin(User, User.id == t.deleted_by)
        .where(t.deleted_at.is_not(None), team_clause(principal, t.team_id))
        .order_by(t.deleted_at.desc())
        .limit(500)
    )
    return [
        {
            "id": id_,
            "name": name,
            "team_id": team_id,
            "team_name": team_name,
            "deleted_at": deleted_at,
            "deleted_by": deleted_by,
            "purge_after": deleted_at + timedelta(days=retention_days),
        }
        for id_, name, team_id, team_name, deleted_at, deleted_by in rows
    ]


async def _hard_delete(
    session: AsyncSession, storage: ObjectStore, kind: Recoverable, row: Any, actor: Principal
) -> None:
    """Remove the rows (versions and files cascade) now and the objects after the commit."""
    keys = await kind.object_keys(session, row.id)
    name = row.name
    try:
        async with session.begin_nested():  # a refusal leaves the rest of a sweep's transaction intact
            await session.delete(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"'{name}' cannot be purged while other records use it (a training job or an evaluation set).",
            code="purge_blocked",
            name=name,
        ) from exc
    audit.record(
        session,
        f"{kind.noun}.purge",
        resource_type=kind.noun,
        resource_id=row.id,
        team_id=row.team_id,
        summary={"name": name, "files": len(keys)},
        actor=actor,
    )

    async def remove_objects() -> None:
        for key in keys:
            await storage.delete(key)

    session.info.setdefault("after_commit", []).append(remove_objects)


async def purge(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    kind: Recoverable,
    row_id: uuid.UUID,
    confirm_name: str,
) -> None:
    """An Admin removes a deleted row before its window ends."""
    if not principal.is_admin:
        raise Forbidden(
            "Only an Admin can purge a deleted item before its restore window ends.", code="purge_admin_only"
        )
    row = await _deleted(session, principal, kind, row_id)
    if confirm_name != row.name:
        raise Invalid(f"To purge a {kind.noun}, type its exact name in confirm_name.", code="confirm_name_mismatch")
    await _hard_delete(session, storage, kind, row, principal)


async def purge_expired(session: AsyncSession, storage: ObjectStore, kind: Recoverable, retention_days: int) -> int:
    """The daily sweep: rows deleted longer than the window go for good, with their objects (removed
    after the caller commits, by the session's after-commit hooks)."""
    t = kind.table
    rows = (
        await session.scalars(
            select(t)
            .where(t.deleted_at < func.now() - func.make_interval(0, 0, 0, retention_days))
            .with_for_update(skip_locked=True)
        )
    ).all()
    purged = 0
    for row in rows:
        try:
            await _hard_delete(session, storage, kind, row, SYSTEM)
            purged += 1
        except Conflict:  # kept (and tried again tomorrow) until what points at it goes
            continue
    return purged
