"""The model registry's logic. Services flush, never commit; object deletions run after commit."""

from __future__ import annotations

import fnmatch
import os
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core.db import Database
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.core.storage import ObjectStore, StoredObject
from axops.core.text import check_text
from axops.registry import card as cards
from axops.registry.models import ModelAlias, ModelFile, ModelVersion, RegisteredModel
from axops.registry.schemas import CompareColumn, CompareOut, ConfigDifference, ModelCreate, ModelUpdate
from axops.settings import Settings

ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
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


# --- models ----------------------------------------------------------------------------------


def _visible(principal: Principal):
    if principal.is_admin:
        return True
    return or_(
        RegisteredModel.visibility == "organization", RegisteredModel.team_id.in_(principal.team_ids or [uuid.uuid4()])
    )


async def get_model(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, for_update: bool = False
) -> RegisteredModel:
    q = select(RegisteredModel).where(RegisteredModel.id == model_id, _visible(principal))
    if for_update:
        q = q.with_for_update()
    model = await session.scalar(q)
    if model is None:
        raise NotFound("No such model.")
    return model


def _require_owner(principal: Principal, model: RegisteredModel) -> None:
    """Changing a model needs models:write and membership of its team (Admin: any team)."""
    if not principal.can("models:write"):
        raise Forbidden("This action needs the 'models:write' permission, which your role or key lacks.")
    if not principal.sees_team(model.team_id):
        raise Forbidden("Only members of the model's team can change it.")


async def register_model(session: AsyncSession, principal: Principal, data: ModelCreate) -> RegisteredModel:
    team_id = data.team_id or (min(principal.team_ids) if principal.team_ids else None)
    if team_id is None:
        raise Invalid("Choose the owning team (team_id); you are not a member of any team yet.")
    if not principal.sees_team(team_id):
        raise NotFound("No such team among yours.")
    same_name = and_(func.lower(RegisteredModel.name) == data.name.lower(), RegisteredModel.team_id == team_id)
    if await session.scalar(select(RegisteredModel.id).where(same_name)):
        raise Conflict(f"Your team already has a model named '{data.name}'.")
    model = RegisteredModel(
        name=data.name,
        description=data.description,
        task=data.task,
        tags=sorted(set(data.tags)),
        team_id=team_id,
        visibility=data.visibility,
        created_by=principal.user_id,
    )
    session.add(model)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Your team already has a model named '{data.name}'.") from exc
    audit.record(
        session,
        "model.register",
        resource_type="model",
        resource_id=model.id,
        team_id=team_id,
        summary={"name": model.name, "task": model.task, "visibility": model.visibility},
    )
    await session.refresh(model)
    return model


async def update_model(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, data: ModelUpdate
) -> RegisteredModel:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    before = {k: getattr(model, k) for k in changes}
    for k, v in changes.items():
        setattr(model, k, v)
    await session.flush()
    if change := audit.diff(before, changes):
        audit.record(
            session, "model.update", resource_type="model", resource_id=model.id, team_id=model.team_id, summary=change
        )
    await session.refresh(model)
    return model


async def set_model_archived(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, archived: bool
) -> RegisteredModel:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    if (model.archived_at is not None) != archived:
        model.archived_at = datetime.now(UTC) if archived else None
        await session.flush()
        audit.record(
            session,
            "model.archive" if archived else "model.unarchive",
            resource_type="model",
            resource_id=model.id,
            team_id=model.team_id,
            summary={"name": model.name},
        )
    await session.refresh(model)
    return model


async def delete_model(
    session: AsyncSession, principal: Principal, storage: ObjectStore, model_id: uuid.UUID, confirm_name: str
) -> None:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    if confirm_name != model.name:
        raise Invalid("To delete a model, type its exact name in confirm_name.")
    keys = list(
        (
            await session.scalars(
                select(ModelFile.storage_key)
                .join(ModelVersion, ModelVersion.id == ModelFile.version_id)
                .where(ModelVersion.model_id == model.id)
            )
        ).all()
    )
    versions = await session.scalar(select(func.count()).where(ModelVersion.model_id == model.id))
    audit.record(
        session,
        "model.delete",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "versions": versions, "files": len(keys)},
    )
    await session.delete(model)
    await session.flush()

    async def remove_objects() -> None:
        for key in keys:
            await storage.delete(key)

    session.info.setdefault("after_commit", []).append(remove_objects)


