"""Dataset inputs of runs through the full `mlflow` client (mlflow.log_input), linked to axops dataset versions
by their download URL; refusals of what axops can't store; and a newcomer's first use with only an API key."""

from __future__ import annotations

import os
import uuid

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.factories import TRACKING_SCOPES, login_headers, make_account, make_key, make_user, upload_dataset


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "inres", new_team="inputs-research", key_scopes=TRACKING_SCOPES)


@pytest.fixture
def tracking(live_server, researcher, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", researcher.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()


def _version(api, headers, name: str) -> dict:
    r = upload_dataset(api, headers, b"text,label\nhello,1\nworld,0\n", f"{name}.csv", name=name)
    assert r.status_code == 201, r.text
    return r.json()


def test_log_input_records_the_dataset_and_links_a_visible_axops_version(api, admin, researcher, tracking):
    mine = _version(api, researcher.headers, "reviews")
    outsider = make_account(api, admin, "inother", new_team="inputs-other")
    theirs = _version(api, outsider.headers, "secret-reviews")
    df = pd.DataFrame({"text": ["hello", "world"], "label": [1, 0]})
    plain = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="plain")
    linked = mlflow.data.from_pandas(df, source=f"{tracking}/api/dataset/version/{mine['id']}/download", name="mine")
    foreign = mlflow.data.from_pandas(
        df, source=f"{tracking}/api/dataset/version/{theirs['id']}/download", name="theirs"
    )

    mlflow.set_experiment("inputs")
    with mlflow.start_run() as run:
        mlflow.log_input(plain, context="training")
        mlflow.log_input(plain, context="training")  # the same dataset again: kept once, as MLflow does
        mlflow.log_input(linked, context="eval", tags={"split": "test"})
        mlflow.log_input(foreign, context="training")
    rid = run.info.run_id

    got = MlflowClient().get_run(rid).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in got}
    assert sorted(by_name) == ["mine", "plain", "theirs"] and len(got) == 3
    p = by_name["plain"].dataset
    assert (p.digest, p.source_type, p.source) == (plain.digest, "s3", plain.source.to_json())
    assert p.schema == plain._to_mlflow_entity().schema and p.profile == plain._to_mlflow_entity().profile
    assert {t.key: t.value for t in by_name["plain"].tags} == {"mlflow.data.context": "training"}
    assert {t.key: t.value for t in by_name["mine"].tags} == {"mlflow.data.context": "eval", "split": "test"}
    assert by_name["mine"].dataset.source_type == "http"

    # the raw answer names the linked axops version; the other team's version stays a plain input
    token = {"Authorization": f"Bearer {researcher.key}"}
    raw = httpx.get(f"{tracking}/api/2.0/mlflow/runs/get", params={"run_id": rid}, headers=token).json()
    raw_inputs = {i["dataset"]["name"]: i for i in raw["run"]["inputs"]["dataset_inputs"]}
    assert raw_inputs["mine"]["axops_dataset"] == {
        "dataset_id": mine["dataset_id"],
        "dataset_name": "reviews",
        "version_id": mine["id"],
        "version": 1,
    }
    assert "axops_dataset" not in raw_inputs["theirs"] and "axops_dataset" not in raw_inputs["plain"]
    axops_run = api.get(f"/api/experiments/runs/{uuid.UUID(rid)}", headers=researcher.headers).json()
    assert axops_run["dataset_version_ids"] == [mine["id"]]

    # search answers carry the inputs too
    found = MlflowClient().search_runs([run.info.experiment_id])
    assert [sorted(i.dataset.name for i in r.inputs.dataset_inputs) for r in found] == [["mine", "plain", "theirs"]]

    events = api.get("/api/audit/logs", params={"action": "run.log_inputs"}, headers=admin).json()["items"]
    assert len(events) == 3 and all(e["resource_id"] == str(uuid.UUID(rid)) for e in events)
    assert str(theirs["id"]) not in str(events)


