"""The MLflow model-registry REST API (/api/2.0/mlflow/registered-models/..., /model-versions/...) over the axops registry.

One registry, two doors: every route calls the registry's services (names resolved per registry_mapping, stage
changes through `set_stage` with its approval/evaluation checks, audit inside the services). Reads need
models:read, changes models:write, as in the axops API. A version's files are served to the MLflow client under
/api/2.0/mlflow-artifacts/artifacts/registry/<model id>/<version>/ (get-download-uri answers that location), with
the access-policy download check and a `model.download` audit event per file."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import String, cast, func, select
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import Principal, Session
from axops.auth.scoping import visible
from axops.auth.two_factor import require_recent_mfa
from axops.core.state import state_of
from axops.experiments import mlflow as tracking_mlflow
from axops.experiments.mlflow_protocol import MlflowError, MlflowRoute, json_body, ok, principal_for, required
from axops.experiments.search import decode_offset, encode_offset
from axops.mlflow_models import logged_models, sources
from axops.mlflow_models import registry_mapping as mapping
from axops.mlflow_models.registry_filter import compile_filter, compile_order_by
from axops.registry import files as registry_files
from axops.registry import mlflow_fields, recovery
from axops.registry import service as registry
from axops.registry.models import ModelAlias, ModelVersion, RegisteredModel
from axops.registry.schemas import ModelCreate, ModelUpdate

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)
# Included before the tracking API's artifact routes: `registry/...` paths are a version's files, the rest runs'.
artifacts_router = APIRouter(
    prefix="/api/2.0/mlflow-artifacts/artifacts", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)

MAX_MODELS_PAGE = 1000  # MLflow's limit for registered-models/search
MAX_VERSIONS_PAGE = 200_000  # MLflow's limit for model-versions/search (default 10,000)
_ALIAS = re.compile(registry.ALIAS_PATTERN)

_MODEL_COLUMNS = {
    "name": RegisteredModel.name,
    "creation_timestamp": RegisteredModel.created_at,
    "last_updated_timestamp": RegisteredModel.updated_at,
    "timestamp": RegisteredModel.updated_at,
}
_VERSION_COLUMNS = {
    "name": RegisteredModel.name,
    "run_id": func.replace(cast(ModelVersion.run_id, String), "-", ""),
    "source_path": ModelVersion.source_ref,
    "version_number": ModelVersion.version,
    "creation_timestamp": ModelVersion.created_at,
    "last_updated_timestamp": ModelVersion.updated_at,
}


async def _reader(request: Request) -> Principal:
    return await principal_for(request, "models:read")


async def _writer(request: Request) -> Principal:
    return await principal_for(request, "models:write")


async def _params(request: Request) -> dict:
    """GET parameters (query string) or the JSON body of POST/PATCH/DELETE."""
    if request.method == "GET":
        return dict(request.query_params)
    return await json_body(request)


def _str(body: dict, key: str) -> str:
    value = required(body, key)
    if not isinstance(value, str):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{key}' must be a string.")
    return value


def _limit(raw: Any, default: int, most: int) -> int:
    if raw in (None, ""):
        return default
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be an integer, got {raw!r}.") from None
    if n < 1 or n > most:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be between 1 and {most}, got {n}.")
    return n


def _tags(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, list) or not all(isinstance(t, dict) and isinstance(t.get("key"), str) for t in raw):
        raise MlflowError("INVALID_PARAMETER_VALUE", "tags must be a list of {key, value} objects.")
    return {t["key"]: str(t.get("value", "")) for t in raw}


def _order_by(request: Request, body: dict) -> list[str]:
    if request.method == "GET":
        return request.query_params.getlist("order_by")
    raw = body.get("order_by") or []
    if not isinstance(raw, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", "order_by must be a list of strings.")
    return raw


async def _model_answer(session, model: RegisteredModel) -> dict:
    await session.refresh(model)  # updated_at is set by the database on change
    summary = (await registry.model_summaries(session, [model.id]))[model.id]
    versions = (
        await session.scalars(
            select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version.desc())
        )
    ).all()
    latest: dict[str, ModelVersion] = {}
    for v in versions:
        latest.setdefault(v.stage, v)
    return mapping.model_json(model, summary["aliases"], [mapping.version_json(model, v) for v in latest.values()])


async def _version_answer(session, model: RegisteredModel, version: ModelVersion) -> dict:
    await session.refresh(version)
    aliases = (await registry.version_aliases(session, [version.id]))[version.id]
    return {"model_version": mapping.version_json(model, version, aliases)}


def _validated(cls, **data):
    try:
        return cls(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"Invalid {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


async def _refuse_clash(session, principal: Principal, name: str) -> None:
    """MLflow's answer to a taken name, whoever holds it (never saying whose)."""
    visible = await registry.named_model(session, principal, name)
    if visible is not None or await mapping.name_taken_elsewhere(session, name):
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.")


