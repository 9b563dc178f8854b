"""Fine-tuning jobs on Kubernetes: a batch/v1 Job for one node (torchrun inside for several GPUs),
a Kubeflow PyTorchJob (kubeflow.org/v1) for several nodes; GPU requests, node selectors and
tolerations; a Kueue queue label or a Volcano queue + PodGroup and a priorityClass when
configured. The runtime inside is the same `axops.runtime.train`, reporting over HTTP.

Each attempt is its own set of objects (named after the job and the attempt), applied server-side
by `KubernetesJobs` for the cluster runner (`executors.cluster_training`), which reads the state
back from the Job / PyTorchJob and its pods (why a pod waits: unschedulable, image pull; how it
ended: exit code, OOM-killed) and the logs from the first (master) pod.

Tests validate the manifests against the Kubernetes schemas (kubernetes-validate; the PyTorchJob's
pod templates as PodTemplates, since Kubeflow's CRD schema is not packaged) and the state mapping
on objects as the API serves them; no test here reaches a live cluster.
"""

from __future__ import annotations

import asyncio
import contextlib

from axops import __version__
from axops.executors.cluster_training import ClusterState
from axops.executors.kubernetes import connect

DEFAULT_IMAGE = f"axops/runtime:{__version__}"
FIELD_MANAGER = "axops"


def job_name(job_id: str, attempt: int = 1) -> str:
    return f"axops-train-{str(job_id)[:8]}-{attempt}"


def _pod_spec(job: dict, *, image: str, control_url: str, secret_name: str, command: list[str]) -> dict:
    r = job["resources"]
    memory = f"{int(r.get('memory_gb', 8) * 1024)}Mi"
    limits: dict[str, str] = {"memory": memory}
    if r.get("gpus"):
        limits["nvidia.com/gpu"] = str(r["gpus"])
    node_selector = {"nvidia.com/gpu.product": r["gpu_type"]} if r.get("gpu_type") else {}
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}] if r.get("gpus") else []
    return {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "train",
                "image": image,
                "command": command,
                "env": [
                    {
                        "name": "AXOPS_RUNTIME_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "token"}},
                    },
                    {"name": "AXOPS_RUNTIME_CONTROL_URL", "value": control_url},
                    {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
                ],
                "resources": {"requests": {"cpu": str(r.get("cpu", 2)), "memory": memory}, "limits": limits},
                "volumeMounts": [{"name": "work", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
        "volumes": [{"name": "work", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}],
        **({"nodeSelector": node_selector} if node_selector else {}),
        **({"tolerations": tolerations} if tolerations else {}),
    }


def manifests(
    job: dict,
    *,
    namespace: str,
    control_url: str,
    token: str,
    image: str = DEFAULT_IMAGE,
    kueue_queue: str | None = None,
    volcano_queue: str | None = None,
    priority_class: str | None = None,
) -> list[dict]:
    """The objects of one attempt of a job. `job`: id, attempt, resources (gpus, gpu_type, processes,
    nodes, cpu, memory_gb), distributed."""
    name = job_name(job["id"], job.get("attempt", 1))
    r = job["resources"]
    labels = {
        "app.kubernetes.io/name": "axops-train",
        "app.kubernetes.io/managed-by": "axops",
        "axops.io/job-id": str(job["id"]),
        "axops.io/attempt": str(job.get("attempt", 1)),
    }
    if kueue_queue:
        labels["kueue.x-k8s.io/queue-name"] = kueue_queue
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": {"token": token},
    }
    per_node = max(int(r.get("gpus", 0)), int(r.get("processes", 1))) if job["distributed"] != "none" else 1
    entry = ["-m", "axops.runtime.train", "--job-id", str(job["id"]), "--cache-dir", "/tmp/cache"]
    scheduling = {
        **({"priorityClassName": priority_class} if priority_class else {}),
        **({"schedulerName": "volcano"} if volcano_queue else {}),
    }
    annotations = {"scheduling.k8s.io/group-name": name} if volcano_queue else {}
    if int(r.get("nodes", 1)) == 1:
        command = (
            ["python", "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={per_node}", *entry]
            if per_node > 1
            else ["python", *entry]
        )
        pod = {
            "metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})},
            "spec": {
                **_pod_spec(job, image=image, control_url=control_url, secret_name=name, command=command),
                **scheduling,
            },
        }
        workload = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "template": pod,
                "ttlSecondsAfterFinished": 86400,
                **({"suspend": True} if kueue_queue else {}),
            },
        }  # Kueue admits it by unsuspending
    else:
        # PyTorchJob sets MASTER_ADDR/PORT, WORLD_SIZE and RANK; torchrun spreads the processes of each node
        command = ["python", "-m", "torch.distributed.run", f"--nproc-per-node={per_node}", *entry]
        template = {
            "metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})},
            "spec": {
                **_pod_spec(job, image=image, control_url=control_url, secret_name=name, command=command),
                **scheduling,
            },
        }
        workload = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None", "ttlSecondsAfterFinished": 86400},
                "nprocPerNode": str(per_node),
                "pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "restartPolicy": "Never", "template": template},
                    "Worker": {"replicas": int(r["nodes"]) - 1, "restartPolicy": "Never", "template": template},
                },
            },
        }
    objects = [secret, workload]
    if volcano_queue:
        objects.append(
            {
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "minMember": int(r.get("nodes", 1)),
                    "queue": volcano_queue,
                    **({"priorityClassName": priority_class} if priority_class else {}),
                },
            }
        )
    return objects


