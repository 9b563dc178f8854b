"""The metric history's sources (monitoring/sources.py, sources_platform.py): a fake NVML reader's
values land as `gpu_*` series and `gpu_node_up`; a real runtime app's `/metrics` text is parsed into
`replica_*` series at the 15 s stamp; a replica that fails to answer is skipped; deployments' replica
counts and training jobs' states and queue waits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

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

    # collect_gpus goes through the injected reader: 9 readings and the node up
    assert await sources.collect_gpus(db_session, T, read=lambda: readings, node=node) == 10
    assert await _node_up(db_session, node, T) == 1.0

    def broken():
        raise RuntimeError("NVML: driver not loaded")

    # a failing driver does not raise; the node that had GPUs is now down (15 s later)
    later = T + timedelta(seconds=15)
    assert await sources.collect_gpus(db_session, later, read=broken, node=node) == 1
    assert await sources.collect_gpus(db_session, later, read=lambda: [], node=node) == 1
    assert await _node_up(db_session, node, later) == 0.0
    # a node that never had GPUs (a CPU-only install) writes nothing at all
    assert await sources.collect_gpus(db_session, later, read=lambda: [], node=node + "-cpu") == 0


async def _node_up(session, node: str, at: datetime) -> float:
    found = await store.query(session, "gpu_node_up", {"node": node}, at, at + timedelta(seconds=15), 15, at)
    return found["series"][0]["points"][0][1]


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
    written = await sources.collect_replicas(db_session, T + timedelta(seconds=20), fetch=fetch, targets=targets)
    assert written == len(parsed)
    assert await _value(db_session, "replica_queue_depth", {"deployment": deployment}) == {"0": 3.0}
    assert await _value(db_session, "replica_running", {"deployment": deployment}) == {"0": 5.0}
    # the real scraper on a port nothing listens on: logged and skipped
    assert await sources.collect_replicas(db_session, T, targets=[(deployment, "2", "http://127.0.0.1:1/metrics")]) == 0
    # the deployments table is read without error (whatever other tests left there)
    assert isinstance(await sources.replica_targets(db_session), list)


async def test_deployment_and_training_series(db_session):
    from axops.auth.models import Team
    from axops.monitoring import sources_platform
    from axops.registry.models import ModelVersion, RegisteredModel
    from axops.serving.models import Deployment
    from axops.training.models import TrainingJob

    tag = uuid.uuid4().hex[:8]
    team = Team(name=f"team-{tag}")
    db_session.add(team)
    await db_session.flush()
    model = RegisteredModel(name=f"m-{tag}", task="text-generation", team_id=team.id)
    db_session.add(model)
    await db_session.flush()
    version = ModelVersion(model_id=model.id, version=1)
    db_session.add(version)
    await db_session.flush()
    common = {"team_id": team.id, "model_id": model.id, "version_id": version.id}
    local = [
        {"index": 0, "state": "ready", "restarts": 2},
        {"index": 1, "state": "ready", "restarts": 0},
        {"index": 2, "state": "starting", "restarts": 3},
    ]
    k8s = [{"index": 0, "state": "ready", "ready_pods": 4, "restarts": 0}]
    db_session.add_all(
        [
            Deployment(name=f"local-{tag}", replicas=local, replicas_min=1, replicas_desired=3, replicas_max=5,
                       status="degraded", **common),
            Deployment(name=f"k8s-{tag}", executor="kubernetes", replicas=k8s, replicas_min=2, replicas_desired=4,
                       replicas_max=4, status="ready", **common),
            Deployment(name=f"gone-{tag}", replicas=local, status="stopped", **common),
        ]
    )  # fmt: skip
    now = datetime.now(UTC)
    at = store._floor(now, 15)
    job = {"base_version_id": version.id, "dataset_version_ids": [], "method": "lora", "hyperparameters": {},
           "resources": {}, "column_mapping": {}, "team_id": team.id}  # fmt: skip
    db_session.add_all(
        [
            TrainingJob(name="q", status="queued", queued_at=now - timedelta(minutes=5), **job),
            TrainingJob(name="a", status="running", queued_at=now - timedelta(seconds=70),
                        started_at=now - timedelta(seconds=10), **job),
            TrainingJob(name="b", status="running", queued_at=now - timedelta(seconds=40),
                        started_at=now - timedelta(seconds=5), **job),
            TrainingJob(name="old", status="succeeded", queued_at=now - timedelta(hours=2),
                        started_at=now - timedelta(hours=1), **job),
        ]
    )  # fmt: skip
    await db_session.flush()

    assert await sources_platform.collect_deployments(db_session, now) >= 8

    async def latest(name: str, match: dict) -> float:
        page = await store.query(db_session, name, match, at, at + timedelta(seconds=15), 15, now)
        return page["series"][0]["points"][0][1]

    for deployment, expected in ((f"local-{tag}", (2, 3, 5, 5)), (f"k8s-{tag}", (4, 4, 4, 0))):
        got = [
            await latest(n, {"deployment": deployment})
            for n in ("deployment_replicas_ready", "deployment_replicas_desired", "deployment_replicas_max",
                      "deployment_replica_restarts")
        ]  # fmt: skip
        assert got == list(map(float, expected)), deployment
    stopped = await store.query(
        db_session, "deployment_replicas_ready", {"deployment": f"gone-{tag}"}, at, now, 15, now
    )
    assert stopped["series"] == []  # a stopped deployment is not a live one

    await db_session.execute(text("DELETE FROM metric_watermarks WHERE source = 'training_started'"))
    before = dict((await db_session.execute(text("SELECT status, count(*) FROM training_jobs GROUP BY 1"))).all())
    assert await sources_platform.collect_training(db_session, now) == 6  # 5 states + the queue wait
    assert await latest("training_jobs", {"state": "running"}) == float(before["running"])
    assert await latest("training_jobs", {"state": "failed"}) == float(before.get("failed", 0))
    # the two jobs started in the last 15 s waited 60 s and 35 s; the one started an hour ago is not counted
    assert await latest("training_queue_wait_s", {}) == pytest.approx(47.5, abs=0.01)
    # the next run finds no new start: no wait point, the states again
    assert await sources_platform.collect_training(db_session, now + timedelta(seconds=15)) == 5
