"""HTTP routes of experiment tracking (the MLflow-compatible API is in mlflow.py)."""

from __future__ import annotations

import mimetypes
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.errors import Invalid
from axops.core.pagination import json_response
from axops.core.state import Storage
from axops.core.text import content_disposition
from axops.experiments import artifacts, export, metrics, runs, search
from axops.experiments.schemas import (
    ArtifactOut,
    ExperimentCreate,
    ExperimentOut,
    ExperimentUpdate,
    ExportRequest,
    LogBatchOut,
    LogBatchRequest,
    MetricHistory,
    RunCompareOut,
    RunCompareRequest,
    RunCreate,
    RunKeys,
    RunOut,
    RunPage,
    RunUpdate,
    SearchRequest,
)

router = APIRouter(prefix="/api/experiments", tags=["experiments"])
Reader = Annotated[Principal, require("training:read")]
Writer = Annotated[Principal, require("training:write")]


async def _run(session, principal, run_id) -> Response:
    return json_response(await search.run_out(session, principal, run_id))


@router.get("", response_model=list[ExperimentOut])
async def list_experiments(principal: Reader, session: Session, include_deleted: bool = False) -> Response:
    return json_response(await runs.list_experiments(session, principal, include_deleted))


@router.post("", status_code=201, response_model=ExperimentOut)
async def create_experiment(body: ExperimentCreate, principal: Writer, session: Session) -> Response:
    exp = await runs.create_experiment(
        session, principal, name=body.name, team_id=body.team_id, description=body.description, tags=body.tags
    )
    await session.refresh(exp)
    return json_response(await runs.experiment_out(session, exp), 201)


# -- runs (before /{experiment_id}, which would otherwise swallow /runs)


@router.post("/runs", status_code=201, response_model=RunOut)
async def create_run(body: RunCreate, principal: Writer, session: Session) -> Response:
    """Start a run in an experiment (by id, or by name: created if missing)."""
    if body.experiment_id is None and not body.experiment_name:
        raise Invalid("Give experiment_id or experiment_name.")
    run = await runs.create_run(
        session,
        principal,
        experiment_name=body.experiment_name or "",
        team_id=body.team_id,
        run_name=body.name,
        params=body.params,
        tags=body.tags,
        job_id=body.job_id,
        dataset_version_ids=body.dataset_version_ids,
        base_model_version_id=body.base_model_version_id,
        experiment_id=body.experiment_id,
    )
    return json_response(await search.run_out(session, principal, run.id), 201)


@router.get("/runs", response_model=RunPage)
async def list_runs(
    principal: Reader,
    session: Session,
    experiment_id: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006
    filter: str = Query("", max_length=4000),
    order_by: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: int = Query(100, ge=1, le=5000),
    cursor: str | None = None,
) -> Response:
    """Runs, newest first, or in `order_by` order (`metrics.loss ASC`); `filter` is the search language:
    `params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'` (see the README)."""
    items, nxt = await search.search_runs(
        session, principal, experiment_ids=experiment_id, filter=filter, order_by=order_by, limit=limit, cursor=cursor
    )
    total = None
    if cursor is None:
        total = await _total(session, principal, experiment_id, filter, "active", items, nxt)
    return json_response({"items": items, "next_cursor": nxt, "total": total})


async def _total(session, principal, experiment_ids, filter, lifecycle, items, nxt) -> int:
    if nxt is None:  # the first page holds them all
        return len(items)
    return await search.count_runs(
        session, principal, experiment_ids=experiment_ids, filter=filter, lifecycle=lifecycle
    )


@router.get("/runs/keys", response_model=RunKeys)
async def run_keys(
    principal: Reader,
    session: Session,
    experiment_id: Annotated[list[uuid.UUID], Query(max_length=100)] = [],  # noqa: B006
) -> Response:
    """Every param, metric and tag key of the active runs in these experiments (all visible ones when none are
    named), sorted, at most 2,000 of each: the columns the runs table offers."""
    return json_response(await search.run_keys(session, principal, experiment_ids=experiment_id))


@router.post("/runs/search", response_model=RunPage)
async def search_runs(body: SearchRequest, principal: Reader, session: Session) -> Response:
    items, nxt = await search.search_runs(
        session,
        principal,
        experiment_ids=body.experiment_ids,
        filter=body.filter,
        order_by=body.order_by,
        limit=body.limit,
        cursor=body.cursor,
        lifecycle=body.lifecycle,
    )
    total = None
    if body.cursor is None:
        total = await _total(session, principal, body.experiment_ids, body.filter, body.lifecycle, items, nxt)
    return json_response({"items": items, "next_cursor": nxt, "total": total})


