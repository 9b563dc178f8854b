"""Datasets: upload (one request or resumable), versions, preview, diff, quality and PII reports,
masked and split versions, review for training, and the sensitivity-based read policy.

Services flush, never commit. Heavy work (parsing, DuckDB, scanning) runs in worker threads so the
event loop keeps serving."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pyarrow.parquet as pq
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops import pii
from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.core.storage import ObjectStore
from axops.core.tasks import defer_after_commit
from axops.core.text import check_text
from axops.datasets import diff as diffs
from axops.datasets import ingest
from axops.datasets.models import SENSITIVITY, Dataset, DatasetVersion
from axops.datasets.quality import connect, literal, quote
from axops.datasets.schemas import DatasetCreate, DatasetUpdate

# Entity types whose presence, unmasked, blocks approval for training (without an override).
HIGH_RISK = frozenset({"RRN", "ARN", "PASSPORT", "DRIVER_LICENSE", "CREDIT_CARD", "BANK_ACCOUNT"})
# Who may read raw rows, by effective sensitivity (README: "Data access policy").
READ_POLICY = {
    "public": "anyone who can see the dataset",
    "internal": "anyone who can see the dataset",
    "confidential": "members of the owning team (and Admins)",
    "restricted": "Developers and up in the owning team (and Admins)",
}
_AUDITED_READS = ("confidential", "restricted")
MAX_PREVIEW = 500


def level_max(*levels: str | None) -> str:
    return max((lv for lv in levels if lv), key=SENSITIVITY.index, default="public")


def effective_sensitivity(dataset: Dataset, version: DatasetVersion | None) -> str:
    return level_max(dataset.sensitivity_floor, version.sensitivity if version else None)


# --- datasets ----------------------------------------------------------------------------------


def _visible(principal: Principal):
    if principal.is_admin:
        return True
    return or_(Dataset.visibility == "organization", Dataset.team_id.in_(principal.team_ids or [uuid.uuid4()]))


async def get_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, for_update: bool = False
) -> Dataset:
    q = select(Dataset).where(Dataset.id == dataset_id, _visible(principal))
    dataset = await session.scalar(q.with_for_update() if for_update else q)
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


def _require_owner(principal: Principal, dataset: Dataset) -> None:
    if not principal.can("datasets:write"):
        raise Forbidden("This action needs the 'datasets:write' permission, which your role or key lacks.")
    if not principal.sees_team(dataset.team_id):
        raise Forbidden("Only members of the dataset's team can change it.")


async def create_dataset(session: AsyncSession, principal: Principal, data: DatasetCreate) -> Dataset:
    if not principal.can("datasets:write"):
        raise Forbidden("This action needs the 'datasets:write' permission, which your role or key lacks.")
    team_id = data.team_id or (min(principal.team_ids) if principal.team_ids else None)
    if team_id is None:
        raise Invalid("Choose the owning team (team_id); you are not a member of any team yet.")
    if not principal.sees_team(team_id):
        raise Forbidden("You can only create datasets for your own teams.")
    if await session.scalar(select(Dataset.id).where(Dataset.name == data.name, Dataset.team_id == team_id)):
        raise Conflict(f"Your team already has a dataset named {data.name!r}.")
    dataset = Dataset(**data.model_dump(exclude={"team_id"}), team_id=team_id, created_by=principal.user_id)
    session.add(dataset)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Your team already has a dataset named {data.name!r}.") from exc
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
    _require_owner(principal, dataset)
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


async def delete_dataset(
    session: AsyncSession, principal: Principal, storage: ObjectStore, dataset_id: uuid.UUID, confirm_name: str
) -> None:
    dataset = await get_dataset(session, principal, dataset_id, for_update=True)
    _require_owner(principal, dataset)
    if confirm_name != dataset.name:
        raise Invalid("Type the dataset's exact name to confirm the deletion.")
    versions = (await session.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id))).all()
    keys = [k for v in versions for k in (v.original_key, v.parquet_key) if k]
    await session.delete(dataset)
    await session.flush()
    audit.record(
        session,
        "dataset.delete",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={"name": dataset.name, "versions": len(versions)},
    )

    async def remove() -> None:
        for key in keys:
            await storage.delete(key)

    session.info.setdefault("after_commit", []).append(remove)


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
    query = select(Dataset).where(_visible(principal))
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
            .where(DatasetVersion.id == version_id, _visible(principal))
        )
    ).first()
    if row is None:
        raise NotFound("No such dataset version.")
    if for_update:
        await session.refresh(row[1], with_for_update=True)
    return row[0], row[1]


async def _next_version(session: AsyncSession, dataset_id: uuid.UUID) -> int:
    current = await session.scalar(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset_id)
    )
    return (current or 0) + 1


async def _target(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID | None, create: DatasetCreate | None
) -> Dataset:
    if dataset_id is not None:
        dataset = await get_dataset(session, principal, dataset_id, for_update=True)
        _require_owner(principal, dataset)
        return dataset
    assert create is not None
    return await create_dataset(session, principal, create)


def _work_dir(data_dir: Path) -> Path:
    root = data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="dataset-", dir=root))


async def _receive(chunks: AsyncIterator[bytes], path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    async with await anyio.open_file(path, "wb") as f:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            await f.write(chunk)
    return size, digest.hexdigest()


def clean_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    if not base or base in (".", ".."):
        raise Invalid("The file needs a name (e.g. data.csv).")
    return check_text(base, "file name")[:300]


async def _store(
    session: AsyncSession,
    storage: ObjectStore,
    dataset: Dataset,
    version: DatasetVersion,
    original: Path,
    size: int,
    sha256: str,
    work: Path,
    max_rows: int,
) -> None:
    """Parse and convert the received file, store original and Parquet, queue the analysis."""
    try:
        result = await asyncio.to_thread(ingest.ingest, original, version.filename, work, max_rows)
    except ingest.IngestError as exc:
        raise Invalid(f"{version.filename}: {exc}", file=version.filename) from None
    prefix = f"datasets/{dataset.id}/{version.id}"
    version.original_key = f"{prefix}/original/{version.filename}"
    version.parquet_key = f"{prefix}/data.parquet"
    await storage.put_stream(version.original_key, _file_chunks(original))
    if result.parquet != original:
        await storage.put_stream(version.parquet_key, _file_chunks(result.parquet))
    else:
        await storage.put_stream(version.parquet_key, _file_chunks(original))
    version.format, version.encoding, version.size, version.sha256 = result.format, result.encoding, size, sha256
    version.row_count, version.columns = result.rows, result.columns
    version.status, version.progress = "processing", {"step": "queued"}
    await session.flush()
    audit.record(
        session,
        "dataset.version_upload",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "version": version.version,
            "format": result.format,
            "rows": result.rows,
            "bytes": size,
            "encoding": result.encoding,
        },
    )
    defer_after_commit(session, "datasets:analyse_version", version_id=str(version.id))


async def _file_chunks(path: Path, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(chunk_size):
            yield chunk


async def upload(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    data_dir: Path,
    *,
    dataset_id: uuid.UUID | None,
    create: DatasetCreate | None,
    filename: str,
    chunks: AsyncIterator[bytes],
    max_rows: int = ingest.MAX_ROWS,
) -> tuple[Dataset, DatasetVersion]:
    """One request: the body is streamed to a work file, parsed and converted; all or nothing."""
    dataset = await _target(session, principal, dataset_id, create)
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=await _next_version(session, dataset.id),
        status="processing",
        filename=clean_filename(filename),
        created_by=principal.user_id,
        lineage={},
        columns=[],
    )
    session.add(version)
    await session.flush()
    work = _work_dir(data_dir)
    try:
        size, sha256 = await _receive(chunks, work / "original")
        await _store(session, storage, dataset, version, work / "original", size, sha256, work, max_rows)
    except BaseException:
        for key in (version.original_key, version.parquet_key):
            if key:
                await storage.delete(key)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    await session.refresh(version)
    return dataset, version


# --- resumable uploads ---------------------------------------------------------------------------


def _part_key(version_id: uuid.UUID, offset: int) -> str:
    return f"staging/datasets/{version_id}/{offset:020d}"


async def start_upload(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID | None,
    create: DatasetCreate | None,
    filename: str,
    size: int,
) -> tuple[Dataset, DatasetVersion]:
    dataset = await _target(session, principal, dataset_id, create)
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=await _next_version(session, dataset.id),
        status="uploading",
        filename=clean_filename(filename),
        size=size,
        created_by=principal.user_id,
        lineage={},
        columns=[],
        progress={"size": size, "received": 0, "parts": []},
    )
    session.add(version)
    await session.flush()
    await session.refresh(version)
    return dataset, version


async def _uploading(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    dataset, version = await get_version(session, principal, version_id, for_update=True)
    _require_owner(principal, dataset)
    if version.status != "uploading":
        raise Conflict(f"Version {version.version} is {version.status}; chunks go to versions being uploaded.")
    return dataset, version


async def upload_chunk(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    version_id: uuid.UUID,
    offset: int,
    chunks: AsyncIterator[bytes],
) -> dict:
    _, version = await _uploading(session, principal, version_id)
    progress = dict(version.progress)
    if offset != progress["received"]:
        raise Conflict(
            f"Expected a chunk at offset {progress['received']}, got {offset}; resume from there.",
            received=progress["received"],
        )
    stored = await storage.put_stream(_part_key(version.id, offset), chunks)
    if stored.size == 0 or progress["received"] + stored.size > progress["size"]:
        await storage.delete(stored.path)
        raise Invalid(f"The chunk is empty or runs past the declared size of {progress['size']} bytes.")
    progress["received"] += stored.size
    progress["parts"] = [*progress["parts"], offset]
    version.progress = progress
    await session.flush()
    return {"received": progress["received"], "size": progress["size"]}


async def _discard_parts(storage: ObjectStore, version: DatasetVersion) -> None:
    for offset in (version.progress or {}).get("parts", []):
        await storage.delete(_part_key(version.id, offset))


async def complete_upload(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    data_dir: Path,
    version_id: uuid.UUID,
    max_rows: int = ingest.MAX_ROWS,
) -> tuple[Dataset, DatasetVersion, str | None]:
    """Join the chunks into a work file and process it like a one-request upload. A file that
    does not parse leaves a `failed` version (with the reason) and no data; returns the error."""
    dataset, version = await _uploading(session, principal, version_id)
    if version.progress["received"] != version.progress["size"]:
        raise Conflict(
            f"Only {version.progress['received']} of {version.progress['size']} bytes have arrived.",
            received=version.progress["received"],
        )
    work = _work_dir(data_dir)

    async def joined() -> AsyncIterator[bytes]:
        for offset in version.progress["parts"]:
            async for chunk in storage.get_stream(_part_key(version.id, offset)):
                yield chunk

    try:
        size, sha256 = await _receive(joined(), work / "original")
        async with session.begin_nested():
            await _store(session, storage, dataset, version, work / "original", size, sha256, work, max_rows)
    except Invalid as exc:
        version.status, version.error = "failed", exc.detail
        await session.flush()
        return dataset, version, exc.detail
    finally:
        shutil.rmtree(work, ignore_errors=True)
        await _discard_parts(storage, version)
    await session.refresh(version)
    return dataset, version, None


async def abort_upload(
    session: AsyncSession, principal: Principal, storage: ObjectStore, version_id: uuid.UUID
) -> None:
    dataset, version = await _uploading(session, principal, version_id)
    await _discard_parts(storage, version)
    await session.delete(version)
    await session.flush()
    audit.record(
        session,
        "dataset.version_upload_abort",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "version": version.version,
            "bytes_received": version.progress.get("received", 0),
        },
    )


async def discard_stale_uploads(session: AsyncSession, storage: ObjectStore, expiry_hours: int) -> int:
    """Remove resumable uploads nobody has sent a chunk to within the expiry, with their chunks."""
    rows = (
        await session.scalars(
            select(DatasetVersion)
            .where(
                DatasetVersion.status == "uploading",
                DatasetVersion.updated_at < func.now() - func.make_interval(0, 0, 0, 0, expiry_hours),
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    for version in rows:
        await _discard_parts(storage, version)
        await session.delete(version)
        audit.record(
            session,
            "dataset.version_upload_abort",
            resource_type="dataset",
            resource_id=version.dataset_id,
            summary={"version": version.version, "expired": True},
            actor=SYSTEM,
        )
    await session.flush()
    return len(rows)


# --- reading rows --------------------------------------------------------------------------------


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
        raise Forbidden(f"This data is {level}: raw rows are for {READ_POLICY[level]}.", sensitivity=level)
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


def _has_data(version: DatasetVersion) -> None:
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
        await _receive(storage.get_stream(version.parquet_key), partial)
        partial.rename(cached)
    return cached


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
    _has_data(version)
    guard_rows(session, principal, dataset, version, "preview")
    path = await local_parquet(storage, data_dir, version)
    return version, await asyncio.to_thread(_read_rows, path, offset, min(limit, MAX_PREVIEW))


async def original_file(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    dataset, version = await get_version(session, principal, version_id)
    _has_data(version)
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
        _has_data(v)
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


# --- analysis, masking, splitting, review -------------------------------------------------------


async def request_scan(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, version_id: uuid.UUID | None
) -> DatasetVersion:
    dataset = await get_dataset(session, principal, dataset_id)
    _require_owner(principal, dataset)
    if version_id is None:
        version = await latest_version(session, dataset.id)
        if version is None:
            raise Conflict("The dataset has no version to scan yet.")
    else:
        _, version = await get_version(session, principal, version_id)
        if version.dataset_id != dataset.id:
            raise NotFound("No such version of this dataset.")
    _has_data(version)
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
    _require_owner(principal, dataset)
    _has_data(version)
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
        version=await _next_version(session, dataset.id),
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
    work = _work_dir(data_dir)
    created: list[DatasetVersion] = []
    try:
        files = await asyncio.to_thread(_split_files, path, work, ratios, seed, stratify)
        number = await _next_version(session, dataset.id)
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
            obj = await storage.put_stream(version.parquet_key, _file_chunks(file))
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


async def review(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID, decision: str, comment: str, override_pii: bool
) -> DatasetVersion:
    if not principal.can("datasets:approve"):
        raise Forbidden("Reviewing data for training needs the 'datasets:approve' permission.")
    dataset, version = await get_version(session, principal, version_id, for_update=True)
    if not principal.sees_team(dataset.team_id):
        raise Forbidden("Only reviewers in the dataset's team (or Admins) can approve or reject its versions.")
    if version.status != "ready" or version.review_status == "uploaded":
        raise Conflict("The version can be reviewed once its PII scan has finished.")
    risky = sorted(HIGH_RISK & set((version.pii or {}).get("entities", {})))
    overridden = False
    if decision == "approve" and risky:
        if not override_pii:
            raise Conflict(
                f"Unmasked high-risk PII ({', '.join(risky)}): create a masked version, or approve with an override.",
                entities=risky,
            )
        if not principal.can("datasets:override_pii"):
            raise Forbidden("Approving data with high-risk PII needs the 'datasets:override_pii' permission.")
        overridden = True
    version.review_status = "approved" if decision == "approve" else "rejected"
    version.reviewed_by, version.reviewed_at, version.review_comment = (
        principal.user_id,
        datetime.now(UTC),
        comment or None,
    )
    await session.flush()
    audit.record(
        session,
        f"dataset.version_{version.review_status}",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "version": version.version,
            "comment": comment,
            "pii_override": overridden,
            "entities": risky,
        },
    )
    await session.refresh(version)
    return version


async def approved_version(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    """For training: only approved versions are accepted (409 otherwise)."""
    dataset, version = await get_version(session, principal, version_id)
    if version.review_status != "approved":
        raise Conflict(
            f"Dataset {dataset.name} v{version.version} is not approved for training ({version.review_status})."
        )
    return dataset, version
