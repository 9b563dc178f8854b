"""Reading a version's rows, as far as the read policy allows the caller: a page of them, the file
itself, and the differences between two versions (reads of sensitive data are audited)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import NotFound
from axops.core.storage import ObjectStore
from axops.datasets import diff as diffs
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.service import get_dataset, get_version, guard_rows, has_data, local_parquet

MAX_PREVIEW = 500


def _read_rows(path: Path, offset: int, limit: int) -> list[dict]:
    pf = pq.ParquetFile(path)
    rows: list[dict] = []
    start = 0
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        if start + n > offset and len(rows) < limit:
            table = pf.read_row_group(group)
            rows.extend(table.slice(max(offset - start, 0), limit - len(rows)).to_pylist())
        start += n
        if len(rows) >= limit:
            break
    return [{k: diffs._jsonable(v) for k, v in r.items()} for r in rows]


async def preview(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    data_dir: Path,
    version_id: uuid.UUID,
    offset: int,
    limit: int,
) -> tuple[DatasetVersion, list[dict]]:
    dataset, version = await get_version(session, principal, version_id)
    has_data(version)
    guard_rows(session, principal, dataset, version, "preview")
    path = await local_parquet(storage, data_dir, version)
    return version, await asyncio.to_thread(_read_rows, path, offset, min(limit, MAX_PREVIEW))


async def original_file(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    dataset, version = await get_version(session, principal, version_id)
    has_data(version)
    guard_rows(session, principal, dataset, version, "download")
    return dataset, version


async def diff(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    data_dir: Path,
    dataset_id: uuid.UUID,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    kind: str,
    offset: int,
    limit: int,
) -> dict:
    dataset = await get_dataset(session, principal, dataset_id)
    versions = {}
    for vid in (from_id, to_id):
        _, v = await get_version(session, principal, vid)
        if v.dataset_id != dataset.id:
            raise NotFound("Both versions must belong to this dataset.")
        has_data(v)
        guard_rows(session, principal, dataset, v, "diff")
        versions[vid] = v
    old, new = versions[from_id], versions[to_id]
    old_path, new_path = await local_parquet(storage, data_dir, old), await local_parquet(storage, data_dir, new)
    cache = (
        data_dir
        / "cache"
        / "diffs"
        / f"{old.id}-{new.id}-{hashlib.sha256((dataset.key_column or '').encode()).hexdigest()[:8]}.parquet"
    )
    return await asyncio.to_thread(
        diffs.diff, old_path, new_path, old.columns, new.columns, dataset.key_column, cache, kind, offset, limit
    )
