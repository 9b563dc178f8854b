"""Datasets and their versions, and the sensitivity-based read policy.

Uploads (one request or resumable) live in datasets/uploads.py, reading rows (preview, download, diff)
in datasets/reads.py, versions made from others (masked, split) and re-scans in datasets/derived.py,
review for training in datasets/reviews.py, deletion, restore and purge in datasets/recovery.py; the background analysis in datasets/tasks.py.

Services flush, never commit. Heavy work (parsing, DuckDB, scanning) runs in worker threads so the
event loop keeps serving."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require, require_owner, visible
from axops.core import uploads
from axops.core.errors import Conflict, Forbidden, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.core.storage import ObjectStore
from axops.datasets.models import SENSITIVITY, Dataset, DatasetVersion
from axops.datasets.schemas import DatasetCreate, DatasetUpdate

# Who may read raw rows, by effective sensitivity (README: "Data access policy").
READ_POLICY = {
    "public": "anyone who can see the dataset",
    "internal": "anyone who can see the dataset",
    "confidential": "members of the owning team (and Admins)",
    "restricted": "Developers and up in the owning team (and Admins)",
}
_AUDITED_READS = ("confidential", "restricted")


def level_max(*levels: str | None) -> str:
    return max((lv for lv in levels if lv), key=SENSITIVITY.index, default="public")


def effective_sensitivity(dataset: Dataset, version: DatasetVersion | None) -> str:
    return level_max(dataset.sensitivity_floor, version.sensitivity if version else None)


# --- datasets ----------------------------------------------------------------------------------


async def get_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, for_update: bool = False
) -> Dataset:
    q = select(Dataset).where(Dataset.id == dataset_id, visible(principal, Dataset))
    dataset = await session.scalar(q.with_for_update() if for_update else q)
    if dataset is None:
        raise NotFound("No such dataset.", code="dataset_not_found")
    return dataset


def require_write(principal: Principal, dataset: Dataset) -> None:
    """Changing a dataset needs datasets:write and membership of its team (Admin: any team)."""
    require_owner(principal, dataset, "datasets:write", "dataset")


async def create_dataset(session: AsyncSession, principal: Principal, data: DatasetCreate) -> Dataset:
    require(principal, "datasets:write")
    team_id = owning_team(principal, data.team_id)
    holder = (
        await session.execute(
            select(Dataset.id, Dataset.deleted_at).where(Dataset.name == data.name, Dataset.team_id == team_id)
        )
    ).first()
    if holder is not None and holder.deleted_at is not None:
        raise Conflict(
            f"A deleted dataset of your team is named {data.name!r}: restore it, or use the name after it is purged.",
            code="dataset_name_held_by_deleted",
            name=data.name,
        )
    if holder is not None:
        raise Conflict(
            f"Your team already has a dataset named {data.name!r}.", code="dataset_name_taken", name=data.name
        )
    dataset = Dataset(**data.model_dump(exclude={"team_id"}), team_id=team_id, created_by=principal.user_id)
    session.add(dataset)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Your team already has a dataset named {data.name!r}.", code="dataset_name_taken", name=data.name
        ) from exc
    audit.record(
        session,
        "dataset.create",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=team_id,
        summary={"name": dataset.name},
    )
    await session.refresh(dataset)
    return dataset


async def update_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, data: DatasetUpdate
) -> Dataset:
    dataset = await get_dataset(session, principal, dataset_id, for_update=True)
    require_write(principal, dataset)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k == "key_column"}
    before = {k: getattr(dataset, k) for k in changes}
    for key, value in changes.items():
        setattr(dataset, key, value)
    await session.flush()
    audit.record(
        session,
        "dataset.update",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={"name": dataset.name, "before": before, "after": changes},
    )
    await session.refresh(dataset)
    return dataset


async def list_datasets(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None,
    team_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[Dataset, DatasetVersion | None, str | None]], str | None]:
    latest = (
        select(DatasetVersion.dataset_id, func.max(DatasetVersion.version).label("v"))
        .where(DatasetVersion.status.in_(("processing", "ready")))
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    query = select(Dataset).where(visible(principal, Dataset))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Dataset.name.ilike(pattern), Dataset.description.ilike(pattern)))
    if team_id:
        query = query.where(Dataset.team_id == team_id)
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(func.row(Dataset.created_at, Dataset.id) < func.row(created, id_))
    rows = (await session.scalars(query.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit + 1))).all()
    page, next_cursor = page_of(list(rows), limit)
    ids = [d.id for d in page]
    versions = {}
    if ids:
        found = await session.scalars(
            select(DatasetVersion)
            .join(latest, (latest.c.dataset_id == DatasetVersion.dataset_id) & (latest.c.v == DatasetVersion.version))
            .where(DatasetVersion.dataset_id.in_(ids))
        )
        versions = {v.dataset_id: v for v in found}
    teams = await team_names(session, [d.team_id for d in page])
    return [(d, versions.get(d.id), teams.get(d.team_id)) for d in page], next_cursor


async def team_names(session: AsyncSession, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not team_ids:
        return {}
    rows = await session.execute(text("SELECT id, name FROM teams WHERE id = ANY(:ids)"), {"ids": list(set(team_ids))})
    return dict(rows.all())


async def latest_version(session: AsyncSession, dataset_id: uuid.UUID) -> DatasetVersion | None:
    return await session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.status.in_(("processing", "ready")))
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )


# --- versions ----------------------------------------------------------------------------------


async def list_versions(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID
) -> tuple[Dataset, list[DatasetVersion]]:
    dataset = await get_dataset(session, principal, dataset_id)
    return dataset, list(
        (
            await session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset_id)
                .order_by(DatasetVersion.version.desc())
            )
        ).all()
    )


async def get_version(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID, for_update: bool = False
) -> tuple[Dataset, DatasetVersion]:
    row = (
        await session.execute(
            select(Dataset, DatasetVersion)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .where(DatasetVersion.id == version_id, visible(principal, Dataset))
        )
    ).first()
    if row is None:
        raise NotFound("No such dataset version.", code="dataset_version_not_found")
    if for_update:
        await session.refresh(row[1], with_for_update=True)
    return row[0], row[1]


async def next_version(session: AsyncSession, dataset_id: uuid.UUID) -> int:
    current = await session.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset_id)
    )
    return (current or 0) + 1


def work_dir(data_dir: Path) -> Path:
    """A fresh scratch directory under the data directory (the caller removes it)."""
    root = data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="dataset-", dir=root))


# --- who may read rows ---------------------------------------------------------------------------


def may_read_rows(principal: Principal, dataset: Dataset, level: str) -> bool:
    if principal.is_admin or level in ("public", "internal"):
        return True
    in_team = dataset.team_id in principal.team_ids
    if level == "confidential":
        return in_team
    return in_team and principal.role in ("developer", "operator", "admin")


def guard_rows(
    session: AsyncSession, principal: Principal, dataset: Dataset, version: DatasetVersion, what: str
) -> None:
    """Raise unless the caller may read this version's raw rows; audit reads of sensitive data."""
    level = effective_sensitivity(dataset, version)
    if not may_read_rows(principal, dataset, level):
        raise Forbidden(
            f"This data is {level}: raw rows are for {READ_POLICY[level]}.",
            code="dataset_restricted",
            sensitivity=level,
        )
    if level in _AUDITED_READS:
        audit.record(
            session,
            "dataset.read_rows",
            resource_type="dataset",
            resource_id=dataset.id,
            team_id=dataset.team_id,
            summary={"name": dataset.name, "version": version.version, "what": what, "sensitivity": level},
        )


