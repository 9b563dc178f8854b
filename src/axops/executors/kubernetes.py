"""The Kubernetes executor: a deployment as a Deployment + Service + HorizontalPodAutoscaler
(autoscaling/v2) + PodDisruptionBudget + the runtime's Secret, applied server-side through the
official client; readiness read back from the Deployment's status; the Service becomes the
gateway upstream.

Autoscaling uses the per-pod metric `axops_runtime_load` (queued + running requests, exported by
every runtime on /metrics), which the cluster's Prometheus Adapter (or KEDA) must serve as a
custom metric — GPU utilisation is no signal for LLM serving.

Tests validate every manifest against the Kubernetes API schemas (kubernetes-validate); no test
here reaches a live cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from axops import __version__
from axops.auth.scoping import SYSTEM
from axops.serving import canary, routing
from axops.serving import service as serving
from axops.serving.models import ACTIVE, Deployment

log = logging.getLogger("axops.executors.kubernetes")
PORT = 8080
FIELD_MANAGER = "axops"
DEFAULT_IMAGE = f"axops/runtime:{__version__}"
LOAD_METRIC = "axops_runtime_load"


def connect():
    """A dynamic client for the cluster axops runs in (its service account), else the kubeconfig's."""
    from kubernetes import config, dynamic
    from kubernetes.client import ApiClient

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return dynamic.DynamicClient(ApiClient())


def object_name(name: str) -> str:
    return f"axops-{name}"[:63].rstrip("-.")


def manifests(d: dict, *, namespace: str, image: str, control_url: str, token: str, serve_token: str) -> list[dict]:
    """Every object of one deployment. `d`: name, id, version_id, engine, max_batch, replicas_min,
    replicas_max, autoscale_target, generation and resources (cpu, memory_gb, gpu, gpu_type,
    mig_profile, node_selector, tolerations). `token`: the runtime's API key (it fetches the version);
    `serve_token`: what the gateway must send the pods (both in the deployment's Secret)."""
    name = object_name(d["name"])
    r = d["resources"]
    labels = {
        "app.kubernetes.io/name": "axops-runtime",
        "app.kubernetes.io/instance": d["name"][:63],
        "app.kubernetes.io/managed-by": "axops",
        "axops.io/deployment-id": str(d["id"]),
    }
    selector = {"axops.io/deployment-id": str(d["id"])}
    memory = f"{int(r.get('memory_gb', 4) * 1024)}Mi"
    limits: dict[str, str] = {"memory": memory}
    requests = {"cpu": str(r.get("cpu", 1)), "memory": memory}
    tolerations = [{k: v for k, v in t.items() if v is not None} for t in r.get("tolerations", [])]
    node_selector = dict(r.get("node_selector", {}))
    if r.get("mig_profile"):
        limits[f"nvidia.com/mig-{r['mig_profile']}"] = "1"
    elif r.get("gpu"):
        limits["nvidia.com/gpu"] = str(r["gpu"])
    if r.get("gpu_type"):
        node_selector["nvidia.com/gpu.product"] = r["gpu_type"]
    if (r.get("gpu") or r.get("mig_profile")) and not any(t.get("key") == "nvidia.com/gpu" for t in tolerations):
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    probe_path = "/health" if d["engine"] == "vllm" else "/ready"  # vLLM's server has no /ready
    args = [
        "-m",
        "axops.runtime.serve",
        "--version-id",
        str(d["version_id"]),
        "--control-url",
        control_url,
        "--served-name",
        d["name"],
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--engine",
        d["engine"],
        "--max-batch",
        str(d["max_batch"]),
        "--cache-dir",
        "/cache",
        "--memory-limit-bytes",
        str(int(r.get("memory_gb", 4) * 2**30)),
        "--drain-timeout-s",
        "30",
    ]
    container = {
        "name": "runtime",
        "image": image,
        "command": ["python"],
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {"name": "AXOPS_RUNTIME_TOKEN", "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}}},
            {"name": "AXOPS_RUNTIME_SERVE_TOKEN", "valueFrom": {"secretKeyRef": {"name": name, "key": "serve-token"}}},
            {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
        ],
        "resources": {"requests": requests, "limits": limits},
        "readinessProbe": {"httpGet": {"path": probe_path, "port": "http"}, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        # weights are fetched and loaded before the server listens: allow up to 20 minutes for that
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 120},
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }
    pod = {
        # axops.io/replica-auth: pods made before replicas required the token roll over once to take it up
        "metadata": {
            "labels": labels,
            "annotations": {
                "axops.io/generation": str(d.get("generation", 0)),
                "axops.io/replica-auth": "bearer",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(PORT),
            },
        },
        "spec": {
            "containers": [container],
            "terminationGracePeriodSeconds": 45,
            "enableServiceLinks": False,
            "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": f"{max(1, int(r.get('memory_gb', 4) * 2))}Gi"}}],
            **({"nodeSelector": node_selector} if node_selector else {}),
            **({"tolerations": tolerations} if tolerations else {}),
        },
    }
    meta = {"name": name, "namespace": namespace, "labels": labels}
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": {"token": token, "serve-token": serve_token},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": d["replicas_min"],
                "selector": {"matchLabels": selector},
                "template": pod,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                "type": "ClusterIP",
            },
        },
    ]
    if d["replicas_max"] > d["replicas_min"]:
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": d["replicas_min"],
                    "maxReplicas": d["replicas_max"],
                    "metrics": [
                        {
                            "type": "Pods",
                            "pods": {
                                "metric": {"name": LOAD_METRIC},
                                "target": {"type": "AverageValue", "averageValue": _quantity(d["autoscale_target"])},
                            },
                        }
                    ],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120}},
                },
            }
        )
    if d["replicas_min"] >= 2:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            }
        )
    return objects


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def service_url(name: str, namespace: str) -> str:
    return f"http://{object_name(name)}.{namespace}.svc.cluster.local/v1"


