"""Dataset inputs of runs (/api/2.0/mlflow/runs/log-inputs, mlflow.log_input) and logged models a run read or
produced (log-inputs' `models`, runs/log-outputs): stored on the run and rendered into MLflow's run JSON
(`run.inputs.dataset_inputs`, `run.inputs.model_inputs`, `run.outputs.model_outputs`) through
experiments.mlflow_schemas.run_extras.

An input whose source is an axops dataset version — a source URL whose path is the version's download URL,
`<server>/api/dataset/version/<version id>/download` (what `mlflow.data.from_pandas(df, source=url)` and
`mlflow.data.http_dataset_source` keep) — is linked to that version when the caller may see it: the run lists
the version among its dataset_version_ids (the run page links it). A version the caller can't see is stored as
a plain input, without link and without telling it exists."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from starlette.responses import Response

from axops.auth import audit
from axops.auth.deps import Principal, Session
from axops.auth.scoping import visible
from axops.core.errors import NotFound
from axops.core.ids import uuid7
from axops.datasets import service as datasets
from axops.datasets.models import Dataset, DatasetVersion
from axops.experiments import runs
from axops.experiments.mlflow_protocol import MlflowError, MlflowRoute, json_body, ok, run_id_of, writer
from axops.experiments.mlflow_schemas import Empty, run_extras
from axops.mlflow_models.input_models import RunDatasetInput, RunModelLink

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)

# MLflow's column sizes (its SQL store), and our own caps on what one request may carry.
_DATASET_LIMITS = {"name": 500, "digest": 36, "source_type": 36}
_MAX_TEXT = 1_000_000  # source, schema, profile: characters each
_MAX_INPUTS = 1000  # datasets or models per request
_MAX_TAG_KEY, _MAX_TAG_VALUE = 255, 500
_DATASET_FIELDS = {"name", "digest", "source_type", "source", "schema", "profile"}
_VERSION_URL = re.compile(r"/api/dataset/version/([0-9a-fA-F-]{32,36})/download(?:[?#]|$)")


def _invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def _text(d: dict, key: str, where: str, limit: int, required: bool = True) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"Missing value for required parameter '{where}.{key}'.")
        return None
    if not isinstance(value, str):
        raise _invalid(f"'{where}.{key}' must be a string.")
    if len(value) > limit:
        raise _invalid(f"'{where}.{key}' is longer than {limit} characters.")
    return value


def _unknown(d: dict, known: set[str], where: str) -> None:
    extra = sorted(set(d) - known)
    if extra:
        raise _invalid(f"Unsupported field '{where}.{extra[0]}': axops stores {', '.join(sorted(known))}.")


def _list(body: dict, key: str) -> list:
    items = body.get(key) or []
    if not isinstance(items, list):
        raise _invalid(f"'{key}' must be a list.")
    if len(items) > _MAX_INPUTS:
        raise _invalid(f"A request can log at most {_MAX_INPUTS} {key}. Got {len(items)}.")
    return items


def _dataset_input(item: Any) -> dict:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise _invalid("Each of 'datasets' needs a 'dataset' object.")
    _unknown(item, {"dataset", "tags"}, "datasets")
    d = item["dataset"]
    _unknown(d, _DATASET_FIELDS, "dataset")
    row: dict[str, Any] = {k: _text(d, k, "dataset", n) for k, n in _DATASET_LIMITS.items()}
    row["source"] = _text(d, "source", "dataset", _MAX_TEXT)
    row["schema"] = _text(d, "schema", "dataset", _MAX_TEXT, required=False)
    row["profile"] = _text(d, "profile", "dataset", _MAX_TEXT, required=False)
    tags = item.get("tags") or []
    if not isinstance(tags, list):
        raise _invalid("'datasets.tags' must be a list of {key, value} objects.")
    row["tags"] = {}
    for tag in tags:
        if not isinstance(tag, dict):
            raise _invalid("'datasets.tags' must be a list of {key, value} objects.")
        _unknown(tag, {"key", "value"}, "datasets.tags")
        key = _text(tag, "key", "datasets.tags", _MAX_TAG_KEY)
        row["tags"][key] = _text(tag, "value", "datasets.tags", _MAX_TAG_VALUE, required=False) or ""
    return row


def _model_ids(items: list, fields: set[str]) -> list[tuple[str, int]]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise _invalid("Each of 'models' needs a 'model_id'.")
        _unknown(item, fields, "models")
        model_id = _text(item, "model_id", "models", 100)
        try:
            step = int(item.get("step") or 0)
        except (TypeError, ValueError):
            raise _invalid("'models.step' must be an integer.") from None
        out.append((str(model_id), step))
    return out


def version_in_source(source: str) -> uuid.UUID | None:
    """The axops dataset version a source names: its download URL in the source JSON's url/uri/path."""
    try:
        parsed = orjson.loads(source)
    except orjson.JSONDecodeError:
        parsed = source
    values = [parsed] if isinstance(parsed, str) else list(parsed.values()) if isinstance(parsed, dict) else []
    for value in values:
        if isinstance(value, str) and (m := _VERSION_URL.search(value)):
            try:
                return uuid.UUID(m.group(1))
            except ValueError:
                return None
    return None