def values_hidden(principal: Principal, dataset: Dataset, version: DatasetVersion) -> str | None:
    """Why the raw values kept in a version's reports (top values, PII examples, failure details)
    are withheld from the caller — those who may not read its rows get the aggregates only — or None."""
    level = effective_sensitivity(dataset, version)
    if may_read_rows(principal, dataset, level):
        return None
    return f"This data is {level}: its values are for {READ_POLICY[level]}."


def without_values(version: DatasetVersion) -> dict:
    """The version's reports with the raw values taken out (see `values_hidden`)."""
    quality, pii_report = version.quality, version.pii
    if quality:
        quality = {**quality, "columns": [{**c, "top_values": []} for c in quality.get("columns", [])]}
    if pii_report:
        pii_report = {
            **pii_report,
            "columns": {n: {**c, "examples": []} for n, c in pii_report.get("columns", {}).items()},
        }
    error = "Failed; the details are hidden by the data access policy." if version.error else None
    return {"quality": quality, "pii": pii_report, "error": error}


def has_data(version: DatasetVersion) -> None:
    if version.status not in ("processing", "ready") or not version.parquet_key:
        raise Conflict(f"Version {version.version} has no data ({version.status}).")


async def local_parquet(storage: ObjectStore, data_dir: Path, version: DatasetVersion) -> Path:
    """The version's Parquet file on local disk: in place for a local store, else a cached copy."""
    local = storage.local_path(version.parquet_key)
    if local is not None:
        return local
    cached = data_dir / "cache" / "datasets" / f"{version.id}.parquet"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        await uploads.write_file(storage.get_stream(version.parquet_key), partial)
        partial.rename(cached)
    return cached
