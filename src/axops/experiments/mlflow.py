"""The MLflow REST tracking API (`/api/2.0/mlflow/...`), enough for the official `mlflow` client.

Wire rules followed: GET parameters as query strings, POST bodies as JSON, answers in MLflow's JSON shapes,
errors as non-200 `{"error_code", "message"}`; batch limits of log-batch (1000 metrics, 100 params, 100 tags,
1000 entities). Auth: `Authorization: Bearer <axops API key or token>` (MLFLOW_TRACKING_TOKEN) or Basic with
the API key as password (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). Ids are UUIDs in hex.

The routes are thin: bodies are read with orjson and handed to the tracking modules (runs, metrics, search,
artifacts). The conventions live in mlflow_protocol.py; each route declares its answer's model
(mlflow_schemas.py) and sends orjson bytes, which tests/integration/test_mlflow_compat.py checks against it."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import Principal, Session
from axops.core.state import state_of
from axops.experiments import artifacts, metrics, mlflow_experiments, runs, search
from axops.experiments.mlflow_protocol import (
    MlflowError,
    MlflowRoute,
    from_ms,
    json_body,
    key_values,
    ok,
    parse_id,
    reader,
    required,
    run_id_of,
    writer,
)
from axops.experiments.mlflow_schemas import (
    ArtifactsAnswer,
    Empty,
    ExperimentAnswer,
    ExperimentIdAnswer,
    ExperimentsAnswer,
    MetricHistoryAnswer,
    MetricsBulkAnswer,
    RunAnswer,
    RunInfoAnswer,
    RunsAnswer,
    experiment_json,
    ms,
    run_json,
    runs_json,
)
from axops.experiments.models import Experiment

MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)


async def _experiment(session, principal: Principal, experiment_id: Any) -> Experiment:
    if str(experiment_id) == "0":  # MLflow's default experiment: the team's "Default"
        exp = await runs.get_experiment_by_name(session, principal, "Default")
        return exp or await runs.create_experiment(session, principal, name="Default")
    return await runs.get_experiment(session, principal, parse_id(experiment_id, "experiment"))


def _routes(r: APIRouter) -> None:  # the same handlers under /api/2.0/mlflow and /ajax-api/2.0/mlflow
    # -- experiments

    @r.post("/experiments/create", response_model=ExperimentIdAnswer)
    async def create_experiment(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        if body.get("artifact_location"):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                "artifact_location is not supported: axops keeps artifacts in its object store "
                "(mlflow-artifacts:/<experiment id>).",
            )
        exp = await runs.create_experiment(
            session, principal, name=str(required(body, "name")), tags=key_values(body.get("tags"), "tags")
        )
        return ok({"experiment_id": exp.id.hex})

    @r.get("/experiments/get", response_model=ExperimentAnswer)
    async def get_experiment(request: Request, session: Session, experiment_id: str = "") -> Response:
        principal = await reader(request)
        exp = await _experiment(session, principal, experiment_id or required({}, "experiment_id"))
        await session.refresh(exp)
        return ok({"experiment": experiment_json(exp)})

    @r.get("/experiments/get-by-name", response_model=ExperimentAnswer)
    async def get_experiment_by_name(request: Request, session: Session, experiment_name: str = "") -> Response:
        principal = await reader(request)
        exp = await runs.get_experiment_by_name(session, principal, experiment_name or required({}, "experiment_name"))
        if exp is None:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{experiment_name}'", 404
            )
        return ok({"experiment": experiment_json(exp)})

    @r.post("/experiments/search", response_model=ExperimentsAnswer)
    @r.get("/experiments/search", response_model=ExperimentsAnswer)
    async def search_experiments(request: Request, session: Session) -> Response:
        principal = await reader(request)
        body = await json_body(request) if request.method == "POST" else dict(request.query_params)
        view = str(body.get("view_type") or "ACTIVE_ONLY")
        if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid view_type {view!r}.")
        rows = await runs.list_experiments(session, principal, include_deleted=view != "ACTIVE_ONLY")
        if view == "DELETED_ONLY":
            rows = [e for e in rows if e["lifecycle"] == "deleted"]
        rows, next_token = mlflow_experiments.search(rows, body)
        out = [
            {
                "experiment_id": e["id"].hex,
                "name": e["name"],
                "artifact_location": f"mlflow-artifacts:/{e['id'].hex}",
                "lifecycle_stage": e["lifecycle"],
                "creation_time": ms(e["created_at"]),
                "last_update_time": ms(e["updated_at"]),
                "tags": [{"key": k, "value": v} for k, v in e["tags"].items()],
            }
            for e in rows
        ]
        return ok({"experiments": out, **({"next_page_token": next_token} if next_token else {})})

    @r.post("/experiments/delete", response_model=Empty)
    async def delete_experiment(request: Request, session: Session) -> Response:
        principal = await writer(request)
        exp = await _experiment(session, principal, required(await json_body(request), "experiment_id"))
        await runs.set_experiment_lifecycle(session, principal, exp.id, "deleted")
        return ok({})

    @r.post("/experiments/restore", response_model=Empty)
    async def restore_experiment(request: Request, session: Session) -> Response:
        principal = await writer(request)
        exp = await _experiment(session, principal, required(await json_body(request), "experiment_id"))
        await runs.set_experiment_lifecycle(session, principal, exp.id, "active")
        return ok({})

    @r.post("/experiments/update", response_model=Empty)
    async def update_experiment(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        exp = await _experiment(session, principal, required(body, "experiment_id"))
        await runs.update_experiment(session, principal, exp.id, name=body.get("new_name"))
        return ok({})

    @r.post("/experiments/set-experiment-tag", response_model=Empty)
    async def set_experiment_tag(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        exp = await _experiment(session, principal, required(body, "experiment_id"))
        await runs.update_experiment(
            session, principal, exp.id, tags={str(required(body, "key")): str(body.get("value", ""))}
        )
        return ok({})

    @r.post("/experiments/delete-experiment-tag", response_model=Empty)
    async def delete_experiment_tag(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        exp = await _experiment(session, principal, required(body, "experiment_id"))
        await runs.update_experiment(session, principal, exp.id, remove_tags=[str(required(body, "key"))])
        return ok({})

    # -- runs

    @r.post("/runs/create", response_model=RunAnswer)
    async def create_run(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        exp = await _experiment(session, principal, body.get("experiment_id") or "0")
        tags = key_values(body.get("tags"), "tags")
        if body.get("user_id") and "mlflow.user" not in tags:  # the client's user name, kept as MLflow shows it
            tags["mlflow.user"] = str(body["user_id"])
        name = body.get("run_name") or tags.get("mlflow.runName")
        run = await runs.create_run(
            session,
            principal,
            experiment_name=exp.name,
            team_id=exp.team_id,
            run_name=name,
            tags=tags,
            experiment_id=exp.id,
            start_time=from_ms(body.get("start_time")),
        )
        return ok({"run": (await runs_json(session, principal, [await search.run_out(session, principal, run.id)]))[0]})

    @r.get("/runs/get", response_model=RunAnswer)
    async def get_run(request: Request, session: Session) -> Response:
        principal = await reader(request)
        run_id = run_id_of(dict(request.query_params))
        return ok({"run": (await runs_json(session, principal, [await search.run_out(session, principal, run_id)]))[0]})

    @r.post("/runs/update", response_model=RunInfoAnswer)
    async def update_run(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        run_id = run_id_of(body)
        if body.get("run_name"):
            await runs.rename_run(session, principal, run_id, str(body["run_name"]))
        if body.get("status") or body.get("end_time") not in (None, ""):  # end_time alone changes only it
            status = body.get("status") or (await runs.get_run(session, principal, run_id)).status
            await runs.set_run_status(session, principal, run_id, str(status), from_ms(body.get("end_time")))
        run = await search.run_out(session, principal, run_id)
        return ok({"run_info": run_json(run)["info"]})

    @r.post("/runs/delete", response_model=Empty)
    async def delete_run(request: Request, session: Session) -> Response:
        principal = await writer(request)
        await runs.set_run_lifecycle(session, principal, run_id_of(await json_body(request)), "deleted")
        return ok({})

    @r.post("/runs/restore", response_model=Empty)
    async def restore_run(request: Request, session: Session) -> Response:
        principal = await writer(request)
        await runs.set_run_lifecycle(session, principal, run_id_of(await json_body(request)), "active")
        return ok({})

    @r.post("/runs/log-metric", response_model=Empty)
    async def log_metric(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        point = {
            "key": required(body, "key"),
            "value": required(body, "value"),
            "step": body.get("step"),
            "timestamp": body.get("timestamp"),
            "model_id": body.get("model_id"),
            "dataset_name": body.get("dataset_name"),
            "dataset_digest": body.get("dataset_digest"),
        }
        await metrics.log_batch(session, principal, run_id_of(body), metrics=[point])
        return ok({})

    @r.post("/runs/log-parameter", response_model=Empty)
    async def log_param(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        await metrics.log_batch(
            session, principal, run_id_of(body), params={str(required(body, "key")): body.get("value", "")}
        )
        return ok({})

    @r.post("/runs/set-tag", response_model=Empty)
    async def set_tag(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        run_id, key = run_id_of(body), str(required(body, "key"))
        await metrics.log_batch(session, principal, run_id, tags={key: body.get("value", "")})
        if key == "mlflow.runName" and body.get("value"):
            await runs.rename_run(session, principal, run_id, str(body["value"]))
        return ok({})

    @r.post("/runs/delete-tag", response_model=Empty)
    async def delete_tag(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        await runs.delete_tag(session, principal, run_id_of(body), str(required(body, "key")))
        return ok({})

    @r.post("/runs/log-batch", response_model=Empty)
    async def log_batch(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        points, params, tags = body.get("metrics") or [], body.get("params") or [], body.get("tags") or []
        if not all(isinstance(x, list) for x in (points, params, tags)):
            raise MlflowError("INVALID_PARAMETER_VALUE", "metrics, params and tags must be lists.")
        if len(points) > MAX_METRICS:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"A batch logging request can contain at most {MAX_METRICS} metrics. Got {len(points)} metrics.",
            )
        if len(params) > MAX_PARAMS_TAGS or len(tags) > MAX_PARAMS_TAGS:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"A batch logging request can contain at most {MAX_PARAMS_TAGS} params "
                f"and {MAX_PARAMS_TAGS} tags. Got {len(params)} params and {len(tags)} tags.",
            )
        if len(points) + len(params) + len(tags) > MAX_ENTITIES:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"A batch logging request can contain at most {MAX_ENTITIES} metrics, params and tags in total.",
            )
        run_id = run_id_of(body)
        tag_map = key_values(tags, "tags")
        await metrics.log_batch(
            session,
            principal,
            run_id,
            metrics=points,
            params=key_values(params, "params"),
            tags=tag_map,
            max_metrics=MAX_METRICS,
        )
        if tag_map.get("mlflow.runName"):
            await runs.rename_run(session, principal, run_id, tag_map["mlflow.runName"])
        return ok({})

    @r.post("/runs/search", response_model=RunsAnswer)
    async def search_runs(request: Request, session: Session) -> Response:
        principal = await reader(request)
        body = await json_body(request)
        ids = [
            parse_id(e, "experiment") if str(e) != "0" else (await _experiment(session, principal, "0")).id
            for e in body.get("experiment_ids") or []
        ]
        view = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}.get(
            str(body.get("run_view_type") or "ACTIVE_ONLY"), "active"
        )
        try:
            limit = int(body.get("max_results") or 1000)
        except (TypeError, ValueError):
            raise MlflowError("INVALID_PARAMETER_VALUE", "max_results must be an integer.") from None
        if not 1 <= limit <= 50_000:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid value {limit} for parameter 'max_results' supplied.")
        order_by = body.get("order_by") or []
        if not isinstance(order_by, list) or not all(isinstance(o, str) for o in order_by):
            raise MlflowError("INVALID_PARAMETER_VALUE", "order_by must be a list of strings.")
        items, nxt = await search.search_runs(
            session,
            principal,
            experiment_ids=ids or None,
            filter=str(body.get("filter") or ""),
            order_by=order_by,
            limit=limit,
            cursor=body.get("page_token") or None,
            lifecycle=view,
        )
        out: dict[str, Any] = {"runs": await runs_json(session, principal, items)}
        if nxt:
            out["next_page_token"] = nxt
        return ok(out)

    @r.get("/metrics/get-history", response_model=MetricHistoryAnswer)
    async def get_metric_history(request: Request, session: Session) -> Response:
        principal = await reader(request)
        q = request.query_params
        run_id, key = run_id_of(dict(q)), q.get("metric_key") or required({}, "metric_key")
        limit = int(q["max_results"]) if q.get("max_results", "").isdigit() else None
        offset = search.decode_offset(q.get("page_token"))
        doc, more = await metrics.metric_history_mlflow_json(session, principal, run_id, key, limit, offset)
        tail = b',"next_page_token":' + orjson.dumps(search.encode_offset(offset + (limit or 0))) if more else b""
        return Response(b'{"metrics":' + doc + tail + b"}", media_type="application/json")

    @r.get("/metrics/get-history-bulk-interval", response_model=MetricsBulkAnswer)
    async def get_metric_history_bulk_interval(request: Request, session: Session) -> Response:
        """The MLflow UI's chart data: one metric of up to 100 runs, downsampled (MLflow's sampling)."""
        principal = await reader(request)
        q = request.query_params
        ids = q.getlist("run_ids") or q.getlist("run_ids[]")
        if not ids:
            raise MlflowError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_ids'.")
        if len(ids) > metrics.MAX_BULK_RUNS:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"GetMetricHistoryBulkInterval request must specify at most {metrics.MAX_BULK_RUNS} run_ids. "
                f"Received {len(ids)} run_ids.",
            )
        key = q.get("metric_key") or required({}, "metric_key")
        bounds: list[int | None] = []
        for name in ("max_results", "start_step", "end_step"):
            raw = q.get(name)
            try:
                bounds.append(int(raw) if raw not in (None, "") else None)
            except ValueError:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid value {raw!r} for parameter '{name}'.") from None
        limit, start, end = bounds
        limit = metrics.MAX_BULK_RESULTS if limit is None else limit
        if not 1 <= limit <= metrics.MAX_BULK_RESULTS:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"max_results must be between 1 and {metrics.MAX_BULK_RESULTS}."
            )
        if (start is None) != (end is None):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", "If either start step or end step are specified, both must be specified."
            )
        if start is not None and end is not None and start > end:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"end_step must be greater than start_step. Found start_step={start} and end_step={end}.",
            )
        run_ids = [parse_id(i, "run") for i in ids]
        points = await metrics.metric_history_bulk_interval(session, principal, run_ids, key, limit, start, end)
        return ok({"metrics": points})


_routes(router)
_routes(ajax_router)


# -- artifacts: MLflow's proxied artifact API, for runs whose artifact_uri is mlflow-artifacts:/<exp>/<run>/artifacts

artifacts_router = APIRouter(
    prefix="/api/2.0/mlflow-artifacts/artifacts", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)


def _artifact_target(path: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    """<experiment>/<run>/artifacts[/<file or folder>] → (experiment id, run id, the run-relative path)."""
    parts = path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts":
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", "Artifact paths look like <experiment id>/<run id>/artifacts/<path>."
        )
    return parse_id(parts[0], "experiment"), parse_id(parts[1], "run"), parts[3] if len(parts) > 3 else ""


async def _artifact_run(session, principal: Principal, path: str) -> tuple[uuid.UUID, str]:
    experiment_id, run_id, rel = _artifact_target(path)
    run = await runs.get_run(session, principal, run_id)
    if run.experiment_id != experiment_id:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No run with id {run_id.hex!r} in that experiment.", 404)
    return run_id, rel


@artifacts_router.get("", response_model=ArtifactsAnswer)
async def list_artifacts(request: Request, session: Session, path: str = "") -> Response:
    principal = await reader(request)
    run_id, rel = await _artifact_run(session, principal, path)
    files = await artifacts.list_artifacts(session, principal, run_id, rel)
    return ok(
        {
            "files": [
                {"path": f["path"].removeprefix(rel).lstrip("/"), **{k: v for k, v in f.items() if k != "path"}}
                for f in files
            ]
        }
    )


@artifacts_router.put("/{path:path}", response_model=Empty)
async def upload_artifact(path: str, request: Request, session: Session) -> Response:
    principal = await writer(request)
    run_id, rel = await _artifact_run(session, principal, path)
    await artifacts.log_artifact(session, state_of(request).storage, principal, run_id, rel, request.stream())
    return ok({})


@artifacts_router.get("/{path:path}", response_class=StreamingResponse)
async def download_artifact(path: str, request: Request, session: Session) -> Response:
    principal = await reader(request)
    run_id, rel = await _artifact_run(session, principal, path)
    key, row = await artifacts.artifact(session, principal, run_id, rel)
    return StreamingResponse(
        state_of(request).storage.get_stream(key),
        media_type="application/octet-stream",
        headers={"content-length": str(row.size)},
    )


@artifacts_router.delete("/{path:path}", response_model=Empty)
async def delete_artifacts(path: str, request: Request, session: Session) -> Response:
    principal = await writer(request)
    run_id, rel = await _artifact_run(session, principal, path)
    await artifacts.delete_artifacts(session, state_of(request).storage, principal, run_id, rel)
    return ok({})
