"""The model registry: models, their versions, stages, aliases and cards, and resolving `name@ref`.

Files and one-request uploads live in registry/files.py, resumable uploads in registry/uploads.py,
server-directory imports in registry/imports.py, deletion, restore and purge in registry/recovery.py, version comparison in registry/compare.py.
Services flush, never commit; object deletions run after commit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import and_, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team, require_owner, team_ids_param, visible
from axops.core.db import Database
from axops.core.errors import Conflict, NotFound
from axops.core.pagination import decode_cursor, page_of
from axops.registry.models import ModelAlias, ModelFile, ModelVersion, RegisteredModel
from axops.registry.schemas import ModelCreate, ModelUpdate

ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"

# Domains built on the registry hook in here, so that the registry imports none of them (serving
# registers both at import time). A check raises (e.g. Conflict) to refuse deleting a model still in
# use; a listener follows a model whose visibility changed. Both run after the caller's right to
# change the model is checked, so a refusal never tells another team about the model's use.
ModelHook = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
in_use_checks: list[ModelHook] = []
visibility_listeners: list[ModelHook] = []
# A stage check may refuse moving a version to a stage (evaluation's promotion gate refuses `production`
# without a passing suite result). It gets the caller, the model, the version, the new stage and whether
# the caller asked to force the change (the check decides who may, and audits it); it raises to refuse.
# Checks run after the caller's right to change the model is checked, and only for a real change.
StageCheck = Callable[[AsyncSession, Principal, RegisteredModel, ModelVersion, str, bool], Awaitable[None]]
stage_checks: list[StageCheck] = []
# Told when a version becomes ready (a finished upload, import or training result), inside that
# transaction: evaluation queues the suites that run on a new version. A listener must not raise.
VersionHook = Callable[[AsyncSession, RegisteredModel, ModelVersion], Awaitable[None]]
version_ready_listeners: list[VersionHook] = []

# --- models ----------------------------------------------------------------------------------


async def get_model(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, for_update: bool = False
) -> RegisteredModel:
    q = select(RegisteredModel).where(RegisteredModel.id == model_id, visible(principal, RegisteredModel))
    if for_update:
        q = q.with_for_update()
    model = await session.scalar(q)
    if model is None:
        raise NotFound("No such model.", code="model_not_found")
    return model


def require_write(principal: Principal, model: RegisteredModel) -> None:
    """Changing a model needs models:write and membership of its team (Admin: any team)."""
    require_owner(principal, model, "models:write", "model")


async def _refuse_taken_name(
    session: AsyncSession, name: str, team_id: uuid.UUID, but: uuid.UUID | None = None
) -> None:
    """Names are unique per team, case-insensitively (another team's names are never consulted)."""
    same_name = and_(func.lower(RegisteredModel.name) == name.lower(), RegisteredModel.team_id == team_id)
    if but is not None:
        same_name = and_(same_name, RegisteredModel.id != but)
    holder = (await session.execute(select(RegisteredModel.id, RegisteredModel.deleted_at).where(same_name))).first()
    if holder is not None and holder.deleted_at is not None:
        raise Conflict(
            f"A deleted model of your team is named '{name}': restore it, or use the name after it is purged.",
            code="model_name_held_by_deleted",
            name=name,
        )
    if holder is not None:
        raise Conflict(f"Your team already has a model named '{name}'.", code="model_name_taken", name=name)


async def register_model(session: AsyncSession, principal: Principal, data: ModelCreate) -> RegisteredModel:
    team_id = owning_team(principal, data.team_id)
    await _refuse_taken_name(session, data.name, team_id)
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
        raise Conflict(
            f"Your team already has a model named '{data.name}'.", code="model_name_taken", name=data.name
        ) from exc
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
    require_write(principal, model)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if changes.get("name") == model.name:
        del changes["name"]
    elif "name" in changes:
        await _refuse_taken_name(session, changes["name"], model.team_id, but=model.id)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    before = {k: getattr(model, k) for k in changes}
    for k, v in changes.items():
        setattr(model, k, v)
    try:
        await session.flush()
    except IntegrityError as exc:  # a rename racing another to the same name
        raise Conflict(
            f"Your team already has a model named '{changes.get('name')}'.",
            code="model_name_taken",
            name=changes.get("name"),
        ) from exc
    if change := audit.diff(before, changes):
        audit.record(
            session, "model.update", resource_type="model", resource_id=model.id, team_id=model.team_id, summary=change
        )
    if data.visibility is not None:  # e.g. who may call its deployments through the gateway follows
        for listener in visibility_listeners:
            await listener(session, model.id)
    await session.refresh(model)
    return model


async def set_model_archived(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, archived: bool
) -> RegisteredModel:
    model = await get_model(session, principal, model_id, for_update=True)
    require_write(principal, model)
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
    clauses: list[str] = ["m.deleted_at IS NULL"]
    params: list = []

    def add(sql: str, value) -> None:
        params.append(value)
        clauses.append(sql.replace("?", f"${len(params)}"))

    if (team_ids := team_ids_param(principal)) is not None:
        add("(m.visibility = 'organization' OR m.team_id = ANY(?::uuid[]))", team_ids)
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
            .where(ModelVersion.id == version_id, visible(principal, RegisteredModel))
        )
    ).first()
    if row is None:
        raise NotFound("No such model version.", code="model_version_not_found")
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


