"""Health, readiness, metrics, request ids, the web UI fallback, object storage and the task queue."""

from __future__ import annotations

import asyncio
import hashlib

import pytest


def test_health_ready_metrics_and_request_ids(api, admin):
    assert api.get("/healthz").json()["status"] == "ok"
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"

    r = api.get("/api/user/info", headers={**admin, "X-Request-ID": "trace-me-12345"})
    assert r.headers["x-request-id"] == "trace-me-12345"
    bogus = api.get("/api/user/info", headers={**admin, "X-Request-ID": "bad id\twith spaces"})
    assert bogus.headers["x-request-id"] != "bad id\twith spaces"

    metrics = api.get("/metrics").text
    assert (
        'axops_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/user/info",status="200"}'
        in metrics
    )
    assert "axops_audit_events_total" in metrics

    missing = api.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert api.post("/api/user/info", headers=admin).status_code == 405


def test_openapi_has_stable_operation_ids(api):
    spec = api.get("/api/openapi.json").json()
    ops = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"auth-login", "apikey-create_api_key", "audit-audit_logs", "user-user_info"} <= ops


def test_object_store_streams_and_signs(api, live_server, settings, tmp_path):
    store = live_server.app.state.axops.storage

    async def run():
        async def chunks():
            for i in range(64):
                yield bytes([i]) * 65536

        stored = await store.put_stream("tests/blob.bin", chunks())
        assert stored.size == 64 * 65536 and len(stored.sha256) == 64
        assert await store.size("tests/blob.bin") == stored.size
        return stored, await store.signed_url("tests/blob.bin", expires_in=60)

    stored, url = asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)
    r = api.get(url)
    assert r.status_code == 200 and len(r.content) == stored.size
    assert hashlib.sha256(r.content).hexdigest() == stored.sha256
    assert api.get(url[:-4] + "0000").status_code == 404  # tampered signature
    upload_url = asyncio.run_coroutine_threadsafe(
        store.signed_url("tests/up.bin", method="PUT", expires_in=60), live_server.server_loop
    ).result(10)
    up = api.put(upload_url, content=b"x" * 300_000)  # bigger than the JSON body limit: uploads are exempt
    assert up.status_code == 201 and up.json()["size"] == 300_000
    assert api.put(url, content=b"nope").status_code == 404  # a GET link does not allow uploads


def test_task_queue_runs_periodic_partition_maintenance(live_server):
    state = live_server.app.state.axops

    async def run():
        task = state.tasks.tasks["audit:maintain_audit_partitions"]
        job_id = await task.defer_async(timestamp=0)
        await state.tasks.run_worker_async(
            wait=False, install_signal_handlers=False, additional_context={"axops": state}
        )
        return (await state.tasks.job_manager.list_jobs_async(id=job_id))[0].status

    assert asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(60) == "succeeded"


@pytest.mark.parametrize("path", ["/", "/apikeys", "/audit"])
def test_spa_routes_serve_the_ui_or_a_clear_message(api, path):
    r = api.get(path)
    if r.status_code == 200:
        assert '<div id="app"' in r.text or "<div id='app'" in r.text
    else:
        assert r.status_code == 503 and "npm" in r.json()["detail"]
    assert api.get("/api/unknown").status_code == 404