# Each row is rendered to JSON by PostgreSQL itself: Python only joins the documents, which
# is several times cheaper than decoding 15 columns per row and encoding them again.
_LIST_SQL = """
SELECT m.created_at, m.id, json_build_object(
    'id', m.id, 'name', m.name, 'description', m.description, 'task', m.task, 'tags', m.tags,
    'team_id', m.team_id, 'team_name', t.name, 'visibility', m.visibility, 'architecture', m.architecture,
    'parameter_count', m.parameter_count, 'archived_at', m.archived_at, 'created_at', m.created_at,
    'updated_at', m.updated_at,
    'latest_version', (SELECT max(v.version) FROM model_versions v WHERE v.model_id = m.id),
    'aliases', (SELECT coalesce(jsonb_object_agg(a.name, v.version), '{{}}'::jsonb)
                  FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = m.id)
)::text AS doc
FROM registered_models m JOIN teams t ON t.id = m.team_id
{where}
ORDER BY m.created_at DESC, m.id DESC
LIMIT {limit}
"""


async def list_models(
    db: Database,
    principal: Principal,
    *,
    q: str | None,
    task: str | None,
    tags: list[str],
    team_id: uuid.UUID | None,
    architecture: str | None,
    min_params: int | None,
    max_params: int | None,
    include_archived: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[str], str | None]:
    """A page of models as JSON documents (the `ModelOut` shape), newest first, in one round trip outside a transaction
    (hand-written SQL through asyncpg: the registry's hottest read, searched across 100k+ models)."""
    clauses: list[str] = []
    params: list = []

    def add(sql: str, value) -> None:
        params.append(value)
        clauses.append(sql.replace("?", f"${len(params)}"))

    if not principal.is_admin:
        params.append(list(principal.team_ids))
        clauses.append(f"(m.visibility = 'organization' OR m.team_id = ANY(${len(params)}::uuid[]))")
    if q:
        add("m.search @@ websearch_to_tsquery('simple', ?)", q)
    if task:
        add("m.task = ?", task)
    if tags:
        add("m.tags @> ?::varchar[]", tags)
    if team_id:
        add("m.team_id = ?", team_id)
    if architecture:
        add("m.architecture = ?", architecture)
    if min_params is not None:
        add("m.parameter_count >= ?", min_params)
    if max_params is not None:
        add("m.parameter_count <= ?", max_params)
    if not include_archived:
        clauses.append("m.archived_at IS NULL")
    if cursor:
        created, id_ = decode_cursor(cursor)
        params.extend([created, id_])
        clauses.append(f"(m.created_at, m.id) < (${len(params) - 1}, ${len(params)})")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await db.fetch(_LIST_SQL.format(where=where, limit=int(limit) + 1), *params)
    rows, next_cursor = page_of(rows, limit, key=lambda r: (r["created_at"], r["id"]))
    return [r["doc"] for r in rows], next_cursor


