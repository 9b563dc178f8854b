"""Uploading a data file as a new dataset version: in one request, or resumable in parts over many
(the protocol and the parts' storage: core/uploads.py). Either way the whole file is then parsed and
converted to Parquet (datasets/ingest.py), all or nothing, and the background analysis is queued.

A resumable upload's version is `uploading` until completed; its `progress` holds the parts:
`{"size", "received", "parts"}`.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core import uploads
from axops.core.errors import Conflict, Invalid
from axops.core.storage import ObjectStore
from axops.core.tasks import defer_after_commit
from axops.core.text import check_text
from axops.datasets import ingest
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.schemas import DatasetCreate
from axops.datasets.service import create_dataset, get_dataset, get_version, next_version, require_write, work_dir


async def _new_version(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID | None,
    create: DatasetCreate | None,
    filename: str,
    **fields,
) -> tuple[Dataset, DatasetVersion]:
    """A new version of the dataset `dataset_id` (which the caller may change), or of a new dataset."""
    if dataset_id is not None:
        dataset = await get_dataset(session, principal, dataset_id, for_update=True)
        require_write(principal, dataset)
    else:
        assert create is not None
        dataset = await create_dataset(session, principal, create)
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=await next_version(session, dataset.id),
        filename=clean_filename(filename),
        created_by=principal.user_id,
        lineage={},
        columns=[],
        **fields,
    )
    session.add(version)
    await session.flush()
    return dataset, version


def clean_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    if not base or base in (".", ".."):
        raise Invalid("The file needs a name (e.g. data.csv).")
    return check_text(base, "file name")[:300]


def file_problem(filename: str, message: str) -> dict[str, object]:
    """The problem code and fields of a file the parser refused (the UI says it in the reader's language): the line at
    fault when the parser's message names one."""
    at = re.search(r"\bLine (\d+)", message)
    if at:
        return dict(code="dataset_file_invalid_line", file=filename, line=int(at.group(1)))
    return dict(code="dataset_file_invalid", file=filename)


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
        raise Invalid(f"{version.filename}: {exc}", **file_problem(version.filename, str(exc))) from None
    prefix = f"datasets/{dataset.id}/{version.id}"
    version.original_key = f"{prefix}/original/{version.filename}"
    version.parquet_key = f"{prefix}/data.parquet"
    await storage.put_stream(version.original_key, uploads.file_chunks(original))
    await storage.put_stream(version.parquet_key, uploads.file_chunks(result.parquet))
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
    dataset, version = await _new_version(session, principal, dataset_id, create, filename, status="processing")
    work = work_dir(data_dir)
    try:
        size, sha256 = await uploads.write_file(chunks, work / "original")
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


def _parts(version: DatasetVersion) -> uploads.Parts:
    return uploads.Parts.of(f"staging/datasets/{version.id}", version.progress)


async def start_upload(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID | None,
    create: DatasetCreate | None,
    filename: str,
    size: int,
) -> tuple[Dataset, DatasetVersion]:
    progress = {"size": size, "received": 0, "parts": []}
    dataset, version = await _new_version(
        session, principal, dataset_id, create, filename, status="uploading", size=size, progress=progress
    )
    await session.refresh(version)
    return dataset, version


async def _uploading(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    dataset, version = await get_version(session, principal, version_id, for_update=True)
    require_write(principal, dataset)
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
    """Store bytes [offset, offset + n) of the file (a 409 tells a client out of step where to resume)."""
    _, version = await _uploading(session, principal, version_id)
    parts = _parts(version)
    await uploads.append(storage, parts, offset, chunks)
    version.progress = {**version.progress, **parts.state()}
    await session.flush()
    return {"received": parts.received, "size": parts.size}


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
    parts = _parts(version)
    if not parts.complete:
        raise Conflict(f"Only {parts.received} of {parts.size} bytes have arrived.", received=parts.received)
    work = work_dir(data_dir)
    try:
        size, sha256 = await uploads.write_file(uploads.joined(storage, parts), work / "original")
        async with session.begin_nested():
            await _store(session, storage, dataset, version, work / "original", size, sha256, work, max_rows)
    except Invalid as exc:
        version.status, version.error = "failed", exc.detail
        await session.flush()
        await uploads.discard(storage, parts)
        return dataset, version, exc.detail
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Only now: a store failure above (503) keeps the parts, so completing again later works.
    await uploads.discard(storage, parts)
    await session.refresh(version)
    return dataset, version, None


async def abort_upload(
    session: AsyncSession, principal: Principal, storage: ObjectStore, version_id: uuid.UUID
) -> None:
    dataset, version = await _uploading(session, principal, version_id)
    await uploads.discard(storage, _parts(version))
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
    rows = await uploads.stale(session, DatasetVersion, expiry_hours)
    for version in rows:
        await uploads.discard(storage, _parts(version))
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