def _routes(r: APIRouter) -> None:  # the same handlers under /api/2.0/mlflow and /ajax-api/2.0/mlflow
    # -- registered models

    @r.post("/registered-models/create")
    async def create_model(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        name = _str(body, "name")
        data = _validated(ModelCreate, name=name, description=str(body.get("description") or ""))
        tags = _tags(body.get("tags"))
        await _refuse_clash(session, principal, name)
        model = await registry.register_model(session, principal, data)
        for key, value in tags.items():
            await mlflow_fields.set_model_tag(session, principal, model.id, key, value)
        return ok({"registered_model": await _model_answer(session, model)})

    @r.get("/registered-models/get")
    async def get_model(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        model = await mapping.model_named(session, principal, _str(await _params(request), "name"))
        return ok({"registered_model": await _model_answer(session, model)})

    @r.post("/registered-models/rename")
    async def rename_model(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        new_name = _str(body, "new_name")
        data = _validated(ModelUpdate, name=new_name)
        if new_name.lower() != model.name.lower():
            await _refuse_clash(session, principal, new_name)
        model = await registry.update_model(session, principal, model.id, data)
        return ok({"registered_model": await _model_answer(session, model)})

    @r.patch("/registered-models/update")
    async def update_model(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        if body.get("description") is not None:
            data = _validated(ModelUpdate, description=str(body["description"]))
            model = await registry.update_model(session, principal, model.id, data)
        return ok({"registered_model": await _model_answer(session, model)})

    @r.delete("/registered-models/delete")
    async def delete_model(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        await require_recent_mfa(request, principal)
        model = await mapping.model_named(session, principal, _str(await json_body(request), "name"))
        days = state_of(request).settings.deleted_retention_days
        await recovery.delete_model(session, principal, model.id, model.name, days)  # restorable, as in axops
        return ok({})

    @r.get("/registered-models/search")
    @r.post("/registered-models/search")
    async def search_models(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        limit = _limit(body.get("max_results"), 100, MAX_MODELS_PAGE)
        offset = decode_offset(body.get("page_token"))
        conditions = compile_filter(body.get("filter"), {"name": RegisteredModel.name}, RegisteredModel.mlflow_tags)
        order = compile_order_by(_order_by(request, body), _MODEL_COLUMNS) or [RegisteredModel.name.asc()]
        docs, more = await mapping.search_model_docs(session, principal, conditions, order, offset, limit)
        answer = b'{"registered_models":[' + ",".join(docs).encode() + b"]"
        if more:
            answer += b',"next_page_token":"' + encode_offset(offset + limit).encode() + b'"'
        return Response(answer + b"}", media_type="application/json")

    @r.post("/registered-models/set-tag")
    async def set_model_tag(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        await mlflow_fields.set_model_tag(session, principal, model.id, _str(body, "key"), str(body.get("value", "")))
        return ok({})

    @r.delete("/registered-models/delete-tag")
    async def delete_model_tag(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        await mlflow_fields.set_model_tag(session, principal, model.id, _str(body, "key"), None)
        return ok({})

    # -- aliases and stages of old clients

    @r.post("/registered-models/alias")
    async def set_alias(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        alias = _str(body, "alias")
        if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid alias {alias!r}: lowercase letters, digits, '-' and '_', starting with a letter; "
                "not 'latest' or v<number>.",
            )
        model, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        await registry.set_alias(session, principal, model.id, alias, version.id)
        return ok({})

    @r.delete("/registered-models/alias")
    async def delete_alias(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await _params(request) or dict(request.query_params)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        await registry.delete_alias(session, principal, model.id, _str(body, "alias"))
        return ok({})

    @r.get("/registered-models/alias")
    async def get_by_alias(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        name, alias = _str(body, "name"), _str(body, "alias")
        model = await mapping.model_named(session, principal, name)
        version = await session.scalar(
            select(ModelVersion)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == model.id, ModelAlias.name == alias)
        )
        if version is None:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found.", 404)
        return ok(await _version_answer(session, model, version))

    @r.post("/registered-models/get-latest-versions")
    @r.get("/registered-models/get-latest-versions")
    async def latest_versions(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        raw = body.get("stages") or (request.query_params.getlist("stages") if request.method == "GET" else [])
        stages = {_stage(s) for s in ([raw] if isinstance(raw, str) else raw)} or set(mapping.TO_MLFLOW)
        latest: dict[str, ModelVersion] = {}
        for v in await registry.list_versions(session, principal, model.id):
            if v.stage in stages:
                latest.setdefault(v.stage, v)
        return ok({"model_versions": [mapping.version_json(model, v) for v in latest.values()]})

    # -- model versions

    @r.post("/model-versions/create")
    async def create_version(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model = await mapping.model_named(session, principal, _str(body, "name"))
        source = _str(body, "source")
        run_id = None
        if body.get("run_id"):
            try:
                run_id = uuid.UUID(str(body["run_id"]))
            except ValueError:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid run_id {body['run_id']!r}.") from None
        storage = state_of(request).storage
        files = await sources.artifact_files(session, principal, storage, source, body.get("run_id"))
        if run_id is None:  # models:/m-<id> (a logged model) names its run: the version's lineage
            run_id = await logged_models.source_run_id(session, principal, source)
        version = await mapping.create_version_from_artifacts(
            session,
            principal,
            storage,
            model,
            files,
            source=source,
            run_id=run_id,
            description=str(body.get("description") or ""),
            tags=_tags(body.get("tags")),
            run_link=body.get("run_link"),
        )
        return ok(await _version_answer(session, model, version))

    @r.get("/model-versions/get")
    async def get_version(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        model, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        return ok(await _version_answer(session, model, version))

    @r.patch("/model-versions/update")
    async def update_version(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        if body.get("description") is not None:
            version = await mlflow_fields.update_version(
                session, principal, version.id, description=str(body["description"])
            )
        return ok(await _version_answer(session, model, version))

    @r.delete("/model-versions/delete")
    async def delete_version(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        await require_recent_mfa(request, principal)
        body = await json_body(request)
        _, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        await mlflow_fields.delete_version(session, state_of(request).storage, principal, version.id)
        return ok({})

    @r.get("/model-versions/search")
    @r.post("/model-versions/search")
    async def search_versions(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        limit = _limit(body.get("max_results"), 10_000, MAX_VERSIONS_PAGE)
        offset = decode_offset(body.get("page_token"))
        conditions = compile_filter(body.get("filter"), _VERSION_COLUMNS, ModelVersion.mlflow_tags)
        order = compile_order_by(_order_by(request, body), _VERSION_COLUMNS) or [
            RegisteredModel.name.asc(),
            ModelVersion.version.desc(),
        ]
        q = (
            select(RegisteredModel, ModelVersion)
            .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
            .where(visible(principal, RegisteredModel), *conditions)
            .order_by(*order, ModelVersion.id)
            .offset(offset)
            .limit(limit + 1)
        )
        rows = (await session.execute(q)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        aliases = await registry.version_aliases(session, [v.id for _, v in rows])
        out: dict[str, Any] = {"model_versions": [mapping.version_json(m, v, aliases[v.id]) for m, v in rows]}
        if more:
            out["next_page_token"] = encode_offset(offset + limit)
        return ok(out)

    @r.post("/model-versions/set-tag")
    async def set_version_tag(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        _, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        tag = (_str(body, "key"), str(body.get("value", "")))
        await mlflow_fields.update_version(session, principal, version.id, tag=tag)
        return ok({})

    @r.delete("/model-versions/delete-tag")
    async def delete_version_tag(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        _, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        await mlflow_fields.update_version(session, principal, version.id, tag=(_str(body, "key"), None))
        return ok({})

    @r.post("/model-versions/transition-stage")
    async def transition_stage(request: Request, session: Session) -> Response:
        principal = await _writer(request)
        body = await json_body(request)
        model, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        stage = _stage(_str(body, "stage"))
        # The axops stage change itself: its checks (evaluation gate, approvals) and audit apply unchanged.
        version = await registry.set_stage(session, principal, version.id, stage)
        if stage in ("staging", "production") and str(body.get("archive_existing_versions")).lower() == "true":
            for other in await registry.list_versions(session, principal, model.id):
                if other.id != version.id and other.stage == stage:
                    await registry.set_stage(session, principal, other.id, "archived")
        return ok(await _version_answer(session, model, version))

    @r.get("/model-versions/get-download-uri")
    async def download_uri(request: Request, session: Session) -> Response:
        principal = await _reader(request)
        body = await _params(request)
        model, version = await mapping.version_of(session, principal, _str(body, "name"), required(body, "version"))
        await registry_files.downloadable(session, principal, version.id)
        return ok({"artifact_uri": f"mlflow-artifacts:/registry/{model.id.hex}/{version.version}"})


def _stage(raw: Any) -> str:
    stage = mapping.TO_AXOPS.get(str(raw).lower())
    if stage is None:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"Invalid stage {str(raw)[:50]!r}: use None, Staging, Production or Archived."
        )
    return stage


_routes(router)
_routes(ajax_router)


# -- a version's files for the MLflow client (models:/name/3, models:/name@alias)


async def _registry_target(session, principal: Principal, path: str) -> tuple[RegisteredModel, ModelVersion, str]:
    """registry/<model id hex>/<version>[/<path>] → the downloadable version and the path inside it."""
    parts = path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[0] != "registry" or not parts[2].isdigit():
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", "Registry artifact paths look like registry/<model id>/<version>/<path>."
        )
    try:
        model_id = uuid.UUID(parts[1])
    except ValueError:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", "No such model.", 404) from None
    model = await registry.get_model(session, principal, model_id)
    version = await session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == int(parts[2]))
    )
    if version is None:
        raise mapping.not_found(model.name, parts[2])
    model, version = await registry_files.downloadable(session, principal, version.id)
    return model, version, parts[3] if len(parts) > 3 else ""


@artifacts_router.get("")
async def list_artifacts(request: Request, session: Session, path: str = "") -> Response:
    if not path.strip("/").startswith("registry/"):
        return await tracking_mlflow.list_artifacts(request, session, path)
    principal = await _reader(request)
    _, version, rel = await _registry_target(session, principal, path)
    prefix = rel.strip("/") + "/" if rel.strip("/") else ""
    entries: dict[str, dict] = {}
    for f in await registry.version_files(session, version.id):
        if not f.path.startswith(prefix):
            continue
        head, sep, _ = f.path[len(prefix) :].partition("/")
        entries.setdefault(
            head, {"path": head, "is_dir": True} if sep else {"path": head, "is_dir": False, "file_size": f.size}
        )
    return ok({"files": sorted(entries.values(), key=lambda e: (not e["is_dir"], e["path"]))})


@artifacts_router.get("/registry/{path:path}", response_class=StreamingResponse)
async def download_artifact(path: str, request: Request, session: Session) -> Response:
    principal = await _reader(request)
    model, version, rel = await _registry_target(session, principal, "registry/" + path)
    f = await registry_files.stored_file(session, version.id, rel)
    await registry.record_access(session, "model.download", model, version=version.version, file=rel, via="mlflow")
    return StreamingResponse(
        await state_of(request).storage.open_stream(f.storage_key),
        media_type="application/octet-stream",
        headers={"content-length": str(f.size), "x-checksum-sha256": f.sha256},
    )
