"""deploy/kubernetes renders offline (`kubectl kustomize`) for every overlay, every rendered object is
valid Kubernetes 1.30 (kubernetes-validate, strict) or valid against its CRD's schema (vendored in
tests/data/crds from the upstream CRDs), and the manifests keep the platform's policy: secrets only by
reference, probes, resources and a locked-down securityContext on every long-running container, pinned
images, TLS on the Ingress, default-deny NetworkPolicies. The model-release example and the Argo CD
Applications are checked the same way. Skipped only when kubectl is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUSTOMIZE / "overlays").iterdir() if (p / "kustomization.yaml").exists())
CRDS = ROOT / "tests" / "data" / "crds"
K8S_VERSION = "1.30"

kubectl = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(kubectl is None, reason="kubectl is not installed (it renders the kustomizations)")


def render(path: Path) -> list[dict]:
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def crd_schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for f in CRDS.glob("*.json"):
        doc = json.loads(f.read_text())
        assert doc["source"].startswith("https://github.com/") and doc["licence"]
        schemas[(f"{doc['group']}/{doc['version']}", doc["kind"])] = doc["schema"]
    return schemas


CRD = crd_schemas()


def validate(obj: dict) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD:
        # no metaschema check: the CRDs' Go regular expressions (`(?i)` mid-pattern) are not Python's
        errors = list(jsonschema.Draft7Validator(CRD[key]).iter_errors(obj))
        if errors:
            raise errors[0]
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def pod_specs(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, its pod spec) for every object that makes pods."""
    return [(o, o["spec"]["template"]["spec"]) for o in objects if o["kind"] in ("Deployment", "Job")]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    if kubectl is None:
        pytest.fail("kubectl is missing: the manifests are rendered with `kubectl kustomize` (install kubectl >= 1.27)")
    return request.param, render(KUSTOMIZE / "overlays" / request.param)


def test_there_are_dev_and_production_overlays():
    assert {"dev", "production"} <= set(OVERLAYS)


@needs_kubectl
def test_every_rendered_object_is_valid(overlay):
    _, objects = overlay
    assert objects
    for obj in objects:
        validate(obj)


