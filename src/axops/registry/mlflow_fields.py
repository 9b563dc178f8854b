"""What the MLflow registry API changes beyond the axops fields: MLflow key/value tags of models and versions,
a version's MLflow description, and deleting one version. Same rules as the rest of the registry: the caller
must be allowed to change the model, every change is audited, services flush and never commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.errors import Conflict, Invalid
from axops.core.storage import ObjectStore
from axops.core.text import has_control
from axops.registry.models import ModelAlias, ModelVersion, RegisteredModel
from axops.registry.service import get_model, get_version, in_use_checks, require_write, version_files

MAX_TAG_KEY = 250
MAX_TAG_VALUE = 5000
MAX_TAGS = 100


def _check_tag(key: str, value: str | None) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY or has_control(key):
        raise Invalid(f"A tag key is a non-empty string of at most {MAX_TAG_KEY} characters.")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TAG_VALUE):
        raise Invalid(f"A tag value is a string of at most {MAX_TAG_VALUE} characters.")


def _apply(tags: dict, key: str, value: str | None) -> dict:
    _check_tag(key, value)
    out = dict(tags or {})
    if value is None:
        if key not in out:
            raise Invalid(f"No tag with key {key!r}.")
        del out[key]
    else:
        out[key] = value
    if len(out) > MAX_TAGS:
        raise Invalid(f"At most {MAX_TAGS} tags.")
    return out


async def set_model_tag(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, key: str, value: str | None
) -> RegisteredModel:
    """Set (value) or delete (None) one MLflow tag of a model."""
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
    model.mlflow_tags = _apply(model.mlflow_tags, key, value)
    await session.flush()
    audit.record(
        session,
        "model.update",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "changed": ["mlflow_tags"], "tag": key[:100], "deleted": value is None},
    )
    return model


async def update_version(
    session: AsyncSession,
    principal: Principal,
    version_id: uuid.UUID,
    *,
    description: str | None = None,
    tag: tuple[str, str | None] | None = None,
) -> ModelVersion:
    """Change a version's MLflow description and/or set (value) or delete (None) one of its MLflow tags."""
    model, version = await get_version(session, principal, version_id)
    require_write(principal, model)
    changed = []
    if description is not None:
        if len(description) > 10_000:
            raise Invalid("A description is at most 10,000 characters.")
        version.mlflow_description = description
        changed.append("description")
    if tag is not None:
        version.mlflow_tags = _apply(version.mlflow_tags, *tag)
        changed.append("mlflow_tags")
    await session.flush()
    if changed:
        audit.record(
            session,
            "model.version_update",
            resource_type="model",
            resource_id=model.id,
            team_id=model.team_id,
            summary={"name": model.name, "version": version.version, "changed": changed},
        )
    return version


async def delete_version(
    session: AsyncSession, storage: ObjectStore, principal: Principal, version_id: uuid.UUID
) -> None:
    """Delete one version and its files for good. Refused while it is in production or an alias points at it,
    or while the model is in use (e.g. deployed): archive it instead."""
    model, version = await get_version(session, principal, version_id)
    require_write(principal, model)
    if version.stage == "production":
        raise Conflict(f"Version {version.version} is in production; move it out of production first.")
    if await session.scalar(select(ModelAlias.name).where(ModelAlias.version_id == version.id).limit(1)):
        raise Conflict(f"An alias points at version {version.version}; remove or move the alias first.")
    for check in in_use_checks:
        await check(session, model.id)
    files = await version_files(session, version.id)
    number = version.version
    await session.delete(version)
    await session.flush()
    for f in files:  # after the rows are gone in this transaction, as run artifacts do
        await storage.delete(f.storage_key)
    audit.record(
        session,
        "model.version_delete",
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, "version": number, "files": len(files)},
    )
