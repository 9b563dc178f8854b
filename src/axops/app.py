"""FastAPI app factory: routers, middleware, error handlers, health, metrics and the web UI."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

import axops.agents.gateway
import axops.agents.tool_usage  # (registers the agents' part of tool analytics)
import axops.prompts.gateway  # noqa: F401  (registers the gateway's prompt resolver)
from axops import __version__, hardware
from axops.agents import router as agents_router
from axops.agents import tasks as agents_tasks
from axops.agents import template_router, workflow_router
from axops.auth import audit
from axops.auth import router as auth_router
from axops.auth import security_router as auth_security_router
from axops.auth import service as auth_service
from axops.auth import sso_router as auth_sso_router
from axops.core import errors, metrics, notify, route_memo, storage, tasks, telemetry
from axops.core.errors import NotFound
from axops.core.lifecycle import lifecycle
from axops.core.middleware import CONTENT_SECURITY_POLICY, RequestMiddleware
from axops.core.state import AppState, state_of
from axops.datasets import router as datasets_router
from axops.datasets import tasks as datasets_tasks
from axops.evaluation import monitoring_router as eval_monitoring_router
from axops.evaluation import monitoring_tasks as eval_monitoring_tasks
from axops.evaluation import reviews_router as eval_reviews_router
from axops.evaluation import router as eval_router
from axops.evaluation import suite_tasks as eval_suite_tasks
from axops.evaluation import suites_router as eval_suites_router
from axops.evaluation import tasks as eval_tasks
from axops.executors import local as local_executor
from axops.executors import local_training
from axops.executors.cluster_training import ClusterJobRunner
from axops.experiments import mlflow as experiments_mlflow
from axops.experiments import router as experiments_router
from axops.gateway import proxy as gateway_proxy
from axops.gateway import router as gateway_router
from axops.gateway import semantic_cache_router
from axops.gateway import tasks as gateway_tasks
from axops.gateway.state import Gateway
from axops.governance import approvals as governance_approvals
from axops.governance import approvals_router, violation_tasks, violations_router
from axops.governance import report_tasks as governance_report_tasks
from axops.governance import reports_router as governance_reports_router
from axops.guardrails import router as guardrails_router
from axops.home import router as home_router
from axops.mlflow_models import dataset_runs as mlflow_dataset_runs
from axops.mlflow_models import inputs as mlflow_inputs
from axops.mlflow_models import logged_models as mlflow_logged_models
from axops.mlflow_models import registry_api as mlflow_registry_api
from axops.monitoring import (
    alert_tasks,
    alerts_router,
    backup_tasks,
    channels_router,
    cost_router,
    dashboards_router,
    delivery,
    delivery_tasks,
    drift_router,
    drift_tasks,
    slo_router,
    slo_tasks,
)
from axops.monitoring import router as monitoring_router
from axops.monitoring import tasks as monitoring_tasks
from axops.pii import persons as pii_persons
from axops.policy import router as policy_router
from axops.prompts import experiments_router as prompt_experiments_router
from axops.prompts import router as prompts_router
from axops.prompts import tasks as prompts_tasks
from axops.registry import router as models_router
from axops.registry import tasks as models_tasks
from axops.serving import router as serving_router
from axops.settings import Settings, get_settings
from axops.tools import mcp as tool_mcp
from axops.tools import mcp_router as tool_mcp_router
from axops.tools import router as tools_router
from axops.training import router as training_router
from axops.training import tasks as training_tasks

log = logging.getLogger("axops.app")

# Every domain's background tasks, by namespace.
tasks.register(
    {
        "audit": audit.tasks,
        "agents": agents_tasks.tasks,
        "models": models_tasks.tasks,
        "datasets": datasets_tasks.tasks,
        "gateway": gateway_tasks.tasks,
        "prompts": prompts_tasks.tasks,
        "eval": eval_tasks.tasks,
        "eval_monitoring": eval_monitoring_tasks.tasks,
        eval_suite_tasks.NAMESPACE: eval_suite_tasks.tasks,
        "monitoring": monitoring_tasks.tasks,
        drift_tasks.NAMESPACE: drift_tasks.tasks,
        "alert_delivery": delivery_tasks.tasks,
        "alerts": alert_tasks.tasks,
        "slos": slo_tasks.tasks,
        "backup": backup_tasks.tasks,
        "training": training_tasks.tasks,
        "compliance_reports": governance_report_tasks.tasks,
        violation_tasks.NAMESPACE: violation_tasks.tasks,
    }
)
# Upload endpoints stream large bodies; they enforce their own limits.
LARGE_BODY_PREFIXES = (
    "/api/storage/signed/",
    "/api/model/version/upload",
    "/api/model/upload/",
    "/api/dataset/upload",
    training_router.UPLOADS,
    experiments_mlflow.artifacts_router.prefix,
)
# JSON batch endpoints (metric points) get a larger limit than other JSON bodies; they cap their item counts.
# Prompt imports (YAML) have their own.
BATCH_BODY_LIMITS = (
    *(
        (p, 8 * 1024 * 1024)
        for p in (
            "/api/experiments/runs/",
            "/api/2.0/mlflow/runs/log-batch",
            "/ajax-api/2.0/mlflow/runs/log-batch",
            "/api/2.0/mlflow/runs/log-inputs",  # dataset schemas and profiles of wide tables
            "/ajax-api/2.0/mlflow/runs/log-inputs",
        )
    ),
    prompts_router.IMPORT_BODY_LIMIT,
)
DEFAULT_WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"


class AxopsAPI(FastAPI):
    """FastAPI, except that the gateway's `/v1` requests go straight to their handlers: routing
    and the middleware stack cost more than the gateway's own work (measured in bench/gateway)."""

    fast_path = None

    async def __call__(self, scope, receive, send) -> None:
        if self.fast_path is not None and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            scope["app"] = self
            await self.fast_path(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def training_backends(settings: Settings) -> list:
    """The clusters fine-tuning jobs may go to besides this machine, as configured."""
    found: list = []
    if settings.kubernetes_namespace:
        from axops.executors.kubernetes_training import DEFAULT_IMAGE, KubernetesJobs

        found.append(
            KubernetesJobs(
                settings.kubernetes_namespace,
                settings.runtime_image or DEFAULT_IMAGE,
                settings.kubernetes_kueue_queue,
                settings.kubernetes_volcano_queue,
                settings.kubernetes_priority_class,
            )
        )
    if settings.ray_address:
        from axops.executors.ray_training import RayJobs

        found.append(RayJobs(settings.ray_address, settings.ray_token))
    return found


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(database_url: str, settings: Settings | None = None, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    governance_approvals.use_settings(settings)  # production promotions and deployments need approval

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lifecycle.install(settings.shutdown_drain_seconds)  # SIGTERM: not ready at once, stop after the drain
        app.state.axops = state = AppState.build(settings, database_url)
        delivery.configure(state.secret_key, settings)  # alert channels' secrets and allowed networks
        async with state.db.sessionmaker() as session:
            state.role_permissions = await auth_service.load_role_permissions(session)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # scans, and collect young objects less often (fewer pauses under load).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        worker = warming = None
        listener = notify.Listener(database_url)
        await listener.start()
        telemetry.configure(settings.otel)
        state.gateway = gateway = Gateway(
            state.db, state.secret_key, settings.redis_url, settings.gateway_health_interval_s, state.storage
        )
        gateway.guarding.model_timeout_s = settings.guardrails_model_timeout_s
        await gateway.start()
        state.gpus_here = len(hardware.gpus())
        supervisor = None
        state.training_backends = backends = training_backends(settings)
        state.training_executors = {
            "local": f"this machine ({state.gpus_here} GPU(s), {settings.training_slots} training slot(s))",
            **{b.name: b.description for b in backends},
        }
        if settings.serving_supervisor:
            cluster = None
            if settings.kubernetes_namespace:
                from axops.executors.kubernetes import DEFAULT_IMAGE, KubernetesExecutor

                cluster = KubernetesExecutor(
                    state.db,
                    state.secret_key,
                    settings.control_url,
                    settings.kubernetes_namespace,
                    settings.runtime_image or DEFAULT_IMAGE,
                )
            jobs = [
                local_training.JobRunner(
                    state.db,
                    state.secret_key,
                    settings.control_url,
                    (settings.data_dir / "training").resolve(),
                    slots=settings.training_slots,
                    gpu_count=state.gpus_here,
                )
            ]
            jobs += [
                ClusterJobRunner(state.db, state.secret_key, settings.control_url, backend) for backend in backends
            ]
            supervisor = local_executor.Supervisor(
                state.db,
                state.secret_key,
                settings.control_url,
                state.serving_dir,
                kubernetes=cluster,
                training=jobs,
            )
            await supervisor.start()
        state.supervisor = supervisor
        async with state.tasks.open_async():
            if run_worker:
                await datasets_tasks.prepare_worker()
                worker = asyncio.create_task(
                    state.tasks.run_worker_async(
                        install_signal_handlers=False, additional_context={"axops": state}, concurrency=2
                    )
                )
            else:  # the gateway's transfer and guardrail checks look for names: load the analyser now, not at a prompt
                warming = asyncio.create_task(asyncio.to_thread(pii_persons.warm))
            try:
                yield
            finally:
                if worker:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await worker
                if warming:
                    await warming
        # uvicorn runs this after the requests in flight have finished: every answer sent has queued
        # its usage record, and each writer writes its queue before the pool below closes.
        if supervisor:
            await supervisor.stop()  # drains and stops the local replicas
        await gateway.stop()  # counts the tokens still pending, then writes the usage records still queued
        await listener.stop()
        await tool_mcp.close_sessions()  # kept MCP sessions: stdio servers' sandboxes end
        await state.db.dispose()
        telemetry.shutdown()  # exports the spans still buffered
        lifecycle.uninstall()

    app = AxopsAPI(
        title="axops",
        version=__version__,
        description="On-premises LLM Ops platform API. Authenticate with `Authorization: Bearer <JWT or API key>`.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    errors.install(app)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        large_body_prefixes=LARGE_BODY_PREFIXES,
        max_upload_bytes=settings.max_upload_bytes,
        body_limits=BATCH_BODY_LIMITS,
        behind_tls_proxy=settings.behind_tls_proxy,
    )
    app.include_router(auth_router.router)
    app.include_router(auth_security_router.router)
    app.include_router(auth_sso_router.router)
    app.include_router(storage.router)
    app.include_router(models_router.router)
    app.include_router(datasets_router.router)
    app.include_router(gateway_router.router)
    app.include_router(semantic_cache_router.router)
    app.include_router(guardrails_router.router)
    app.include_router(serving_router.router)
    app.include_router(training_router.router)
    app.include_router(experiments_router.router)
    app.include_router(home_router.router)
    app.include_router(prompt_experiments_router.router)  # before the registry: /api/prompts/experiments/...
    app.include_router(prompts_router.router)
    app.include_router(template_router.router)  # before agents: /api/agent/templates
    app.include_router(agents_router.router)
    app.include_router(workflow_router.router)
    app.include_router(tool_mcp_router.router)
    app.include_router(tools_router.router)
    app.include_router(eval_router.router)
    app.include_router(eval_reviews_router.router)
    app.include_router(eval_monitoring_router.router)
    app.include_router(eval_suites_router.router)
    app.include_router(approvals_router.router)
    app.include_router(dashboards_router.router)
    app.include_router(slo_router.router)
    app.include_router(cost_router.router)
    app.include_router(alerts_router.router)
    app.include_router(channels_router.router)
    app.include_router(drift_router.router)
    app.include_router(monitoring_router.router)
    app.include_router(governance_reports_router.router)
    app.include_router(violations_router.router)
    app.include_router(policy_router.router)
    app.include_router(mlflow_dataset_runs.router)  # /api/dataset/version/{id}/runs
    for mlflow_module in (mlflow_registry_api, mlflow_logged_models, mlflow_inputs):  # before the tracking API's routes
        app.include_router(mlflow_module.router)
        app.include_router(mlflow_module.ajax_router)
    app.include_router(experiments_mlflow.router)
    app.include_router(experiments_mlflow.ajax_router)
    app.include_router(mlflow_registry_api.artifacts_router)  # registry/... paths; the rest it hands to the next
    app.include_router(experiments_mlflow.artifacts_router)
    app.fast_path = gateway_proxy.FastPath(max_body_bytes=settings.max_body_bytes)

    docs_page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI")
    docs_headers = {"content-security-policy": _docs_policy(docs_page.body.decode())}

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> Response:
        return Response(docs_page.body, media_type="text/html", headers=docs_headers)

    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"], include_in_schema=False)
    async def readyz(request: Request) -> Response:
        if lifecycle.draining:  # stopping: load balancers take this process out while it finishes
            return JSONResponse({"status": "stopping", "checks": {"process": "stopping"}}, status_code=503)
        checks = {}
        try:
            async with state_of(request).db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "unavailable"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    _mount_web(app, settings.web_dist or DEFAULT_WEB_DIST)
    route_memo.install(app.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for multi-process serving (`axops up --workers N`): the parent resolved the database."""
    settings = get_settings()
    if not settings.database_url:
        raise RuntimeError("AXOPS_DATABASE_URL must be set for worker processes")
    return create_app(settings.database_url, settings, run_worker=settings.worker)


def _docs_policy(page: str) -> str:
    """The API docs page loads Swagger UI from its CDN and runs one inline script: allow exactly those."""
    cdn = "https://cdn.jsdelivr.net"
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()}'"
        for js in re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    )
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {cdn} {hashes}")
    policy = policy.replace("style-src 'self'", f"style-src 'self' {cdn}")
    return policy.replace("img-src 'self'", "img-src 'self' https://fastapi.tiangolo.com")


def _mount_web(app: FastAPI, dist: Path) -> None:
    """Serve the built SPA: static assets, and index.html for every other non-API path."""
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> Response:
        if path.startswith(("api/", "v1/")) or path in ("api", "v1"):
            raise NotFound("No such endpoint.")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"cache-control": "no-cache"})
        return JSONResponse(
            {"detail": "The web UI is not built: run `make web` (npm ci && npm run build in web/)."}, status_code=503
        )
