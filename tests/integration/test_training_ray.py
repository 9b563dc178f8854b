"""Fine-tuning on a real local Ray cluster (`ray start --head`), through its Jobs REST API: a LoRA
job handed to Ray, followed there (state, logs), registered like a local one; a running Ray job
cancelled; what the ray executor cannot do refused up front."""

from __future__ import annotations

import httpx
import pytest

from axops.executors.cluster_training import ClusterJobRunner
from axops.executors.ray_training import RayJobs, local_cluster
from tests.factories import approve_dataset, free_port, job_body, wait_job

RESOURCES = {"cpu": 1, "memory_gb": 2}


@pytest.fixture(scope="module")
def ray_cluster():
    with local_cluster(free_port()) as address:
        yield address


@pytest.fixture
def ray_executor(live_server, ray_cluster):
    """The test server with the ray executor configured, as AXOPS_RAY_ADDRESS would have it."""
    state = live_server.app.state.axops
    runner = ClusterJobRunner(state.db, state.secret_key, live_server.url, RayJobs(ray_cluster))
    state.supervisor.training.append(runner)
    state.training_backends.append(runner.backend)
    state.training_executors["ray"] = runner.backend.description
    yield ray_cluster
    state.supervisor.training.remove(runner)
    state.training_backends.remove(runner.backend)
    del state.training_executors["ray"]


def test_ray_is_refused_until_configured_and_kubernetes_too(api, lab):
    approve_dataset(api, lab["admin"], lab["dataset_version"]["id"])
    assert [e["name"] for e in api.get("/api/training/executors", headers=lab["dev"]).json()] == ["local"]
    for executor in ("ray", "kubernetes"):
        r = api.post("/api/training/job/create", json=job_body(lab, executor=executor), headers=lab["dev"])
        assert (
            r.status_code == 422
            and f"{executor} executor is not configured" in r.json()["detail"]
            and "local" in r.json()["detail"]
        )


def test_a_lora_job_runs_on_a_local_ray_cluster_and_a_running_one_is_cancelled(api, lab, ray_executor):
    dev = lab["dev"]
    approve_dataset(api, lab["admin"], lab["dataset_version"]["id"])
    offered = {e["name"]: e["description"] for e in api.get("/api/training/executors", headers=dev).json()}
    assert offered["ray"] == f"Ray cluster {ray_executor}" and "this machine" in offered["local"]
    inventory = api.get("/api/metrics/gpu", headers=lab["admin"]).json()
    assert inventory["count"] == 0 and inventory["cluster"] == {
        "executor": "ray",
        "nodes": [],
    }  # a CPU-only Ray node: no GPUs
    r = api.post(
        "/api/training/job/create",
        json=job_body(lab, executor="ray", resources={**RESOURCES, "nodes": 2}, distributed="ddp"),
        headers=dev,
    )
    assert r.status_code == 422 and "several nodes need the kubernetes executor" in r.json()["detail"]

    body = job_body(lab, executor="ray", resources=RESOURCES, name="on ray", output_model="tiny-base-ray")
    body["hyperparameters"] |= {"max_steps": 20}
    job = api.post("/api/training/job/create", json=body, headers=dev).json()
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "succeeded")
    handle = job["placement"]["handle"]
    assert job["attempts"] == 1 and job["progress"]["step"] == 20 and "Ray cluster" in job["placement"]["where"]
    assert [c["step"] for c in job["checkpoints"]] == [10, 20]
    details = httpx.get(f"{ray_executor}/api/jobs/{handle}").json()
    assert details["status"] == "SUCCEEDED" and details["metadata"]["axops_job_id"] == job["id"]
    lines = [
        x["line"]
        for x in api.get(f"/api/training/job/{job['id']}/logs", params={"limit": 5000}, headers=dev).json()["lines"]
    ]
    assert any("handed to Ray cluster" in x for x in lines) and any("registered model version" in x for x in lines)
    assert sum("Running entrypoint for job" in x for x in lines) == 1  # Ray's own line, shipped once
    assert lines[-1] == "axops: job succeeded"
    version = api.get(f"/api/model/version/{job['output_version_id']}", headers=dev).json()
    assert version["source"] == "training" and version["base_version_id"] == lab["base"]["id"]
    run = api.get(f"/api/experiments/runs/{job['run_id']}", headers=dev).json()
    assert run["status"] == "FINISHED" and run["job_id"] == job["id"]

    body["hyperparameters"] |= {"max_steps": 2000, "save_steps": 1000}
    body["name"] = "long on ray"
    job = api.post("/api/training/job/create", json=body, headers=dev).json()
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "running" and j["progress"].get("step", 0) >= 2)
    assert api.post(f"/api/training/job/{job['id']}/cancel", headers=dev).status_code == 200
    job = wait_job(api, dev, job["id"], lambda j: j["status"] == "cancelled", timeout=90)
    assert job["failure_kind"] == "cancelled" and job["output_version_id"] is None
    # Ray's stop and the process's own next progress report (answered 409: cancelled) race; either way
    # the job has left the cluster: STOPPED if Ray's signal landed first, FAILED if the process exited first
    assert httpx.get(f"{ray_executor}/api/jobs/{job['placement']['handle']}").json()["status"] in ("STOPPED", "FAILED")
