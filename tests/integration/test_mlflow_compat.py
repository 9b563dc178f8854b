"""The official `mlflow` client (mlflow-skinny, pinned in constraints.txt) logging to axops through the
MLflow-compatible tracking API; the same run is then read through the axops API."""

from __future__ import annotations

import base64
import uuid

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from axops.experiments import mlflow as experiments_mlflow
from axops.mlflow_models import inputs as mlflow_inputs
from tests.declared_models import api_routes, assert_matches_declared_model, declared
from tests.factories import TRACKING_SCOPES, admin_headers, make_account


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "mlres", new_team="ml-research", key_scopes=TRACKING_SCOPES)


@pytest.fixture
def tracking(live_server, researcher, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", researcher.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()


def test_mlflow_client_logs_and_axops_shows_the_same_run(api, researcher, tracking):
    exp = mlflow.set_experiment("mlflow-compat")  # get-by-name → RESOURCE_DOES_NOT_EXIST → create
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.001)
        mlflow.log_params({"r": 8, "method": "lora"})
        mlflow.log_metric("loss", 2.5, step=0)
        mlflow.log_metric("loss", 1.25, step=1)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=1)
        mlflow.set_tag("team", "nlp")
        mlflow.set_tags({"stage": "dev", "note": "한국어 태그"})
        MlflowClient().log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 1.0 - i / 1000, 1_700_000_000_000 + i, 2 + i) for i in range(1000)],
            params=[Param("epochs", "3")],
            tags=[RunTag("batch", "yes")],
        )
    assert mlflow.set_experiment("mlflow-compat").experiment_id == exp.experiment_id  # found by name now

    client = MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "first" and got.info.end_time
    assert got.data.params == {"lr": "0.001", "r": "8", "method": "lora", "epochs": "3"}
    assert got.data.metrics == {"loss": 1.0 - 999 / 1000, "acc": 0.5, "f1": 0.25}
    assert {"team": "nlp", "stage": "dev", "note": "한국어 태그", "batch": "yes"}.items() <= got.data.tags.items()
    history = client.get_metric_history(run.info.run_id, "loss")
    assert len(history) == 1002 and [m.step for m in history[:3]] == [0, 1, 2] and history[1].value == 1.25

    with mlflow.start_run(run_name="second"):
        mlflow.log_params({"lr": 0.01, "method": "full"})
        mlflow.log_metric("loss", 3.0)
    found = client.search_runs([exp.experiment_id], "params.method = 'lora' and metrics.loss < 1")
    assert [r.info.run_name for r in found] == ["first"]
    ordered = client.search_runs([exp.experiment_id], order_by=["metrics.loss DESC"])
    assert [r.info.run_name for r in ordered] == ["second", "first"]
    assert [
        r.info.run_name
        for r in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=1)
    ] == ["second"]

    # the axops API shows the same run, params, metrics and tags
    h = researcher.headers
    rid = uuid.UUID(run.info.run_id)
    mine = api.get(f"/api/experiments/runs/{rid}", headers=h).json()
    assert mine["name"] == "first" and mine["status"] == "FINISHED" and mine["experiment_name"] == "mlflow-compat"
    assert mine["params"] == got.data.params and mine["tags"]["note"] == "한국어 태그"
    assert {k: v["value"] for k, v in mine["metrics"].items()} == got.data.metrics
    assert api.get(f"/api/experiments/runs/{rid}/metrics/loss", headers=h).json()["count"] == 1002
    runs = api.post("/api/experiments/runs/search", json={"filter": "tags.team = 'nlp'"}, headers=h).json()["items"]
    assert [r["id"] for r in runs] == [str(rid)]


