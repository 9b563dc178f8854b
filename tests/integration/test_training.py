"""Fine-tuning on the local executor, end to end: a LoRA job on the demo model and an approved
dataset — validated up front, queued, trained (loss goes down), checkpointed, registered as a new
model version with its lineage, deployable — plus a killed job that resumes from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.factories import (
    approve_dataset,
    bearer,
    job_body,
    make_account,
    run_tasks,
    wait_job,
)


def test_lora_job_trains_registers_a_version_with_lineage_and_it_serves(api, lab, live_server):
    dev, admin = lab["dev"], lab["admin"]
    dv = lab["dataset_version"]
    r = api.post("/api/training/job/create", json=job_body(lab), headers=dev)
    assert r.status_code == 409 and "not approved" in r.json()["detail"]  # scanned, not yet approved
    approve_dataset(api, admin, dv["id"])
    r = api.post(
        "/api/training/job/create",
        json=job_body(lab, column_mapping={"prompt": "question", "response": "answer"}),
        headers=dev,
    )
    assert r.status_code == 422 and r.json()["columns"] == ["text", "note"]
    r = api.post("/api/training/job/create", json=job_body(lab, resources={"gpus": 2}), headers=dev)
    assert r.status_code == 422 and "GPU" in r.json()["detail"]
    r = api.post(
        "/api/training/job/create",
        json={**job_body(lab), "base_version_id": None, "base_model": "no-such-model"},
        headers=dev,
    )
    assert r.status_code == 404
    r = api.post("/api/training/job/create", json=job_body(lab, distributed="fsdp"), headers=dev)
    assert r.status_code == 422

    r = api.post(
        "/api/training/job/create", json=job_body(lab, name="tiny lora", output_model="tiny-base-lora"), headers=dev
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["method"] == "lora"
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "succeeded")
    assert job["attempts"] == 1 and job["progress"]["step"] == 30
    assert job["progress"]["loss"] < job["progress"]["first_loss"]  # it learned something
    assert [c["step"] for c in job["checkpoints"]] == [10, 20, 30]
    logs = api.get(f"/api/training/job/{job['id']}/logs", params={"limit": 5000}, headers=dev).json()["lines"]
    assert any("attempt 1 started" in x["line"] for x in logs) and any(
        "registered model version" in x["line"] for x in logs
    )
    page = api.get(
        f"/api/training/job/{job['id']}/logs", params={"after": logs[2]["seq"], "limit": 2}, headers=dev
    ).json()
    assert [x["seq"] for x in page["lines"]] == [logs[3]["seq"], logs[4]["seq"]]
    tar = api.get(f"/api/training/job/{job['id']}/checkpoints/10", headers=dev)
    assert tar.status_code == 200 and tar.headers["x-axops-step"] == "10" and len(tar.content) > 1000

    version = api.get(f"/api/model/version/{job['output_version_id']}", headers=dev).json()
    assert version["source"] == "training" and version["base_version_id"] == lab["base"]["id"]
    assert version["dataset_version_ids"] == [dv["id"]] and version["card"]["architecture"] == "GPT2LMHeadModel"
    assert "adapter_config.json" not in [f["path"] for f in version["files"]]  # merged weights
    assert version["card"]["parameter_count"] == lab["base"]["card"]["parameter_count"]

    d = api.post(
        "/api/serving/deploy",
        json={"version_id": version["id"], "name": "tiny-lora", "resources": {"memory_gb": 1}},
        headers=dev,
    ).json()
    deadline = time.monotonic() + 90
    while (d := api.get(f"/api/serving/deployments/{d['id']}", headers=dev).json())["status"] != "ready":
        assert time.monotonic() < deadline and d["status"] != "failed", d
        time.sleep(0.3)
    key = api.post("/api/apikey/create", json={"name": "t", "scopes": ["gateway:invoke"]}, headers=dev).json()["key"]
    answer = api.post(
        "/v1/chat/completions",
        json={"model": "tiny-lora", "messages": [{"role": "user", "content": "안녕"}], "max_tokens": 4},
        headers=bearer(key),
    )
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] >= 1
    api.delete(f"/api/serving/deployments/{d['id']}", headers=dev)
    actions = {e["action"] for e in api.get("/api/audit/logs", params={"limit": 200}, headers=admin).json()["items"]}
    assert {"training.job_create", "training.model_registered"} <= actions
    run = api.get(f"/api/experiments/runs/{job['run_id']}", headers=dev).json()
    assert run["status"] == "FINISHED" and run["job_id"] == job["id"] and run["model_version_id"] == version["id"]
    assert (
        run["params"]["learning_rate"] == "0.01"
        and run["params"]["lora_r"] == "8"
        and run["dataset_version_ids"] == [dv["id"]]
    )
    history = api.get(f"/api/experiments/runs/{job['run_id']}/metrics/loss", headers=dev).json()
    assert history["count"] >= 30 and history["steps"][-1] == 30 and history["values"][-1] < history["values"][0]
    assert "learning_rate" in run["metrics"] and "tokens_per_s" in run["metrics"]
    assert (
        0 < run["metrics"]["system/system_memory_usage_megabytes"]["value"]
        and "system/cpu_utilization_percentage" in run["metrics"]
    )
    keys = {k["name"]: k["status"] for k in api.get("/api/apikey", headers=dev).json()["items"]}
    assert keys["training job tiny lora"] == "revoked"  # the runtime's key ends with the job


def test_a_killed_job_is_retried_and_resumes_from_its_checkpoint(api, lab, live_server):
    dev = lab["dev"]
    approve_dataset(api, lab["admin"], lab["dataset_version"]["id"])
    body = job_body(lab, max_retries=1)
    body["hyperparameters"] |= {"max_steps": 160, "save_steps": 20, "learning_rate": 0.001}
    job = api.post("/api/training/job/create", json=body, headers=dev).json()
    job = wait_job(api, dev, job["id"], lambda j: j["checkpoints"] and j["status"] == "running")
    pids = subprocess.run(
        ["pgrep", "-f", f"axops.runtime.train --job-id {job['id']}"], check=False, capture_output=True, text=True
    ).stdout.split()
    assert pids
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "succeeded")
    assert job["attempts"] == 2 and job["progress"]["step"] == 160
    logs = [
        x for x in api.get(f"/api/training/job/{job['id']}/logs", params={"limit": 5000}, headers=dev).json()["lines"]
    ]
    assert any("killed by SIGKILL" in x["line"] for x in logs)
    resumed = next(x["line"] for x in logs if "resuming from checkpoint-" in x["line"])
    step = int(resumed.rsplit("checkpoint-", 1)[1])
    assert step >= 20  # the second attempt repeated fewer steps than the first had done
    assert max(c["step"] for c in job["checkpoints"]) == 160 and {c["attempt"] for c in job["checkpoints"]} == {1, 2}


def test_cancel_a_queued_job_and_the_queue_says_why_jobs_wait(api, lab, admin):
    dev = lab["dev"]
    approve_dataset(api, admin, lab["dataset_version"]["id"])
    team_id = api.get("/api/user/info", headers=dev).json()["teams"][0]["id"]
    assert api.put(f"/api/training/quotas/{team_id}", json={"gpus": 0}, headers=admin).status_code == 204
    assert api.put(f"/api/training/quotas/{team_id}", json={"gpus": 0}, headers=dev).status_code == 403
    body = job_body(lab)
    body["hyperparameters"]["max_steps"] = 500
    first = api.post("/api/training/job/create", json=body, headers=dev).json()
    second = api.post(
        "/api/training/job/create", json={**body, "priority": -5}, headers=admin
    ).json()  # priorities: infra admins
    wait_job(api, dev, first["id"], lambda j: j["status"] == "running")
    queued = wait_job(api, dev, second["id"], lambda j: "training slot" in (j["status_reason"] or ""))
    assert queued["status"] == "queued"
    assert [j["id"] for j in api.get("/api/training/queue", headers=dev).json()] == [first["id"], second["id"]]
    r = api.post(f"/api/training/job/{second['id']}/cancel", headers=dev)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.post(f"/api/training/job/{second['id']}/cancel", headers=dev).status_code == 409
    r = api.post(f"/api/training/job/{first['id']}/cancel", headers=dev)
    assert r.status_code == 200
    done = wait_job(api, dev, first["id"], lambda j: j["status"] == "cancelled", timeout=60)
    assert done["failure_kind"] == "cancelled"
    retried = api.post(f"/api/training/job/{second['id']}/retry", headers=dev).json()
    assert retried["status"] == "queued"
    api.post(f"/api/training/job/{second['id']}/cancel", headers=dev)
    # another team sees nothing of it; only the job's own key reports on it or reads its spec
    outsider = make_account(api, admin, "res2", new_team="elsewhere").headers
    for path in (
        f"/api/training/job/{first['id']}/status",
        f"/api/training/job/{first['id']}/logs",
        f"/api/training/job/{first['id']}/checkpoints/latest",
    ):
        assert api.get(path, headers=outsider).status_code == 404
    assert api.post(f"/api/training/job/{second['id']}/retry", headers=outsider).status_code == 404
    assert (
        api.get(f"/api/training/job/{first['id']}/spec", headers=dev).status_code == 404
    )  # a person's session is not the job's key
    assert api.post(f"/api/training/job/{first['id']}/report", json={"metrics": []}, headers=dev).status_code == 404
    r = api.post(
        f"/api/training/job/{first['id']}/report",
        json={"metrics": [{"key": "loss", "value": "x", "step": -1}]},
        headers=dev,
    )
    assert r.status_code == 422
    gpu = api.get("/api/metrics/gpu", headers=dev).json()
    assert gpu["count"] == 0 and "No GPU" in gpu["message"]


def test_ddp_with_two_processes_on_the_cpu(api, lab):
    dev = lab["dev"]
    approve_dataset(api, lab["admin"], lab["dataset_version"]["id"])
    body = job_body(lab, distributed="ddp", resources={"processes": 2, "cpu": 2}, output_model="tiny-base-ddp")
    body["hyperparameters"] |= {"max_steps": 12, "save_steps": 6, "batch_size": 4}
    job = api.post("/api/training/job/create", json=body, headers=dev)
    assert job.status_code == 201, job.text
    job = wait_job(api, dev, job.json()["id"], lambda j: j["status"] == "succeeded")
    logs = "\n".join(
        x["line"]
        for x in api.get(f"/api/training/job/{job['id']}/logs", params={"limit": 5000}, headers=dev).json()["lines"]
    )
    assert "2 processes" in logs and job["progress"]["step"] == 12
    metrics = api.get(f"/api/model/version/{job['output_version_id']}", headers=dev).json()
    assert metrics["source"] == "training"


def test_data_errors_and_checkpoint_storage_failures_are_reported_and_register_nothing(api, lab, live_server):
    dev, admin = lab["dev"], lab["admin"]
    empty = api.post(
        "/api/dataset/upload", data={"name": "blank"}, files={"file": ("b.csv", b"text,n\n,1\n,2\n,3\n")}, headers=dev
    )
    assert empty.status_code == 201, empty.text
    run_tasks(live_server)
    approve_dataset(api, admin, empty.json()["id"])
    job = api.post(
        "/api/training/job/create",
        json={**job_body(lab), "dataset_version_ids": [empty.json()["id"]], "max_retries": 0},
        headers=dev,
    ).json()
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "failed")
    assert job["failure_kind"] == "data" and "hold no text" in job["status_reason"] and job["output_version_id"] is None

    approve_dataset(api, admin, lab["dataset_version"]["id"])
    storage = live_server.app.state.axops.storage
    original = storage.put_stream

    async def full_disk(key, chunks, *args, **kwargs):
        if key.startswith("training/"):
            raise OSError(28, "No space left on device")
        return await original(key, chunks, *args, **kwargs)

    storage.put_stream = full_disk
    try:
        job = api.post(
            "/api/training/job/create",
            json={**job_body(lab, output_model="never-registered"), "max_retries": 0},
            headers=dev,
        ).json()
        job = wait_job(api, dev, job["id"], lambda j: j["status"] == "failed")
    finally:
        storage.put_stream = original
    assert job["failure_kind"] == "checkpoint" and "No space left on device" in job["status_reason"]
    assert job["output_version_id"] is None and job["checkpoints"] == []
    model = api.get("/api/model", params={"q": "never-registered"}, headers=dev).json()["items"][0]
    assert api.get(f"/api/model/{model['id']}/versions", headers=dev).json() == []


def test_a_grid_sweep_runs_its_trials_and_picks_the_best(api, lab):
    dev = lab["dev"]
    approve_dataset(api, lab["admin"], lab["dataset_version"]["id"])
    template = job_body(lab)
    template["hyperparameters"] |= {"max_steps": 10, "save_steps": 10}
    bad = api.post(
        "/api/training/sweep/create",
        json={"name": "bad", "job": template, "space": {"resources.gpus": {"values": [1]}}},
        headers=dev,
    )
    assert bad.status_code == 422
    r = api.post(
        "/api/training/sweep/create",
        json={
            "name": "lr search",
            "job": template,
            "strategy": "grid",
            "metric": "loss",
            "mode": "min",
            "space": {"hyperparameters.learning_rate": {"values": [0.0001, 0.02]}},
        },
        headers=dev,
    )
    assert r.status_code == 201, r.text
    sweep = r.json()
    assert len(sweep["trials"]) == 2 and sweep["status"] == "running"
    assert [t["params"] for t in sweep["trials"]] == [
        {"hyperparameters.learning_rate": 0.0001},
        {"hyperparameters.learning_rate": 0.02},
    ]
    deadline = time.monotonic() + 240
    while (sweep := api.get(f"/api/training/sweep/{sweep['id']}", headers=dev).json())["status"] == "running":
        assert time.monotonic() < deadline, sweep
        time.sleep(0.5)
    assert sweep["status"] == "succeeded" and all(t["value"] is not None for t in sweep["trials"])
    best = min(sweep["trials"], key=lambda t: t["value"])
    assert sweep["best_job_id"] == best["job_id"] and sweep["best_value"] == best["value"]
    for trial in sweep["trials"]:  # each trial logged a run of the sweep's experiment, with its own settings
        run = api.get(f"/api/experiments/runs/{trial['run_id']}", headers=dev).json()
        assert (
            run["experiment_name"] == "lr search"
            and float(run["params"]["learning_rate"]) == trial["params"]["hyperparameters.learning_rate"]
        )
