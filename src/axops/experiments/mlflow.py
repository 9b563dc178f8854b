"""The MLflow REST tracking API (`/api/2.0/mlflow/...`), enough for the official `mlflow` client.

Wire rules followed: GET parameters as query strings, POST bodies as JSON, answers in MLflow's JSON shapes,
errors as non-200 `{"error_code", "message"}`; batch limits of log-batch (1000 metrics, 100 params, 100 tags,
1000 entities). Auth: `Authorization: Bearer <axops API key or token>` (MLFLOW_TRACKING_TOKEN) or Basic with
the API key as password (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). Ids are UUIDs in hex. The
routes are thin: bodies are read with orjson and handed to the tracking modules (runs, metrics, search, artifacts)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import Principal, Session, get_principal
from axops.core.errors import AppError, Forbidden
from axops.core.state import state_of
from axops.experiments import artifacts, metrics, runs, search
from axops.experiments.models import Experiment

MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000

_ERROR_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "INVALID_STATE",
    413: "INVALID_PARAMETER_VALUE",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
}


class MlflowError(AppError):
    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_code, self.status = error_code, status


def _error(code: str, message: str, status: int) -> Response:
    return Response(
        orjson.dumps({"error_code": code, "message": message}), status_code=status, media_type="application/json"
    )


class MlflowRoute(APIRoute):
    """Renders every error of these routes (auth, validation, service) in MLflow's form."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except MlflowError as exc:
                return _error(exc.error_code, exc.detail, exc.status)
            except AppError as exc:
                status = 400 if exc.status in (409, 413, 422) else exc.status
                if exc.code == "conflict" and "already exists" in exc.detail:
                    return _error("RESOURCE_ALREADY_EXISTS", exc.detail, 400)
                return _error(_ERROR_CODES.get(exc.status, "INTERNAL_ERROR"), exc.detail, status)
            except RequestValidationError:
                return _error("INVALID_PARAMETER_VALUE", "Invalid request parameters.", 400)

        return route


router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)


