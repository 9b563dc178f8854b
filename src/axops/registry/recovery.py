"""Deleting a model recoverably: what `auth/recovery.py` needs to know of models, and the checks
before a deletion (a model that serving still deploys is refused)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import recovery
from axops.auth.deps import Principal
from axops.registry.models import ModelFile, ModelVersion, RegisteredModel
from axops.registry.service import get_model, in_use_checks, require_write


async def _versions(session: AsyncSession, model_id: uuid.UUID) -> int:
    return await session.scalar(select(func.count()).where(ModelVersion.model_id == model_id)) or 0


async def _object_keys(session: AsyncSession, model_id: uuid.UUID) -> list[str]:
    keys = await session.scalars(
        select(ModelFile.storage_key)
        .join(ModelVersion, ModelVersion.id == ModelFile.version_id)
        .where(ModelVersion.model_id == model_id)
    )
    return list(keys.all())


MODELS = recovery.Recoverable(RegisteredModel, "model", "models:write", _versions, _object_keys)


async def delete_model(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, confirm_name: str, retention_days: int
) -> None:
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    for check in in_use_checks:
        await check(session, model.id)
    await recovery.mark_deleted(session, principal, MODELS, model, confirm_name, retention_days)
