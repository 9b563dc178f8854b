"""Background work of the registry: imports (with progress), the archive retention sweep and the purge of deleted models."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import procrastinate
from sqlalchemy import select, update

from axops.auth import recovery as auth_recovery
from axops.core.logging import event
from axops.core.state import task_state
from axops.registry import card as cards
from axops.registry import files, imports, recovery, uploads
from axops.registry.models import ModelFile, ModelVersion, RegisteredModel

log = logging.getLogger("axops.registry")
tasks = procrastinate.Blueprint()


async def _progress(state, version_id: uuid.UUID, **values) -> None:
    async with state.db.sessionmaker() as session:
        await session.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(**values))
        await session.commit()


async def run_local_import(
    state,
    version_id: uuid.UUID,
    path: str,
    allow_patterns: list[str] | None,
    bounds: imports.ImportBounds | None = None,
) -> None:
    """Copy a directory into the version's storage, file by file, reporting progress; then fill the card.
    A user's directory is checked against AXOPS_IMPORT_ROOTS again here: they may have changed since the request."""
    stored: list[ModelFile] = []
    try:
        if bounds is None:
            root, bounds = imports.import_source(state.settings, path)
        else:
            root = Path(path)
        found = imports.local_files(root, allow_patterns, bounds)
        total = sum(p.stat().st_size for _, p in found)
        done = 0
        async with state.db.sessionmaker() as session:
            model_id = await session.scalar(select(ModelVersion.model_id).where(ModelVersion.id == version_id))
        for i, (rel, p) in enumerate(found):
            key = f"models/{model_id}/{version_id}/{rel}"
            obj = await state.storage.put_stream(key, imports.file_chunks(p, bounds=bounds))
            stored.append(ModelFile(version_id=version_id, path=rel, size=obj.size, sha256=obj.sha256, storage_key=key))
            done += obj.size
            await _progress(
                state,
                version_id,
                progress={"files_done": i + 1, "files_total": len(found), "bytes_done": done, "bytes_total": total},
            )
        async with state.db.sessionmaker() as session:
            version = await session.get(ModelVersion, version_id, with_for_update=True)
            model = await session.get(RegisteredModel, version.model_id, with_for_update=True)
            await files.finish_version(session, state.storage, model, version, stored)
            session.add_all(stored)
            await session.commit()
        event(log, "model.import_done", version_id=str(version_id), files=len(stored), bytes=done)
    except Exception as exc:
        await files.delete_objects(state.storage, stored)
        message = (
            str(exc)
            if isinstance(exc, cards.CardError | ValueError)
            else getattr(exc, "detail", None) or type(exc).__name__
        )
        await _progress(state, version_id, status="failed", error=f"Import failed: {message}")
        event(log, "model.import_failed", logging.WARNING, version_id=str(version_id), error=message)


# Tokens given with an import request are handed to the in-process worker through memory only:
# never written to the job queue, the database or a log. (A separate worker process uses HF_TOKEN.)
_hf_tokens: dict[str, str] = {}


def hand_over_token(version_id: uuid.UUID, token: str | None) -> None:
    if token:
        _hf_tokens[str(version_id)] = token


def hf_error_message(exc: Exception, repo_id: str, revision: str | None, endpoint: str) -> str:
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return f"'{repo_id}' is gated: accept its terms on {endpoint} and import with a token that has access."
    if isinstance(exc, errors.RepositoryNotFoundError):
        return f"Repository '{repo_id}' was not found on {endpoint} (or it is private: import with a token)."
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"Revision '{revision}' of '{repo_id}' was not found on {endpoint}."
    if isinstance(exc, errors.LocalEntryNotFoundError | OSError) or "connect" in type(exc).__name__.lower():
        return (
            f"Cannot reach {endpoint}. Set HF_ENDPOINT to your internal mirror, "
            "or import from a local directory or a Hugging Face cache instead."
        )
    return f"{type(exc).__name__}: {exc}"


async def run_hf_import(
    state, version_id: uuid.UUID, repo_id: str, revision: str | None, allow_patterns: list[str] | None
) -> None:
    """Download a snapshot (through HF_ENDPOINT when set) into the data dir's cache, then import it."""
    import os

    import anyio
    from huggingface_hub import snapshot_download

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    token = _hf_tokens.pop(str(version_id), None)
    await _progress(state, version_id, progress={"phase": "downloading"})
    try:
        path = await anyio.to_thread.run_sync(
            lambda: snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=allow_patterns,
                token=token or None,
                endpoint=endpoint,
                cache_dir=state.settings.data_dir / "hf-cache",
                etag_timeout=10,
            )
        )
    except Exception as exc:
        message = hf_error_message(exc, repo_id, revision, endpoint)
        await _progress(state, version_id, status="failed", error=f"Import failed: {message}")
        event(log, "model.hf_import_failed", logging.WARNING, version_id=str(version_id), repo=repo_id, error=message)
        return
    cache = (state.settings.data_dir / "hf-cache").resolve()
    await run_local_import(state, version_id, path, None, imports.ImportBounds((cache,)))


@tasks.task(name="import_huggingface", pass_context=True, retry=0)
async def import_hf_task(
    job_context, version_id: str, repo_id: str, revision: str | None = None, allow_patterns: list[str] | None = None
) -> None:
    await run_hf_import(task_state(job_context), uuid.UUID(version_id), repo_id, revision, allow_patterns)


@tasks.task(name="import_local", pass_context=True, retry=0)
async def import_local_task(job_context, version_id: str, path: str, allow_patterns: list[str] | None = None) -> None:
    await run_local_import(task_state(job_context), uuid.UUID(version_id), path, allow_patterns)


@tasks.periodic(cron="41 * * * *", periodic_id="model-archive-retention")
@tasks.task(name="purge_archived", pass_context=True, queueing_lock="model-archive-retention")
async def purge_archived_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        purged = await files.purge_archived_artifacts(
            session, state.storage, state.settings.model_archive_retention_days
        )
        discarded = await uploads.discard_stale_uploads(session, state.storage, state.settings.upload_expiry_hours)
        await session.commit()
    if purged:
        event(log, "model.archive_purged", versions=purged)
    if discarded:
        event(log, "model.stale_uploads_discarded", versions=discarded)


async def purge_deleted(state) -> int:
    """Remove models deleted longer than AXOPS_DELETED_RETENTION_DAYS ago, rows and objects."""
    async for session in state.db.session():  # commits, then runs the object deletions
        purged = await auth_recovery.purge_expired(
            session, state.storage, recovery.MODELS, state.settings.deleted_retention_days
        )
    if purged:
        event(log, "model.deleted_purged", models=purged)
    return purged


@tasks.periodic(cron="13 4 * * *", periodic_id="model-deleted-purge")
@tasks.task(name="purge_deleted", pass_context=True, queueing_lock="model-deleted-purge")
async def purge_deleted_task(job_context, timestamp: int) -> None:
    await purge_deleted(task_state(job_context))