async def _principal(request: Request, permission: str) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(credential.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise MlflowError("UNAUTHENTICATED", "Malformed Basic credentials.", 401) from exc
        scope = dict(request.scope)
        scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
        scope["headers"].append((b"authorization", f"Bearer {password}".encode()))
        request = Request(scope)
    principal = await get_principal(request)
    if not principal.can(permission):
        raise Forbidden(f"This action needs the '{permission}' permission, which your role or key lacks.")
    return principal


async def _read(request: Request) -> Principal:
    return await _principal(request, "training:read")


async def _write(request: Request) -> Principal:
    return await _principal(request, "training:write")


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MlflowError("MALFORMED_REQUEST", "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise MlflowError("MALFORMED_REQUEST", "The request body must be a JSON object.")
    return body


def _ok(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST" if value else "INVALID_PARAMETER_VALUE",
            f"No {what} with id {value!r}." if value else f"Missing value for required parameter '{what}_id'.",
            404 if value else 400,
        ) from None


def _required(body: dict, key: str) -> Any:
    value = body.get(key)
    if value is None or value == "":
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{key}'.")
    return value


def _run_id(body: dict) -> uuid.UUID:
    return _uuid(body.get("run_id") or body.get("run_uuid") or _required(body, "run_id"), "run")


def _ms(dt: datetime | None) -> int | None:
    return int(dt.timestamp() * 1000) if dt else None


def _from_ms(ms: Any) -> datetime | None:
    if ms in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (ValueError, TypeError, OverflowError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid timestamp {ms!r}.") from None


def _kv(items: Any, what: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{what} must be a list of {{key, value}} objects.")
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Each of {what} needs a string key.")
        value = item.get("value", "")
        out[item["key"]] = value if isinstance(value, str) else str(value)
    return out


def _experiment_json(e: Experiment) -> dict:
    return {
        "experiment_id": e.id.hex,
        "name": e.name,
        "artifact_location": f"mlflow-artifacts:/{e.id.hex}",
        "lifecycle_stage": e.lifecycle,
        "creation_time": _ms(e.created_at),
        "last_update_time": _ms(e.updated_at),
        "tags": [{"key": k, "value": v} for k, v in (e.tags or {}).items()],
    }


def _metric_value(v: Any) -> Any:
    return (
        v
        if not isinstance(v, str)
        else {"nan": "NaN", "infinity": "Infinity", "-infinity": "-Infinity"}.get(v.lower(), v)
    )


def _run_json(r: dict) -> dict:
    tags = dict(r["tags"])
    tags.setdefault("mlflow.runName", r["name"])
    if r.get("user_name"):
        tags.setdefault("mlflow.user", r["user_name"])
    info = {
        "run_id": r["id"].hex,
        "run_uuid": r["id"].hex,
        "run_name": r["name"],
        "experiment_id": r["experiment_id"].hex,
        "user_id": r.get("user_name") or "",
        "status": r["status"],
        "start_time": _ms(r["start_time"]),
        "artifact_uri": f"mlflow-artifacts:/{r['experiment_id'].hex}/{r['id'].hex}/artifacts",
        "lifecycle_stage": r["lifecycle"],
    }
    if r["end_time"] is not None:
        info["end_time"] = _ms(r["end_time"])
    latest = [
        {"key": k, "value": _metric_value(m["value"]), "timestamp": m["timestamp"], "step": m["step"]}
        for k, m in r["metrics"].items()
    ]
    return {
        "info": info,
        "data": {
            "metrics": latest,
            "params": [{"key": k, "value": v} for k, v in r["params"].items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
        "inputs": {},
    }


async def _experiment(session, principal: Principal, experiment_id: Any) -> Experiment:
    if str(experiment_id) == "0":  # MLflow's default experiment: the team's "Default"
        exp = await runs.get_experiment_by_name(session, principal, "Default")
        return exp or await runs.create_experiment(session, principal, name="Default")
    return await runs.get_experiment(session, principal, _uuid(experiment_id, "experiment"))


def _routes(r: APIRouter) -> None:  # the same handlers under /api/2.0/mlflow and /ajax-api/2.0/mlflow
    # -- experiments

    @r.post("/experiments/create")
    async def create_experiment(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        exp = await runs.create_experiment(
            session, principal, name=str(_required(body, "name")), tags=_kv(body.get("tags"), "tags")
        )
        return _ok({"experiment_id": exp.id.hex})

    @r.get("/experiments/get")
    async def get_experiment(request: Request, session: Session, experiment_id: str = "") -> Response:
        principal = await _read(request)
        exp = await _experiment(session, principal, experiment_id or _required({}, "experiment_id"))
        await session.refresh(exp)
        return _ok({"experiment": _experiment_json(exp)})

    @r.get("/experiments/get-by-name")
    async def get_experiment_by_name(request: Request, session: Session, experiment_name: str = "") -> Response:
        principal = await _read(request)
        exp = await runs.get_experiment_by_name(session, principal, experiment_name or _required({}, "experiment_name"))
        if exp is None:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{experiment_name}'", 404
            )
        return _ok({"experiment": _experiment_json(exp)})

    @r.post("/experiments/search")
    @r.get("/experiments/search")
    async def search_experiments(request: Request, session: Session) -> Response:
        principal = await _read(request)
        body = await _body(request) if request.method == "POST" else dict(request.query_params)
        view = str(body.get("view_type") or "ACTIVE_ONLY")
        rows = await runs.list_experiments(session, principal, include_deleted=view != "ACTIVE_ONLY")
        if view == "DELETED_ONLY":
            rows = [e for e in rows if e["lifecycle"] == "deleted"]
        out = [
            {
                "experiment_id": e["id"].hex,
                "name": e["name"],
                "artifact_location": f"mlflow-artifacts:/{e['id'].hex}",
                "lifecycle_stage": e["lifecycle"],
                "creation_time": _ms(e["created_at"]),
                "last_update_time": _ms(e["updated_at"]),
                "tags": [{"key": k, "value": v} for k, v in e["tags"].items()],
            }
            for e in rows
        ]
        return _ok({"experiments": out[: int(body.get("max_results") or 1000)]})

    @r.post("/experiments/delete")
    async def delete_experiment(request: Request, session: Session) -> Response:
        principal = await _write(request)
        exp = await _experiment(session, principal, _required(await _body(request), "experiment_id"))
        await runs.set_experiment_lifecycle(session, principal, exp.id, "deleted")
        return _ok({})

    @r.post("/experiments/restore")
    async def restore_experiment(request: Request, session: Session) -> Response:
        principal = await _write(request)
        exp = await _experiment(session, principal, _required(await _body(request), "experiment_id"))
        await runs.set_experiment_lifecycle(session, principal, exp.id, "active")
        return _ok({})

    @r.post("/experiments/update")
    async def update_experiment(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        exp = await _experiment(session, principal, _required(body, "experiment_id"))
        await runs.update_experiment(session, principal, exp.id, name=body.get("new_name"))
        return _ok({})

    @r.post("/experiments/set-experiment-tag")
    async def set_experiment_tag(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        exp = await _experiment(session, principal, _required(body, "experiment_id"))
        await runs.update_experiment(
            session, principal, exp.id, tags={str(_required(body, "key")): str(body.get("value", ""))}
        )
        return _ok({})

    # -- runs

    @r.post("/runs/create")
    async def create_run(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        exp = await _experiment(session, principal, body.get("experiment_id") or "0")
        tags = _kv(body.get("tags"), "tags")
        name = body.get("run_name") or tags.get("mlflow.runName")
        run = await runs.create_run(
            session,
            principal,
            experiment_name=exp.name,
            team_id=exp.team_id,
            run_name=name,
            tags=tags,
            experiment_id=exp.id,
            start_time=_from_ms(body.get("start_time")),
        )
        return _ok({"run": _run_json(await search.run_out(session, principal, run.id))})

    @r.get("/runs/get")
    async def get_run(request: Request, session: Session) -> Response:
        principal = await _read(request)
        run_id = _run_id(dict(request.query_params))
        return _ok({"run": _run_json(await search.run_out(session, principal, run_id))})

    @r.post("/runs/update")
    async def update_run(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        run_id = _run_id(body)
        if body.get("run_name"):
            await runs.rename_run(session, principal, run_id, str(body["run_name"]))
        if body.get("status"):
            await runs.set_run_status(session, principal, run_id, str(body["status"]), _from_ms(body.get("end_time")))
        run = await search.run_out(session, principal, run_id)
        return _ok({"run_info": _run_json(run)["info"]})

    @r.post("/runs/delete")
    async def delete_run(request: Request, session: Session) -> Response:
        principal = await _write(request)
        await runs.set_run_lifecycle(session, principal, _run_id(await _body(request)), "deleted")
        return _ok({})

    @r.post("/runs/restore")
    async def restore_run(request: Request, session: Session) -> Response:
        principal = await _write(request)
        await runs.set_run_lifecycle(session, principal, _run_id(await _body(request)), "active")
        return _ok({})

    @r.post("/runs/log-metric")
    async def log_metric(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        point = {
            "key": _required(body, "key"),
            "value": _required(body, "value"),
            "step": body.get("step"),
            "timestamp": body.get("timestamp"),
        }
        await metrics.log_batch(session, principal, _run_id(body), metrics=[point])
        return _ok({})

    @r.post("/runs/log-parameter")
    async def log_param(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        await metrics.log_batch(
            session, principal, _run_id(body), params={str(_required(body, "key")): body.get("value", "")}
        )
        return _ok({})

    @r.post("/runs/set-tag")
    async def set_tag(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        run_id, key = _run_id(body), str(_required(body, "key"))
        await metrics.log_batch(session, principal, run_id, tags={key: body.get("value", "")})
        if key == "mlflow.runName" and body.get("value"):
            await runs.rename_run(session, principal, run_id, str(body["value"]))
        return _ok({})

    @r.post("/runs/delete-tag")
    async def delete_tag(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
        await runs.delete_tag(session, principal, _run_id(body), str(_required(body, "key")))
        return _ok({})

    @r.post("/runs/log-batch")
    async def log_batch(request: Request, session: Session) -> Response:
        principal = await _write(request)
        body = await _body(request)
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
        run_id = _run_id(body)
        tag_map = _kv(tags, "tags")
        await metrics.log_batch(
            session,
            principal,
            run_id,
            metrics=points,
            params=_kv(params, "params"),
            tags=tag_map,
            max_metrics=MAX_METRICS,
        )
        if tag_map.get("mlflow.runName"):
            await runs.rename_run(session, principal, run_id, tag_map["mlflow.runName"])
        return _ok({})

    @r.post("/runs/log-inputs")
    async def log_inputs(request: Request, session: Session) -> Response:
        principal = await _write(request)
        await runs.get_run(session, principal, _run_id(await _body(request)))
        return _ok({})  # dataset inputs are not tracked by axops runs (use dataset_version_ids)

    @r.post("/runs/search")
    async def search_runs(request: Request, session: Session) -> Response:
        principal = await _read(request)
        body = await _body(request)
        ids = [
            _uuid(e, "experiment") if str(e) != "0" else (await _experiment(session, principal, "0")).id
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
        out: dict[str, Any] = {"runs": [_run_json(x) for x in items]}
        if nxt:
            out["next_page_token"] = nxt
        return _ok(out)

    @r.post("/logged-models/search")
    async def search_logged_models(request: Request) -> Response:
        """MLflow 3's logged models are not kept here (models live in the axops registry): always none,
        which the client asks before listing a run's artifacts."""
        await _read(request)
        return _ok({"models": []})

    @r.get("/metrics/get-history")
    async def get_metric_history(request: Request, session: Session) -> Response:
        principal = await _read(request)
        q = request.query_params
        run_id, key = _run_id(dict(q)), q.get("metric_key") or _required({}, "metric_key")
        limit = int(q["max_results"]) if q.get("max_results", "").isdigit() else None
        offset = search.decode_offset(q.get("page_token"))
        doc, more = await metrics.metric_history_mlflow_json(session, principal, run_id, key, limit, offset)
        if more:
            return _ok({"metrics": orjson.loads(doc), "next_page_token": search.encode_offset(offset + (limit or 0))})
        return Response(b'{"metrics":' + doc + b"}", media_type="application/json")


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
    return _uuid(parts[0], "experiment"), _uuid(parts[1], "run"), parts[3] if len(parts) > 3 else ""


async def _artifact_run(session, principal: Principal, path: str) -> tuple[uuid.UUID, str]:
    experiment_id, run_id, rel = _artifact_target(path)
    run = await runs.get_run(session, principal, run_id)
    if run.experiment_id != experiment_id:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No run with id {run_id.hex!r} in that experiment.", 404)
    return run_id, rel


@artifacts_router.get("")
async def list_artifacts(request: Request, session: Session, path: str = "") -> Response:
    principal = await _read(request)
    run_id, rel = await _artifact_run(session, principal, path)
    files = await artifacts.list_artifacts(session, principal, run_id, rel)
    return _ok(
        {
            "files": [
                {"path": f["path"].removeprefix(rel).lstrip("/"), **{k: v for k, v in f.items() if k != "path"}}
                for f in files
            ]
        }
    )


@artifacts_router.put("/{path:path}")
async def upload_artifact(path: str, request: Request, session: Session) -> Response:
    principal = await _write(request)
    run_id, rel = await _artifact_run(session, principal, path)
    await artifacts.log_artifact(session, state_of(request).storage, principal, run_id, rel, request.stream())
    return _ok({})


@artifacts_router.get("/{path:path}")
async def download_artifact(path: str, request: Request, session: Session) -> Response:
    principal = await _read(request)
    run_id, rel = await _artifact_run(session, principal, path)
    key, row = await artifacts.artifact(session, principal, run_id, rel)
    return StreamingResponse(
        state_of(request).storage.get_stream(key),
        media_type="application/octet-stream",
        headers={"content-length": str(row.size)},
    )


@artifacts_router.delete("/{path:path}")
async def delete_artifacts(path: str, request: Request, session: Session) -> Response:
    principal = await _write(request)
    run_id, rel = await _artifact_run(session, principal, path)
    await artifacts.delete_artifacts(session, state_of(request).storage, principal, run_id, rel)
    return _ok({})