async def _linkable(session, principal: Principal, version_id: uuid.UUID | None) -> uuid.UUID | None:
    if version_id is None:
        return None
    try:
        await datasets.get_version(session, principal, version_id)
    except NotFound:
        return None  # another team's (or no such) version: a plain input, nothing said
    return version_id


async def log_inputs(session, principal: Principal, run_id: uuid.UUID, body: dict) -> None:
    """Store the datasets and model inputs of a log-inputs body on the run (all or nothing)."""
    _unknown(body, {"run_id", "run_uuid", "datasets", "models"}, "request")
    rows = [_dataset_input(x) for x in _list(body, "datasets")]
    models = _model_ids(_list(body, "models"), {"model_id"})
    run = await runs.get_run(session, principal, run_id, for_update=True)
    linked: list[uuid.UUID] = []
    added = []
    for row in rows:
        row["dataset_version_id"] = await _linkable(session, principal, version_in_source(row["source"]))
        stmt = insert(RunDatasetInput).values(id=uuid7(), run_id=run.id, **row).on_conflict_do_nothing()
        if (await session.execute(stmt.returning(RunDatasetInput.id))).first() is not None:
            added.append(
                {"name": row["name"], "digest": row["digest"], "context": row["tags"].get("mlflow.data.context")}
            )
            if row["dataset_version_id"]:
                linked.append(row["dataset_version_id"])
    new_links = [v for v in dict.fromkeys(linked) if v not in (run.dataset_version_ids or [])]
    if new_links:
        run.dataset_version_ids = [*(run.dataset_version_ids or []), *new_links]
    added_models = await _link_models(session, run.id, "input", models)
    await session.flush()
    if added or added_models:
        audit.record(
            session,
            "run.log_inputs",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"datasets": added, "dataset_versions": [str(v) for v in new_links], "models": added_models},
        )


async def _link_models(session, run_id: uuid.UUID, direction: str, models: list[tuple[str, int]]) -> list[str]:
    added = []
    for model_id, step in models:
        stmt = insert(RunModelLink).values(id=uuid7(), run_id=run_id, direction=direction, model_id=model_id, step=step)
        if (await session.execute(stmt.on_conflict_do_nothing().returning(RunModelLink.id))).first() is not None:
            added.append(model_id)
    return added


async def log_outputs(session, principal: Principal, run_id: uuid.UUID, body: dict) -> None:
    _unknown(body, {"run_id", "run_uuid", "models"}, "request")
    models = _model_ids(_list(body, "models"), {"model_id", "step"})
    run = await runs.get_run(session, principal, run_id, for_update=True)
    added = await _link_models(session, run.id, "output", models)
    await session.flush()
    if added:
        audit.record(
            session,
            "run.log_outputs",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"models": added},
        )


async def run_inputs_json(session, principal: Principal, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """MLflow's inputs/outputs of the runs (which the reader sees), plus `axops_dataset` on linked inputs whose
    dataset the reader may see."""
    if not run_ids:
        return {}
    out: dict[uuid.UUID, dict] = {}
    q = (
        select(RunDatasetInput, Dataset.id, Dataset.name, DatasetVersion.version)
        .outerjoin(DatasetVersion, DatasetVersion.id == RunDatasetInput.dataset_version_id)
        .outerjoin(Dataset, (Dataset.id == DatasetVersion.dataset_id) & visible(principal, Dataset))
        .where(RunDatasetInput.run_id.in_(run_ids))
        .order_by(RunDatasetInput.created_at, RunDatasetInput.id)
    )
    for row, dataset_id, dataset_name, version in (await session.execute(q)).all():
        entry: dict[str, Any] = {
            "tags": [{"key": k, "value": v} for k, v in row.tags.items()],
            "dataset": {
                "name": row.name,
                "digest": row.digest,
                "source_type": row.source_type,
                "source": row.source,
                **({"schema": row.schema} if row.schema is not None else {}),
                **({"profile": row.profile} if row.profile is not None else {}),
            },
        }
        if dataset_id is not None:
            entry["axops_dataset"] = {
                "dataset_id": str(dataset_id),  # axops ids, as the axops API and UI write them
                "dataset_name": dataset_name,
                "version_id": str(row.dataset_version_id),
                "version": version,
            }
        inputs = out.setdefault(row.run_id, {}).setdefault("inputs", {})
        inputs.setdefault("dataset_inputs", []).append(entry)
    links = await session.execute(
        select(RunModelLink).where(RunModelLink.run_id.in_(run_ids)).order_by(RunModelLink.model_id)
    )
    for link in links.scalars():
        if link.direction == "input":
            section = out.setdefault(link.run_id, {}).setdefault("inputs", {})
            section.setdefault("model_inputs", []).append({"model_id": link.model_id})
        else:
            section = out.setdefault(link.run_id, {}).setdefault("outputs", {})
            section.setdefault("model_outputs", []).append({"model_id": link.model_id, "step": link.step})
    return out


run_extras.append(run_inputs_json)


def _routes(r: APIRouter) -> None:
    @r.post("/runs/log-inputs", response_model=Empty)
    async def log_inputs_route(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        await log_inputs(session, principal, run_id_of(body), body)
        return ok({})

    @r.post("/runs/outputs", response_model=Empty)
    async def log_outputs_route(request: Request, session: Session) -> Response:
        principal = await writer(request)
        body = await json_body(request)
        await log_outputs(session, principal, run_id_of(body), body)
        return ok({})


_routes(router)
_routes(ajax_router)
