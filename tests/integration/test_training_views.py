"""What the training pages read besides jobs: the sweep list (the caller's teams' only, trials counted
by status, the best so far) and the team GPU quotas with their use, set and cleared by infra admins."""

from __future__ import annotations

import time
import uuid

import psycopg

from axops.core.db import libpq_url
from tests.factories import approve_dataset, job_body, login_headers, make_account, make_team, make_user, wait_job


def small_template(lab) -> dict:
    body = job_body(lab)
    body["hyperparameters"] |= {"max_steps": 4, "save_steps": 4}
    return body


def test_sweeps_list_their_trials_and_best_for_the_own_team_only(api, lab, admin):
    dev = lab["dev"]
    approve_dataset(api, admin, lab["dataset_version"]["id"])
    assert api.get("/api/training/sweeps", headers=dev).json() == []
    r = api.post(
        "/api/training/sweep/create",
        json={
            "name": "lr pair",
            "job": small_template(lab),
            "strategy": "grid",
            "space": {"hyperparameters.learning_rate": {"values": [0.0005, 0.02]}},
        },
        headers=dev,
    )
    assert r.status_code == 201, r.text
    first = r.json()
    listed = api.get("/api/training/sweeps", headers=dev).json()
    assert [s["id"] for s in listed] == [first["id"]]
    assert listed[0] | {"trial_counts": None} == {
        "id": first["id"],
        "name": "lr pair",
        "strategy": "grid",
        "metric": "loss",
        "mode": "min",
        "status": "running",
        "trials": 2,
        "trial_counts": None,
        "best_job_id": None,
        "best_value": None,
        "created_at": first["created_at"],
    }
    assert sum(listed[0]["trial_counts"].values()) == 2 and set(listed[0]["trial_counts"]) <= {"queued", "running"}

    # a second sweep waits behind the first (one training slot); cancelled, it counts as such and scores nothing
    r = api.post(
        "/api/training/sweep/create",
        json={
            "name": "random r",
            "job": small_template(lab),
            "strategy": "random",
            "max_trials": 1,
            "space": {"lora.dropout": {"min": 0.01, "max": 0.2, "log": True}},
        },
        headers=dev,
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert api.post(f"/api/training/job/{second['trials'][0]['job_id']}/cancel", headers=dev).status_code == 200
    listed = api.get("/api/training/sweeps", headers=dev).json()
    assert [s["id"] for s in listed] == [second["id"], first["id"]]  # newest first
    assert (
        listed[0]["trial_counts"] == {"cancelled": 1}
        and listed[0]["status"] == "failed"
        and listed[0]["best_value"] is None
    )
    assert [s["id"] for s in api.get("/api/training/sweeps", params={"limit": 1}, headers=dev).json()] == [second["id"]]
    assert api.get("/api/training/sweeps", params={"limit": 0}, headers=dev).status_code == 422

    # another team sees neither; the admin sees both
    other = make_team(api, admin, "elsewhere")
    outsider = make_account(api, admin, "res2", "developer", other).headers
    assert api.get("/api/training/sweeps", headers=outsider).json() == []
    r = api.get(f"/api/training/sweep/{first['id']}", headers=outsider)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert api.get(f"/api/training/sweep/{uuid.uuid4()}", headers=dev).status_code == 404
    assert {s["id"] for s in api.get("/api/training/sweeps", headers=admin).json()} == {first["id"], second["id"]}

    for trial in first["trials"]:
        wait_job(api, dev, trial["job_id"], lambda j: j["status"] == "succeeded")
    detail = api.get(f"/api/training/sweep/{first['id']}", headers=dev).json()
    best = min(detail["trials"], key=lambda t: t["value"])
    summary = next(s for s in api.get("/api/training/sweeps", headers=dev).json() if s["id"] == first["id"])
    assert summary["status"] == "succeeded" and summary["trial_counts"] == {"succeeded": 2}
    assert (
        (summary["best_job_id"], summary["best_value"])
        == (best["job_id"], best["value"])
        == (detail["best_job_id"], detail["best_value"])
    )
    assert [t["params"] for t in detail["trials"]] == [
        {"hyperparameters.learning_rate": 0.0005},
        {"hyperparameters.learning_rate": 0.02},
    ]


def _running_elsewhere(database_url: str, job_id: str, gpus: int) -> None:
    """A copy of the job as if it ran on a cluster holding `gpus` GPUs (this machine has none to hold)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE held AS SELECT * FROM training_jobs WHERE id = %s", (job_id,))
        conn.execute(
            """UPDATE held SET id = gen_random_uuid(), name = 'on the cluster', status = 'running', executor = 'kubernetes',
                        resources = jsonb_build_object('gpus', %s::int, 'nodes', 1), runtime_key = NULL, runtime_key_id = NULL,
                        run_id = NULL, placement = '{"handle": "cluster-job"}'""",
            (gpus,),
        )
        conn.execute("INSERT INTO training_jobs SELECT * FROM held")


def test_quotas_show_use_and_only_infra_admins_set_or_clear_them(api, lab, admin, database_url):
    dev = lab["dev"]
    approve_dataset(api, admin, lab["dataset_version"]["id"])
    team_id = api.get("/api/user/info", headers=dev).json()["teams"][0]["id"]
    other = make_team(api, admin, "elsewhere")
    operator = make_account(api, admin, "ops1", "operator", other).headers
    make_user(api, admin, "view1", "viewer", [team_id])
    viewer = login_headers(api, "view1")
    assert api.get("/api/training/quotas", headers=operator).json() == []  # no quota and nothing active anywhere

    for who in (dev, viewer):
        assert api.put(f"/api/training/quotas/{team_id}", json={"gpus": 4}, headers=who).status_code == 403
    assert api.put(f"/api/training/quotas/{team_id}", json={"gpus": 4}, headers=operator).status_code == 204
    assert api.put(f"/api/training/quotas/{other['id']}", json={"gpus": 1}, headers=admin).status_code == 204
    for bad in ({"gpus": -1}, {"gpus": "many"}, {}, {"gpus": 1, "extra": True}, {"gpus": 100_001}):
        r = api.put(f"/api/training/quotas/{team_id}", json=bad, headers=operator)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (bad, r.text)
    assert api.put("/api/training/quotas/not-a-uuid", json={"gpus": 1}, headers=operator).status_code == 422
    r = api.put(f"/api/training/quotas/{uuid.uuid4()}", json={"gpus": 1}, headers=operator)
    assert r.status_code == 404 and r.json()["detail"] == "No such team."

    job = api.post("/api/training/job/create", json=small_template(lab), headers=dev).json()
    _running_elsewhere(database_url, job["id"], gpus=3)
    rows = {q["team_name"]: q for q in api.get("/api/training/quotas", headers=operator).json()}
    assert list(rows) == ["elsewhere", "research"]  # by name
    assert rows["elsewhere"] == {
        "team_id": other["id"],
        "team_name": "elsewhere",
        "gpus": 1,
        "gpus_in_use": 0,
        "running": 0,
        "queued": 0,
    }
    research = rows["research"]
    assert (research["team_id"], research["gpus"], research["gpus_in_use"]) == (team_id, 4, 3)
    assert (
        research["running"] >= 1 and research["running"] + research["queued"] == 2
    )  # the cluster copy, and the job (either state)
    # people without infra:admin see their own teams' rows only
    assert [q["team_name"] for q in api.get("/api/training/quotas", headers=viewer).json()] == ["research"]
    assert api.get("/api/training/quotas", headers=dev).json()[0]["gpus_in_use"] == 3

    for who in (dev, viewer):
        assert api.delete(f"/api/training/quotas/{team_id}", headers=who).status_code == 403
    assert api.delete(f"/api/training/quotas/{team_id}", headers=operator).status_code == 204
    r = api.delete(f"/api/training/quotas/{team_id}", headers=operator)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert api.delete(f"/api/training/quotas/{uuid.uuid4()}", headers=operator).status_code == 404
    assert api.delete("/api/training/quotas/not-a-uuid", headers=operator).status_code == 422
    research = next(q for q in api.get("/api/training/quotas", headers=operator).json() if q["team_id"] == team_id)
    assert (
        research["gpus"] is None and research["gpus_in_use"] == 3
    )  # still listed: it has active jobs, now without a limit
    events = api.get("/api/audit/logs", params={"action": "training.quota_clear"}, headers=admin).json()["items"]
    assert [(e["resource_id"], e["summary"]) for e in events] == [(team_id, {"before": 4})]

    cancel = api.post(f"/api/training/job/{job['id']}/cancel", headers=dev)
    assert cancel.status_code == 200, cancel.text
    deadline = time.monotonic() + 120  # the process may still be importing torch on a loaded machine
    while (status := api.get(f"/api/training/job/{job['id']}/status", headers=dev).json())["status"] != "cancelled":
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def test_the_job_form_bounds_are_the_api_bounds_and_refused_bodies_write_nothing(api, lab, admin):
    """What the new-job and new-sweep forms refuse, the API refuses too: 422 problem+json, no job, no model,
    no runtime key (the numbers the forms check, blank or multi-line names)."""
    dev = lab["dev"]
    approve_dataset(api, admin, lab["dataset_version"]["id"])

    def counts():
        jobs = len(api.get("/api/training/jobs", params={"limit": 500}, headers=admin).json())
        models = len(api.get("/api/model", params={"limit": 100}, headers=admin).json()["items"])
        keys = len(api.get("/api/apikey", params={"limit": 100, "all": True}, headers=admin).json()["items"])
        return jobs, models, keys

    before = counts()
    bad_jobs = [
        {"name": "   "},
        {"name": "two\nlines"},
        {"name": "x" * 201},
        {"hyperparameters": {"learning_rate": -5}},
        {"hyperparameters": {"learning_rate": 0}},
        {"hyperparameters": {"max_steps": 0}},
        {"hyperparameters": {"batch_size": 0}},
        {"hyperparameters": {"max_seq_length": 4}},
        {"hyperparameters": {"save_steps": 0}},
        {"lora": {"r": 0}},
        {"lora": {"dropout": 1}},
        {"resources": {"gpus": -1}},
        {"output_model": "bad name with spaces!!"},
    ]
    for extra in bad_jobs:
        body = job_body(lab)
        for key, value in extra.items():
            body[key] = body.get(key, {}) | value if isinstance(value, dict) else value
        r = api.post("/api/training/job/create", json=body, headers=dev)
        assert r.status_code == 422, (extra, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), extra

    sweep = {"name": "lr", "job": small_template(lab), "space": {"hyperparameters.learning_rate": {"values": [0.01]}}}
    for bad in (
        {"name": "  "},
        {"name": "a\tb"},
        {"space": {"hyperparameters.learning_rate": {"values": [-5, 0.01]}}},
        {"space": {"hyperparameters.max_steps": {"values": [0, 4]}}},
        {"max_trials": 0},
    ):
        r = api.post("/api/training/sweep/create", json=sweep | bad, headers=dev)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), bad
    assert api.get("/api/training/sweeps", headers=dev).json() == []
    assert counts() == before

    # a name is trimmed, not refused, when it has words in it
    r = api.post("/api/training/job/create", json=job_body(lab, name="  spaced  "), headers=dev)
    assert r.status_code == 201 and r.json()["name"] == "spaced", r.text
    api.post(f"/api/training/job/{r.json()['id']}/cancel", headers=dev)
