"""A tiny tracking client for notebooks and scripts (httpx only).

from axops.experiments.client import Tracker

tracker = Tracker("http://localhost:8000", api_key="axk_...")
with tracker.run("lora-sweep", name="r8-lr1e-4") as run:
    run.log_params({"lr": 1e-4, "r": 8})
    for step in range(100):
        run.log_metrics({"loss": loss, "lr": lr}, step=step)   # buffered, sent in batches
    run.set_tags({"method": "lora"})
# leaving the block flushes and ends the run: FINISHED, or FAILED on an exception
"""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import httpx

BATCH = 1000


class TrackingError(RuntimeError):
    pass


def _json_number(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


class Run:
    def __init__(self, tracker: Tracker, data: dict, flush_every: int = BATCH) -> None:
        self.tracker = tracker
        self.id = uuid.UUID(data["id"])
        self.name = data["name"]
        self.experiment_id = data["experiment_id"]
        self._buffer: list[dict] = []
        self._flush_every = flush_every

    def log_params(self, params: dict[str, Any]) -> None:
        self.tracker._post(
            f"/api/experiments/runs/{self.id}/log-batch", {"params": {k: str(v) for k, v in params.items()}}
        )

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tracker._post(f"/api/experiments/runs/{self.id}/log-batch", {"tags": {k: str(v) for k, v in tags.items()}})

    def log_metrics(self, metrics: dict[str, float], step: int = 0, timestamp: int | None = None) -> None:
        ts = timestamp if timestamp is not None else int(time.time() * 1000)
        for key, value in metrics.items():
            self._buffer.append({"key": key, "value": _json_number(float(value)), "step": int(step), "timestamp": ts})
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.log_metrics({key: value}, step=step)

    def flush(self) -> None:
        while self._buffer:
            chunk, self._buffer = self._buffer[:BATCH], self._buffer[BATCH:]
            self.tracker._post(f"/api/experiments/runs/{self.id}/log-batch", {"metrics": chunk})

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Uploads a file (streamed) under the run's artifacts, e.g. `log_artifact("loss.png", "plots")`."""
        local_path = Path(local_path)
        target = "/".join(p for p in (artifact_path or "", local_path.name) if p).strip("/")
        url = f"/api/2.0/mlflow-artifacts/artifacts/{uuid.UUID(str(self.experiment_id)).hex}/{self.id.hex}/artifacts/{quote(target)}"
        with local_path.open("rb") as f:
            r = self.tracker._client.put(url, content=f)
        if r.status_code >= 400:
            raise TrackingError(f"PUT {target}: {r.status_code} {r.text[:300]}")

    def end(self, status: str = "FINISHED") -> None:
        self.flush()
        self.tracker._request("PATCH", f"/api/experiments/runs/{self.id}", {"status": status})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.flush()
        finally:
            self.end("FINISHED" if exc_type is None else ("KILLED" if exc_type is KeyboardInterrupt else "FAILED"))


class Tracker:
    def __init__(self, url: str, api_key: str, timeout: float = 30.0, flush_every: int = BATCH) -> None:
        self._client = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )
        self._flush_every = flush_every

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        r = self._client.request(method, path, json=body)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise TrackingError(f"{method} {path}: {r.status_code} {detail}")
        return r.json() if r.content else None

    def _post(self, path: str, body: dict) -> Any:
        return self._request("POST", path, body)

    def run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        params: dict | None = None,
        tags: dict | None = None,
        team_id: str | None = None,
    ) -> Run:
        """Start a run in the experiment (created if missing); use it as a context manager."""
        body = {
            "experiment_name": experiment,
            "name": name,
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": {k: str(v) for k, v in (tags or {}).items()},
            "team_id": team_id,
        }
        return Run(self, self._post("/api/experiments/runs", body), self._flush_every)

    def get_run(self, run_id: str | uuid.UUID) -> dict:
        return self._request("GET", f"/api/experiments/runs/{run_id}")

    def search(
        self,
        filter: str = "",
        experiment_ids: list[str] | None = None,
        order_by: list[str] | None = None,
        limit: int = 100,
    ) -> list[dict]:
        body = {"filter": filter, "experiment_ids": experiment_ids or [], "order_by": order_by or [], "limit": limit}
        return self._post("/api/experiments/runs/search", body)["items"]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
