"""MLflow 3 logged models through the full `mlflow` client: `log_model` within a run stores the model's files
with the run, `register_model` makes an axops model version with lineage to the run, and it loads back."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

from tests.factories import TRACKING_SCOPES, make_account

SCOPES = [*TRACKING_SCOPES, "models:read", "models:write"]


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "lmres", new_team="lm-research", key_scopes=SCOPES)


@pytest.fixture
def tracking(live_server, researcher, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", researcher.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_registry_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()


def test_log_model_register_and_load_the_demo_model(api, researcher, tracking, demo_dirs):
    from transformers import pipeline

    generator = pipeline("text-generation", model=str(demo_dirs[0]))
    mlflow.set_experiment("logged-models")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.75)  # step 0: log_model (step 0) links it to the model, as MLflow does
        info = mlflow.transformers.log_model(generator, name="model", pip_requirements=["transformers"])
    client = MlflowClient()
    model = client.get_logged_model(info.model_id)
    assert model.source_run_id == run.info.run_id and model.name == "model"
    assert [(m.key, m.value, m.step) for m in model.metrics] == [("loss", 0.75, 0)]
    assert model.artifact_location.endswith(f"/{run.info.run_id}/artifacts/logged-models/{info.model_id}")
    assert "MLmodel" in {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    assert [m.model_id for m in found] == [info.model_id]

    version = mlflow.register_model(f"models:/{info.model_id}", "lm-demo")
    assert version.version in ("1", 1)
    loaded = mlflow.transformers.load_model("models:/lm-demo/1")
    out = loaded("안녕", max_new_tokens=3, do_sample=False)
    assert out and isinstance(out[0]["generated_text"], str) and out[0]["generated_text"].startswith("안녕")

    # runs:/<run>/model finds the same logged model (the run has no "model" folder of its own).
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", "lm-demo")
    assert str(again.version) == "2" and again.run_id == run.info.run_id

    # The axops registry shows the version, its files and its lineage to the run.
    models = api.get("/api/model", params={"q": "lm-demo"}, headers=researcher.headers).json()["items"]
    model_id = next(m["id"] for m in models if m["name"] == "lm-demo")
    listed = next(
        v for v in api.get(f"/api/model/{model_id}/versions", headers=researcher.headers).json() if v["version"] == 1
    )
    assert listed["run_id"].replace("-", "") == run.info.run_id
    assert listed["source_ref"] == f"models:/{info.model_id}"
    detail = api.get(f"/api/model/version/{listed['id']}", headers=researcher.headers).json()
    stored = {f["path"]: f["sha256"] for f in detail["files"]}
    assert "MLmodel" in stored and all(len(h) == 64 for h in stored.values())


def test_logged_model_calls_and_refusals(api, admin, researcher, tracking, tmp_path):
    client = MlflowClient()
    exp_id = mlflow.set_experiment("logged-models-api").experiment_id
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5)
    run_id = run.info.run_id
    lm = client.create_logged_model(
        exp_id, name="clf", source_run_id=run_id, tags={"a": "1"}, params={"lr": "0.1"}, model_type="agent"
    )
    assert lm.model_id.startswith("m-") and lm.status == LoggedModelStatus.PENDING
    assert lm.tags == {"a": "1"} and lm.params == {"lr": "0.1"} and lm.model_type == "agent"
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(lm.model_id, str(tmp_path))
    assert sorted(f.path for f in client.list_logged_model_artifacts(lm.model_id)) == ["MLmodel", "weights.bin"]
    client.set_logged_model_tags(lm.model_id, {"b": "2"})
    client.delete_logged_model_tag(lm.model_id, "a")
    client.log_model_params(lm.model_id, {"epochs": "3"})
    done = client.finalize_logged_model(lm.model_id, LoggedModelStatus.READY)
    assert done.status == LoggedModelStatus.READY and done.tags == {"b": "2"}
    assert done.params == {"lr": "0.1", "epochs": "3"}
    assert [m.model_id for m in client.search_logged_models([exp_id], filter_string="name = 'clf'")] == [lm.model_id]
    assert client.search_logged_models([exp_id], filter_string="name LIKE 'x%'") == []

    def refused(call, code):
        with pytest.raises(MlflowException) as exc:
            call()
        assert exc.value.error_code == code, exc.value

    refused(lambda: client.get_logged_model("m-" + "0" * 32), "RESOURCE_DOES_NOT_EXIST")
    refused(lambda: client.get_logged_model("nonsense"), "RESOURCE_DOES_NOT_EXIST")
    refused(lambda: client.create_logged_model(exp_id, name="orphan"), "INVALID_PARAMETER_VALUE")
    refused(lambda: client.search_logged_models([exp_id], filter_string="metrics.acc > 1"), "INVALID_PARAMETER_VALUE")
    refused(lambda: client.log_model_params(lm.model_id, {"lr": "0.2"}), "INVALID_PARAMETER_VALUE")
    refused(lambda: client.delete_logged_model_tag(lm.model_id, "missing"), "RESOURCE_DOES_NOT_EXIST")

    # Another team's logged model answers as absent, and is not in its searches.
    other = make_account(api, admin, "lmother", new_team="lm-other", key_scopes=SCOPES)
    own_key = researcher.key
    try:
        os.environ["MLFLOW_TRACKING_TOKEN"] = other.key
        refused(lambda: client.get_logged_model(lm.model_id), "RESOURCE_DOES_NOT_EXIST")
        # (the client rewraps the server's RESOURCE_DOES_NOT_EXIST of a tag change as INVALID_PARAMETER_VALUE)
        refused(lambda: client.set_logged_model_tags(lm.model_id, {"x": "y"}), "INVALID_PARAMETER_VALUE")
        refused(lambda: client.create_logged_model(exp_id, source_run_id=run_id), "RESOURCE_DOES_NOT_EXIST")
        assert client.search_logged_models([], filter_string="name = 'clf'") == []
    finally:
        os.environ["MLFLOW_TRACKING_TOKEN"] = own_key

    client.delete_logged_model(lm.model_id)
    refused(lambda: client.get_logged_model(lm.model_id), "RESOURCE_DOES_NOT_EXIST")
    assert client.list_artifacts(run_id, "logged-models") == []
    events = api.get("/api/audit/logs", params={"resource_type": "logged_model", "limit": 200}, headers=admin).json()
    actions = {e["action"] for e in (events["items"] if isinstance(events, dict) else events)}
    assert {"logged_model.create", "logged_model.finalize", "logged_model.delete"} <= actions


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_a_logged_model_lists_only_the_points_logged_for_it(tracking):
    """As MLflow: `log_model` at step N links the run's step-N points to the new model, later points name it
    with model_id; a logged model's metrics are those points only, and the run's history keeps each point once."""
    from mlflow.entities import Metric

    client = MlflowClient()
    mlflow.set_experiment("logged-model-metrics")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.9)
        mlflow.log_metric("acc", 0.7)
        first = mlflow.pyfunc.log_model(name="first", python_model=_Echo(), pip_requirements=[])
        mlflow.log_metric("loss", 0.5, step=3)
        second = mlflow.pyfunc.log_model(name="second", python_model=_Echo(), pip_requirements=[], step=3)
        mlflow.log_metric("f1", 0.6, step=5, model_id=first.model_id)
        client.log_batch(
            run.info.run_id,
            [Metric("f1", 0.65, 1, 6, model_id=first.model_id, dataset_name="eval-ko", dataset_digest="abc123")],
        )
        mlflow.log_metric("loss", 0.4, step=9)

    def points(model_id):
        return [(m.key, m.value, m.step) for m in client.get_logged_model(model_id).metrics]

    assert points(first.model_id) == [("acc", 0.7, 0), ("f1", 0.6, 5), ("f1", 0.65, 6), ("loss", 0.9, 0)]
    assert points(second.model_id) == [("loss", 0.5, 3)]
    f1 = next(m for m in client.get_logged_model(first.model_id).metrics if m.step == 6)
    assert (f1.dataset_name, f1.dataset_digest, f1.run_id) == ("eval-ko", "abc123", run.info.run_id)
    found = client.search_logged_models([run.info.experiment_id], filter_string="name = 'second'")
    assert [[(m.key, m.step) for m in f.metrics] for f in found] == [[("loss", 3)]]
    # log_model's re-logged points are not doubled in the history
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.9, 0), (0.5, 3), (0.4, 9)]
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "acc")] == [(0.7, 0)]
