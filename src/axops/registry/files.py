"""A version's files: storing them (a whole version in one request), filling the card from them,
streaming them back as a tar, and deleting them after the archive retention."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.core.text import check_text
from axops.policy import service as access_policy
from axops.registry import card as cards
from axops.registry.models import ModelFile, ModelVersion, RegisteredModel
from axops.registry.service import (
    get_model,
    get_version,
    next_version,
    require_write,
    version_files,
    version_ready_listeners,
)

MAX_FILES_PER_VERSION = 10_000


def clean_path(raw: str) -> str:
    """A file's path inside a version: relative, POSIX, no '..', no empty or hidden-root parts."""
    path = raw.replace("\\", "/")
    if not path or path.startswith("/") or path[1:2] == ":":  # absolute, or a Windows drive
        raise Invalid(f"Invalid file name {raw!r}: use a relative path such as 'model.safetensors'.")
    if any(p in ("..", ".", "") for p in path.split("/")) or len(path) > 512:
        raise Invalid(f"Invalid file name {raw!r}: '..', '.', empty parts and paths over 512 characters are refused.")
    check_text(raw, "file name")
    return path


async def finish_version(
    session: AsyncSession, storage: ObjectStore, model: RegisteredModel, version: ModelVersion, files: list[ModelFile]
) -> None:
    """Analyse the stored files, fill the card, mark the version ready and refresh the model's facts."""
    keys = {f.path: f.storage_key for f in files}
    infos = [cards.FileInfo(f.path, f.size) for f in files]

    async def read(path: str) -> bytes:
        return await storage.get_bytes(keys[path])

    async def read_range(path: str, start: int, end: int) -> bytes:
        return await storage.get_range(keys[path], start, end)

    card = await cards.analyze(infos, read, read_range)
    lineage = {
        "source": f"{version.source} {version.source_ref or ''}".strip(),
        "base_version": str(version.base_version_id) if version.base_version_id else None,
        "datasets": ", ".join(map(str, version.dataset_version_ids or [])) or None,
        "run": str(version.run_id) if version.run_id else None,
    }
    version.card = {**card.facts, "auto_tags": card.auto_tags}
    version.config = card.config
    version.card_markdown = cards.render_markdown(model.name, version.version, card.facts, infos, lineage)
    version.total_size = sum(f.size for f in files)
    version.file_count = len(files)
    version.status = "ready"
    model.architecture = card.facts.get("architecture") or model.architecture
    model.parameter_count = card.facts.get("parameter_count") or model.parameter_count
    model.card_text = version.card_markdown
    model.tags = sorted({t for t in model.tags if not t.startswith(("arch:", "size:"))} | set(card.auto_tags))
    for listener in version_ready_listeners:
        await listener(session, model, version)


async def upload_version(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    model_id: uuid.UUID,
    files: list[tuple[str, AsyncIterator[bytes]]],
    *,
    source: str = "upload",
    source_ref: str | None = None,
    base_version_id: uuid.UUID | None = None,
    dataset_version_ids: list[uuid.UUID] | None = None,
    run_id: uuid.UUID | None = None,
) -> ModelVersion:
    """Store a complete version in one go (streamed file by file); all or nothing."""
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    if not files:
        raise Invalid("A version needs at least one file.")
    if len(files) > MAX_FILES_PER_VERSION:
        raise Invalid(f"A version holds at most {MAX_FILES_PER_VERSION} files.")
    paths = [clean_path(name) for name, _ in files]
    if len(set(paths)) != len(paths):
        raise Invalid("The same file name appears twice.")
    version = ModelVersion(
        model_id=model.id,
        version=await next_version(session, model.id),
        status="uploading",
        source=source,
        source_ref=source_ref,
        base_version_id=base_version_id,
        created_by=principal.user_id,
        dataset_version_ids=dataset_version_ids or [],
        run_id=run_id,
    )
    session.add(version)
    await session.flush()
    stored: list[ModelFile] = []
    try:
        for path, (_, chunks) in zip(paths, files, strict=True):
            key = f"models/{model.id}/{version.id}/{path}"
            obj = await storage.put_stream(key, chunks)
            stored.append(
                ModelFile(version_id=version.id, path=path, size=obj.size, sha256=obj.sha256, storage_key=key)
            )
        await finish_version(session, storage, model, version, stored)
    except cards.CardError as exc:
        await delete_objects(storage, stored)
        raise Invalid(f"The version was not created: {exc}", file=exc.path) from exc
    except BaseException:
        await delete_objects(storage, stored)
        raise
    session.add_all(stored)
    await session.flush()
    record_upload(session, model, version, len(stored))
    return version


def record_upload(
    session: AsyncSession, model: RegisteredModel, version: ModelVersion, files: int, **extra: bool
) -> None:
    audit.record(
        session,
        "model.version_upload",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={
            "name": model.name,
            "version": version.version,
            "files": files,
            "bytes": version.total_size,
            "source": version.source,
            **extra,
        },
    )


async def delete_objects(storage: ObjectStore, files: list[ModelFile]) -> None:
    for f in files:
        await storage.delete(f.storage_key)


async def downloadable(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[RegisteredModel, ModelVersion]:
    """A version the caller may read whose files can be downloaded: ready, and not purged."""
    model, version = await get_version(session, principal, version_id)
    await access_policy.check_download(session, principal, model.name)
    if version.status != "ready":
        raise Conflict(f"Version {version.version} is {version.status}, not ready for download.")
    if version.artifacts_deleted_at is not None:
        raise Conflict("This version's files were deleted after its archive retention.")
    return model, version


async def stored_file(session: AsyncSession, version_id: uuid.UUID, path: str) -> ModelFile:
    f = await session.get(ModelFile, (version_id, path))
    if f is None:
        raise NotFound("No such file in this version.")
    return f


async def tar_stream(storage: ObjectStore, prefix: str, files: list[ModelFile]) -> AsyncIterator[bytes]:
    """A whole version as an uncompressed tar, streamed file by file (weights are already dense)."""
    for f in files:
        info = tarfile.TarInfo(f"{prefix}/{f.path}")
        info.size = f.size
        info.mode = 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        async for chunk in storage.get_stream(f.storage_key):
            yield chunk
        if f.size % 512:
            yield b"\0" * (512 - f.size % 512)
    yield b"\0" * 1024


def tar_size(prefix: str, files: list[ModelFile]) -> int:
    total = 1024
    for f in files:
        info = tarfile.TarInfo(f"{prefix}/{f.path}")
        info.size = f.size
        info.mode = 0o644
        total += len(info.tobuf(format=tarfile.PAX_FORMAT)) + f.size + (-f.size % 512)
    return total


async def purge_archived_artifacts(session: AsyncSession, storage: ObjectStore, retention_days: int) -> int:
    """Delete the files of versions archived longer than the retention; their metadata stays."""
    rows = (
        await session.scalars(
            select(ModelVersion).where(
                ModelVersion.stage == "archived",
                ModelVersion.artifacts_deleted_at.is_(None),
                ModelVersion.archived_at < func.now() - func.make_interval(0, 0, 0, retention_days),
            )
        )
    ).all()
    for version in rows:
        files = await version_files(session, version.id)
        await delete_objects(storage, files)
        version.artifacts_deleted_at = datetime.now(UTC)
        audit.record(
            session,
            "model.artifacts_purged",
            resource_type="model",
            resource_id=version.model_id,
            summary={"version": version.version, "files": len(files)},
            actor=SYSTEM,
        )
    return len(rows)
