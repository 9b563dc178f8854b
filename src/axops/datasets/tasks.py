"""Background work on datasets: the quality report and PII scan after every new version (with
progress on the version), and writing masked versions."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import shutil
import uuid

import procrastinate
import pyarrow.parquet as pq
from sqlalchemy import update

from axops.auth import recovery as auth_recovery
from axops.core import uploads
from axops.core.logging import event
from axops.core.state import task_state
from axops.datasets import pii_scan, quality, recovery, service
from axops.datasets import uploads as dataset_uploads
from axops.datasets.models import Dataset, DatasetVersion

log = logging.getLogger("axops.datasets")
tasks = procrastinate.Blueprint()


async def prepare_worker() -> None:
    """Load the Korean morphological analyser the PII pass uses before the worker takes tasks."""
    await asyncio.to_thread(pii_scan.pii.persons.warm)


async def _set(state, version_id: uuid.UUID, **values) -> None:
    async with state.db.sessionmaker() as session:
        await session.execute(update(DatasetVersion).where(DatasetVersion.id == version_id).values(**values))
        await session.commit()


async def _with_progress(state, version_id: uuid.UUID, step: str, fn, *args):
    """Run `fn(*args, progress)` in a thread; its progress reaches the version once a second."""
    seen = {"done": 0, "total": 0}

    def progress(done: int, total: int) -> None:
        seen.update(done=done, total=total)

    job = asyncio.ensure_future(asyncio.to_thread(fn, *args, progress))
    while not job.done():
        await _set(state, version_id, progress={"step": step, **seen})
        await asyncio.wait([job], timeout=1.0)
    return job.result()


async def analyse(state, version_id: uuid.UUID, run_quality: bool = True) -> None:
    async with state.db.sessionmaker() as session:
        version = await session.get(DatasetVersion, version_id)
        if version is None:
            return
        path = await service.local_parquet(state.storage, state.settings.data_dir, version)
        columns, review = version.columns, version.review_status
    values: dict = {}
    try:
        if run_quality:
            values["quality"] = await _with_progress(
                state, version_id, "quality", quality.report, path, columns, pii_scan.mask_values
            )
        report = await _with_progress(state, version_id, "pii", pii_scan.scan, path)
        values.update(pii=report, sensitivity=report["sensitivity"], error=None)
        if review == "uploaded":
            values["review_status"] = "scanned"
        event(log, "dataset.analysed", version_id=str(version_id), entities=sum(report["entities"].values()))
    except Exception as exc:
        values["error"] = f"Analysis failed: {type(exc).__name__}: {str(exc)[:300]}"
        event(log, "dataset.analysis_failed", logging.WARNING, version_id=str(version_id), error=type(exc).__name__)
    await _set(state, version_id, status="ready", progress={"step": "done"}, **values)


def masking_salt(secret: str, dataset_id: uuid.UUID) -> bytes:
    """Per-dataset salt: the same value hashes alike within a dataset, differently across datasets."""
    return hmac.new(secret.encode(), b"dataset-mask:" + dataset_id.bytes, hashlib.sha256).digest()


async def write_masked(state, version_id: uuid.UUID) -> None:
    async with state.db.sessionmaker() as session:
        version = await session.get(DatasetVersion, version_id)
        parent = (
            await session.get(DatasetVersion, version.parent_version_id)
            if version and version.parent_version_id
            else None
        )
        if version is None or parent is None:
            return
        dataset = await session.get(Dataset, version.dataset_id)
        source = await service.local_parquet(state.storage, state.settings.data_dir, parent)
        lineage = version.lineage
    work = service.work_dir(state.settings.data_dir)
    try:
        salt = masking_salt(state.settings.resolved_secret_key(), dataset.id)
        out = work / "data.parquet"
        changed = await _with_progress(
            state,
            version_id,
            "masking",
            pii_scan.write_masked,
            source,
            out,
            set(lineage["entities"]),
            lineage["mode"],
            salt,
            lineage.get("columns"),
        )
        key = f"datasets/{dataset.id}/{version_id}/data.parquet"
        obj = await state.storage.put_stream(key, uploads.file_chunks(out))
        columns = [{"name": f.name, "type": str(f.type)} for f in pq.read_schema(out)]  # masked numbers became text
        await _set(
            state,
            version_id,
            parquet_key=key,
            size=obj.size,
            sha256=obj.sha256,
            columns=columns,
            lineage={**lineage, "values_changed": changed},
        )
    except Exception as exc:
        await _set(state, version_id, status="failed", error=f"Masking failed: {type(exc).__name__}: {str(exc)[:300]}")
        event(log, "dataset.mask_failed", logging.WARNING, version_id=str(version_id), error=type(exc).__name__)
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    await analyse(state, version_id)


@tasks.task(name="analyse_version", pass_context=True, retry=1)
async def analyse_version_task(job_context, version_id: str, quality: bool = True) -> None:
    await analyse(task_state(job_context), uuid.UUID(version_id), run_quality=quality)


@tasks.task(name="mask_version", pass_context=True, retry=0)
async def mask_version_task(job_context, version_id: str) -> None:
    await write_masked(task_state(job_context), uuid.UUID(version_id))


@tasks.periodic(cron="47 * * * *", periodic_id="dataset-stale-uploads")
@tasks.task(name="discard_stale_uploads", pass_context=True, queueing_lock="dataset-stale-uploads")
async def discard_stale_uploads_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        discarded = await dataset_uploads.discard_stale_uploads(
            session, state.storage, state.settings.upload_expiry_hours
        )
        await session.commit()
    if discarded:
        event(log, "dataset.stale_uploads_discarded", versions=discarded)


async def purge_deleted(state) -> int:
    """Remove datasets deleted longer than AXOPS_DELETED_RETENTION_DAYS ago, rows and objects."""
    async for session in state.db.session():  # commits, then runs the object deletions
        purged = await auth_recovery.purge_expired(
            session, state.storage, recovery.DATASETS, state.settings.deleted_retention_days
        )
    if purged:
        event(log, "dataset.deleted_purged", datasets=purged)
    return purged


@tasks.periodic(cron="17 4 * * *", periodic_id="dataset-deleted-purge")
@tasks.task(name="purge_deleted", pass_context=True, queueing_lock="dataset-deleted-purge")
async def purge_deleted_task(job_context, timestamp: int) -> None:
    await purge_deleted(task_state(job_context))
