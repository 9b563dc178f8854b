"""Fine-tuning jobs on Kubernetes: a batch/v1 Job for one node (torchrun inside for several GPUs),
a Kubeflow PyTorchJob (kubeflow.org/v1) for several nodes; GPU requests, node selectors and
tolerations; a Kueue queue label or a Volcano queue + PodGroup and a priorityClass when
configured. The runtime inside is the same `axops.runtime.train`, reporting over HTTP.

Manifests only for now: tests validate them against the Kubernetes schemas (kubernetes-validate;
the PyTorchJob's pod templates as PodTemplates, since Kubeflow's CRD schema is not packaged);
submitting them to a cluster is not wired to the scheduler yet.
"""

from __future__ import annotations

from axops import __version__

DEFAULT_IMAGE = f"axops/runtime:{__version__}"


def job_name(job_id: str) -> str:
    return f"axops-train-{str(job_id)[:8]}"


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
        "containers": [{
            "name": "train", "image": image, "command": command,
            "env": [{"name": "AXOPS_RUNTIME_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "token"}}},
                    {"name": "AXOPS_RUNTIME_CONTROL_URL", "value": control_url},
                    {"name": "TOKENIZERS_PARALLELISM", "value": "false"}],
            "resources": {"requests": {"cpu": str(r.get("cpu", 2)), "memory": memory}, "limits": limits},
            "volumeMounts": [{"name": "work", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }],
        "volumes": [{"name": "work", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}],
        **({"nodeSelector": node_selector} if node_selector else {}), **({"tolerations": tolerations} if tolerations else {}),
    }  # fmt: skip


def manifests(job: dict, *, namespace: str, control_url: str, token: str, image: str = DEFAULT_IMAGE,
              kueue_queue: str | None = None, volcano_queue: str | None = None, priority_class: str | None = None) -> list[dict]:  # fmt: skip
    """The objects of one job. `job`: id, resources (gpus, gpu_type, processes, nodes, cpu,
    memory_gb), distributed, max_retries."""
    name = job_name(job["id"])
    r = job["resources"]
    labels = {"app.kubernetes.io/name": "axops-train", "app.kubernetes.io/managed-by": "axops", "axops.io/job-id": str(job["id"])}
    if kueue_queue:
        labels["kueue.x-k8s.io/queue-name"] = kueue_queue
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace, "labels": labels},
              "type": "Opaque", "stringData": {"token": token}}  # fmt: skip
    per_node = max(int(r.get("gpus", 0)), int(r.get("processes", 1))) if job["distributed"] != "none" else 1
    entry = ["-m", "axops.runtime.train", "--job-id", str(job["id"]), "--cache-dir", "/tmp/cache"]
    scheduling = {**({"priorityClassName": priority_class} if priority_class else {}), **({"schedulerName": "volcano"} if volcano_queue else {})}
    annotations = {"scheduling.k8s.io/group-name": name} if volcano_queue else {}
    if int(r.get("nodes", 1)) == 1:
        command = ["python", "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={per_node}", *entry] if per_node > 1 \
            else ["python", *entry]  # fmt: skip
        pod = {"metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})},
               "spec": {**_pod_spec(job, image=image, control_url=control_url, secret_name=name, command=command), **scheduling}}  # fmt: skip
        workload = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "spec": {"backoffLimit": 0, "template": pod, "ttlSecondsAfterFinished": 86400,
                             **({"suspend": True} if kueue_queue else {})}}  # fmt: skip  (Kueue admits it by unsuspending)
    else:
        # PyTorchJob sets MASTER_ADDR/PORT, WORLD_SIZE and RANK; torchrun spreads the processes of each node
        command = ["python", "-m", "torch.distributed.run", f"--nproc-per-node={per_node}", *entry]
        template = {"metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})},
                    "spec": {**_pod_spec(job, image=image, control_url=control_url, secret_name=name, command=command), **scheduling}}  # fmt: skip
        workload = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "spec": {"runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None", "ttlSecondsAfterFinished": 86400},
                             "nprocPerNode": str(per_node),
                             "pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Never", "template": template},
                                                     "Worker": {"replicas": int(r["nodes"]) - 1, "restartPolicy": "Never", "template": template}}}}  # fmt: skip
    objects = [secret, workload]
    if volcano_queue:
        objects.append({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
                        "metadata": {"name": name, "namespace": namespace, "labels": labels},
                        "spec": {"minMember": int(r.get("nodes", 1)), "queue": volcano_queue,
                                 **({"priorityClassName": priority_class} if priority_class else {})}})  # fmt: skip
    return objects
