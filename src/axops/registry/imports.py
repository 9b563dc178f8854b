"""Versions imported in the background: from a directory on the server (inside AXOPS_IMPORT_ROOTS, never
axops' own data) or from Hugging Face (registry/tasks.py runs the jobs), and the demo model."""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core import uploads
from axops.core.errors import Forbidden, Invalid
from axops.core.storage import ObjectStore
from axops.core.text import check_text
from axops.registry.files import clean_path, upload_version
from axops.registry.models import ModelVersion, RegisteredModel
from axops.registry.schemas import ModelCreate
from axops.registry.service import get_model, next_version, record_access, register_model, require_write
from axops.settings import Settings


@dataclass(frozen=True)
class ImportBounds:
    """Where a server-directory import may read: inside one of `roots`, never inside `closed`
    (the data directory, the local object store, the secret key), judged on real paths."""

    roots: tuple[Path, ...]
    closed: tuple[Path, ...] = ()

    def allows(self, real: Path) -> bool:
        return any(real.is_relative_to(r) for r in self.roots) and not any(real.is_relative_to(c) for c in self.closed)


def import_bounds(settings: Settings) -> ImportBounds:
    closed = [settings.data_dir.resolve(), settings.secret_key_file.resolve()]
    storage = urlparse(settings.resolved_storage_url)
    if storage.scheme == "file":
        closed.append(Path(unquote(storage.path)).resolve())
    return ImportBounds(tuple(settings.import_root_paths), tuple(closed))


def import_source(settings: Settings, raw: str) -> tuple[Path, ImportBounds]:
    """The directory a user asked to import, checked against AXOPS_IMPORT_ROOTS (403 outside them)."""
    bounds = import_bounds(settings)
    if not bounds.roots:
        raise Forbidden(
            "Importing from a server directory is off: the operator lists the directories "
            "imports may read in AXOPS_IMPORT_ROOTS."
        )
    check_text(raw, "path")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise Invalid(f"{raw!r} is not an absolute path on the server.")
    real = path.resolve()
    if not bounds.allows(real) or any(c.is_relative_to(real) for c in bounds.closed):
        raise Forbidden(
            f"{raw} is outside the directories imports may read (AXOPS_IMPORT_ROOTS), or holds axops' own data."
        )
    return real, bounds


def local_files(root: Path, allow_patterns: list[str] | None, bounds: ImportBounds) -> list[tuple[str, Path]]:
    """Files of a local model directory, or of a Hugging Face cache (`models--org--name`: newest snapshot),
    each as (path in the version, real path). Every file is resolved (symlinks included) and must stay in bounds."""
    root = root.expanduser().resolve()
    if not bounds.allows(root):
        raise Forbidden(f"{root} is outside the directories imports may read.")
    if (root / "snapshots").is_dir():
        snapshots = sorted((root / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
        if not snapshots:
            raise Invalid(f"The Hugging Face cache at {root} has no snapshot.")
        root = snapshots[-1]
    if not root.is_dir():
        raise Invalid(f"{root} is not a directory on the server.")
    found = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if allow_patterns is not None and not any(fnmatch.fnmatch(rel, pat) for pat in allow_patterns):
            continue
        real = p.resolve()
        if not bounds.allows(real):
            raise Forbidden(f"{rel} leads outside the directories imports may read (a symlink?); nothing was imported.")
        if real.is_file():
            found.append((clean_path(rel), real))
    if not found:
        raise Invalid(f"No files to import under {root}.")
    return found


def open_in_bounds(path: Path, bounds: ImportBounds) -> int:
    """A descriptor of `path` (a real path), refusing it if it was swapped for a symlink or leads out of bounds."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    opened = Path(f"/proc/self/fd/{fd}")
    if opened.exists() and not bounds.allows(Path(os.readlink(opened))):
        os.close(fd)
        raise Forbidden(f"{path} leads outside the directories imports may read.")
    return fd


async def file_chunks(
    path: Path, chunk_size: int = 1024 * 1024, bounds: ImportBounds | None = None
) -> AsyncIterator[bytes]:
    opener = (lambda p, _flags: open_in_bounds(Path(p), bounds)) if bounds else None
    async for chunk in uploads.file_chunks(path, chunk_size, opener):
        yield chunk


async def register_demo(
    session: AsyncSession,
    storage: ObjectStore,
    principal: Principal,
    directory: Path,
    team_id: uuid.UUID,
    name: str = "axops-demo-gpt2",
) -> ModelVersion:
    """Register (or add a version to) the demo model from a directory built by models.demo."""
    model = await session.scalar(
        select(RegisteredModel).where(
            RegisteredModel.name == name, RegisteredModel.team_id == team_id, RegisteredModel.deleted_at.is_(None)
        )
    )  # a deleted demo model is not added to: registering again answers model_name_held_by_deleted
    if model is None:
        model = await register_model(
            session,
            principal,
            ModelCreate(
                name=name,
                description="Tiny Korean/English GPT-2 built by `axops demo` for offline journeys.",
                task="text-generation",
                tags=["demo"],
                team_id=team_id,
                visibility="organization",
            ),
        )
    files = [(rel, file_chunks(p)) for rel, p in local_files(directory, None, ImportBounds((directory.resolve(),)))]
    return await upload_version(session, principal, storage, model.id, files, source="local", source_ref=str(directory))


async def begin_import(
    session: AsyncSession, principal: Principal, job, model_id: uuid.UUID, source: str, source_ref: str, job_args: dict
) -> ModelVersion:
    """A version in state `importing`, and its background job, deferred once this transaction commits."""
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    version = ModelVersion(
        model_id=model.id,
        version=await next_version(session, model.id),
        status="importing",
        source=source,
        source_ref=source_ref,
        created_by=principal.user_id,
        dataset_version_ids=[],
        progress={},
    )
    session.add(version)
    await session.flush()
    await record_access(session, "model.version_import", model, version=version.version, source=source, ref=source_ref)

    async def enqueue() -> None:
        await job.defer_async(version_id=str(version.id), **job_args)

    session.info.setdefault("after_commit", []).append(enqueue)
    return version
