"""MLflow's answers: their shapes (the pydantic models the MLflow routes declare; the routes themselves send
orjson-encoded dicts, and tests/integration/test_mlflow_compat.py checks those against these models) and the
renderers of axops rows into them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from axops.experiments.models import Experiment


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field the routes send but no model declares is drift


class KeyValue(Wire):
    key: str
    value: str


class MlflowExperiment(Wire):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: list[KeyValue]


class ExperimentIdAnswer(Wire):
    experiment_id: str


class ExperimentAnswer(Wire):
    experiment: MlflowExperiment


class ExperimentsAnswer(Wire):
    experiments: list[MlflowExperiment]
    next_page_token: str | None = None  # left out on the last page


class Empty(Wire):
    """`{}`: what MLflow answers to a change."""


class MlflowMetric(Wire):
    key: str
    value: float | Literal["NaN", "Infinity", "-Infinity"]
    timestamp: int
    step: int


class MlflowRunInfo(Wire):
    run_id: str
    run_uuid: str
    run_name: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None = None  # left out while the run has not ended
    artifact_uri: str
    lifecycle_stage: str


class MlflowRunData(Wire):
    metrics: list[MlflowMetric]
    params: list[KeyValue]
    tags: list[KeyValue]


class MlflowRun(Wire):
    info: MlflowRunInfo
    data: MlflowRunData
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None  # left out unless a run_extras provider fills it


class RunAnswer(Wire):
    run: MlflowRun


class RunInfoAnswer(Wire):
    run_info: MlflowRunInfo


class RunsAnswer(Wire):
    runs: list[MlflowRun]
    next_page_token: str | None = None  # left out on the last page


class MetricHistoryAnswer(Wire):
    metrics: list[MlflowMetric]
    next_page_token: str | None = None  # left out on the last page


class MlflowMetricWithRunId(MlflowMetric):
    run_id: str


class MetricsBulkAnswer(Wire):
    metrics: list[MlflowMetricWithRunId]


class ArtifactFile(Wire):
    path: str
    is_dir: bool
    file_size: int | None = None  # files only


class ArtifactsAnswer(Wire):
    files: list[ArtifactFile]


def ms(dt: datetime | None) -> int | None:
    return int(dt.timestamp() * 1000) if dt else None


def experiment_json(e: Experiment) -> dict:
    return {
        "experiment_id": e.id.hex,
        "name": e.name,
        "artifact_location": f"mlflow-artifacts:/{e.id.hex}",
        "lifecycle_stage": e.lifecycle,
        "creation_time": ms(e.created_at),
        "last_update_time": ms(e.updated_at),
        "tags": [{"key": k, "value": v} for k, v in (e.tags or {}).items()],
    }


def _metric_value(v: Any) -> Any:
    return (
        v
        if not isinstance(v, str)
        else {"nan": "NaN", "infinity": "Infinity", "-infinity": "-Infinity"}.get(v.lower(), v)
    )


def run_json(r: dict) -> dict:
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
        "start_time": ms(r["start_time"]),
        "artifact_uri": f"mlflow-artifacts:/{r['experiment_id'].hex}/{r['id'].hex}/artifacts",
        "lifecycle_stage": r["lifecycle"],
    }
    if r["end_time"] is not None:
        info["end_time"] = ms(r["end_time"])
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


# Filled at import by higher layers that keep more of a run (mlflow_models.inputs: dataset inputs, model
# inputs/outputs): async (session, reader, run ids) -> {run id: {"inputs" | "outputs": {field: value}}}. The runs
# are ones the reader sees; a provider shows no more of other domains than the reader may see.
RunExtras = Callable[[Any, Any, list[uuid.UUID]], Awaitable[dict[uuid.UUID, dict[str, dict]]]]
run_extras: list[RunExtras] = []


async def runs_json(session: Any, principal: Any, rows: list[dict]) -> list[dict]:
    """run_json of each row, with what the run_extras providers add (one query per provider per page)."""
    out = [run_json(r) for r in rows]
    for provider in run_extras:
        extra = await provider(session, principal, [r["id"] for r in rows])
        for r, j in zip(rows, out, strict=True):
            for section, fields in extra.get(r["id"], {}).items():
                j.setdefault(section, {}).update(fields)
    return out