@router.post(
    "/runs/export", response_class=Response, responses={200: {"content": {"text/csv": {}, "application/json": {}}}}
)
async def export_runs(body: ExportRequest, principal: Reader, session: Session) -> Response:
    """The runs of a search as CSV or JSON: one row per run, columns params.*, metrics.* (latest), tags.*."""
    items, _ = await search.search_runs(
        session,
        principal,
        experiment_ids=body.experiment_ids,
        filter=body.filter,
        order_by=body.order_by,
        limit=body.limit,
        lifecycle=body.lifecycle,
    )
    if body.format == "json":
        return Response(
            export.export_json(items),
            media_type="application/json",
            headers={"Content-Disposition": content_disposition("runs.json")},
        )
    return Response(
        export.export_csv(items),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition("runs.csv")},
    )


@router.post("/runs/compare", response_model=RunCompareOut)
async def compare_runs(body: RunCompareRequest, principal: Reader, session: Session) -> Response:
    """Runs side by side: params (and which differ), latest metrics, and each metric's series per run."""
    return json_response(await search.compare_runs(session, principal, body.run_ids, body.metric_keys, body.max_points))


@router.post("/runs/compare/report", response_class=Response, responses={200: {"content": {"text/markdown": {}}}})
async def compare_report(body: RunCompareRequest, principal: Reader, session: Session) -> Response:
    """A markdown report of the comparison (runs, parameter differences, best metric values)."""
    cmp = await search.compare_runs(session, principal, body.run_ids, body.metric_keys, 10)
    return Response(
        export.comparison_report(cmp),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": content_disposition("comparison.md")},
    )


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, principal: Reader, session: Session) -> Response:
    return await _run(session, principal, run_id)


@router.patch("/runs/{run_id}", response_model=RunOut)
async def update_run(run_id: uuid.UUID, body: RunUpdate, principal: Writer, session: Session) -> Response:
    """End a run (status FINISHED, FAILED or KILLED; end_time defaults to now) or rename it."""
    if body.name is not None:
        await runs.rename_run(session, principal, run_id, body.name)
    if body.status is not None:
        await runs.set_run_status(session, principal, run_id, body.status, body.end_time)
    return await _run(session, principal, run_id)


@router.delete("/runs/{run_id}", status_code=204)
async def delete_run(run_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await runs.set_run_lifecycle(session, principal, run_id, "deleted")


@router.post("/runs/{run_id}/log-batch", response_model=LogBatchOut)
async def log_batch(run_id: uuid.UUID, body: LogBatchRequest, principal: Writer, session: Session) -> Response:
    """Log up to 10,000 metric points, 100 params (write-once) and 100 tags in one call."""
    points = [{"key": m.key, "value": m.value, "step": m.step, "timestamp": m.timestamp} for m in body.metrics]
    n = await metrics.log_batch(session, principal, run_id, metrics=points, params=body.params, tags=body.tags)
    return json_response({"run_id": run_id, "metrics": n})


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=MetricHistory)
async def metric_history(run_id: uuid.UUID, key: str, principal: Reader, session: Session) -> Response:
    """Every point of one metric in step order, as columns (steps, timestamps, values)."""
    return Response(await metrics.metric_history_json(session, principal, run_id, key), media_type="application/json")


@router.get("/runs/{run_id}/artifacts")
async def list_artifacts(run_id: uuid.UUID, principal: Reader, session: Session, path: str = "") -> list[ArtifactOut]:
    """The files and folders directly in `path` (the run's root by default), folders first."""
    return [ArtifactOut(**f) for f in await artifacts.list_artifacts(session, principal, run_id, path)]


@router.get("/runs/{run_id}/artifacts/{path:path}", response_class=StreamingResponse)
async def download_artifact(
    run_id: uuid.UUID, path: str, principal: Reader, session: Session, storage: Storage
) -> Response:
    key, row = await artifacts.artifact(session, principal, run_id, path)
    name = row.path.rsplit("/", 1)[-1]
    return StreamingResponse(
        storage.get_stream(key),
        media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        headers={
            "content-length": str(row.size),
            "x-axops-sha256": row.sha256,
            "content-disposition": content_disposition(name),
        },
    )


# -- one experiment


@router.get("/{experiment_id}", response_model=ExperimentOut)
async def get_experiment(experiment_id: uuid.UUID, principal: Reader, session: Session) -> Response:
    exp = await runs.get_experiment(session, principal, experiment_id)
    return json_response(await runs.experiment_out(session, exp))


@router.patch("/{experiment_id}", response_model=ExperimentOut)
async def update_experiment(
    experiment_id: uuid.UUID, body: ExperimentUpdate, principal: Writer, session: Session
) -> Response:
    exp = await runs.update_experiment(
        session, principal, experiment_id, name=body.name, description=body.description, tags=body.tags
    )
    await session.refresh(exp)
    return json_response(await runs.experiment_out(session, exp))


@router.delete("/{experiment_id}", status_code=204)
async def delete_experiment(experiment_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await runs.set_experiment_lifecycle(session, principal, experiment_id, "deleted")
