"""Another team's MLflow logged model is absent: not readable, searchable, changeable, downloadable or
registrable through `models:/m-<id>`, and no logged model can be created in another team's run."""

from __future__ import annotations

from tests.factories import make_key

BASE = "/api/2.0/mlflow"
SCOPES = ["models:read", "models:write", "training:read", "training:write"]


def _key(api, account) -> dict:
    return {"Authorization": f"Bearer {make_key(api, account.headers, 'mlflow', scopes=SCOPES)['key']}"}


def _code(r) -> tuple[int, str]:
    return r.status_code, r.json().get("error_code")


def test_another_teams_logged_model_is_absent(api, victim, attacker, victim_team):
    v = _key(api, victim)
    exp = api.post(f"{BASE}/experiments/create", json={"name": "secret-exp"}, headers=v).json()["experiment_id"]
    run = api.post(f"{BASE}/runs/create", json={"experiment_id": exp}, headers=v).json()["run"]["info"]["run_id"]
    made = api.post(f"{BASE}/logged-models", json={"experiment_id": exp, "source_run_id": run, "name": "m"}, headers=v)
    model_id = made.json()["model"]["info"]["model_id"]
    folder = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/logged-models/{model_id}"
    assert api.put(f"{folder}/MLmodel", content=b"secret", headers=v).status_code == 200

    h = _key(api, attacker)
    for method, path, body in [
        ("GET", f"/logged-models/{model_id}", None),
        ("PATCH", f"/logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"}),
        ("PATCH", f"/logged-models/{model_id}/tags", {"tags": [{"key": "k", "value": "v"}]}),
        ("DELETE", f"/logged-models/{model_id}/tags/k", None),
        ("POST", f"/logged-models/{model_id}/params", {"params": [{"key": "k", "value": "v"}]}),
        ("GET", f"/logged-models/{model_id}/artifacts/directories", None),
        ("GET", f"/logged-models/{model_id}/artifacts/files?artifact_file_path=MLmodel", None),
        ("DELETE", f"/logged-models/{model_id}", None),
        ("POST", "/logged-models", {"experiment_id": exp, "source_run_id": run, "name": "mine"}),
    ]:
        r = api.request(method, BASE + path, **({"json": body} if body else {}), headers=h)
        assert _code(r) == (404, "RESOURCE_DOES_NOT_EXIST"), (path, r.text)
        assert victim_team["name"] not in r.text and "secret" not in r.text
    r = api.post(f"{BASE}/logged-models/search", json={"filter": f"source_run_id = '{run}'"}, headers=h)
    assert r.status_code == 200 and r.json()["models"] == []
    r = api.post(f"{BASE}/registered-models/create", json={"name": "stolen-lm"}, headers=h)
    assert r.status_code == 200, r.text
    r = api.post(
        f"{BASE}/model-versions/create", json={"name": "stolen-lm", "source": f"models:/{model_id}"}, headers=h
    )
    assert _code(r) == (404, "RESOURCE_DOES_NOT_EXIST") and b"secret" not in r.content
    # the victim's model is untouched
    got = api.get(f"{BASE}/logged-models/{model_id}", headers=v).json()["model"]["info"]
    assert got["status"] == "LOGGED_MODEL_PENDING" and got["tags"] == []
