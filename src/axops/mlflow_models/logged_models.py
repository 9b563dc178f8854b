"""MLflow 3 logged models (/api/2.0/mlflow/logged-models/...): created within a run by `mlflow.<flavor>.log_model`,
files uploaded through the run's artifact API (the model's artifact_uri is a folder of the run's artifacts),
registered as axops model versions through sources.resolvers (`models:/m-<id>`)."""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import Principal, Session
from axops.core.state import state_of
from axops.experiments import artifacts, search
from axops.experiments.mlflow_protocol import MlflowError, MlflowRoute, json_body, ok, parse_id, reader, writer
from axops.experiments.mlflow_schemas import ArtifactsAnswer, Empty, ms
from axops.mlflow_models import logged_model_service as service
from axops.mlflow_models import sources
from axops.mlflow_models.logged_model_models import LoggedModel

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)

MAX_RESULTS = 1000
_STATUS = {"PENDING": "LOGGED_MODEL_PENDING", "READY": "LOGGED_MODEL_READY", "FAILED": "LOGGED_MODEL_UPLOAD_FAILED"}


def _value(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    return v if math.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")


def model_json(lm: LoggedModel, metrics: list[dict]) -> dict:
    model_id = service.mlflow_id(lm)
    info: dict[str, Any] = {
        "model_id": model_id,
        "experiment_id": lm.experiment_id.hex,
        "name": lm.name,
        "creation_timestamp_ms": ms(lm.created_at),
        "last_updated_timestamp_ms": ms(lm.updated_at),
        "artifact_uri": service.artifact_uri(lm),
        "status": _STATUS[lm.status],
        "source_run_id": lm.run_id.hex,
        "tags": [{"key": k, "value": v} for k, v in lm.tags.items()],
    }
    if lm.model_type:
        info["model_type"] = lm.model_type
    if lm.status_message:
        info["status_message"] = lm.status_message
    data = {
        "params": [{"key": k, "value": v} for k, v in lm.params.items()],
        "metrics": [{**m, "value": _value(m["value"]), "model_id": model_id} for m in metrics],
    }
    return {"info": info, "data": data}


async def _answer(session: AsyncSession, lm: LoggedModel) -> Response:
    metrics = await service.model_metrics(session, [lm])
    return ok({"model": model_json(lm, metrics[lm.id])})


def _experiment_ids(raw: Any) -> list[uuid.UUID]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", "experiment_ids must be a list.")
    return [parse_id(e, "experiment") for e in raw if str(e) != "0"]


def _routes(r: APIRouter) -> None:  # the same handlers under /api/2.0/mlflow and /ajax-api/2.0/mlflow
    @r.post("/logged-models")
    async def create_logged_model(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        experiment = body.get("experiment_id")
        lm = await service.create(
            session,
            principal,
            experiment_id=parse_id(experiment, "experiment") if experiment and str(experiment) != "0" else None,
            source_run_id=parse_id(body["source_run_id"], "run") if body.get("source_run_id") else None,
            name=body.get("name"),
            model_type=body.get("model_type"),
            tags=body.get("tags"),
            params=body.get("params"),
        )
        return await _answer(session, lm)

    @r.post("/logged-models/search")
    async def search_logged_models(request: Request, session: Session) -> Response:
        principal = await reader(request)
        body = await json_body(request)
        try:
            limit = int(body.get("max_results") or 100)
        except (TypeError, ValueError):
            raise MlflowError("INVALID_PARAMETER_VALUE", "max_results must be an integer.") from None
        if not 1 <= limit <= MAX_RESULTS:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be between 1 and {MAX_RESULTS}.")
        if body.get("datasets"):
            raise MlflowError("INVALID_PARAMETER_VALUE", "Filtering logged models by dataset is not supported.")
        order_by = body.get("order_by") or []
        if not isinstance(order_by, list) or any(
            not isinstance(o, dict) or o.get("field_name") not in ("creation_timestamp", "creation_time")
            for o in order_by
        ):
            raise MlflowError("INVALID_PARAMETER_VALUE", "Logged models can be ordered by creation_timestamp only.")
        ascending = bool(order_by and order_by[0].get("ascending", True))
        offset = search.decode_offset(body.get("page_token"))
        filter_string = body.get("filter") or ""
        if not isinstance(filter_string, str):
            raise MlflowError("INVALID_PARAMETER_VALUE", "filter must be a string.")
        rows, more = await service.search(
            session, principal, _experiment_ids(body.get("experiment_ids")), filter_string, limit, offset, ascending
        )
        metrics = await service.model_metrics(session, rows)
        out: dict[str, Any] = {"models": [model_json(lm, metrics[lm.id]) for lm in rows]}
        if more:
            out["next_page_token"] = search.encode_offset(offset + limit)
        return ok(out)

    @r.get("/logged-models/{model_id}")
    async def get_logged_model(model_id: str, request: Request, session: Session) -> Response:
        principal = await reader(request)
        allow_deleted = request.query_params.get("allow_deleted", "").lower() == "true"
        return await _answer(session, await service.get(session, principal, model_id, allow_deleted=allow_deleted))

    @r.patch("/logged-models/{model_id}")
    async def finalize_logged_model(model_id: str, request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        return await _answer(session, await service.finalize(session, principal, model_id, body.get("status")))

    @r.delete("/logged-models/{model_id}", response_model=Empty)
    async def delete_logged_model(model_id: str, request: Request, session: Session) -> Response:
        principal = await writer(request)
        await service.delete(session, state_of(request).storage, principal, model_id)
        return ok({})

    @r.patch("/logged-models/{model_id}/tags", response_model=Empty)
    async def set_logged_model_tags(model_id: str, request: Request, session: Session) -> Response:
        principal = await writer(request)
        await service.set_tags(session, principal, model_id, (await json_body(request)).get("tags"))
        return ok({})

    @r.delete("/logged-models/{model_id}/tags/{tag_key:path}", response_model=Empty)
    async def delete_logged_model_tag(model_id: str, tag_key: str, request: Request, session: Session) -> Response:
        principal = await writer(request)
        await service.delete_tag(session, principal, model_id, tag_key)
        return ok({})

    @r.post("/logged-models/{model_id}/params", response_model=Empty)
    async def log_logged_model_params(model_id: str, request: Request, session: Session) -> Response:
        principal = await writer(request)
        await service.log_params(session, principal, model_id, (await json_body(request)).get("params"))
        return ok({})

    @r.get("/logged-models/{model_id}/artifacts/directories", response_model=ArtifactsAnswer)
    async def list_logged_model_artifacts(model_id: str, request: Request, session: Session) -> Response:
        principal = await reader(request)
        lm = await service.get(session, principal, model_id)
        rel = artifacts.artifact_path(request.query_params.get("artifact_directory_path"), allow_empty=True)
        folder = service.artifact_folder(lm) + (f"/{rel}" if rel else "")
        files = await artifacts.list_artifacts(session, principal, lm.run_id, folder)
        base = service.artifact_folder(lm) + "/"
        return ok({"files": [{**f, "path": f["path"].removeprefix(base)} for f in files]})

    @r.get("/logged-models/{model_id}/artifacts/files", response_class=StreamingResponse)
    async def download_logged_model_artifact(model_id: str, request: Request, session: Session) -> Response:
        principal = await reader(request)
        lm = await service.get(session, principal, model_id)
        rel = artifacts.artifact_path(request.query_params.get("artifact_file_path"))
        key, row = await artifacts.artifact(session, principal, lm.run_id, f"{service.artifact_folder(lm)}/{rel}")
        return StreamingResponse(
            state_of(request).storage.get_stream(key),
            media_type="application/octet-stream",
            headers={"content-length": str(row.size)},
        )


_routes(router)
_routes(ajax_router)


async def _resolve(session: AsyncSession, principal: Principal, source: str) -> list[tuple[str, str]] | None:
    """`models:/m-<id>` (what `mlflow.register_model` sends for a logged model) → the model's files."""
    if not source.startswith("models:/m-"):
        return None
    lm = await service.get(session, principal, source.removeprefix("models:/").strip("/"))
    return await service.files(session, principal, lm)


async def source_run_id(session: AsyncSession, principal: Principal, source: str) -> uuid.UUID | None:
    """The run that produced a logged-model source (lineage when the client sends no run_id), else None."""
    if not source.startswith("models:/m-"):
        return None
    return (await service.get(session, principal, source.removeprefix("models:/").strip("/"))).run_id


sources.resolvers.append(_resolve)