def _terminated(pods: list[dict]) -> dict | None:
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            if (done := (status.get("state") or {}).get("terminated")) and done.get("exitCode", 0) != 0:
                return done
    return None


def cluster_state(workload: dict | None, pods: list[dict]) -> ClusterState:
    """Where an attempt is, read off its Job or PyTorchJob (as the API serves them) and its pods."""
    if workload is None:
        return ClusterState("ended", "the job's objects are gone from the cluster (deleted)")
    status = workload.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
    if status.get("succeeded") or "Succeeded" in conditions or "Complete" in conditions:
        return ClusterState("ended", None, exit_code=0)
    failed = conditions.get("Failed")
    if failed or (workload["kind"] == "Job" and status.get("failed")):
        done = _terminated(pods)
        if done and done.get("reason") == "OOMKilled":
            return ClusterState(
                "ended", "the pod ran out of memory (OOM-killed at its memory limit)", done.get("exitCode"), "oom"
            )
        message = (failed or {}).get("message") or "the job failed in the cluster"
        return ClusterState("ended", message, done.get("exitCode") if done else None)
    if workload["kind"] == "Job" and workload.get("spec", {}).get("suspend"):
        return ClusterState("pending", "waiting for Kueue to admit it")
    if any(p.get("status", {}).get("phase") == "Running" for p in pods):
        return ClusterState("running")
    for pod in pods:
        for c in pod.get("status", {}).get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False":
                return ClusterState("pending", c.get("message") or c.get("reason") or "not scheduled yet")
        for s in pod.get("status", {}).get("containerStatuses") or []:
            if waiting := (s.get("state") or {}).get("waiting"):
                return ClusterState(
                    "pending", f"{waiting.get('reason', 'waiting')}: {waiting.get('message', '')}".rstrip(": ")
                )
    return ClusterState("pending", "pods are being created" if not pods else "pods are starting")


def gpu_nodes(nodes: list[dict]) -> list[dict]:
    """The cluster's GPU inventory from its nodes (as the API serves them): per node with GPUs, the GPU
    model (the GPU operator's `nvidia.com/gpu.product` label), whole GPUs and MIG slices allocatable."""
    found = []
    for node in nodes:
        status = node.get("status") or {}
        allocatable = status.get("allocatable") or {}
        gpus = int(allocatable.get("nvidia.com/gpu", 0) or 0)
        mig = {
            k.removeprefix("nvidia.com/mig-"): int(v)
            for k, v in allocatable.items()
            if k.startswith("nvidia.com/mig-") and int(v or 0)
        }
        if not gpus and not mig:
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        found.append(
            {
                "node": node["metadata"]["name"],
                "gpu_product": (node["metadata"].get("labels") or {}).get("nvidia.com/gpu.product"),
                "gpus": gpus,
                "mig": mig,
                "ready": ready,
                "schedulable": not (node.get("spec") or {}).get("unschedulable", False),
            }
        )
    return sorted(found, key=lambda n: n["node"])