def test_log_inputs_refuses_what_it_cannot_store_and_writes_nothing(api, admin, researcher, tracking):
    client = MlflowClient()
    rid = client.create_run(client.create_experiment("inputs-bad")).info.run_id
    url = f"{tracking}/api/2.0/mlflow/runs/log-inputs"
    token = {"Authorization": f"Bearer {researcher.key}"}
    good = {"name": "d", "digest": "abc", "source_type": "local", "source": '{"uri": "/tmp/x"}'}

    def post(body: dict) -> httpx.Response:
        return httpx.post(url, json={"run_id": rid, **body}, headers=token)

    cases = [
        ({"datasets": [{"dataset": {**good, "color": "red"}}]}, "dataset.color"),
        ({"datasets": [{"dataset": good, "context": "x"}]}, "datasets.context"),
        ({"datasets": [{"dataset": {**good, "digest": ""}}]}, "dataset.digest"),
        ({"datasets": [{"dataset": {**good, "name": "n" * 501}}]}, "dataset.name"),
        ({"datasets": [{"dataset": good, "tags": [{"key": "k", "value": "v" * 501}]}]}, "datasets.tags.value"),
        ({"datasets": [{"dataset": good}], "experiment_id": "1"}, "request.experiment_id"),
        ({"datasets": [{"dataset": good}] * 1001}, "1000"),
        ({"datasets": [{"dataset": good}], "models": [{"model_id": "m-1", "step": 3}]}, "models.step"),
    ]
    for body, named in cases:
        r = post(body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (body, r.text)
        assert named in r.json()["message"], r.json()
    assert client.get_run(rid).inputs.dataset_inputs == []  # every refusal left nothing behind

    assert post({"datasets": [{"dataset": good}], "models": [{"model_id": "m-1"}]}).status_code == 200
    r = httpx.post(
        f"{tracking}/api/2.0/mlflow/runs/outputs",
        json={"run_id": rid, "models": [{"model_id": "m-2", "step": 4}]},
        headers=token,
    )
    assert r.status_code == 200, r.text
    raw = httpx.get(f"{tracking}/api/2.0/mlflow/runs/get", params={"run_id": rid}, headers=token).json()["run"]
    assert raw["inputs"]["model_inputs"] == [{"model_id": "m-1"}]
    assert raw["outputs"]["model_outputs"] == [{"model_id": "m-2", "step": 4}]

    # another team's run is answered as absent
    other = make_account(api, admin, "inother2", new_team="inputs-other2", key_scopes=TRACKING_SCOPES)
    r = httpx.post(
        url, json={"run_id": rid, "datasets": [{"dataset": good}]}, headers={"Authorization": f"Bearer {other.key}"}
    )
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_newcomer_tracks_with_only_an_api_key(api, admin, live_server, monkeypatch, tmp_path):
    """A Developer the admin adds without a team, with a key made the plain way: no team, tag or experiment to
    set up first. Their runs land in the default team."""
    make_user(api, admin, "newcomer")
    headers = login_headers(api, "newcomer")
    key = make_key(api, headers, "notebook")["key"]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(live_server.url)
    try:
        mlflow.set_experiment("first-steps")
        with mlflow.start_run(run_name="hello") as run:
            mlflow.log_param("lr", 0.1)
            mlflow.log_metric("loss", 0.5, step=1)
            mlflow.set_tag("note", "first")
            (tmp_path / "notes.txt").write_text("hi")
            mlflow.log_artifact(str(tmp_path / "notes.txt"))
            (tmp_path / "model").mkdir()  # a folder with an MLmodel file: what register_model takes from runs:/
            (tmp_path / "model" / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
            mlflow.log_artifacts(str(tmp_path / "model"), artifact_path="model")
    finally:
        while mlflow.active_run():
            mlflow.end_run()
    client = MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.data.params == {"lr": "0.1"} and got.data.metrics == {"loss": 0.5}
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["model", "notes.txt"]
    mine = api.get(f"/api/experiments/runs/{uuid.UUID(run.info.run_id)}", headers=headers).json()
    default = next(t for t in api.get("/api/teams", headers=admin).json()["items"] if t["is_default"])
    assert mine["team_id"] == default["id"] and mine["user_name"] == "newcomer"
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "newcomer-model")
    assert version.version == "1" and version.run_id == run.info.run_id
    models = api.get("/api/model", headers=headers).json()["items"]
    assert [(m["name"], m["team_id"]) for m in models] == [("newcomer-model", default["id"])]
    with pytest.raises(MlflowException) as err:  # and they see no one else's runs
        client.get_run(uuid.uuid4().hex)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_tracking_fields_are_stored_or_refused_never_dropped(api, researcher, tracking):
    client = MlflowClient()
    base = f"{tracking}/api/2.0/mlflow"
    token = {"Authorization": f"Bearer {researcher.key}"}

    with pytest.raises(MlflowException) as err:  # artifacts always go to the object store
        client.create_experiment("elsewhere", artifact_location="s3://bucket/x")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "artifact_location" in err.value.message

    # search_experiments: filter, order_by and paging are honoured
    for name, team in (("alpha-1", "nlp"), ("alpha-2", "vision"), ("beta", "nlp")):
        client.create_experiment(name, tags={"team": team})
    names = lambda exps: [e.name for e in exps]  # noqa: E731
    assert names(client.search_experiments(filter_string="name LIKE 'alpha%'", order_by=["name DESC"])) == [
        "alpha-2",
        "alpha-1",
    ]
    assert names(client.search_experiments(filter_string="tags.team = 'nlp'", order_by=["name"])) == [
        "alpha-1",
        "beta",
    ]
    assert names(client.search_experiments(filter_string="name ILIKE 'BETA' and tags.team != 'vision'")) == ["beta"]
    first = client.search_experiments(max_results=2, order_by=["name ASC"])
    assert names(first) == ["alpha-1", "alpha-2"] and first.token
    assert names(client.search_experiments(max_results=2, order_by=["name ASC"], page_token=first.token)) == ["beta"]
    for bad in ("owner = 'x'", "name = 'a' OR name = 'b'", "creation_time LIKE '1'"):
        with pytest.raises(MlflowException) as err:
            client.search_experiments(filter_string=bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as err:
        client.search_experiments(order_by=["lifecycle_stage"])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"

    # update-run with end_time alone sets it; create-run's user_id is kept as the mlflow.user tag
    exp_id = client.create_experiment("fields")
    r = httpx.post(f"{base}/runs/create", json={"experiment_id": exp_id, "user_id": "jane"}, headers=token).json()
    rid = r["run"]["info"]["run_id"]
    assert {"key": "mlflow.user", "value": "jane"} in r["run"]["data"]["tags"]
    r = httpx.post(f"{base}/runs/update", json={"run_id": rid, "end_time": 1_700_000_000_000}, headers=token)
    assert r.status_code == 200 and r.json()["run_info"]["end_time"] == 1_700_000_000_000, r.text
    assert r.json()["run_info"]["status"] == "RUNNING"


def test_a_dataset_version_lists_the_runs_that_used_it_that_the_reader_sees(api, admin, researcher, tracking):
    r = upload_dataset(api, researcher.headers, b"text\nhi\n", "shared.csv", name="shared", visibility="organization")
    assert r.status_code == 201, r.text
    version = r.json()
    other = make_account(api, admin, "inlineage", new_team="inputs-lineage", key_scopes=TRACKING_SCOPES)
    df = pd.DataFrame({"text": ["hi"]})
    url = f"{tracking}/api/dataset/version/{version['id']}/download"
    mlflow.set_experiment("lineage")
    with mlflow.start_run(run_name="train-1") as first:
        mlflow.log_input(mlflow.data.from_pandas(df, source=url, name="shared-train"), context="training")
    with mlflow.start_run(run_name="eval-1") as second:
        mlflow.log_input(mlflow.data.from_pandas(df, source=url, name="shared-eval"), context="eval")
    with mlflow.start_run(run_name="unrelated"):
        mlflow.log_input(mlflow.data.from_pandas(df, source="s3://b/x.csv", name="x"), context="training")
    # another team's run of the same (organization-wide) version: listed to them, not to this team
    own_key = os.environ["MLFLOW_TRACKING_TOKEN"]
    try:
        os.environ["MLFLOW_TRACKING_TOKEN"] = other.key
        mlflow.set_experiment("lineage-other")
        with mlflow.start_run(run_name="their-run"):
            mlflow.log_input(mlflow.data.from_pandas(df, source=url, name="shared"), context="training")
    finally:
        os.environ["MLFLOW_TRACKING_TOKEN"] = own_key

    path = f"/api/dataset/version/{version['id']}/runs"
    mine = api.get(path, headers=researcher.headers)
    assert mine.status_code == 200, mine.text
    assert [(x["run_id"].replace("-", ""), x["run_name"], x["input_name"], x["context"]) for x in mine.json()] == [
        (second.info.run_id, "eval-1", "shared-eval", "eval"),
        (first.info.run_id, "train-1", "shared-train", "training"),
    ]
    assert mine.json()[0]["experiment_name"] == "lineage"
    assert [x["run_name"] for x in api.get(path, headers=other.headers).json()] == ["their-run"]
    assert len(api.get(path, headers=admin).json()) == 3
    # a version the caller can't see is absent; no datasets:read → 403
    private = _version(api, researcher.headers, "private-lineage")
    r = api.get(f"/api/dataset/version/{private['id']}/runs", headers=other.headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert api.get(f"/api/dataset/version/{uuid.uuid4()}/runs", headers=researcher.headers).status_code == 404
    r = api.get(path, headers={"Authorization": f"Bearer {researcher.key}"})  # key scopes: training only
    assert r.status_code == 403 and r.json()["type"].endswith("/permission_denied")
    # a deleted run drops out
    MlflowClient().delete_run(first.info.run_id)
    assert [x["run_name"] for x in api.get(path, headers=researcher.headers).json()] == ["eval-1"]
