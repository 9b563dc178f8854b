"""Deleting a dataset recoverably: what `auth/recovery.py` needs to know of datasets."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import recovery
from axops.auth.deps import Principal
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.service import get_dataset


async def _versions(session: AsyncSession, dataset_id: uuid.UUID) -> int:
    return await session.scalar(select(func.count()).where(DatasetVersion.dataset_id == dataset_id)) or 0


async def _object_keys(session: AsyncSession, dataset_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        select(DatasetVersion.original_key, DatasetVersion.parquet_key).where(DatasetVersion.dataset_id == dataset_id)
    )
    return [key for row in rows for key in row if key]


DATASETS = recovery.Recoverable(Dataset, "dataset", "datasets:write", _versions, _object_keys)


async def delete_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, confirm_name: str, retention_days: int
) -> None:
    dataset = await get_dataset(session, principal, dataset_id, for_update=True)
    await recovery.mark_deleted(session, principal, DATASETS, dataset, confirm_name, retention_days)