class KubernetesJobs:
    """The cluster runner's backend for Kubernetes (the official client, in a thread per call)."""

    name = "kubernetes"

    def __init__(
        self,
        namespace: str,
        image: str = DEFAULT_IMAGE,
        kueue_queue: str | None = None,
        volcano_queue: str | None = None,
        priority_class: str | None = None,
    ) -> None:
        self.namespace, self.image = namespace, image
        self.queues = {"kueue_queue": kueue_queue, "volcano_queue": volcano_queue, "priority_class": priority_class}
        queue = (
            f", Kueue queue {kueue_queue}"
            if kueue_queue
            else f", Volcano queue {volcano_queue}"
            if volcano_queue
            else ""
        )
        self.description = f"Kubernetes namespace {namespace}{queue}"
        self._client = None

    def client(self):
        if self._client is None:
            self._client = connect()
        return self._client

    def _resource(self, kind: str):
        api_version = {
            "Job": "batch/v1",
            "PyTorchJob": "kubeflow.org/v1",
            "Secret": "v1",
            "Pod": "v1",
            "Node": "v1",
            "PodGroup": "scheduling.volcano.sh/v1beta1",
        }[kind]
        return self.client().resources.get(api_version=api_version, kind=kind)

    async def submit(self, job, token: str, control_url: str) -> tuple[str, str]:
        spec = {"id": str(job.id), "attempt": job.attempts, "resources": job.resources, "distributed": job.distributed}
        objects = manifests(
            spec, namespace=self.namespace, control_url=control_url, token=token, image=self.image, **self.queues
        )

        def apply() -> None:
            for body in objects:
                self.client().server_side_apply(
                    self._resource(body["kind"]),
                    body=body,
                    namespace=self.namespace,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )

        await asyncio.to_thread(apply)
        kind = objects[1]["kind"]
        name = objects[1]["metadata"]["name"]
        return f"{kind}/{name}", f"Kubernetes {kind} {self.namespace}/{name}"

    def _read(self, handle: str) -> tuple[dict | None, list[dict]]:
        from kubernetes.dynamic.exceptions import NotFoundError

        kind, name = handle.split("/", 1)
        try:
            workload = self._resource(kind).get(name=name, namespace=self.namespace).to_dict()
        except NotFoundError:
            return None, []
        job_id, attempt = (
            workload["metadata"]["labels"]["axops.io/job-id"],
            workload["metadata"]["labels"]["axops.io/attempt"],
        )
        pods = self._resource("Pod").get(
            namespace=self.namespace, label_selector=f"axops.io/job-id={job_id},axops.io/attempt={attempt}"
        )
        items = sorted(
            (p.to_dict() for p in pods.items),
            key=lambda p: (
                p["metadata"].get("labels", {}).get("training.kubeflow.org/replica-type", "master") != "master",
                p["metadata"].get("creationTimestamp", ""),
            ),
        )
        return workload, items

    async def state(self, handle: str) -> ClusterState:
        return cluster_state(*await asyncio.to_thread(self._read, handle))

    async def logs(self, handle: str) -> str:
        def read() -> str:
            from kubernetes.client import CoreV1Api

            _, pods = self._read(handle)
            if not pods or pods[0].get("status", {}).get("phase") == "Pending":
                return ""
            return CoreV1Api(self.client().client).read_namespaced_pod_log(
                pods[0]["metadata"]["name"], self.namespace, container="train"
            )

        return await asyncio.to_thread(read)

    async def gpu_nodes(self) -> list[dict]:
        """Needs permission to list nodes (a ClusterRole), beyond the namespace's objects."""
        nodes = await asyncio.to_thread(lambda: self._resource("Node").get())
        return gpu_nodes([n.to_dict() for n in nodes.items])

    async def stop(self, handle: str) -> None:
        kind, name = handle.split("/", 1)
        await asyncio.to_thread(self._delete, kind, name)

    async def cleanup(self, handle: str) -> None:
        """The workload stays for its logs until its TTL; the Secret with the (now revoked) key goes."""
        await asyncio.to_thread(self._delete, "Secret", handle.split("/", 1)[1])

    def _delete(self, kind: str, name: str) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        with contextlib.suppress(NotFoundError):
            self._resource(kind).delete(name=name, namespace=self.namespace, body={"propagationPolicy": "Background"})