class KubernetesExecutor:
    """Reconciles `executor = kubernetes` deployments every few seconds (the official client's
    dynamic API; blocking calls run in a thread)."""

    KINDS = (
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
    )

    def __init__(
        self, db, secret: str, control_url: str, namespace: str, image: str = DEFAULT_IMAGE, interval_s: float = 5.0
    ) -> None:
        self.db, self.secret, self.control_url, self.namespace, self.image = db, secret, control_url, namespace, image
        self.interval_s = interval_s
        self.applied: dict[uuid.UUID, int] = {}  # deployment → generation applied
        self.removed: set[uuid.UUID] = set()
        self._client = None
        self._task: asyncio.Task | None = None

    def client(self):
        if self._client is None:
            self._client = connect()
        return self._client

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("kubernetes.reconcile_failed")
            await asyncio.sleep(self.interval_s)

    async def reconcile(self) -> None:
        async with self.db.sessionmaker() as session:
            rows = (await session.scalars(select(Deployment).where(Deployment.executor == "kubernetes"))).all()
        for d in rows:
            if d.status in ACTIVE:
                if self.applied.get(d.id) != d.generation:
                    await asyncio.to_thread(self.apply, d, await routing.serve_token(self.db, self.secret, d))
                    self.applied[d.id] = d.generation
                ready = await asyncio.to_thread(self.ready_replicas, d)
                failure = None if ready else await asyncio.to_thread(self.pod_failure, d)
                verdict = (
                    await self.judge_canary(d) if ready and d.canary_of is not None and d.rollback_policy else None
                )
                await self._report(d, ready, failure, verdict)
            elif d.id not in self.removed:  # stopped or failed: its objects go (again after a restart: idempotent)
                await asyncio.to_thread(self.delete, d)
                self.applied.pop(d.id, None)
                self.removed.add(d.id)

    def apply(self, d: Deployment, serve_token: str) -> None:
        spec = {
            "name": d.name,
            "id": d.id,
            "version_id": d.version_id,
            "engine": d.engine,
            "max_batch": d.max_batch,
            "replicas_min": d.replicas_min,
            "replicas_max": d.replicas_max,
            "autoscale_target": d.autoscale_target,
            "generation": d.generation,
            "resources": d.resources,
        }
        token = routing.runtime_token(self.secret, d) or ""
        client = self.client()
        for body in manifests(
            spec,
            namespace=self.namespace,
            image=self.image,
            control_url=self.control_url,
            token=token,
            serve_token=serve_token,
        ):
            resource = client.resources.get(api_version=body["apiVersion"], kind=body["kind"])
            client.server_side_apply(
                resource, body=body, namespace=self.namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            )
        log.info("kubernetes.applied deployment=%s namespace=%s", d.name, self.namespace)

    def ready_replicas(self, d: Deployment) -> int:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.client().resources.get(api_version="apps/v1", kind="Deployment")
        try:
            status = resource.get(name=object_name(d.name), namespace=self.namespace).status
        except NotFoundError:
            return 0
        return int(getattr(status, "readyReplicas", 0) or 0)

    def pod_failure(self, d: Deployment) -> str | None:
        """Why no pod gets ready, when the pods say so: an unservable version (exit 3) fails the
        deployment; image pull errors and crash loops are reported as the reason."""
        pods = self.client().resources.get(api_version="v1", kind="Pod")
        listed = pods.get(namespace=self.namespace, label_selector=f"axops.io/deployment-id={d.id}")
        for pod in listed.to_dict().get("items", []):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("lastState") or {}).get("terminated") or (status.get("state") or {}).get(
                    "terminated"
                )
                if terminated and terminated.get("exitCode") == 3:
                    return "fatal: " + (
                        terminated.get("message") or "the runtime cannot serve this version (see kubectl logs)"
                    )
                waiting = (status.get("state") or {}).get("waiting")
                if waiting and waiting.get("reason") in (
                    "CrashLoopBackOff",
                    "ImagePullBackOff",
                    "ErrImagePull",
                    "CreateContainerConfigError",
                ):
                    return f"{waiting['reason']}: {waiting.get('message') or ''}".strip(": ")
        return None

    def delete(self, d: Deployment) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        client = self.client()
        for api_version, kind in self.KINDS:
            with contextlib.suppress(NotFoundError):
                client.resources.get(api_version=api_version, kind=kind).delete(
                    name=object_name(d.name), namespace=self.namespace
                )

    def pod_ips(self, d: Deployment) -> list[str]:
        pods = self.client().resources.get(api_version="v1", kind="Pod")
        listed = (
            pods.get(namespace=self.namespace, label_selector=f"axops.io/deployment-id={d.id}")
            .to_dict()
            .get("items", [])
        )
        return [
            p["status"]["podIP"]
            for p in listed
            if (p.get("status") or {}).get("podIP") and (p["status"].get("phase") == "Running")
        ]

    async def judge_canary(self, d: Deployment) -> str | None:
        """The canary's pods' own figures over the window (each pod's /health, by pod IP: the
        control plane runs in the cluster), judged as on the local executor."""
        import aiohttp

        window = int(d.rollback_policy.get("window_s", 60))
        windows = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            for ip in await asyncio.to_thread(self.pod_ips, d):
                try:
                    async with http.get(f"http://{ip}:{PORT}/health", params={"window_s": str(window)}) as r:
                        windows.append((await r.json()).get("window") or {})
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    continue
        return canary.judge(d.rollback_policy, windows)

    async def _report(self, d: Deployment, ready: int, failure: str | None, verdict: str | None = None) -> None:
        status = "ready" if ready >= d.replicas_min else ("degraded" if ready or d.ready_at else "loading")
        if failure and failure.startswith("fatal: "):
            status = "failed"
        replicas = [
            {
                "index": 0,
                "state": "ready" if ready else "starting",
                "endpoint": service_url(d.name, self.namespace),
                "running": 0,
                "queued": 0,
                "restarts": 0,
                "ready_pods": ready,
            }
        ]
        reason = (
            None
            if status == "ready"
            else (failure or "").removeprefix("fatal: ") or f"{ready} of {d.replicas_min} pods ready"
        )
        if status == d.status and d.replicas == replicas and reason == d.status_reason and not verdict:
            return
        async with self.db.sessionmaker() as session, session.begin():
            row = await session.get(Deployment, d.id, with_for_update=True)
            if row is None or row.status not in ACTIVE:
                return
            if status != row.status:
                serving.note(row, status, f"{ready} pod(s) ready")
            if status == "ready" and row.ready_at is None:
                row.ready_at = datetime.now(UTC)
                row.ready_seconds = (row.ready_at - row.created_at).total_seconds()
            row.status, row.replicas, row.status_reason = status, replicas, reason
            await session.flush()
            await routing.sync_route(session, row.canary_of or row.id)
            if verdict and row.canary_of is not None:
                log.warning("kubernetes.canary_rollback deployment=%s reason=%s", row.name, verdict)
                await serving.rollback(session, SYSTEM, row.id, verdict)