async def next_version(session: AsyncSession, model_id: uuid.UUID) -> int:
    current = await session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id))
    return (current or 0) + 1


async def set_stage(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID, stage: str, *, force: bool = False
) -> ModelVersion:
    """Move a version to `stage`; `force` asks the stage checks (the evaluation gate) to let it pass."""
    model, version = await get_version(session, principal, version_id)
    require_write(principal, model)
    if version.status != "ready":
        raise Conflict(f"Version {version.version} is {version.status}; only ready versions change stage.")
    if stage != "archived" and version.artifacts_deleted_at is not None:
        raise Conflict("This version's files were deleted after its archive retention; it cannot be restored.")
    if version.stage == stage:
        return version
    for check in stage_checks:
        await check(session, principal, model, version, stage, force)
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
    require_write(principal, model)
    version = await session.scalar(
        select(ModelVersion).where(ModelVersion.id == version_id, ModelVersion.model_id == model_id)
    )
    if version is None:
        raise NotFound("No such version of this model.", code="model_version_not_found")
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
    require_write(principal, model)
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
    q = select(RegisteredModel).where(
        func.lower(RegisteredModel.name) == name.lower(), visible(principal, RegisteredModel)
    )
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
    require_write(principal, model)
    version.card_markdown = markdown
    # From now on the card is a person's text: the UI shows it instead of the facts it renders per language.
    version.card = {**version.card, "edited": True}
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


async def record_access(session: AsyncSession, action: str, model: RegisteredModel, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="model",
        resource_id=model.id,
        team_id=model.team_id,
        summary={"name": model.name, **summary},
    )


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


async def named_model(session: AsyncSession, principal: Principal, name: str) -> RegisteredModel | None:
    """The model a name means to this caller among the models they can see (None: no such model);
    Conflict when several visible teams' models share the name and none is the caller's own."""
    return await _named(session, principal, name)


async def find_model(session: AsyncSession, principal: Principal, name: str) -> RegisteredModel | None:
    """A model of a team the caller may change, by name (None: the name is free in their teams)."""
    return await _named(session, principal, name, own_only=True)


async def model_name(session: AsyncSession, model_id: uuid.UUID) -> str:
    return await session.scalar(select(RegisteredModel.name).where(RegisteredModel.id == model_id)) or "model"


async def record_version_metrics(session: AsyncSession, version_id: uuid.UUID, metrics: dict, source: str) -> None:
    """Merge `metrics` ({"eval/<set>/<metric>": value}) into a version's `metrics`, as the system
    (an evaluation run writing its results; the caller checked who asked for it). Audited."""
    version = await session.get(ModelVersion, version_id, with_for_update=True)
    if version is None:
        return
    version.metrics = {**(version.metrics or {}), **metrics}
    await session.flush()
    from axops.auth.scoping import SYSTEM

    model = await session.get(RegisteredModel, version.model_id)
    audit.record(
        session,
        "model.version_metrics",
        resource_type="model_version",
        resource_id=version.id,
        team_id=model.team_id if model else None,
        summary={"version": version.version, "source": source, "keys": sorted(metrics)[:50]},
        actor=SYSTEM,
    )