async def model_summaries(session: AsyncSession, model_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """Latest version number, aliases and team name per model, for list and detail answers."""
    if not model_ids:
        return {}
    out: dict[uuid.UUID, dict] = {m: {"latest_version": None, "aliases": {}, "team_name": None} for m in model_ids}
    latest = await session.execute(
        select(ModelVersion.model_id, func.max(ModelVersion.version))
        .where(ModelVersion.model_id.in_(model_ids))
        .group_by(ModelVersion.model_id)
    )
    for model_id, version in latest:
        out[model_id]["latest_version"] = version
    aliases = await session.execute(
        select(ModelAlias.model_id, ModelAlias.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.model_id.in_(model_ids))
    )
    for model_id, name, version in aliases:
        out[model_id]["aliases"][name] = version
    teams = await session.execute(
        text("SELECT m.id, t.name FROM registered_models m JOIN teams t ON t.id = m.team_id WHERE m.id = ANY(:ids)"),
        {"ids": model_ids},
    )
    for model_id, name in teams:
        out[model_id]["team_name"] = name
    return out


# --- versions --------------------------------------------------------------------------------


async def get_version(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[RegisteredModel, ModelVersion]:
    row = (
        await session.execute(
            select(RegisteredModel, ModelVersion)
            .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
            .where(ModelVersion.id == version_id, _visible(principal))
        )
    ).first()
    if row is None:
        raise NotFound("No such model version.")
    return row[0], row[1]


async def version_files(session: AsyncSession, version_id: uuid.UUID) -> list[ModelFile]:
    return list(
        (
            await session.scalars(select(ModelFile).where(ModelFile.version_id == version_id).order_by(ModelFile.path))
        ).all()
    )


async def version_aliases(session: AsyncSession, version_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = {v: [] for v in version_ids}
    for version_id, name in await session.execute(
        select(ModelAlias.version_id, ModelAlias.name)
        .where(ModelAlias.version_id.in_(version_ids))
        .order_by(ModelAlias.name)
    ):
        out[version_id].append(name)
    return out


async def list_versions(session: AsyncSession, principal: Principal, model_id: uuid.UUID) -> list[ModelVersion]:
    await get_model(session, principal, model_id)
    q = select(ModelVersion).where(ModelVersion.model_id == model_id).order_by(ModelVersion.version.desc())
    return list((await session.scalars(q)).all())


async def _next_version(session: AsyncSession, model_id: uuid.UUID) -> int:
    current = await session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id))
    return (current or 0) + 1


async def _finish_version(
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
    _require_owner(principal, model)
    if not files:
        raise Invalid("A version needs at least one file.")
    if len(files) > MAX_FILES_PER_VERSION:
        raise Invalid(f"A version holds at most {MAX_FILES_PER_VERSION} files.")
    paths = [clean_path(name) for name, _ in files]
    if len(set(paths)) != len(paths):
        raise Invalid("The same file name appears twice.")
    version = ModelVersion(
        model_id=model.id,
        version=await _next_version(session, model.id),
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
        await _finish_version(session, storage, model, version, stored)
    except cards.CardError as exc:
        await _delete_objects(storage, stored)
        raise Invalid(f"The version was not created: {exc}", file=exc.path) from exc
    except BaseException:
        await _delete_objects(storage, stored)
        raise
    session.add_all(stored)
    await session.flush()
    audit.record(
        session,
        "model.version_upload",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={
            "name": model.name,
            "version": version.version,
            "files": len(stored),
            "bytes": version.total_size,
            "source": source,
        },
    )
    return version


async def _delete_objects(storage: ObjectStore, files: list[ModelFile]) -> None:
    for f in files:
        await storage.delete(f.storage_key)


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
    import anyio

    opener = (lambda p, _flags: open_in_bounds(Path(p), bounds)) if bounds else None
    async with await anyio.open_file(path, "rb", opener=opener) as f:
        while chunk := await f.read(chunk_size):
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
        select(RegisteredModel).where(RegisteredModel.name == name, RegisteredModel.team_id == team_id)
    )
    if model is None:
        from axops.registry.schemas import ModelCreate

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
    _require_owner(principal, model)
    version = ModelVersion(
        model_id=model.id,
        version=await _next_version(session, model.id),
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


async def set_stage(session: AsyncSession, principal: Principal, version_id: uuid.UUID, stage: str) -> ModelVersion:
    model, version = await get_version(session, principal, version_id)
    _require_owner(principal, model)
    if version.status != "ready":
        raise Conflict(f"Version {version.version} is {version.status}; only ready versions change stage.")
    if stage != "archived" and version.artifacts_deleted_at is not None:
        raise Conflict("This version's files were deleted after its archive retention; it cannot be restored.")
    if version.stage == stage:
        return version
    before = version.stage
    version.stage = stage
    version.archived_at = datetime.now(UTC) if stage == "archived" else None
    await session.flush()
    audit.record(
        session,
        "model.version_restore" if before == "archived" else "model.version_stage",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "version": version.version, "stage": [before, stage]},
    )
    return version


async def set_alias(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, name: str, version_id: uuid.UUID
) -> None:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    version = await session.scalar(
        select(ModelVersion).where(ModelVersion.id == version_id, ModelVersion.model_id == model_id)
    )
    if version is None:
        raise NotFound("No such version of this model.")
    if version.status != "ready" or version.stage == "archived":
        raise Conflict(
            f"An alias must point at a ready, unarchived version (v{version.version} is {version.status}/{version.stage})."
        )
    existing = await session.get(ModelAlias, (model_id, name))
    before = None
    if existing:
        before = existing.version_id
        existing.version_id = version_id
        existing.updated_at = datetime.now(UTC)
    else:
        session.add(ModelAlias(model_id=model_id, name=name, version_id=version_id, updated_at=datetime.now(UTC)))
    await session.flush()
    audit.record(
        session,
        "model.alias_set",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={
            "name": model.name,
            "alias": name,
            "version": version.version,
            "previous_version_id": str(before) if before else None,
        },
    )


async def delete_alias(session: AsyncSession, principal: Principal, model_id: uuid.UUID, name: str) -> None:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    alias = await session.get(ModelAlias, (model_id, name))
    if alias is None:
        raise NotFound("No such alias.")
    await session.delete(alias)
    await session.flush()
    audit.record(
        session,
        "model.alias_delete",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "alias": name},
    )


async def _named(
    session: AsyncSession, principal: Principal, name: str, *, own_only: bool = False
) -> RegisteredModel | None:
    """The model a name means to this caller. Names are unique per team, so several teams' models may
    share one: an exact-case match first, then the caller's own teams'; still several → 409 (use the id)."""
    q = select(RegisteredModel).where(func.lower(RegisteredModel.name) == name.lower(), _visible(principal))
    found = list((await session.scalars(q.order_by(RegisteredModel.created_at))).all())
    if own_only:
        found = [m for m in found if principal.sees_team(m.team_id)]
    found = [m for m in found if m.name == name] or found
    found = [m for m in found if m.team_id in principal.team_ids] or found
    if len(found) > 1:
        raise Conflict(
            f"Models of several teams are named '{name}' (ids {', '.join(str(m.id) for m in found)}): "
            "refer to the version by its id instead.",
            model_ids=[str(m.id) for m in found],
        )
    return found[0] if found else None


async def resolve(
    session: AsyncSession, principal: Principal, model_name: str, ref: str = "latest"
) -> tuple[RegisteredModel, ModelVersion]:
    """`name`, `name@production` (alias), `name@v3` / `name@3` or `name@latest` → a ready version."""
    model = await _named(session, principal, model_name)
    if model is None:
        raise NotFound(f"No model named '{model_name}'.")
    q = select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.status == "ready")
    number = ref.removeprefix("v")
    if ref == "latest":
        q = q.where(ModelVersion.stage != "archived").order_by(ModelVersion.version.desc()).limit(1)
    elif number.isdigit():
        q = q.where(ModelVersion.version == int(number))
    else:
        q = q.join(ModelAlias, and_(ModelAlias.version_id == ModelVersion.id, ModelAlias.name == ref))
    version = await session.scalar(q)
    if version is None:
        raise NotFound(f"Model '{model_name}' has no ready version '{ref}'.")
    return model, version


