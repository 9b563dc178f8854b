"""Kubernetes objects of a deployment, for every combination of options, validated against the
real API schemas (kubernetes-validate, strict: unknown fields are errors)."""

from __future__ import annotations

import itertools
import uuid

import kubernetes_validate
import pytest

from axops.executors.kubernetes import LOAD_METRIC, manifests, object_name
from axops.serving.schemas import Resources

K8S_VERSION = "1.30"
GPUS = {
    "cpu": {},
    "gpus": {"gpu": 2, "gpu_type": "NVIDIA-A100-SXM4-80GB"},
    "mig": {"mig_profile": "1g.10gb"},
}
PLACEMENT = {
    "anywhere": {},
    "pinned": {
        "node_selector": {"topology.kubernetes.io/zone": "kr-1a"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}],
    },
}


def spec(engine: str, replicas: tuple[int, int], resources: dict) -> dict:
    return {
        "name": "support-bot",
        "id": uuid.uuid4(),
        "version_id": uuid.uuid4(),
        "engine": engine,
        "max_batch": 16,
        "replicas_min": replicas[0],
        "replicas_max": replicas[1],
        "autoscale_target": 2.5,
        "generation": 3,
        "resources": Resources(memory_gb=24, cpu=4, **resources).model_dump(),
    }


@pytest.mark.parametrize(
    ("engine", "replicas", "gpu", "placement"),
    list(itertools.product(["transformers", "vllm", "auto"], [(1, 1), (1, 4), (2, 2), (3, 8)], GPUS, PLACEMENT)),
)
def test_every_option_combination_is_valid_kubernetes(engine, replicas, gpu, placement):
    objects = manifests(
        spec(engine, replicas, {**GPUS[gpu], **PLACEMENT[placement]}),
        namespace="llm-serving",
        image="registry.internal/axops/runtime:0.1.0",
        control_url="http://axops.axops.svc:8000",
        token="axk_x_y",
        serve_token="axs_serve",
    )
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    kinds = {o["kind"]: o for o in objects}
    assert set(kinds) >= {"Secret", "Deployment", "Service"}
    assert ("HorizontalPodAutoscaler" in kinds) == (replicas[1] > replicas[0])
    assert ("PodDisruptionBudget" in kinds) == (replicas[0] >= 2)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    limits = container["resources"]["limits"]
    if gpu == "gpus":
        assert (
            limits["nvidia.com/gpu"] == "2" and pod["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        )
    elif gpu == "mig":
        assert limits["nvidia.com/mig-1g.10gb"] == "1" and "nvidia.com/gpu" not in limits
    else:
        assert (
            not any(k.startswith("nvidia.com/") for k in limits) and "tolerations" not in pod
        ) or placement == "pinned"
    if gpu != "cpu":
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    if placement == "pinned":
        assert pod["nodeSelector"]["topology.kubernetes.io/zone"] == "kr-1a"
    assert container["readinessProbe"]["httpGet"]["path"] == ("/health" if engine == "vllm" else "/ready")
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == object_name("support-bot")
    assert "axk_x_y" not in str(kinds["Deployment"]) and "axs_serve" not in str(
        kinds["Deployment"]
    )  # tokens live in the Secret only
    assert kinds["Secret"]["stringData"] == {"token": "axk_x_y", "serve-token": "axs_serve"}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert env == {
        "AXOPS_RUNTIME_TOKEN": "token",
        "AXOPS_RUNTIME_SERVE_TOKEN": "serve-token",
    }  # replicas refuse calls without it
    if "HorizontalPodAutoscaler" in kinds:
        metric = kinds["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]
        assert metric["metric"]["name"] == LOAD_METRIC and metric["target"]["averageValue"] == "2500m"


def test_an_invalid_object_is_caught_by_the_schema_check():
    objects = manifests(
        spec("transformers", (1, 2), {}),
        namespace="llm-serving",
        image="x",
        control_url="http://c",
        token="t",
        serve_token="s",
    )
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
