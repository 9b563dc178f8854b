"""Versions made from another: masked (PII replaced, hashed or removed: datasets/tasks.py writes them)
and split (train / validation / test); and scanning a version for PII again."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from axops import pii
from axops.auth import audit
from axops.auth.deps import Principal
from axops.core import uploads
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.core.tasks import defer_after_commit
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.quality import connect, literal, quote
from axops.datasets.service import (
    get_dataset,
    get_version,
    has_data,
    latest_version,
    local_parquet,
    next_version,
    require_write,
    work_dir,
)


async def request_scan(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, version_id: uuid.UUID | None
) -> DatasetVersion:
    dataset = await get_dataset(session, principal, dataset_id)
    require_write(principal, dataset)
    if version_id is None:
        version = await latest_version(session, dataset.id)
        if version is None:
            raise Conflict("The dataset has no version to scan yet.")
    else:
        _, version = await get_version(session, principal, version_id)
        if version.dataset_id != dataset.id:
            raise NotFound("No such version of this dataset.")
    has_data(version)
    version.progress = {"step": "queued"}
    await session.flush()
    audit.record(
        session,
        "dataset.scan_requested",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={"name": dataset.name, "version": version.version},
    )
    defer_after_commit(session, "datasets:analyse_version", version_id=str(version.id), quality=False)
    await session.refresh(version)
    return version


async def _derived(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    dataset, version = await get_version(session, principal, version_id)
    require_write(principal, dataset)
    has_data(version)
    return dataset, version


async def create_masked(
    session: AsyncSession,
    principal: Principal,
    version_id: uuid.UUID,
    entities: list[str],
    mode: str,
    columns: list[str] | None,
) -> DatasetVersion:
    dataset, source = await _derived(session, principal, version_id)
    unknown = sorted(set(entities) - set(pii.ALL_ENTITIES))
    if unknown:
        raise Invalid(f"Unknown entity types: {', '.join(unknown)}. Known: {', '.join(sorted(pii.ALL_ENTITIES))}.")
    names = {c["name"] for c in source.columns}
    if columns and (missing := [c for c in columns if c not in names]):
        raise Invalid(f"No such columns: {', '.join(missing[:10])}.", columns=sorted(names)[:200])
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=await next_version(session, dataset.id),
        status="processing",
        source="masked",
        parent_version_id=source.id,
        filename=f"{Path(source.filename).stem}.masked.parquet",
        format="parquet",
        lineage={"masked_from": source.version, "entities": sorted(entities), "mode": mode, "columns": columns},
        columns=source.columns,
        row_count=source.row_count,
        created_by=principal.user_id,
        progress={"step": "queued"},
    )
    session.add(version)
    await session.flush()
    audit.record(
        session,
        "dataset.version_mask",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "from": source.version,
            "version": version.version,
            "entities": sorted(entities),
            "mode": mode,
        },
    )
    defer_after_commit(session, "datasets:mask_version", version_id=str(version.id))
    await session.refresh(version)
    return version


def _split_files(
    path: Path, out: Path, ratios: dict[str, float], seed: int, stratify: str | None
) -> dict[str, tuple[Path, int]]:
    """Deterministic split: rows ordered by a seeded hash (within each stratum when stratifying)
    and cut at the cumulative ratios."""
    con = connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({literal(path)})")
        part = f"PARTITION BY {quote(stratify)}" if stratify else ""
        con.execute(f"""CREATE TEMP TABLE r AS SELECT *,
            (row_number() OVER ({part} ORDER BY hash(file_row_number, {int(seed)})) - 1)::DOUBLE
              / count(*) OVER ({part}) AS __u
            FROM read_parquet({literal(path)}, file_row_number = true)""")
        bounds, lo, files = {}, 0.0, {}
        for name, ratio in ratios.items():
            bounds[name] = (lo, lo + ratio)
            lo += ratio
        last = list(ratios)[-1]
        for name, (a, b) in bounds.items():
            target = out / f"{name}.parquet"
            upper = "TRUE" if name == last else f"__u < {b!r}"
            con.execute(
                f"COPY (SELECT * EXCLUDE (__u, file_row_number) FROM r WHERE __u >= {a!r} AND {upper}) "
                f"TO {literal(target)} (FORMAT parquet, COMPRESSION zstd)"
            )
            files[name] = (target, pq.ParquetFile(target).metadata.num_rows)
        return files
    finally:
        con.close()


async def split(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    data_dir: Path,
    version_id: uuid.UUID,
    ratios: dict[str, float],
    seed: int,
    stratify: str | None,
) -> list[DatasetVersion]:
    dataset, source = await _derived(session, principal, version_id)
    if stratify and stratify not in {c["name"] for c in source.columns}:
        raise Invalid(
            f"No column named {stratify!r} to stratify on.", columns=[c["name"] for c in source.columns][:200]
        )
    ratios = {k: v for k, v in ratios.items() if v > 0}
    path = await local_parquet(storage, data_dir, source)
    work = work_dir(data_dir)
    created: list[DatasetVersion] = []
    try:
        files = await asyncio.to_thread(_split_files, path, work, ratios, seed, stratify)
        number = await next_version(session, dataset.id)
        for i, (name, (file, rows)) in enumerate(files.items()):
            version = DatasetVersion(
                dataset_id=dataset.id,
                version=number + i,
                label=name,
                status="processing",
                source="split",
                parent_version_id=source.id,
                filename=f"{Path(source.filename).stem}.{name}.parquet",
                format="parquet",
                columns=source.columns,
                row_count=rows,
                lineage={
                    "split_from": source.version,
                    "part": name,
                    "ratios": ratios,
                    "seed": seed,
                    "stratify_column": stratify,
                },
                sensitivity=source.sensitivity,
                created_by=principal.user_id,
                progress={"step": "queued"},
            )
            session.add(version)
            await session.flush()
            version.parquet_key = f"datasets/{dataset.id}/{version.id}/data.parquet"
            obj = await storage.put_stream(version.parquet_key, uploads.file_chunks(file))
            version.size, version.sha256 = obj.size, obj.sha256
            created.append(version)
            defer_after_commit(session, "datasets:analyse_version", version_id=str(version.id))
        await session.flush()
    except BaseException:
        for v in created:
            await storage.delete(v.parquet_key)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    audit.record(
        session,
        "dataset.version_split",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "from": source.version,
            "parts": {v.label: v.version for v in created},
            "seed": seed,
        },
    )
    for v in created:
        await session.refresh(v)
    return created
