"""The full `mlflow` client on the MLflow model-registry API: one registry, two doors. A model registered
through MLflow shows in the axops API with its card; an axops model is listed, read and downloaded
(`models:/name/N`, `models:/name@alias`) through MLflow."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.factories import TRACKING_SCOPES, admin_headers, make_account, register_model, upload_model

SCOPES = [*TRACKING_SCOPES, "models:read", "models:write"]
WEIGHTS = os.urandom(3000)
CONFIG = b'{"hidden_size": 8}'


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "mlreg", new_team="reg-research", key_scopes=SCOPES)


@pytest.fixture
def client(live_server, researcher, monkeypatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", researcher.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_registry_uri(live_server.url)
    yield MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.error_code


def _logged_run(tmp_path: Path) -> str:
    src = tmp_path / "model"
    (src / "data").mkdir(parents=True)
    (src / "config.json").write_bytes(CONFIG)
    (src / "data" / "weights.bin").write_bytes(WEIGHTS)
    mlflow.set_experiment("registry-journey")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src), "model")
    return run.info.run_id


def _read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_register_alias_search_transition_and_download_through_mlflow(api, admin, researcher, client, tmp_path):
    run_id = _logged_run(tmp_path)
    created = client.create_registered_model("mlf-model", tags={"owner": "nlp"}, description="from mlflow")
    assert created.name == "mlf-model" and created.tags == {"owner": "nlp"} and created.description == "from mlflow"

    v1 = client.create_model_version("mlf-model", f"runs:/{run_id}/model", run_id)
    assert (v1.version, v1.status, v1.current_stage, v1.run_id) == ("1", "READY", "None", run_id)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    v2 = client.create_model_version("mlf-model", f"{artifact_uri}/model", run_id, tags={"k": "v"}, description="two")
    assert v2.version == "2" and v2.tags == {"k": "v"} and v2.description == "two"

    client.set_registered_model_alias("mlf-model", "champion", "1")
    assert client.get_model_version_by_alias("mlf-model", "champion").version == "1"
    assert client.get_registered_model("mlf-model").aliases == {"champion": "1"}

    client.set_registered_model_tag("mlf-model", "stage", "beta")
    client.delete_registered_model_tag("mlf-model", "owner")
    client.set_model_version_tag("mlf-model", "1", "checked", "yes")
    client.update_model_version("mlf-model", "1", description="first")
    assert client.get_model_version("mlf-model", "1").tags == {"checked": "yes"}
    assert client.get_model_version("mlf-model", "1").description == "first"

    found = client.search_registered_models("name LIKE 'mlf-%'")
    assert [m.name for m in found] == ["mlf-model"] and found[0].tags == {"stage": "beta"}
    assert [m.name for m in client.search_registered_models("tags.stage = 'beta'")] == ["mlf-model"]
    assert client.search_registered_models("name ILIKE 'MLF-MOD%'")[0].name == "mlf-model"
    assert client.search_registered_models("name = 'absent'") == []
    versions = client.search_model_versions(f"run_id = '{run_id}'")
    assert sorted(v.version for v in versions) == ["1", "2"]

    staged = client.transition_model_version_stage("mlf-model", "2", "Staging")
    assert staged.current_stage == "Staging"
    client.transition_model_version_stage("mlf-model", "1", "Staging", archive_existing_versions=True)
    assert client.get_model_version("mlf-model", "2").current_stage == "Archived"
    client.transition_model_version_stage("mlf-model", "2", "None")
    assert [v.version for v in client.get_latest_versions("mlf-model", stages=["Staging"])] == ["1"]

    # models:/ URIs download the version's files byte-exact
    expected = {"config.json": CONFIG, "data/weights.bin": WEIGHTS}
    assert client.get_model_version_download_uri("mlf-model", "1").startswith("mlflow-artifacts:/registry/")
    by_alias = mlflow.artifacts.download_artifacts("models:/mlf-model@champion", dst_path=str(tmp_path / "a"))
    assert _read_tree(Path(by_alias)) == expected
    by_number = mlflow.artifacts.download_artifacts("models:/mlf-model/2", dst_path=str(tmp_path / "b"))
    assert _read_tree(Path(by_number)) == expected

    # the axops door: the same model, its versions with a card and the run as lineage, the stage
    h = researcher.headers
    model = next(m for m in api.get("/api/model", params={"q": "mlf-model"}, headers=h).json()["items"])
    assert model["name"] == "mlf-model" and model["latest_version"] == 2 and model["aliases"] == {"champion": 1}
    listed = api.get(f"/api/model/{model['id']}/versions", headers=h).json()
    listed = listed["items"] if isinstance(listed, dict) else listed
    second = next(v for v in listed if v["version"] == 2)
    detail = api.get(f"/api/model/version/{second['id']}", headers=h).json()
    assert detail["stage"] == "draft" and detail["card_markdown"] and detail["file_count"] == 2
    assert detail["run_id"].replace("-", "") == run_id
    audit = api.get("/api/audit/logs", params={"resource_id": model["id"], "limit": 200}, headers=admin_headers(api))
    actions = {e["action"] for e in audit.json()["items"]}
    expected_actions = {"model.register", "model.update", "model.version_upload", "model.version_update"}
    assert expected_actions | {"model.alias_set", "model.version_stage", "model.download"} <= actions

    # rename, then delete a version and the model (restorable in axops)
    client.rename_registered_model("mlf-model", "mlf-renamed")
    assert client.get_registered_model("mlf-renamed").name == "mlf-renamed"
    with pytest.raises(MlflowException) as exc:
        client.delete_model_version("mlf-renamed", "1")  # an alias points at it
    assert _code(exc) == "INVALID_STATE"
    client.delete_registered_model_alias("mlf-renamed", "champion")
    client.delete_model_version("mlf-renamed", "1")
    assert [v.version for v in client.search_model_versions("name = 'mlf-renamed'")] == ["2"]
    client.delete_registered_model("mlf-renamed")
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("mlf-renamed")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_an_axops_model_is_visible_and_downloadable_through_mlflow(api, researcher, client, tmp_path):
    model = register_model(api, researcher.headers, "axops-made")
    r = upload_model(api, researcher.headers, model["id"], {"config.json": CONFIG, "weights.bin": WEIGHTS})
    assert r.status_code == 201, r.text
    assert "axops-made" in [m.name for m in client.search_registered_models()]
    register_model(api, researcher.headers, "axops-made-2")
    first = client.search_registered_models("name LIKE 'axops-%'", max_results=1, order_by=["name DESC"])
    assert [m.name for m in first] == ["axops-made-2"] and first.token
    rest = client.search_registered_models(
        "name LIKE 'axops-%'", max_results=1, order_by=["name DESC"], page_token=first.token
    )
    assert [m.name for m in rest] == ["axops-made"] and not rest.token
    got = client.get_model_version("axops-made", "1")
    assert got.status == "READY" and got.current_stage == "None" and got.source == "models:/axops-made/1"
    path = mlflow.artifacts.download_artifacts("models:/axops-made/1", dst_path=str(tmp_path / "x"))
    assert _read_tree(Path(path)) == {"config.json": CONFIG, "weights.bin": WEIGHTS}


def test_bad_input_gets_mlflow_error_codes(api, researcher, client, live_server, tmp_path):
    h = {"Authorization": f"Bearer {researcher.key}"}
    base = "/api/2.0/mlflow"
    client.create_registered_model("bad-input")
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model("bad-input")
    assert _code(exc) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("no-such-model")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exc:
        client.create_model_version("bad-input", "s3://bucket/elsewhere", None)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.create_model_version("bad-input", "runs:/not-a-run/../x", None)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.search_registered_models(max_results=5000)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.transition_model_version_stage("bad-input", "1", "Production")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    for body, method, path in [
        ({}, "POST", "/registered-models/create"),
        ({"name": 7}, "POST", "/registered-models/create"),
        ({"name": "bad-input", "alias": "Champion!", "version": "1"}, "POST", "/registered-models/alias"),
        ({"name": "bad-input", "version": "one", "stage": "Staging"}, "POST", "/model-versions/transition-stage"),
        ({"name": "bad-input", "source": 5}, "POST", "/model-versions/create"),
    ]:
        r = api.request(method, base + path, json=body, headers=h)
        assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), (path, body, r.text)
    for flt in ["name ~ 'x'", "owner = 'x'", "name = 'unterminated"]:
        r = api.get(base + "/registered-models/search", params={"filter": flt}, headers=h)
        assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), flt
    r = api.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "registry/zzz"}, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts("models:/bad-input@", dst_path=str(tmp_path / "m"))
    assert [m.name for m in client.search_registered_models("name = 'bad-input'")] == ["bad-input"]  # nothing else


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input]


def test_a_pyfunc_model_registered_from_run_artifacts_loads_by_alias(client, tmp_path):
    local = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(str(local), python_model=_Doubler(), pip_requirements=[])
    mlflow.set_experiment("registry-pyfunc")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
    client.create_registered_model("doubler")
    client.create_model_version("doubler", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("doubler", "champion", "1")
    model = mlflow.pyfunc.load_model("models:/doubler@champion")
    assert model.predict([1, 2, 3]) == [2, 4, 6]


def test_production_through_mlflow_needs_the_same_approval(api, admin, settings, researcher, client):
    settings.approvals_required = True
    try:
        ops = make_account(api, admin, "mlreg-ops", "operator", researcher.team)
        model = register_model(api, researcher.headers, "gated")
        assert upload_model(api, researcher.headers, model["id"], {"config.json": CONFIG}).status_code == 201
        with pytest.raises(MlflowException) as exc:
            client.transition_model_version_stage("gated", "1", "Production")
        assert _code(exc) == "INVALID_STATE" and "approv" in exc.value.message.lower()
        assert client.get_model_version("gated", "1").current_stage == "None"
        pending = api.get("/api/governance/approvals", headers=ops.headers).json()
        assert [(a["kind"], a["status"], a["target_name"]) for a in pending] == [("promote", "pending", "gated")]
        r = api.post(f"/api/governance/approvals/{pending[0]['id']}/approve", json={}, headers=ops.headers)
        assert r.status_code == 200, r.text
        assert client.transition_model_version_stage("gated", "1", "Production").current_stage == "Production"
    finally:
        settings.approvals_required = False


def test_run_link_is_stored_returned_and_length_limited(api, researcher, client, tmp_path):
    run_id = _logged_run(tmp_path)
    client.create_registered_model("linked-model")
    link = "https://mlflow.example/#/experiments/1/runs/" + run_id
    mv = client.create_model_version("linked-model", f"runs:/{run_id}/model", run_id, run_link=link)
    assert mv.run_link == link
    assert client.get_model_version("linked-model", mv.version).run_link == link
    assert [v.run_link for v in client.search_model_versions("name = 'linked-model'")] == [link]
    plain = client.create_model_version("linked-model", f"runs:/{run_id}/model", run_id)
    assert not client.get_model_version("linked-model", plain.version).run_link
    h = {"Authorization": f"Bearer {researcher.key}"}
    body = {"name": "linked-model", "source": f"runs:/{run_id}/model", "run_id": run_id, "run_link": "x" * 501}
    r = api.post("/api/2.0/mlflow/model-versions/create", json=body, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), r.text
    assert [v.version for v in client.search_model_versions("name = 'linked-model'")] == ["2", "1"]
    r = api.post("/api/2.0/mlflow/model-versions/create", json={**body, "run_link": "x" * 500}, headers=h)
    assert r.status_code == 200 and r.json()["model_version"]["run_link"] == "x" * 500
