"""Resumable uploads of a model version (the protocol and the parts' storage: core/uploads.py).

Declare the version's files; send each file's bytes in order (any chunk size; a lost connection
resumes from the offset the server reports); then complete. Until then the version is listed as
`uploading`, never as ready. The version's `progress` holds each file's parts:
`{"files": {path: {size, received, parts, sha256 (declared), part_sha256}}, "bytes_total", "bytes_done"}`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core import uploads
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.registry import card as cards
from axops.registry.files import MAX_FILES_PER_VERSION, clean_path, delete_objects, finish_version, record_upload
from axops.registry.models import ModelFile, ModelVersion, RegisteredModel
from axops.registry.service import get_model, get_version, next_version, require_write


def _parts(version: ModelVersion, path: str) -> uploads.Parts:
    return uploads.Parts.of(f"staging/{version.id}/{path}", version.progress["files"][path], label=path)


async def start_upload(
    session: AsyncSession,
    principal: Principal,
    model_id: uuid.UUID,
    files: list[tuple[str, int, str | None]],
    base_version_id: uuid.UUID | None,
) -> ModelVersion:
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    if not files or len(files) > MAX_FILES_PER_VERSION:
        raise Invalid(f"Declare between 1 and {MAX_FILES_PER_VERSION} files.")
    declared = {}
    for path, size, sha256 in files:
        clean = clean_path(path)
        if clean in declared:
            raise Invalid(f"The file {clean!r} is declared twice.")
        if size <= 0:
            raise Invalid(f"{clean}: is empty (0 bytes)", code="empty_file", file=clean)
        declared[clean] = {"size": size, "received": 0, "parts": [], "sha256": sha256}
    version = ModelVersion(
        model_id=model.id,
        version=await next_version(session, model.id),
        status="uploading",
        source="upload",
        base_version_id=base_version_id,
        created_by=principal.user_id,
        dataset_version_ids=[],
        progress={"files": declared, "bytes_total": sum(f["size"] for f in declared.values()), "bytes_done": 0},
    )
    session.add(version)
    await session.flush()
    audit.record(
        session,
        "model.version_upload_start",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "version": version.version, "files": len(declared)},
    )
    return version


async def _uploading_version(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[RegisteredModel, ModelVersion]:
    model, version = await get_version(session, principal, version_id)
    require_write(principal, model)
    version = await session.get(ModelVersion, version_id, with_for_update=True, populate_existing=True)
    if version.status != "uploading":
        raise Conflict(f"Version {version.version} is {version.status}; chunks go to versions being uploaded.")
    return model, version


async def upload_chunk(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    version_id: uuid.UUID,
    path: str,
    offset: int,
    chunks: AsyncIterator[bytes],
) -> dict:
    """Store bytes [offset, offset + n) of a declared file (a 409 tells a client out of step where to resume)."""
    _, version = await _uploading_version(session, principal, version_id)
    files = version.progress["files"]
    if path not in files:
        raise NotFound(f"{path!r} is not one of this upload's declared files.")
    parts = _parts(version, path)
    stored = await uploads.append(storage, parts, offset, chunks)
    # part_sha256: of the latest part, so a file that came in one part is moved, not read again.
    entry = {**files[path], **parts.state(), "part_sha256": stored.sha256}
    progress = dict(version.progress, files=dict(files, **{path: entry}))
    progress["bytes_done"] = sum(f["received"] for f in progress["files"].values())
    version.progress = progress
    await session.flush()
    return {"path": path, "received": parts.received, "size": parts.size}


async def abort_upload(
    session: AsyncSession, principal: Principal, storage: ObjectStore, version_id: uuid.UUID
) -> None:
    """Give up a resumable upload: its chunks are deleted and the version disappears."""
    _, version = await _uploading_version(session, principal, version_id)
    await _discard(session, storage, version)


async def discard_stale_uploads(session: AsyncSession, storage: ObjectStore, expiry_hours: int) -> int:
    """Remove resumable uploads nobody has sent a chunk to within the expiry, with their chunks."""
    rows = await uploads.stale(session, ModelVersion, expiry_hours, ModelVersion.source == "upload")
    for version in rows:
        await _discard(session, storage, version, actor=SYSTEM)
    return len(rows)


async def _discard(session: AsyncSession, storage: ObjectStore, version: ModelVersion, **audit_extra) -> None:
    for path in version.progress.get("files", {}):
        await uploads.discard(storage, _parts(version, path))
    await session.delete(version)
    await session.flush()
    audit.record(
        session,
        "model.version_upload_abort",
        resource_type="model",
        resource_id=version.model_id,
        summary={"version": version.version, "bytes_received": version.progress.get("bytes_done", 0)},
        **audit_extra,
    )


async def complete_upload(
    session: AsyncSession, principal: Principal, storage: ObjectStore, version_id: uuid.UUID
) -> ModelVersion:
    """Join each file's chunks (streamed), check checksums, fill the card; the version becomes ready."""
    model, version = await _uploading_version(session, principal, version_id)
    model = await session.get(RegisteredModel, model.id, with_for_update=True)
    files = version.progress["files"]
    missing = [p for p, f in files.items() if f["received"] != f["size"]]
    if missing:
        raise Conflict(f"Not every file is complete yet: {', '.join(missing[:10])}.", incomplete=missing)
    stored: list[ModelFile] = []
    # Parts are discarded once the version is made or refused; a store failure (503) keeps them, so
    # completing again later works.
    try:
        for path, entry in files.items():
            key = f"models/{model.id}/{version.id}/{path}"
            obj = await uploads.assemble(storage, _parts(version, path), key, entry.get("part_sha256"))
            stored.append(
                ModelFile(version_id=version.id, path=path, size=obj.size, sha256=obj.sha256, storage_key=key)
            )
            if entry.get("sha256") and entry["sha256"] != obj.sha256:
                raise cards.CardError(
                    path, f"sha256 is {obj.sha256}, not the declared {entry['sha256']} (corrupted in transit?)"
                )
        await finish_version(session, storage, model, version, stored)
    except cards.CardError as exc:
        # Recorded, not raised: the failed state must be committed for the uploader to see it.
        await delete_objects(storage, stored)
        version.status, version.error = "failed", f"The version was not created: {exc}"
        await session.flush()
        await _discard_parts(storage, version)
        return version
    await _discard_parts(storage, version)
    session.add_all(stored)
    await session.flush()
    record_upload(session, model, version, len(stored), resumable=True)
    return version


async def _discard_parts(storage: ObjectStore, version: ModelVersion) -> None:
    for path in version.progress["files"]:
        await uploads.discard(storage, _parts(version, path))
