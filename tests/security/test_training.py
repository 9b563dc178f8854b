"""Attacks on the training queue: a Developer jumping the queue with a priority of their own
choosing, and a local job asking for more processes than the machine has cores."""

from __future__ import annotations

import pytest

from axops.executors.local_training import JobRunner
from axops.training import service as training_service
from tests.factories import make_account, make_training_lab


@pytest.fixture
def lab(api, admin, victim, demo_dirs, live_server, monkeypatch):
    """An approved dataset and the demo model of the victim team; no job starts while it lasts."""
    for runner in live_server.app.state.axops.supervisor.training:
        if isinstance(runner, JobRunner):
            monkeypatch.setattr(runner, "slots", 0)
    csv = "text\n" + "".join(f"hello world {i}\n" for i in range(20))
    yield make_training_lab(api, admin, live_server, victim.headers, demo_dirs[0], csv=csv.encode(), approve=True)
    for job in api.get("/api/training/jobs", headers=admin).json():
        if job["status"] == "queued":
            api.post(f"/api/training/job/{job['id']}/cancel", headers=admin)


def body(lab, **extra) -> dict:
    return {
        "base_version_id": lab["base"]["id"],
        "dataset_version_ids": [lab["dataset_version"]["id"]],
        "column_mapping": {"text": "text"},
        "hyperparameters": {"max_steps": 2, "max_seq_length": 16},
        **extra,
    }


def test_only_infra_admins_set_queue_priorities(api, admin, victim, attacker_operator, lab):
    for priority in (100, -5):
        r = api.post("/api/training/job/create", json=body(lab, priority=priority), headers=victim.headers)
        assert r.status_code == 403 and "infra:admin" in r.json()["detail"], r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    sweep = {
        "name": "jump",
        "job": body(lab, priority=50),
        "space": {"hyperparameters.learning_rate": {"values": [0.1, 0.01]}},
    }
    r = api.post("/api/training/sweep/create", json=sweep, headers=victim.headers)
    assert r.status_code == 403, r.text
    assert api.get("/api/training/jobs", headers=victim.headers).json() == []
    assert api.get("/api/training/sweeps", headers=victim.headers).json() == []

    # A Developer's job takes the default; the team's infra admin (an Operator) moves it, the Admin sets one on create.
    job = api.post("/api/training/job/create", json=body(lab), headers=victim.headers)
    assert job.status_code == 201 and job.json()["priority"] == 0, job.text
    job_id = job.json()["id"]
    assert (
        api.put(f"/api/training/job/{job_id}/priority", json={"priority": 100}, headers=victim.headers).status_code
        == 403
    )
    assert (
        api.put(
            f"/api/training/job/{job_id}/priority", json={"priority": 100}, headers=attacker_operator.headers
        ).status_code
        == 404
    )
    assert api.get(f"/api/training/job/{job_id}/status", headers=victim.headers).json()["priority"] == 0
    operator = make_account(api, admin, "victim-op", "operator", victim.team)
    r = api.put(f"/api/training/job/{job_id}/priority", json={"priority": 20}, headers=operator.headers)
    assert r.status_code == 200 and r.json()["priority"] == 20, r.text
    audit = api.get("/api/audit/logs", params={"action": "training.job_priority"}, headers=admin).json()["items"]
    assert [(a["summary"]["before"], a["summary"]["after"]) for a in audit] == [(0, 20)]
    r = api.post("/api/training/job/create", json=body(lab, priority=10, output_model="tiny-base-ft"), headers=admin)
    assert r.status_code == 201 and r.json()["priority"] == 10, r.text


def test_local_jobs_ask_for_no_more_processes_than_the_machine_has_cores(api, victim, lab, monkeypatch):
    cores = 2  # the server runs in this process: pretend the machine has 2 cores, whatever it really has
    monkeypatch.setattr(training_service, "cpus_here", lambda: cores)
    r = api.post(
        "/api/training/job/create",
        json=body(lab, distributed="ddp", resources={"processes": cores + 1}),
        headers=victim.headers,
    )
    assert r.status_code == 422 and f"{cores} CPU cores" in r.json()["detail"], r.text
    assert api.get("/api/training/jobs", headers=victim.headers).json() == []
    r = api.post(
        "/api/training/job/create",
        json=body(lab, distributed="ddp", resources={"processes": cores}),
        headers=victim.headers,
    )
    assert r.status_code == 201, r.text


def test_another_team_cannot_train_on_data_it_may_not_read(api, admin, victim, attacker, lab):
    dataset_id = lab["dataset_version"]["dataset_id"]
    for change in ({"visibility": "organization"}, {"sensitivity_floor": "restricted"}):
        assert api.patch(f"/api/dataset/{dataset_id}", json=change, headers=victim.headers).status_code == 200
    assert (
        api.patch(
            f"/api/model/{lab['model']['id']}", json={"visibility": "organization"}, headers=victim.headers
        ).status_code
        == 200
    )
    r = api.post("/api/training/job/create", json=body(lab, output_model="stolen"), headers=attacker.headers)
    assert r.status_code == 403 and "restricted" in r.json()["detail"], r.text
    assert api.get("/api/training/jobs", headers=admin).json() == []
    r = api.post("/api/training/job/create", json=body(lab), headers=victim.headers)
    assert r.status_code == 201, r.text
