"""The axops registry seen as MLflow's flat registry: names to models, stages, versions from run artifacts,
and the JSON shapes the MLflow client reads.

MLflow names are flat; axops names are unique per team. A name the caller can see means that model
(registry.service's own resolution); a new name is created in the caller's default team. A name taken
in another team the caller cannot see is answered as MLflow answers a clash, without saying whose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import visible
from axops.core.errors import AppError
from axops.core.storage import ObjectStore
from axops.experiments.mlflow_protocol import MlflowError
from axops.registry import files as registry_files
from axops.registry import service as registry
from axops.registry.models import ModelVersion, RegisteredModel

# MLflow stage ↔ axops stage (MLflow's "None" is a fresh, unstaged version: axops's draft).
TO_AXOPS = {"none": "draft", "staging": "staging", "production": "production", "archived": "archived"}
TO_MLFLOW = {"draft": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
MAX_RUN_LINK = 500  # MLflow's model_versions.run_link column
# axops version status → MLflow ModelVersionStatus
STATUS = {
    "ready": "READY",
    "uploading": "PENDING_REGISTRATION",
    "importing": "PENDING_REGISTRATION",
    "failed": "FAILED_REGISTRATION",
}


def not_found(name: str, version: object | None = None) -> MlflowError:
    if version is not None:
        return MlflowError("RESOURCE_DOES_NOT_EXIST", f"Model Version (name={name}, version={version}) not found", 404)
    return MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found", 404)


async def model_named(session: AsyncSession, principal: Principal, name: str) -> RegisteredModel:
    """The model `name` means to this caller, or RESOURCE_DOES_NOT_EXIST (another team's private model included)."""
    try:
        model = await registry.named_model(session, principal, name)
    except AppError as exc:  # several visible teams' models share the name
        raise MlflowError("INVALID_PARAMETER_VALUE", exc.detail) from exc
    if model is None or model.name != name:  # MLflow names are case-sensitive
        raise not_found(name)
    return model


async def version_of(
    session: AsyncSession, principal: Principal, name: str, number: object
) -> tuple[RegisteredModel, ModelVersion]:
    model = await model_named(session, principal, name)
    try:
        n = int(str(number))
    except ValueError:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Version must be an integer, got {number!r}.") from None
    version = await session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == n)
    )
    if version is None:
        raise not_found(name, n)
    return model, version


async def name_taken_elsewhere(session: AsyncSession, name: str) -> bool:
    """Whether any model anywhere (any team, deleted included) holds `name`; the caller learns only yes/no."""
    return bool(
        await session.scalar(
            select(func.count()).select_from(RegisteredModel).where(func.lower(RegisteredModel.name) == name.lower())
        )
    )


async def _chunks(storage: ObjectStore, key: str) -> AsyncIterator[bytes]:
    async for chunk in storage.get_stream(key):
        yield chunk


async def create_version_from_artifacts(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    model: RegisteredModel,
    files: list[tuple[str, str]],
    *,
    source: str,
    run_id: uuid.UUID | None = None,
    description: str = "",
    tags: dict[str, str] | None = None,
    run_link: str | None = None,
) -> ModelVersion:
    """A new ready version of `model` holding copies of `files` ((relative path, object-store key), e.g. from
    sources.artifact_files): the registry's own upload path (card, checks, audit `model.version_upload`),
    with the MLflow source as lineage. The version owns its copies: deleting the run keeps the model."""
    if run_link is not None and (not isinstance(run_link, str) or len(run_link) > MAX_RUN_LINK):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"run_link must be a string of at most {MAX_RUN_LINK} characters.")
    if not files:
        raise MlflowError("INVALID_PARAMETER_VALUE", "A model version needs at least one file.")
    version = await registry_files.upload_version(
        session,
        principal,
        storage,
        model.id,
        [(path, _chunks(storage, key)) for path, key in files],
        source="training",
        source_ref=source[:2000],
        run_id=run_id,
    )
    if description or tags or run_link:
        version.mlflow_description = description
        version.mlflow_tags = dict(tags or {})
        version.mlflow_run_link = run_link or None
        await session.flush()
    return version


def ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def version_json(model: RegisteredModel, version: ModelVersion, aliases: list[str] | None = None) -> dict:
    out = {
        "name": model.name,
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.updated_at),
        "current_stage": TO_MLFLOW.get(version.stage, "None"),
        "description": version.mlflow_description or "",
        "source": version.source_ref
        if version.source == "training" and version.source_ref
        else f"models:/{model.name}/{version.version}",
        "status": STATUS.get(version.status, "READY"),
        "tags": [{"key": k, "value": v} for k, v in (version.mlflow_tags or {}).items()],
        "aliases": aliases or [],
    }
    if version.run_id:
        out["run_id"] = version.run_id.hex
    if version.mlflow_run_link:
        out["run_link"] = version.mlflow_run_link
    if version.created_by:
        out["user_id"] = str(version.created_by)
    return out


def model_json(model: RegisteredModel, aliases: dict[str, int], latest: list[dict] | None = None) -> dict:
    out = {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "description": model.description or "",
        "tags": [{"key": k, "value": v} for k, v in (model.mlflow_tags or {}).items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(aliases.items())],
    }
    if latest:
        out["latest_versions"] = latest
    return out


# MLflow's RegisteredModel JSON, built by PostgreSQL for a page of search results (no ORM rows to hydrate and
# re-encode: at 100 models a page that was most of the request's time).
_MODEL_DOC = literal_column(
    """json_build_object(
    'name', registered_models.name,
    'creation_timestamp', (extract(epoch FROM registered_models.created_at) * 1000)::bigint,
    'last_updated_timestamp', (extract(epoch FROM registered_models.updated_at) * 1000)::bigint,
    'description', registered_models.description,
    'tags', (SELECT coalesce(json_agg(json_build_object('key', t.key, 'value', t.value)), '[]')
               FROM jsonb_each_text(registered_models.mlflow_tags) AS t),
    'aliases', (SELECT coalesce(json_agg(json_build_object('alias', a.name, 'version', v.version::text) ORDER BY a.name), '[]')
                  FROM model_aliases a JOIN model_versions v ON v.id = a.version_id
                 WHERE a.model_id = registered_models.id)
)::text"""
)


async def search_model_docs(
    session: AsyncSession, principal: Principal, conditions: list, order: list, offset: int, limit: int
) -> tuple[list[str], bool]:
    """A page of registered models the caller can see as MLflow JSON documents, and whether more follow."""
    q = (
        select(_MODEL_DOC)
        .select_from(RegisteredModel)
        .where(visible(principal, RegisteredModel), *conditions)
        .order_by(*order, RegisteredModel.id)
        .offset(offset)
        .limit(limit + 1)
    )
    docs = list((await session.scalars(q)).all())
    return docs[:limit], len(docs) > limit
