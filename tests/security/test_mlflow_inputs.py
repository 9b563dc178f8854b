"""Dataset inputs must not become a way into another team's data: naming another team's dataset version as a
source links nothing and reveals nothing (the answer is the same as for a version that does not exist), and
another team's runs take no inputs and show none."""

from __future__ import annotations

import uuid

from tests.factories import TRACKING_SCOPES, make_key, new_run, upload_dataset

BASE = "/api/2.0/mlflow"


def _key(api, account) -> dict:
    return {"Authorization": f"Bearer {make_key(api, account.headers, 'mlflow', scopes=TRACKING_SCOPES)['key']}"}


def _input(name: str, version_id: str) -> dict:
    source = f'{{"url": "http://x/api/dataset/version/{version_id}/download"}}'
    return {"dataset": {"name": name, "digest": "d1", "source_type": "http", "source": source}}


def test_another_teams_dataset_version_is_neither_linked_nor_revealed(api, victim, attacker):
    r = upload_dataset(api, victim.headers, b"ssn,name\n1,kim\n", "secret.csv", name="secret-customers")
    assert r.status_code == 201, r.text
    secret = r.json()
    h = _key(api, attacker)
    run = new_run(api, attacker.headers, experiment="probe")
    answers = []
    for name, vid in (("probe-real", secret["id"]), ("probe-none", str(uuid.uuid4()))):
        r = api.post(f"{BASE}/runs/log-inputs", json={"run_id": run["id"], "datasets": [_input(name, vid)]}, headers=h)
        answers.append((r.status_code, r.content))
    assert answers[0] == answers[1] == (200, b"{}")  # a real hidden version answers like a missing one
    got = api.get(f"{BASE}/runs/get", params={"run_id": run["id"]}, headers=h).json()["run"]["inputs"]
    assert all("axops_dataset" not in i for i in got["dataset_inputs"])
    assert "secret-customers" not in str(got)
    assert api.get(f"/api/experiments/runs/{run['id']}", headers=attacker.headers).json()["dataset_version_ids"] == []


def test_another_teams_run_takes_no_inputs_and_shows_none(api, victim, attacker):
    run = new_run(api, victim.headers, experiment="private")
    victim_key = _key(api, victim)
    body = {"run_id": run["id"], "datasets": [_input("mine", str(uuid.uuid4()))]}
    assert api.post(f"{BASE}/runs/log-inputs", json=body, headers=victim_key).status_code == 200
    h = _key(api, attacker)
    r = api.post(
        f"{BASE}/runs/log-inputs", json={**body, "datasets": [_input("planted", str(uuid.uuid4()))]}, headers=h
    )
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = api.post(f"{BASE}/runs/outputs", json={"run_id": run["id"], "models": [{"model_id": "m-x"}]}, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = api.get(f"{BASE}/runs/get", params={"run_id": run["id"]}, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    found = api.post(f"{BASE}/runs/search", json={"filter": ""}, headers=h).json().get("runs", [])
    assert all(x["info"]["run_id"] != uuid.UUID(run["id"]).hex for x in found)
    mine = api.get(f"{BASE}/runs/get", params={"run_id": run["id"]}, headers=victim_key).json()["run"]["inputs"]
    assert [i["dataset"]["name"] for i in mine["dataset_inputs"]] == ["mine"]
