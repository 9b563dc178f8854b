"""Deleting a model recoverably, restoring it, and purging it for good.

`DELETE` marks the model `deleted_at`/`deleted_by`: its versions, aliases and files stay, but
`scoping.visible` hides it from every read (get, list, search, `name@ref`, downloads, lineage). Its
team may restore it until the purge task removes the rows and the objects, at the earliest
`deleted_retention_days` after the deletion; an Admin may purge a deleted model at once. The name
stays held meanwhile (`model_name_held_by_deleted`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.registry.models import ModelFile, ModelVersion, RegisteredModel
from axops.registry.service import get_model, in_use_checks, require_write


async def delete_model(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, confirm_name: str, retention_days: int
) -> None:
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    for check in in_use_checks:
        await check(session, model.id)
    if confirm_name != model.name:
        raise Invalid("To delete a model, type its exact name in confirm_name.", code="confirm_name_mismatch")
    model.deleted_at = datetime.now(UTC)
    model.deleted_by = principal.user_id
    await session.flush()
    versions = await session.scalar(select(func.count()).where(ModelVersion.model_id == model.id))
    audit.record(
        session,
        "model.delete",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={
            "name": model.name,
            "versions": versions,
            "restorable_until": (model.deleted_at + timedelta(days=retention_days)).isoformat(),
        },
    )


async def _deleted(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, for_update: bool = True
) -> RegisteredModel:
    """A deleted model of the caller's teams (any for an Admin); others' and live ones answer 404."""
    q = select(RegisteredModel).where(
        RegisteredModel.id == model_id,
        RegisteredModel.deleted_at.is_not(None),
        team_clause(principal, RegisteredModel.team_id),
    )
    model = await session.scalar(q.with_for_update() if for_update else q)
    if model is None:
        raise NotFound("No such deleted model.", code="model_not_found")
    return model


async def restore_model(session: AsyncSession, principal: Principal, model_id: uuid.UUID) -> RegisteredModel:
    model = await _deleted(session, principal, model_id)
    require_write(principal, model)
    deleted_at = model.deleted_at
    model.deleted_at = None
    model.deleted_by = None
    await session.flush()
    audit.record(
        session,
        "model.restore",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "deleted_at": deleted_at.isoformat() if deleted_at else None},
    )
    await session.refresh(model)
    return model


async def list_deleted(session: AsyncSession, principal: Principal, retention_days: int) -> list[dict]:
    """The caller's teams' deleted models (every team's for an Admin), newest deletion first."""
    rows = await session.execute(
        select(RegisteredModel.id, RegisteredModel.name, RegisteredModel.team_id, RegisteredModel.deleted_at)
        .add_columns(text("(SELECT username FROM users u WHERE u.id = registered_models.deleted_by)"))
        .add_columns(text("(SELECT name FROM teams t WHERE t.id = registered_models.team_id)"))
        .where(RegisteredModel.deleted_at.is_not(None), team_clause(principal, RegisteredModel.team_id))
        .order_by(RegisteredModel.deleted_at.desc())
        .limit(500)
    )
    return [
        {
            "id": id_,
            "name": name,
            "team_id": team_id,
            "team_name": team_name,
            "deleted_at": deleted_at,
            "deleted_by": deleted_by,
            "purge_after": deleted_at + timedelta(days=retention_days),
        }
        for id_, name, team_id, deleted_at, deleted_by, team_name in rows
    ]


async def _hard_delete(session: AsyncSession, storage: ObjectStore, model: RegisteredModel, actor: Principal) -> None:
    """Remove the rows (versions, files and aliases cascade) now and the objects after the commit."""
    keys = list(
        (
            await session.scalars(
                select(ModelFile.storage_key)
                .join(ModelVersion, ModelVersion.id == ModelFile.version_id)
                .where(ModelVersion.model_id == model.id)
            )
        ).all()
    )
    name = model.name
    try:
        async with session.begin_nested():  # a refusal leaves the rest of a sweep's transaction intact
            await session.delete(model)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"'{name}' cannot be purged while other records use it (a training job or an evaluation set).",
            code="purge_blocked",
            name=name,
        ) from exc
    audit.record(
        session,
        "model.purge",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "files": len(keys)},
        actor=actor,
    )

    async def remove_objects() -> None:
        for key in keys:
            await storage.delete(key)

    session.info.setdefault("after_commit", []).append(remove_objects)


async def purge_model(
    session: AsyncSession, principal: Principal, storage: ObjectStore, model_id: uuid.UUID, confirm_name: str
) -> None:
    """An Admin removes a deleted model before its window ends."""
    if not principal.is_admin:
        raise Forbidden("Only an Admin can purge a deleted model before its window ends.", code="purge_admin_only")
    model = await _deleted(session, principal, model_id)
    if confirm_name != model.name:
        raise Invalid("To purge a model, type its exact name in confirm_name.", code="confirm_name_mismatch")
    await _hard_delete(session, storage, model, principal)


async def purge_expired(session: AsyncSession, storage: ObjectStore, retention_days: int) -> int:
    """The daily sweep: models deleted longer than the window go for good, with their objects.
    Objects are removed after the caller commits (the session's after-commit hooks)."""
    models = (
        await session.scalars(
            select(RegisteredModel)
            .where(RegisteredModel.deleted_at < func.now() - func.make_interval(0, 0, 0, retention_days))
            .with_for_update(skip_locked=True)
        )
    ).all()
    purged = 0
    for model in models:
        try:
            await _hard_delete(session, storage, model, SYSTEM)
            purged += 1
        except Conflict:  # kept (and tried again tomorrow) until what points at it goes
            continue
    return purged
