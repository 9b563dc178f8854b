"""Issue 20: single `mlflow.log_metric` calls (a training loop's one point per step) and the histories the
MLflow client and UI read back: exact round trips through the stock client, MLflow's downsampling for
get-history-bulk-interval, and how few audit events a metric-only training loop writes."""

from __future__ import annotations

import math
import uuid

import mlflow
import psycopg
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.store.tracking.abstract_store import AbstractStore

from axops.core.db import libpq_url
from tests.factories import TRACKING_SCOPES, log_batch, make_account, new_run

ML = "/api/2.0/mlflow"


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "speedres", new_team="speed-team", key_scopes=TRACKING_SCOPES)


@pytest.fixture
def outsider(api, admin):
    return make_account(api, admin, "speedout", new_team="speed-other", key_scopes=TRACKING_SCOPES)


@pytest.fixture
def tracking(live_server, researcher, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", researcher.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()


def test_a_thousand_single_log_metric_calls_read_back_exactly(api, admin, researcher, tracking):
    mlflow.set_experiment("single-calls")
    t0 = 1_700_000_000_000
    expected = []
    with mlflow.start_run() as run:
        for i in range(1000):
            value, step, ts = math.sin(i) * 10 ** (i % 7 - 3), (i * 7919) % 1000, t0 + i * 3
            mlflow.log_metric("loss", value, step=step, timestamp=ts)
            expected.append((step, ts, value))
        mlflow.log_metric("odd", float("nan"), step=0)
    expected.sort()
    run_id = run.info.run_id

    got = MlflowClient().get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in got] == expected  # every point, exact, in step order
    assert MlflowClient().get_run(run_id).data.metrics["loss"] == expected[-1][2]  # the latest step's value
    assert math.isnan(MlflowClient().get_metric_history(run_id, "odd")[0].value)

    token = {"Authorization": f"Bearer {researcher.key}"}
    pages, page_token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": 300}
        if page_token:
            params["page_token"] = page_token
        doc = api.get(f"{ML}/metrics/get-history", params=params, headers=token).json()
        pages.append(doc["metrics"])
        page_token = doc.get("next_page_token")
        if not page_token:
            break
    assert [len(p) for p in pages] == [300, 300, 300, 100]
    assert [(m["step"], m["timestamp"], m["value"]) for p in pages for m in p] == expected

    # A metric-only loop is audited once per caller and run per minute, not once per point.
    events = api.get(
        "/api/audit/logs", params={"action": "run.log_batch", "resource_id": str(uuid.UUID(run_id))}, headers=admin
    ).json()["items"]
    assert len(events) == 1 and events[0]["actor_name"] == researcher.username
    # Params and tags are still audited on every call.
    MlflowClient().log_param(run_id, "lr", "0.1")
    MlflowClient().set_tag(run_id, "t", "v")
    events = api.get(
        "/api/audit/logs", params={"action": "run.log_batch", "resource_id": str(uuid.UUID(run_id))}, headers=admin
    ).json()["items"]
    assert len(events) == 3


class _Reference(AbstractStore):
    """MLflow's own get_metric_history_bulk_interval (what its server runs) over given histories."""

    __abstractmethods__ = frozenset()

    def __init__(self, histories: dict[str, list[Metric]]) -> None:
        self.histories = histories

    def get_metric_history(self, run_id, metric_key, max_results=None, page_token=None):
        return self.histories[run_id]


def _bulk(api, token, run_ids, **params):
    return api.get(
        f"{ML}/metrics/get-history-bulk-interval",
        params={"run_ids": run_ids, "metric_key": "acc", **params},
        headers=token,
    )


