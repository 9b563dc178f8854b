"""The metric history's GPU and replica sources (monitoring/sources.py): a fake NVML reader's values
land as `gpu_*` series; a real runtime app's `/metrics` text is parsed into `replica_*` series; a
replica that fails to answer is skipped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from axops.monitoring import sources, store
from axops.runtime import api, engine

T = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


async def _value(session, name: str, match: dict) -> dict[str, float]:
    found = await store.query(session, name, match, T, T + timedelta(minutes=1), 60, T + timedelta(minutes=5))
    return {s["labels"].get("gpu") or s["labels"]["replica"]: s["points"][0][1] for s in found["series"]}


async def test_fake_nvml_readings_become_gpu_series(db_session):
    node = f"node-{uuid.uuid4().hex[:8]}"
    readings = [
        {"index": 0, "utilization_percent": 87, "memory_used_bytes": 30 * 2**30, "memory_total_bytes": 80 * 2**30,
         "temperature_c": 71, "power_w": 312.5},
        {"index": 1, "utilization_percent": 3, "memory_used_bytes": 2**30, "memory_total_bytes": 80 * 2**30,
         "temperature_c": 40, "power_w": None},
    ]  # fmt: skip
    points = sources.gpu_points(readings, T, node=node)
    await store.write(db_session, points)
    assert await _value(db_session, "gpu_utilization", {"node": node}) == {"0": 87.0, "1": 3.0}
    assert await _value(db_session, "gpu_memory_used_bytes", {"node": node}) == {"0": 30.0 * 2**30, "1": 2.0**30}
    assert await _value(db_session, "gpu_temperature_c", {"node": node}) == {"0": 71.0, "1": 40.0}
    assert await _value(db_session, "gpu_power_w", {"node": node}) == {"0": 312.5}  # GPU 1 reports no power

    # collect_gpus goes through the injected reader; a failing driver writes nothing and does not raise
    assert await sources.collect_gpus(db_session, T, read=lambda: readings) == 9

    def broken():
        raise RuntimeError("NVML: driver not loaded")

    assert await sources.collect_gpus(db_session, T, read=broken) == 0


async def _runtime_metrics() -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.build_app(None)), base_url="http://r") as c:
        response = await c.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_runtime_metrics_scraped_and_failures_skipped(db_session):
    # The runtime's own /metrics, from its ASGI app in-process (the route needs no model).
    engine.QUEUE_DEPTH.set(3)
    engine.RUNNING.set(5)
    before = sources.parse_runtime_metrics(await _runtime_metrics()).get("tokens_total", 0.0)
    engine.TOKENS.labels(kind="generated").inc(40)
    body = await _runtime_metrics()
    parsed = sources.parse_runtime_metrics(body)
    assert parsed["queue_depth"] == 3.0 and parsed["running"] == 5.0
    assert parsed["tokens_total"] == before + 40

    deployment = f"dep-{uuid.uuid4().hex[:8]}"

    async def fetch(url: str) -> str:
        if "down" in url:
            raise httpx.ConnectError("connection refused")
        return body

    targets = [(deployment, "0", "http://up:9000/metrics"), (deployment, "1", "http://down:9001/metrics")]
    written = await sources.collect_replicas(db_session, T, fetch=fetch, targets=targets)
    assert written == len(parsed)
    assert await _value(db_session, "replica_queue_depth", {"deployment": deployment}) == {"0": 3.0}
    assert await _value(db_session, "replica_running", {"deployment": deployment}) == {"0": 5.0}
    # the real scraper on a port nothing listens on: logged and skipped
    assert await sources.collect_replicas(db_session, T, targets=[(deployment, "2", "http://127.0.0.1:1/metrics")]) == 0
    # the deployments table is read without error (whatever other tests left there)
    assert isinstance(await sources.replica_targets(db_session), list)