async def update_card(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID, markdown: str
) -> ModelVersion:
    model, version = await get_version(session, principal, version_id)
    _require_owner(principal, model)
    version.card_markdown = markdown
    latest = await session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
    if version.version == latest:
        model.card_text = markdown
    await session.flush()
    audit.record(
        session,
        "model.card_update",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "version": version.version, "length": len(markdown)},
    )
    return version


async def compare(session: AsyncSession, principal: Principal, version_ids: list[uuid.UUID]) -> CompareOut:
    rows = []
    for vid in dict.fromkeys(version_ids):
        rows.append(await get_version(session, principal, vid))
    if len(rows) < 2:
        raise Invalid("Compare needs at least two different versions.")
    columns = [
        CompareColumn(
            version_id=v.id,
            model_name=m.name,
            version=v.version,
            stage=v.stage,
            architecture=v.card.get("architecture"),
            parameter_count=v.card.get("parameter_count"),
            context_length=v.card.get("context_length"),
            vocab_size=v.card.get("vocab_size"),
            dtype=v.card.get("dtype") or v.card.get("config_dtype"),
            total_size=v.total_size,
            dataset_version_ids=v.dataset_version_ids or [],
            run_id=v.run_id,
            metrics=v.metrics or {},
        )
        for m, v in rows
    ]
    facts = [
        "architecture",
        "parameter_count",
        "context_length",
        "vocab_size",
        "dtype",
        "total_size",
        "dataset_version_ids",
        "run_id",
    ]
    differing = [f for f in facts if len({repr(getattr(c, f)) for c in columns}) > 1]
    configs = [_flatten(v.config or {}) for _, v in rows]
    keys = sorted(set().union(*configs))
    diff = [
        ConfigDifference(key=k, values=[c.get(k) for c in configs])
        for k in keys
        if len({repr(c.get(k)) for c in configs}) > 1
    ]
    return CompareOut(versions=columns, differing_facts=differing, config_diff=diff)


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