def test_mlflow_wire_rules_and_errors(api, researcher, tracking, live_server):
    client = MlflowClient()
    with pytest.raises(MlflowException) as err:
        client.get_run(uuid.uuid4().hex)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp_id = client.create_experiment("limits")
    with pytest.raises(MlflowException) as err:
        client.create_experiment("limits")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(exp_id)
    rid = run.info.run_id
    base = f"{live_server.url}/api/2.0/mlflow"
    token = {"Authorization": f"Bearer {researcher.key}"}
    # the client splits big batches itself; the server enforces MLflow's limits on raw calls
    point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    r = httpx.post(f"{base}/runs/log-batch", json={"run_id": rid, "metrics": [point] * 1001}, headers=token)
    assert (
        r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "1000" in r.json()["message"]
    )
    r = httpx.post(
        f"{base}/runs/log-batch",
        json={"run_id": rid, "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        headers=token,
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = httpx.post(f"{base}/runs/log-batch", json={"run_id": rid, "metrics": [point] * 1000}, headers=token)
    assert r.status_code == 200, r.text
    client.log_param(rid, "lr", "0.1")
    with pytest.raises(MlflowException) as err:
        client.log_param(rid, "lr", "0.2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp_id], "params.lr = 1; DROP TABLE runs")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    client.log_metric(rid, "nan", float("nan"))
    assert str(client.get_run(rid).data.metrics["nan"]) == "nan"
    client.set_terminated(rid, "KILLED")
    assert client.get_run(rid).info.status == "KILLED"

    # Basic auth with the API key as password; the ajax-api path shares the handlers
    basic = {"Authorization": "Basic " + base64.b64encode(f"mlres:{researcher.key}".encode()).decode()}
    r = httpx.get(f"{base}/runs/get", params={"run_id": rid}, headers=basic)
    assert r.status_code == 200 and r.json()["run"]["info"]["status"] == "KILLED"
    assert (
        httpx.get(f"{live_server.url}/ajax-api/2.0/mlflow/runs/get", params={"run_id": rid}, headers=basic).status_code
        == 200
    )
    # errors are MLflow JSON, never problem+json
    r = httpx.get(f"{base}/experiments/get-by-name", params={"experiment_name": "nope"}, headers=basic)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = httpx.get(f"{base}/runs/get", params={"run_id": rid})
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
    r = httpx.post(f"{base}/runs/log-batch", content=b"{not json", headers=basic)
    assert r.status_code == 400 and r.json()["error_code"] == "MALFORMED_REQUEST"
    r = httpx.post(f"{base}/runs/log-metric", json={"run_id": rid, "key": "x", "value": "high"}, headers=basic)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # another team's run is RESOURCE_DOES_NOT_EXIST
    other = make_account(api, admin_headers(api), "mlother", new_team="ml-other", key_scopes=TRACKING_SCOPES)
    r = httpx.get(f"{base}/runs/get", params={"run_id": rid}, headers={"Authorization": f"Bearer {other.key}"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = httpx.post(
        f"{base}/runs/log-batch",
        json={"run_id": rid, "metrics": [{"key": "x", "value": 1, "timestamp": 1, "step": 0}]},
        headers={"Authorization": f"Bearer {other.key}"},
    )
    assert r.status_code == 404


def test_mlflow_client_logs_lists_downloads_and_deletes_artifacts(api, researcher, tracking, live_server, tmp_path):
    mlflow.set_experiment("with-artifacts")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "summary.md").write_text("# 결과\nloss 1.2\n", encoding="utf-8")
    (tmp_path / "report" / "plots").mkdir()
    (tmp_path / "report" / "plots" / "loss.csv").write_bytes(
        b"step,loss\n" + b"".join(b"%d,%f\n" % (i, 1 / (i + 1)) for i in range(5000))
    )
    (tmp_path / "config.json").write_text('{"lr": 0.001}')
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "config.json"))
        mlflow.log_artifacts(str(tmp_path / "report"), artifact_path="report")
        mlflow.log_text("hello", "notes/hello.txt")
    rid = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{run.info.experiment_id}/{rid}/artifacts"
    client = MlflowClient()
    assert [(f.path, f.is_dir) for f in client.list_artifacts(rid)] == [
        ("config.json", False),
        ("notes", True),
        ("report", True),
    ]
    assert [(f.path, f.is_dir) for f in client.list_artifacts(rid, "report")] == [
        ("report/plots", True),
        ("report/summary.md", False),
    ]
    assert (
        client.list_artifacts(rid, "report/plots")[0].file_size
        == (tmp_path / "report" / "plots" / "loss.csv").stat().st_size
    )
    got = client.download_artifacts(rid, "report", str(tmp_path / "back"))
    assert (tmp_path / "back" / "report" / "summary.md").read_text(
        encoding="utf-8"
    ) == "# 결과\nloss 1.2\n" and got.endswith("report")
    assert (tmp_path / "back" / "report" / "plots" / "loss.csv").read_bytes() == (
        tmp_path / "report" / "plots" / "loss.csv"
    ).read_bytes()
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/hello.txt") == "hello"

    # the axops API: the same files, for the run page
    h = researcher.headers
    listing = api.get(f"/api/experiments/runs/{rid}/artifacts", params={"path": "report/plots"}, headers=h).json()
    assert listing == [{"path": "report/plots/loss.csv", "is_dir": False, "file_size": listing[0]["file_size"]}]
    r = api.get(f"/api/experiments/runs/{rid}/artifacts/report/summary.md", headers=h)
    assert r.status_code == 200 and r.text.startswith("# 결과") and "attachment" in r.headers["content-disposition"]
    assert api.get(f"/api/experiments/runs/{rid}/artifacts/report/missing.md", headers=h).status_code == 404
    assert api.get(f"/api/experiments/runs/{rid}/artifacts", params={"path": "../x"}, headers=h).status_code == 422
    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"limit": 100}, headers=admin_headers(api)).json()["items"]
    ]
    assert actions.count("run.log_artifact") == 4

    # bad paths and clashes are refused, another team sees nothing, and nothing half-written remains
    base = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{rid}/artifacts"
    token = {"Authorization": f"Bearer {researcher.key}"}
    for bad in ("%2e%2e/%2e%2e/etc/passwd", "a//b", "a/%2E/b", "..%5Cx"):
        r = httpx.put(f"{base}/{bad}", content=b"x", headers=token)
        assert r.status_code in (400, 404) and r.json()["error_code"] in (
            "INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST",
        ), bad
    r = httpx.put(f"{base}/report", content=b"x", headers=token)
    assert r.status_code == 400 and "folder" in r.json()["message"]
    r = httpx.put(f"{base}/config.json/inner", content=b"x", headers=token)
    assert r.status_code == 400 and "file" in r.json()["message"]
    other = make_account(api, admin_headers(api), "mlart", new_team="ml-art", key_scopes=TRACKING_SCOPES)
    r = httpx.get(f"{base}/config.json", headers={"Authorization": f"Bearer {other.key}"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = httpx.put(f"{base}/evil.txt", content=b"x", headers={"Authorization": f"Bearer {other.key}"})
    assert r.status_code == 404
    assert [f.path for f in client.list_artifacts(rid)] == ["config.json", "notes", "report"]

    assert httpx.delete(f"{base}/report", headers=token).status_code == 200
    assert [f.path for f in MlflowClient().list_artifacts(rid)] == ["config.json", "notes"]
    assert api.get(f"/api/experiments/runs/{rid}/artifacts/report/summary.md", headers=h).status_code == 404


def test_mlflow_answers_match_the_models_their_routes_declare(api, researcher):
    """The MLflow routes send orjson bytes without FastAPI's validation: each answer is checked against
    its route's response_model (mlflow_schemas.py), and every MLflow route that answers JSON is exercised."""
    routes = api_routes(experiments_mlflow.router, experiments_mlflow.artifacts_router, mlflow_inputs.router)
    token = {"Authorization": f"Bearer {researcher.key}"}
    checked = set()

    def call(method, path, **kw):
        r = api.request(method, path, headers=token, **kw)
        route = assert_matches_declared_model(routes, r)
        checked.add((method, route.path))
        return r.json()

    ml = "/api/2.0/mlflow"
    exp_id = call("POST", f"{ml}/experiments/create", json={"name": "wire", "tags": [{"key": "a", "value": "b"}]})[
        "experiment_id"
    ]
    call("GET", f"{ml}/experiments/get", params={"experiment_id": exp_id})
    call("GET", f"{ml}/experiments/get-by-name", params={"experiment_name": "wire"})
    call("GET", f"{ml}/experiments/search", params={"max_results": 10})
    call("POST", f"{ml}/experiments/search", json={"view_type": "ALL"})
    call("POST", f"{ml}/experiments/update", json={"experiment_id": exp_id, "new_name": "wire-2"})
    call("POST", f"{ml}/experiments/set-experiment-tag", json={"experiment_id": exp_id, "key": "k", "value": "v"})
    call("POST", f"{ml}/experiments/set-experiment-tag", json={"experiment_id": exp_id, "key": "gone", "value": "v"})
    call("POST", f"{ml}/experiments/delete-experiment-tag", json={"experiment_id": exp_id, "key": "gone"})
    tags = call("GET", f"{ml}/experiments/get", params={"experiment_id": exp_id})["experiment"]["tags"]
    assert {t["key"] for t in tags} >= {"a", "k"} and "gone" not in {t["key"] for t in tags}
    run = call("POST", f"{ml}/runs/create", json={"experiment_id": exp_id, "run_name": "r", "start_time": 1})["run"]
    rid = run["info"]["run_id"]
    call("POST", f"{ml}/runs/create", json={"experiment_id": exp_id})
    call("POST", f"{ml}/runs/log-metric", json={"run_id": rid, "key": "loss", "value": 2.0, "timestamp": 1, "step": 0})
    call("POST", f"{ml}/runs/log-metric", json={"run_id": rid, "key": "odd", "value": "NaN", "timestamp": 1})
    call("POST", f"{ml}/runs/log-parameter", json={"run_id": rid, "key": "lr", "value": "0.1"})
    call("POST", f"{ml}/runs/set-tag", json={"run_id": rid, "key": "t", "value": "v"})
    call("POST", f"{ml}/runs/delete-tag", json={"run_id": rid, "key": "t"})
    points = [{"key": "loss", "value": 1.0 / s, "timestamp": s, "step": s} for s in range(1, 4)]
    call("POST", f"{ml}/runs/log-batch", json={"run_id": rid, "metrics": points, "tags": [{"key": "b", "value": "1"}]})
    dataset = {"name": "d", "digest": "x1", "source_type": "local", "source": '{"uri": "/d"}', "schema": "{}"}
    call("POST", f"{ml}/runs/log-inputs", json={"run_id": rid, "datasets": [{"dataset": dataset}]})
    call("POST", f"{ml}/runs/outputs", json={"run_id": rid, "models": [{"model_id": "m-1", "step": 1}]})
    assert call("GET", f"{ml}/runs/get", params={"run_id": rid})["run"]["data"]["metrics"]
    call("POST", f"{ml}/runs/update", json={"run_id": rid, "status": "FINISHED", "end_time": 5})
    assert "next_page_token" in call("POST", f"{ml}/runs/search", json={"experiment_ids": [exp_id], "max_results": 1})
    history = call("GET", f"{ml}/metrics/get-history", params={"run_id": rid, "metric_key": "loss"})
    assert [m["step"] for m in history["metrics"]] == [0, 1, 2, 3]
    paged = call("GET", f"{ml}/metrics/get-history", params={"run_id": rid, "metric_key": "loss", "max_results": 2})
    assert len(paged["metrics"]) == 2 and paged["next_page_token"]
    bulk = call("GET", f"{ml}/metrics/get-history-bulk-interval", params={"run_ids": [rid], "metric_key": "loss"})
    assert [m["step"] for m in bulk["metrics"]] == [0, 1, 2, 3]
    assert (
        call("GET", f"{ml}/metrics/get-history", params={"run_id": rid, "metric_key": "odd"})["metrics"][0]["value"]
        == "NaN"
    )
    folder = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{rid}/artifacts"
    call("PUT", f"{folder}/plots/a.txt", content=b"a")
    assert call("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": f"{exp_id}/{rid}/artifacts"})[
        "files"
    ] == [{"path": "plots", "is_dir": True}]
    call("DELETE", f"{folder}/plots")
    for what, key, value in (("runs", "run_id", rid), ("experiments", "experiment_id", exp_id)):
        call("POST", f"{ml}/{what}/delete", json={key: value})
        call("POST", f"{ml}/{what}/restore", json={key: value})

    assert checked == declared(routes)


def test_a_fresh_install_admin_logs_to_the_default_team(api, admin, live_server, monkeypatch):
    """The admin of a fresh install is in the default team only: the mlflow client's first set_experiment
    creates the experiment there instead of asking for a team."""
    key = api.post(
        "/api/apikey/create", json={"name": "nb", "scopes": ["training:read", "training:write"]}, headers=admin
    )
    assert key.status_code == 201, key.text
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key.json()["key"])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    exp = mlflow.set_experiment("first-steps")
    with mlflow.start_run():
        mlflow.log_metric("loss", 1.0)
    mine = api.get(f"/api/experiments/{uuid.UUID(exp.experiment_id)}", headers=admin).json()
    teams = api.get("/api/user/info", headers=admin).json()["teams"]
    assert [t["id"] for t in teams] == [mine["team_id"]] and mine["run_count"] == 1
