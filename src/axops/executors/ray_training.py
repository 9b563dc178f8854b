"""Fine-tuning jobs on a Ray cluster through the Ray Jobs REST API of its dashboard
(`AXOPS_RAY_ADDRESS`, e.g. http://ray-head:8265): each attempt is one Ray job whose entrypoint is
the same `axops.runtime.train` (under torchrun for DDP), with the GPUs and CPUs it asked for
reserved for the entrypoint, so Ray places it on a node that has them and queues it until then.

The cluster's Python environment must have `axops[runtime]` installed (the runtime image). The
job's runtime key travels in the job's runtime environment, which the Ray dashboard shows to
whoever can reach it — and can run code on the cluster anyway; keep the dashboard private.
The key is revoked when the job ends. One node per job: several nodes need the kubernetes executor.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx

from axops.executors.cluster_training import ClusterState
from axops.training.models import TrainingJob

# Ray's job states: PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED
PHASES = {"PENDING": "pending", "RUNNING": "running", "STOPPED": "ended", "SUCCEEDED": "ended", "FAILED": "ended"}


def entrypoint(job: TrainingJob, control_url: str, cache_dir: str) -> str:
    processes = (
        max(int(job.resources.get("gpus", 0)), int(job.resources.get("processes", 1)))
        if job.distributed != "none"
        else 1
    )
    train = f"-m axops.runtime.train --job-id {job.id} --control-url {control_url} --cache-dir {cache_dir}"
    if processes > 1:
        return f"python -m torch.distributed.run --standalone --nproc-per-node={processes} {train}"
    return f"python {train}"


def submission(job: TrainingJob, token: str, control_url: str, cache_dir: str = "/tmp/axops-train-cache") -> dict:
    """The body of POST /api/jobs/ for the job's current attempt."""
    r = job.resources
    cpus = float(r.get("cpu", 2))
    return {
        "submission_id": f"axops-train-{job.id}-{job.attempts}",  # Ray never reuses a submission id
        "entrypoint": entrypoint(job, control_url, cache_dir),
        "entrypoint_num_cpus": cpus,
        "entrypoint_num_gpus": int(r.get("gpus", 0)),
        "entrypoint_memory": int(float(r.get("memory_gb", 8)) * 2**30),
        **({"entrypoint_resources": {f"accelerator_type:{r['gpu_type']}": 0.001}} if r.get("gpu_type") else {}),
        "runtime_env": {
            "env_vars": {
                "AXOPS_RUNTIME_TOKEN": token,
                "PYTHONUNBUFFERED": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "OMP_NUM_THREADS": str(max(1, int(cpus))),
            }
        },
        "metadata": {"axops_job_id": str(job.id), "axops_job_name": job.name[:100], "attempt": str(job.attempts)},
    }


def gpu_nodes(nodes: list[dict]) -> list[dict]:
    """The cluster's GPU inventory from Ray's node list (state API): per live or dead node with GPUs,
    its GPU count and accelerator type, in the same shape as the Kubernetes inventory."""
    found = []
    for node in nodes:
        resources = node.get("resources_total") or {}
        if not resources.get("GPU"):
            continue
        product = next(
            (k.removeprefix("accelerator_type:") for k in resources if k.startswith("accelerator_type:")), None
        )
        found.append(
            {
                "node": node.get("node_name") or node.get("node_ip"),
                "gpu_product": product,
                "gpus": int(resources["GPU"]),
                "mig": {},
                "ready": node.get("state") == "ALIVE",
                "schedulable": node.get("state") == "ALIVE",
            }
        )
    return sorted(found, key=lambda n: str(n["node"]))


class RayJobs:
    name = "ray"

    def __init__(self, address: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.address = address.rstrip("/")
        self.description = f"Ray cluster {self.address}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        async with (
            aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as http,
            http.request(method, f"{self.address}/api/jobs/{path}", json=body) as response,
        ):
            if response.status >= 400:
                raise RuntimeError(f"Ray answered {response.status}: {(await response.text())[:300]}")
            return await response.json(content_type=None)

    async def submit(self, job: TrainingJob, token: str, control_url: str) -> tuple[str, str]:
        answer = await self._call("POST", "", submission(job, token, control_url))
        return answer["submission_id"], f"Ray cluster {self.address} (job {answer['submission_id']})"

    async def state(self, handle: str) -> ClusterState:
        details = await self._call("GET", handle)
        status = details.get("status", "PENDING")
        message = details.get("message") or None
        if status == "SUCCEEDED":
            return ClusterState("ended", message, exit_code=0)
        if status in ("FAILED", "STOPPED"):
            code = details.get("driver_exit_code")
            if status == "STOPPED":
                message = "stopped in the Ray cluster" + (f": {message}" if message else "")
            return ClusterState("ended", message, exit_code=code if status == "FAILED" else None)
        return ClusterState(PHASES.get(status, "pending"), message)

    async def gpu_nodes(self) -> list[dict]:
        async with (
            aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as http,
            http.get(f"{self.address}/api/v0/nodes", params={"limit": "10000"}) as response,
        ):
            if response.status >= 400:
                raise RuntimeError(f"Ray answered {response.status}")
            answer = await response.json(content_type=None)
        return gpu_nodes(answer["data"]["result"]["result"])

    async def logs(self, handle: str) -> str:
        return (await self._call("GET", f"{handle}/logs")).get("logs", "")

    async def stop(self, handle: str) -> None:
        await self._call("POST", f"{handle}/stop")

    async def cleanup(self, handle: str) -> None:
        """Ray keeps a finished job's record and logs for its dashboard; nothing to remove."""


@contextlib.contextmanager
def local_cluster(port: int, cpus: int = 2, timeout_s: float = 120.0) -> Iterator[str]:
    """A one-node Ray cluster on this machine (`ray start --head` from this Python environment), for
    development, tests and benchmarks: yields its dashboard address once it takes jobs, stops it after."""
    bin_dir = Path(sys.executable).parent
    temp = tempfile.mkdtemp(prefix="axray")  # short: Ray's socket paths must fit in 107 characters
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [
            str(bin_dir / "ray"),
            "start",
            "--head",
            "--block",
            "--port=0",
            f"--num-cpus={cpus}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={port}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:  # the dashboard answers before its job agent takes jobs: wait until one is taken
            if head.poll() is not None:
                raise RuntimeError(f"ray start --head exited with {head.returncode}; its logs are in {temp}")
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.post(f"{address}/api/jobs/", json={"entrypoint": "python -c pass"}, timeout=30).status_code
                    == 200
                ):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the local Ray cluster did not start taking jobs")
            time.sleep(1)
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
        subprocess.run([str(bin_dir / "ray"), "stop", "--force"], env=env, check=False, capture_output=True)