async def record_access(session: AsyncSession, action: str, model: RegisteredModel, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, **summary},
    )


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
        await _delete_objects(storage, files)
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


async def discard_stale_uploads(session: AsyncSession, storage: ObjectStore, expiry_hours: int) -> int:
    """Remove resumable uploads nobody has sent a chunk to within the expiry, with their chunks."""
    rows = (
        await session.scalars(
            select(ModelVersion)
            .where(
                ModelVersion.status == "uploading",
                ModelVersion.source == "upload",
                ModelVersion.updated_at < func.now() - func.make_interval(0, 0, 0, 0, expiry_hours),
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    for version in rows:
        await _discard_upload(session, storage, version, actor=SYSTEM)
    return len(rows)


async def _discard_upload(session: AsyncSession, storage: ObjectStore, version: ModelVersion, **audit_extra) -> None:
    files = version.progress.get("files", {})
    for path, entry in files.items():
        for offset in entry["parts"]:
            await storage.delete(_part_key(version.id, path, offset))
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


# --- resumable uploads -----------------------------------------------------------------------
# A version can also be uploaded in chunks over many requests: declare its files, send each file's
# bytes in order (any chunk size; a lost connection resumes from the offset the server reports),
# then complete. Until then the version is listed as `uploading`, never as ready.


def _part_key(version_id: uuid.UUID, path: str, offset: int) -> str:
    return f"staging/{version_id}/{path}/{offset:020d}"


async def start_upload(
    session: AsyncSession,
    principal: Principal,
    model_id: uuid.UUID,
    files: list[tuple[str, int, str | None]],
    base_version_id: uuid.UUID | None,
) -> ModelVersion:
    model = await get_model(session, principal, model_id, for_update=True)
    _require_owner(principal, model)
    if not files or len(files) > MAX_FILES_PER_VERSION:
        raise Invalid(f"Declare between 1 and {MAX_FILES_PER_VERSION} files.")
    declared = {}
    for path, size, sha256 in files:
        clean = clean_path(path)
        if clean in declared:
            raise Invalid(f"The file {clean!r} is declared twice.")
        if size <= 0:
            raise Invalid(f"{clean}: is empty (0 bytes)", file=clean)
        declared[clean] = {"size": size, "received": 0, "parts": [], "sha256": sha256}
    version = ModelVersion(
        model_id=model.id,
        version=await _next_version(session, model.id),
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
    _require_owner(principal, model)
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
    """Store bytes [offset, offset + n) of a declared file. Offsets must follow on: a client that lost
    a request asks the version for `received` and resends from there."""
    _, version = await _uploading_version(session, principal, version_id)
    files = version.progress["files"]
    entry = files.get(path)
    if entry is None:
        raise NotFound(f"{path!r} is not one of this upload's declared files.")
    if offset != entry["received"]:
        raise Conflict(
            f"{path}: expected a chunk at offset {entry['received']}, got {offset}; resume from there.",
            received=entry["received"],
        )
    stored = await storage.put_stream(_part_key(version_id, path, offset), chunks)
    if stored.size == 0 or entry["received"] + stored.size > entry["size"]:
        await storage.delete(stored.path)
        raise Invalid(f"{path}: the chunk is empty or runs past the declared size of {entry['size']} bytes.")
    entry["received"] += stored.size
    entry["parts"].append(offset)
    entry["part_sha256"] = stored.sha256  # of the latest part; used when a file came in one part
    progress = dict(version.progress, files=dict(files, **{path: entry}))
    progress["bytes_done"] = sum(f["received"] for f in progress["files"].values())
    version.progress = progress
    await session.flush()
    return {"path": path, "received": entry["received"], "size": entry["size"]}


async def abort_upload(
    session: AsyncSession, principal: Principal, storage: ObjectStore, version_id: uuid.UUID
) -> None:
    """Give up a resumable upload: its chunks are deleted and the version disappears."""
    _, version = await _uploading_version(session, principal, version_id)
    await _discard_upload(session, storage, version)


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
    try:
        for path, entry in files.items():
            key = f"models/{model.id}/{version.id}/{path}"
            if len(entry["parts"]) == 1:  # sent in one request: move it, its checksum is known
                await storage.rename(_part_key(version.id, path, 0), key)
                obj = StoredObject(path=key, size=entry["size"], sha256=entry["part_sha256"])
            else:

                async def joined(path=path, entry=entry):
                    for offset in entry["parts"]:
                        async for chunk in storage.get_stream(_part_key(version.id, path, offset)):
                            yield chunk

                obj = await storage.put_stream(key, joined())
            stored.append(
                ModelFile(version_id=version.id, path=path, size=obj.size, sha256=obj.sha256, storage_key=key)
            )
            if entry.get("sha256") and entry["sha256"] != obj.sha256:
                raise cards.CardError(
                    path, f"sha256 is {obj.sha256}, not the declared {entry['sha256']} (corrupted in transit?)"
                )
        await _finish_version(session, storage, model, version, stored)
    except cards.CardError as exc:
        # Recorded, not raised: the failed state must be committed for the uploader to see it.
        await _delete_objects(storage, stored)
        version.status, version.error = "failed", f"The version was not created: {exc}"
        await session.flush()
        return version
    finally:
        for path, entry in files.items():
            for offset in entry["parts"]:
                await storage.delete(_part_key(version.id, path, offset))
    session.add_all(stored)
    await session.flush()
    audit.record(
        session,
        "model.version_upload",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={
            "name": model.name,
            "version": version.version,
            "files": len(stored),
            "bytes": version.total_size,
            "source": "upload",
            "resumable": True,
        },
    )
    return version


async def version_number(session: AsyncSession, version_id: uuid.UUID) -> int:
    return await session.scalar(select(ModelVersion.version).where(ModelVersion.id == version_id)) or 0


async def version_labels(session: AsyncSession, version_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
    """(model name, version number) of each version id — for lists in other domains."""
    if not version_ids:
        return {}
    rows = await session.execute(
        select(ModelVersion.id, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.id.in_(set(version_ids)))
    )
    return {vid: (name, number) for vid, name, number in rows}


async def find_model(session: AsyncSession, principal: Principal, name: str) -> RegisteredModel | None:
    """A model of a team the caller may change, by name (None: the name is free in their teams)."""
    return await _named(session, principal, name, own_only=True)


async def model_name(session: AsyncSession, model_id: uuid.UUID) -> str:
    return await session.scalar(select(RegisteredModel.name).where(RegisteredModel.id == model_id)) or "model"
