"""Training jobs as Kubernetes objects, for every option combination: a batch/v1 Job for one node,
a Kubeflow PyTorchJob for several, Kueue and Volcano scheduling, GPUs — the core objects (and the
PyTorchJob's pod templates) validated against the Kubernetes schemas."""

from __future__ import annotations

import itertools
import uuid

import kubernetes_validate
import pytest

from axops.executors.kubernetes_training import cluster_state, gpu_nodes, job_name, manifests

K8S_VERSION = "1.30"


def job(nodes: int, gpus: int, distributed: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "distributed": distributed,
        "max_retries": 1,
        "resources": {
            "gpus": gpus,
            "gpu_type": "NVIDIA-H100-80GB-HBM3" if gpus else None,
            "processes": 2,
            "nodes": nodes,
            "cpu": 8,
            "memory_gb": 64,
        },
    }


@pytest.mark.parametrize(
    ("nodes", "gpus", "distributed", "queueing"),
    list(itertools.product([1, 3], [0, 4], ["none", "ddp"], ["none", "kueue", "volcano"])),
)
def test_every_combination_is_valid(nodes, gpus, distributed, queueing):
    spec = job(nodes, gpus, distributed)
    objects = manifests(
        spec,
        namespace="ml",
        control_url="http://axops.axops.svc:8000",
        token="axk_a_b",
        kueue_queue="team-a" if queueing == "kueue" else None,
        volcano_queue="research" if queueing == "volcano" else None,
        priority_class="training-high" if queueing != "none" else None,
    )
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
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template},
            K8S_VERSION,
            strict=True,
        )
        container = template["spec"]["containers"][0]
        assert ("nvidia.com/gpu" in container["resources"]["limits"]) == bool(gpus)
        assert "axk_a_b" not in str(container)
        ddp = distributed == "ddp" or nodes > 1
        assert ("torch.distributed.run" in container["command"]) == ddp
    assert (workload["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == "team-a") == (queueing == "kueue")
    assert ("PodGroup" in kinds) == (queueing == "volcano")
    if queueing == "volcano":
        assert kinds["PodGroup"]["spec"]["minMember"] == nodes and templates[0]["spec"]["schedulerName"] == "volcano"
    assert workload["metadata"]["name"] == job_name(spec["id"], 1)


def pod(
    phase: str, *, scheduled: dict | None = None, waiting: dict | None = None, terminated: dict | None = None
) -> dict:
    state = (
        {"waiting": waiting}
        if waiting
        else {"terminated": terminated}
        if terminated
        else {"running": {}}
        if phase == "Running"
        else {}
    )
    return {
        "metadata": {"name": "p", "labels": {}},
        "status": {
            "phase": phase,
            "conditions": [scheduled] if scheduled else [],
            "containerStatuses": [{"name": "train", "state": state}] if state else [],
        },
    }


def batch_job(status: dict, suspend: bool = False) -> dict:
    return {"kind": "Job", "metadata": {"name": "axops-train-1-1"}, "spec": {"suspend": suspend}, "status": status}


@pytest.mark.parametrize(
    ("workload", "pods", "phase", "said", "code", "kind"),
    [
        (batch_job({}, suspend=True), [], "pending", "Kueue", None, None),
        (batch_job({}), [], "pending", "being created", None, None),
        (
            batch_job({"active": 1}),
            [
                pod(
                    "Pending",
                    scheduled={
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
                    },
                )
            ],
            "pending",
            "Insufficient nvidia.com/gpu",
            None,
            None,
        ),
        (
            batch_job({"active": 1}),
            [pod("Pending", waiting={"reason": "ImagePullBackOff", "message": "Back-off pulling image"})],
            "pending",
            "ImagePullBackOff: Back-off pulling image",
            None,
            None,
        ),
        (batch_job({"active": 1}), [pod("Running")], "running", None, None, None),
        (
            batch_job({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            [],
            "ended",
            None,
            0,
            None,
        ),
        (
            batch_job(
                {
                    "failed": 1,
                    "conditions": [
                        {"type": "Failed", "status": "True", "message": "Job has reached the specified backoff limit"}
                    ],
                }
            ),
            [pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})],
            "ended",
            "out of memory",
            137,
            "oom",
        ),
        (
            batch_job({"failed": 1}),
            [pod("Failed", terminated={"exitCode": 2, "reason": "Error"})],
            "ended",
            "failed",
            2,
            None,
        ),
        (
            {
                "kind": "PyTorchJob",
                "status": {
                    "conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]
                },
            },
            [pod("Running")],
            "running",
            None,
            None,
            None,
        ),
        (
            {"kind": "PyTorchJob", "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}},
            [],
            "ended",
            None,
            0,
            None,
        ),
        (None, [], "ended", "gone", None, None),
    ],
)
def test_the_state_of_an_attempt_is_read_off_its_workload_and_pods(workload, pods, phase, said, code, kind):
    state = cluster_state(workload, pods)
    assert (state.phase, state.exit_code, state.failure_kind) == (phase, code, kind)
    assert (said is None and state.message is None) or said in state.message


def test_the_cluster_gpu_inventory_counts_whole_gpus_and_mig_slices_per_node():
    def node(name, allocatable, labels=None, ready="True", unschedulable=False):
        return {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"unschedulable": unschedulable},
            "status": {
                "allocatable": {"cpu": "64", "memory": "512Gi", **allocatable},
                "conditions": [{"type": "Ready", "status": ready}],
            },
        }

    nodes = [
        node("gpu-b", {"nvidia.com/gpu": "8"}, {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        node("cpu-1", {}),
        node(
            "gpu-a",
            {"nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "0", "nvidia.com/gpu": "0"},
            ready="False",
            unschedulable=True,
        ),
    ]
    assert gpu_nodes(nodes) == [
        {"node": "gpu-a", "gpu_product": None, "gpus": 0, "mig": {"1g.10gb": 7}, "ready": False, "schedulable": False},
        {
            "node": "gpu-b",
            "gpu_product": "NVIDIA-H100-80GB-HBM3",
            "gpus": 8,
            "mig": {},
            "ready": True,
            "schedulable": True,
        },
    ]


def test_a_ray_clusters_gpu_inventory_has_the_same_shape():
    from axops.executors.ray_training import gpu_nodes as ray_gpu_nodes

    nodes = [
        {
            "node_name": "10.0.0.2",
            "state": "ALIVE",
            "resources_total": {"CPU": 64.0, "GPU": 8.0, "accelerator_type:H100": 1.0},
        },
        {"node_name": "10.0.0.1", "state": "ALIVE", "resources_total": {"CPU": 2.0}},
        {"node_name": "10.0.0.3", "state": "DEAD", "resources_total": {"CPU": 8.0, "GPU": 1.0}},
    ]
    assert ray_gpu_nodes(nodes) == [
        {"node": "10.0.0.2", "gpu_product": "H100", "gpus": 8, "mig": {}, "ready": True, "schedulable": True},
        {"node": "10.0.0.3", "gpu_product": None, "gpus": 1, "mig": {}, "ready": False, "schedulable": False},
    ]
