"""Deleting a dataset recoverably, restoring it, and purging it for good: the same rules as
registry/recovery.py (soft delete hidden by `scoping.visible`, restore by its team, purge after
`deleted_retention_days` or at once by an Admin; the name stays held: `dataset_name_held_by_deleted`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.service import get_dataset, require_write


async def delete_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, confirm_name: str, retention_days: int
) -> None:
    dataset = await get_dataset(session, principal, dataset_id, for_update=True)
    require_write(principal, dataset)
    if confirm_name != dataset.name:
        raise Invalid("Type the dataset's exact name to confirm the deletion.", code="confirm_name_mismatch")
    dataset.deleted_at = datetime.now(UTC)
    dataset.deleted_by = principal.user_id
    await session.flush()
    versions = await session.scalar(select(func.count()).where(DatasetVersion.dataset_id == dataset.id))
    audit.record(
        session,
        "dataset.delete",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "versions": versions,
            "restorable_until": (dataset.deleted_at + timedelta(days=retention_days)).isoformat(),
        },
    )


async def _deleted(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, for_update: bool = True
) -> Dataset:
    """A deleted dataset of the caller's teams (any for an Admin); others' and live ones answer 404."""
    q = select(Dataset).where(
        Dataset.id == dataset_id,
        Dataset.deleted_at.is_not(None),
        team_clause(principal, Dataset.team_id),
    )
    dataset = await session.scalar(q.with_for_update() if for_update else q)
    if dataset is None:
        raise NotFound("No such deleted dataset.", code="dataset_not_found")
    return dataset


async def restore_dataset(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> Dataset:
    dataset = await _deleted(session, principal, dataset_id)
    require_write(principal, dataset)
    deleted_at = dataset.deleted_at
    dataset.deleted_at = None
    dataset.deleted_by = None
    await session.flush()
    audit.record(
        session,
        "dataset.restore",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={"name": dataset.name, "deleted_at": deleted_at.isoformat() if deleted_at else None},
    )
    await session.refresh(dataset)
    return dataset


async def list_deleted(session: AsyncSession, principal: Principal, retention_days: int) -> list[dict]:
    """The caller's teams' deleted datasets (every team's for an Admin), newest deletion first."""
    rows = await session.execute(
        select(Dataset.id, Dataset.name, Dataset.team_id, Dataset.deleted_at)
        .add_columns(text("(SELECT username FROM users u WHERE u.id = datasets.deleted_by)"))
        .add_columns(text("(SELECT name FROM teams t WHERE t.id = datasets.team_id)"))
        .where(Dataset.deleted_at.is_not(None), team_clause(principal, Dataset.team_id))
        .order_by(Dataset.deleted_at.desc())
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
        for id_, name, team_id, deleted_at, deleted_by, team_name in rows
    ]


async def _hard_delete(session: AsyncSession, storage: ObjectStore, dataset: Dataset, actor: Principal) -> None:
    """Remove the rows (versions cascade) now and the objects after the commit."""
    versions = (
        await session.execute(
            select(DatasetVersion.original_key, DatasetVersion.parquet_key).where(
                DatasetVersion.dataset_id == dataset.id
            )
        )
    ).all()
    keys = [k for row in versions for k in row if k]
    name = dataset.name
    try:
        async with session.begin_nested():  # a refusal leaves the rest of a sweep's transaction intact
            await session.delete(dataset)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"'{name}' cannot be purged while other records use it (a training job or an evaluation set).",
            code="purge_blocked",
            name=name,
        ) from exc
    audit.record(
        session,
        "dataset.purge",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={"name": dataset.name, "files": len(keys)},
        actor=actor,
    )

    async def remove_objects() -> None:
        for key in keys:
            await storage.delete(key)

    session.info.setdefault("after_commit", []).append(remove_objects)


async def purge_dataset(
    session: AsyncSession, principal: Principal, storage: ObjectStore, dataset_id: uuid.UUID, confirm_name: str
) -> None:
    """An Admin removes a deleted dataset before its window ends."""
    if not principal.is_admin:
        raise Forbidden("Only an Admin can purge a deleted dataset before its window ends.", code="purge_admin_only")
    dataset = await _deleted(session, principal, dataset_id)
    if confirm_name != dataset.name:
        raise Invalid("To purge a dataset, type its exact name in confirm_name.", code="confirm_name_mismatch")
    await _hard_delete(session, storage, dataset, principal)


async def purge_expired(session: AsyncSession, storage: ObjectStore, retention_days: int) -> int:
    """The daily sweep: datasets deleted longer than the window go for good, with their objects.
    Objects are removed after the caller commits (the session's after-commit hooks)."""
    datasets = (
        await session.scalars(
            select(Dataset)
            .where(Dataset.deleted_at < func.now() - func.make_interval(0, 0, 0, retention_days))
            .with_for_update(skip_locked=True)
        )
    ).all()
    purged = 0
    for dataset in datasets:
        try:
            await _hard_delete(session, storage, dataset, SYSTEM)
            purged += 1
        except Conflict:  # kept (and tried again tomorrow) until what points at it goes
            continue
    return purged
