"""Training jobs as Kubernetes objects, for every option combination: a batch/v1 Job for one node,
a Kubeflow PyTorchJob for several, Kueue and Volcano scheduling, GPUs — the core objects (and the
PyTorchJob's pod templates) validated against the Kubernetes schemas."""

from __future__ import annotations

import itertools
import uuid

import kubernetes_validate
import pytest

from axops.executors.kubernetes_training import job_name, manifests

K8S_VERSION = "1.30"


def job(nodes: int, gpus: int, distributed: str) -> dict:
    return {"id": str(uuid.uuid4()), "distributed": distributed, "max_retries": 1,
            "resources": {"gpus": gpus, "gpu_type": "NVIDIA-H100-80GB-HBM3" if gpus else None, "processes": 2, "nodes": nodes,
                          "cpu": 8, "memory_gb": 64}}  # fmt: skip


@pytest.mark.parametrize(("nodes", "gpus", "distributed", "queueing"),
                         list(itertools.product([1, 3], [0, 4], ["none", "ddp"], ["none", "kueue", "volcano"])))  # fmt: skip
def test_every_combination_is_valid(nodes, gpus, distributed, queueing):
    spec = job(nodes, gpus, distributed)
    objects = manifests(spec, namespace="ml", control_url="http://axops.axops.svc:8000", token="axk_a_b",
                        kueue_queue="team-a" if queueing == "kueue" else None,
                        volcano_queue="research" if queueing == "volcano" else None,
                        priority_class="training-high" if queueing != "none" else None)  # fmt: skip
    kinds = {o["kind"]: o for o in objects}
    kubernetes_validate.validate(kinds["Secret"], K8S_VERSION, strict=True)
    if nodes == 1:
        workload = kinds["Job"]
        kubernetes_validate.validate(workload, K8S_VERSION, strict=True)
        templates = [workload["spec"]["template"]]
        assert workload["spec"].get("suspend", False) == (queueing == "kueue")
    else:
        workload = kinds["PyTorchJob"]
        replicas = workload["spec"]["pytorchReplicaSpecs"]
        assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == nodes - 1
        templates = [replicas["Master"]["template"], replicas["Worker"]["template"]]
    for template in templates:
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template},
                                     K8S_VERSION, strict=True)  # fmt: skip
        container = template["spec"]["containers"][0]
        assert ("nvidia.com/gpu" in container["resources"]["limits"]) == bool(gpus)
        assert "axk_a_b" not in str(container)
        ddp = distributed == "ddp" or nodes > 1
        assert ("torch.distributed.run" in container["command"]) == ddp
    assert (workload["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == "team-a") == (queueing == "kueue")
    assert ("PodGroup" in kinds) == (queueing == "volcano")
    if queueing == "volcano":
        assert kinds["PodGroup"]["spec"]["minMember"] == nodes and templates[0]["spec"]["schedulerName"] == "volcano"
    assert workload["metadata"]["name"] == job_name(spec["id"])