@needs_kubectl
def test_the_platform_is_all_there(overlay):
    name, objects = overlay
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for d in ("axops-api", "axops-gateway", "axops-worker"):
        assert ("Deployment", d) in kinds and ("PodDisruptionBudget", d) in kinds
    assert {("Job", "axops-migrate"), ("HorizontalPodAutoscaler", "axops-gateway"), ("Ingress", "axops")} <= kinds
    assert {("ServiceMonitor", "axops"), ("PrometheusRule", "axops"), ("Service", "axops-api")} <= kinds
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    roles = {
        n: by["Deployment", f"axops-{n}"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
        for n in ("api", "gateway", "worker")
    }
    assert roles == {"api": "up", "gateway": "up", "worker": "worker"}
    assert by["Job", "axops-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert by["Job", "axops-migrate"]["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    hpa = by["HorizontalPodAutoscaler", "axops-gateway"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "axops-gateway" and hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in by["Deployment", "axops-gateway"]["spec"]  # the HPA owns it
    if name == "production":
        assert by["Deployment", "axops-api"]["spec"]["replicas"] >= 2 and hpa["minReplicas"] >= 2
        for d in ("axops-api", "axops-gateway", "axops-worker"):
            spread = by["Deployment", d]["spec"]["template"]["spec"]["topologySpreadConstraints"]
            assert spread[0]["topologyKey"] == "kubernetes.io/hostname"


def test_the_prometheus_rule_is_the_generated_one_not_a_copy():
    """The base includes deploy/monitoring (one file, written by the alert pack's exporter)."""
    base = yaml.safe_load((KUSTOMIZE / "base" / "kustomization.yaml").read_text())
    assert "../../monitoring" in base["resources"]
    assert not list(KUSTOMIZE.rglob("*rules*.y*ml"))


@needs_kubectl
def test_the_prometheus_rule_rendered_is_deploy_monitoring(overlay):
    _, objects = overlay
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    shipped = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == shipped["spec"] and rule["metadata"]["namespace"] == "axops"


def check_no_inline_secrets(objects: list[dict]) -> None:
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are created outside git"
    for o in objects:
        if o["kind"] == "ConfigMap":
            for key in o["data"]:
                assert not any(w in key for w in SECRET_WORDS), key
    for _, pod in pod_specs(objects):
        for c in pod["containers"]:
            for env in c.get("env", []):
                if any(w in env["name"] for w in SECRET_WORDS):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]
            assert any("secretRef" in e for e in c.get("envFrom", [])) or c["name"] == "release"


SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "DATABASE_URL", "REDIS_URL")


@needs_kubectl
def test_no_secret_is_inlined(overlay):
    check_no_inline_secrets(overlay[1])


def test_the_secret_example_is_not_applied():
    base = yaml.safe_load((KUSTOMIZE / "base" / "kustomization.yaml").read_text())
    assert (KUSTOMIZE / "base" / "secret.example.yaml").exists() and "secret.example.yaml" not in base["resources"]


def _check_pod(workload: dict, pod: dict) -> None:
    name = workload["metadata"]["name"]
    sc = pod.get("securityContext", {})
    assert sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, name
    assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
    mounts = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        r = c.get("resources", {})
        assert {"cpu", "memory"} <= set(r.get("requests", {})) & set(r.get("limits", {})), (
            f"{name}: requests and limits"
        )
        csc = c.get("securityContext", {})
        assert csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True, name
        assert csc.get("capabilities", {}).get("drop") == ["ALL"], name
        image = c["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        release_job = workload["metadata"]["labels"].get("app.kubernetes.io/component") == "model-release"
        assert release_job or (tmp and "emptyDir" in mounts[tmp[0]["name"]]), (
            f"{name}: /tmp must be a writable emptyDir"
        )
        # Long-running HTTP servers are probed; the worker serves no HTTP (see worker.yaml) and Jobs end.
        if workload["kind"] == "Deployment" and c.get("ports"):
            assert c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", name
            assert c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", name


@needs_kubectl
def test_every_pod_is_locked_down(overlay):
    _, objects = overlay
    pods = pod_specs(objects)
    assert len(pods) == 4
    for workload, pod in pods:
        _check_pod(workload, pod)
    serving = [w["metadata"]["name"] for w, p in pods if any(c.get("ports") for c in p["containers"])]
    assert sorted(serving) == ["axops-api", "axops-gateway"]


@needs_kubectl
def test_only_the_api_may_talk_to_kubernetes(overlay):
    _, objects = overlay
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    assert accounts["axops-gateway"]["automountServiceAccountToken"] is False
    assert accounts["axops-worker"]["automountServiceAccountToken"] is False
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    assert binding["metadata"]["namespace"] == "axops-models" and binding["subjects"][0]["name"] == "axops-api"
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


@needs_kubectl
def test_ingress_terminates_tls_and_hides_metrics(overlay):
    _, objects = overlay
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    tls = ingress["spec"]["tls"]
    assert tls and tls[0]["secretName"] and tls[0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    paths = {p["path"]: p for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/v1"]["backend"]["service"]["name"] == "axops-gateway"
    assert paths["/"]["backend"]["service"]["name"] == "axops-api"
    blocked = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "axops-blocked")
    assert (
        paths["/metrics"]["pathType"] == "Exact" and paths["/metrics"]["backend"]["service"]["name"] == "axops-blocked"
    )
    assert "selector" not in blocked["spec"]


@needs_kubectl
def test_network_policies_deny_by_default(overlay):
    _, objects = overlay
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    deny = policies["default-deny"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    http_in = policies["axops-http-in"]
    assert all(r["ports"] == [{"port": 8000, "protocol": "TCP"}] for r in http_in["ingress"])


def test_the_model_release_example_renders_and_is_valid():
    if kubectl is None:
        pytest.fail("kubectl is missing: the manifests are rendered with `kubectl kustomize` (install kubectl >= 1.27)")
    objects = render(ROOT / "deploy" / "examples" / "model-release")
    for obj in objects:
        validate(obj)
    job = next(o for o in objects if o["kind"] == "Job")
    _check_pod(job, job["spec"]["template"]["spec"])
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "AXOPS_API_KEY", "valueFrom": {"secretKeyRef": {"name": "axops-release-key", "key": "api-key"}}}
    ]


def test_argocd_applications_are_valid():
    apps = [d for d in yaml.safe_load_all((ROOT / "deploy" / "argocd" / "application.yaml").read_text()) if d]
    assert apps[0]["metadata"]["name"] == "axops" and len(apps) == 2
    for app in apps:
        validate(app)
    assert (ROOT / apps[0]["spec"]["source"]["path"] / "kustomization.yaml").exists()


def test_a_crd_schema_refuses_a_broken_object():
    """The vendored CRD schemas really check: a ServiceMonitor whose endpoints is not a list is refused."""
    broken = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
              "spec": {"selector": {}, "endpoints": {"port": "http"}}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"prot": 1}]}})


@needs_kubectl
@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            """- op: add
  path: /spec/template/spec/containers/0/env/-
  value: {name: AXOPS_SECRET_KEY, value: inline-secret-value-0123456789abcdef}""",
            "secrets",
        ),
        (
            """- op: replace
  path: /spec/template/spec/containers/0/image
  value: registry.internal/axops/axops:latest""",
            "pods",
        ),
        (
            """- op: remove
  path: /spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem""",
            "pods",
        ),
        (
            """- op: remove
  path: /spec/template/spec/containers/0/readinessProbe""",
            "pods",
        ),
        (
            """- op: remove
  path: /spec/template/spec/containers/0/resources/limits""",
            "pods",
        ),
        (
            """- op: add
  path: /spec/template/spec/containers/0/bogusField
  value: 1""",
            "schema",
        ),
    ],
    ids=["inline-secret", "latest-tag", "writable-root", "no-probe", "no-limits", "unknown-field"],
)
def test_the_checks_catch_a_broken_overlay(tmp_path, patch, check):
    """An overlay breaking one rule on the gateway's Deployment is refused by the check for that rule."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(KUSTOMIZE / "base", tmp_path)],  # kustomize refuses absolute paths
                "patches": [{"target": {"kind": "Deployment", "name": "axops-gateway"}, "patch": patch}],
            }
        )
    )
    objects = render(tmp_path)
    checks = {
        "secrets": lambda: check_no_inline_secrets(objects),
        "pods": lambda: [_check_pod(w, p) for w, p in pod_specs(objects)],
        "schema": lambda: [validate(o) for o in objects],
    }
    with pytest.raises((AssertionError, kubernetes_validate.ValidationError)):
        checks[check]()