def test_bulk_interval_downsamples_as_mlflow_does(api, researcher, outsider, tracking):
    h, token = researcher.headers, {"Authorization": f"Bearer {researcher.key}"}
    a, b = new_run(api, h, experiment="bulk", name="a")["id"], new_run(api, h, experiment="bulk", name="b")["id"]
    history = {
        a: [Metric("acc", s / 1000, 1000 + s, s) for s in range(1000)],
        b: [Metric("acc", -s / 10, 5000 + s, s) for s in range(3, 700, 3)]
        + [Metric("acc", 9.5, 9000, 300)],  # two points at step 300
    }
    for run_id, points in history.items():
        r = log_batch(
            api, h, run_id, [{"key": m.key, "value": m.value, "step": m.step, "timestamp": m.timestamp} for m in points]
        )
        assert r.status_code == 200, r.text
    hexes = [uuid.UUID(a).hex, uuid.UUID(b).hex]
    reference = _Reference(
        {hx: sorted(history[r], key=lambda m: (m.step, m.timestamp)) for hx, r in zip(hexes, (a, b), strict=True)}
    )

    for params in (
        {"max_results": 10},
        {"max_results": 50, "start_step": 250, "end_step": 420},
        {},
        {"max_results": 1},
    ):
        r = _bulk(api, token, hexes, **params)
        assert r.status_code == 200, r.text
        got = [(m["run_id"], m["step"], m["timestamp"], m["value"]) for m in r.json()["metrics"]]
        want = reference.get_metric_history_bulk_interval(
            hexes, "acc", int(params.get("max_results", 2500)), params.get("start_step"), params.get("end_step")
        )
        assert got == [(m.run_id, m.step, m.timestamp, m.value) for m in want], params
    small = _bulk(api, token, hexes, max_results=10).json()["metrics"]
    assert 10 <= len([m for m in small if m["run_id"] == hexes[0]]) <= 14  # downsampled, not 1000
    assert _bulk(api, token, hexes, max_results=1, start_step=0, end_step=0).json() == {
        "metrics": [{"key": "acc", "value": 0.0, "timestamp": 1000, "step": 0, "run_id": hexes[0]}]
    }
    # The MLflow UI's own path answers the same.
    assert api.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": hexes, "metric_key": "acc", "max_results": 10},
        headers=token,
    ).json() == {"metrics": small}

    def refused(status, code, *run_ids, **params):
        r = _bulk(api, token, list(run_ids), **params)
        assert (r.status_code, r.json()["error_code"]) == (status, code), r.text

    theirs = new_run(api, outsider.headers, experiment="bulk", name="theirs")["id"]
    refused(404, "RESOURCE_DOES_NOT_EXIST", hexes[0], uuid.UUID(theirs).hex)  # another team's run: as if absent
    refused(404, "RESOURCE_DOES_NOT_EXIST", hexes[0], uuid.uuid4().hex)
    refused(400, "INVALID_PARAMETER_VALUE", hexes[0], start_step=3)
    refused(400, "INVALID_PARAMETER_VALUE", hexes[0], start_step=9, end_step=3)
    refused(400, "INVALID_PARAMETER_VALUE", hexes[0], max_results=0)
    refused(400, "INVALID_PARAMETER_VALUE", hexes[0], max_results=2501)
    refused(400, "INVALID_PARAMETER_VALUE", hexes[0], max_results="many")
    refused(400, "INVALID_PARAMETER_VALUE", *[uuid.uuid4().hex for _ in range(101)])
    refused(400, "INVALID_PARAMETER_VALUE")
    assert api.get(
        f"{ML}/metrics/get-history-bulk-interval", params={"run_ids": hexes[0], "metric_key": "none"}, headers=token
    ).json() == {"metrics": []}


def test_the_model_and_dataset_of_a_point_are_kept_not_dropped(api, researcher, tracking, database_url):
    """MLflow 3 sends the logged model and dataset a point was measured for (single calls and batches);
    they are stored per (run, key, model, dataset), and one too long is refused, nothing written."""
    mlflow.set_experiment("linked-points")
    client = MlflowClient()
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    dataset = {"dataset_name": "eval-ko", "dataset_digest": "d41d8cd9"}
    token = {"Authorization": f"Bearer {researcher.key}"}
    body = {"run_id": run_id, "key": "acc", "value": 0.5, "step": 1, "timestamp": 1, "model_id": "m-abc", **dataset}
    assert api.post(f"{ML}/runs/log-metric", json=body, headers=token).status_code == 200
    assert api.post(f"{ML}/runs/log-metric", json={**body, "step": 2}, headers=token).status_code == 200
    client.log_batch(run_id, metrics=[Metric("f1", 0.7, 1, 0, model_id="m-abc", **dataset)])
    client.log_metric(run_id, "plain", 1.0)

    too_long = {**body, "key": "bad", "dataset_digest": "x" * 37}
    r = api.post(f"{ML}/runs/log-metric", json=too_long, headers=token)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    with psycopg.connect(libpq_url(database_url)) as conn:
        links = conn.execute(
            "SELECT key, model_id, dataset_name, dataset_digest FROM run_metric_links WHERE run_id = %s ORDER BY key",
            (uuid.UUID(run_id),),
        ).fetchall()
        bad = conn.execute("SELECT count(*) FROM run_metrics WHERE run_id = %s AND key = 'bad'", (uuid.UUID(run_id),))
        assert bad.fetchone()[0] == 0
    assert links == [("acc", "m-abc", "eval-ko", "d41d8cd9"), ("f1", "m-abc", "eval-ko", "d41d8cd9")]
