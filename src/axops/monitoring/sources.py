"""Two more sources for the metric history, read every 15 s by `tasks.collect_metrics` (points stamped
at the 15 s step):

- this node's GPUs (through `axops.hardware`, NVML): `gpu_utilization`, `gpu_memory_used_bytes`,
  `gpu_memory_total_bytes`, `gpu_temperature_c`, `gpu_power_w`, labelled {gpu, node}, and
  `gpu_node_up` {node}: 1 when its GPUs were read, 0 when the read failed or found none on a node
  that had reported GPUs before (a node that never had any writes nothing, so CPU-only installs
  don't alert);
- each ready replica of a live deployment: its runtime's `/metrics` (Prometheus text) scraped with a
  short timeout, a few samples kept as `replica_<name>` labelled {deployment, replica}. A replica that
  does not answer is logged and skipped.

The deployments are read from their table directly (serving and monitoring share a layer)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops import hardware
from axops.core.logging import event
from axops.monitoring import store

log = logging.getLogger("axops.monitoring")

GPU_SERIES = {
    "gpu_utilization": "utilization_percent",
    "gpu_memory_used_bytes": "memory_used_bytes",
    "gpu_memory_total_bytes": "memory_total_bytes",
    "gpu_temperature_c": "temperature_c",
    "gpu_power_w": "power_w",
}

# Runtime sample (engine.py / api.py) -> kept as `replica_<name>`; labelled samples are summed.
REPLICA_SAMPLES = {
    "axops_runtime_queue_depth": "queue_depth",
    "axops_runtime_running": "running",
    "axops_runtime_load": "load",
    "axops_runtime_tokens_total": "tokens_total",
    "axops_runtime_errors_total": "errors_total",
    "axops_runtime_requests_total": "requests_total",
}
SCRAPE_TIMEOUT = 2.0
STEP_S = 15  # the collection interval: samples are stamped at its start

Reader = Callable[[], list[dict]]
Fetcher = Callable[[str], Awaitable[str]]


def gpu_points(readings: list[dict], now: datetime, node: str | None = None) -> list[store.Point]:
    node = node or socket.gethostname()
    points: list[store.Point] = []
    for gpu in readings:
        labels = {"gpu": str(gpu.get("index")), "node": node}
        for name, key in GPU_SERIES.items():
            value = gpu.get(key)
            if value is not None:
                points.append((name, labels, now, float(value)))
    return points


_HAD_GPUS = text(
    "SELECT EXISTS (SELECT 1 FROM metric_series WHERE name = 'gpu_utilization' AND labels->>'node' = :node)"
)


async def collect_gpus(
    session: AsyncSession, now: datetime, read: Reader = hardware.gpu_readings, node: str | None = None
) -> int:
    node = node or socket.gethostname()
    at = store._floor(now, STEP_S)
    try:
        readings = await asyncio.to_thread(read)
    except Exception as e:  # a driver fault must not stop the other sources
        event(log, "monitoring.gpu_read_failed", level=logging.WARNING, error=str(e))
        readings = []
    points = gpu_points(readings, at, node)
    if readings or (await session.execute(_HAD_GPUS, {"node": node})).scalar_one():
        points.append(("gpu_node_up", {"node": node}, at, 1.0 if readings else 0.0))
    await store.write(session, points)
    return len(points)


def parse_runtime_metrics(body: str) -> dict[str, float]:
    """The kept samples of a runtime's `/metrics` text, by their short name."""
    kept: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            short = REPLICA_SAMPLES.get(sample.name)
            if short is not None:
                kept[short] = kept.get(short, 0.0) + float(sample.value)
    return kept


async def _fetch(url: str) -> str:
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.text


_TARGETS = text("SELECT name, replicas FROM deployments WHERE status <> 'stopped'")


async def replica_targets(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(deployment, replica index, metrics URL) of each ready replica of a live deployment."""
    targets = []
    for name, replicas in (await session.execute(_TARGETS)).all():
        for r in replicas or []:
            if r.get("state") == "ready" and r.get("endpoint"):
                targets.append((name, str(r.get("index", "")), r["endpoint"].rstrip("/") + "/metrics"))
    return targets


async def collect_replicas(
    session: AsyncSession,
    now: datetime,
    fetch: Fetcher = _fetch,
    targets: list[tuple[str, str, str]] | None = None,
) -> int:
    if targets is None:
        targets = await replica_targets(session)

    async def scrape(url: str) -> dict[str, float] | None:
        try:
            return parse_runtime_metrics(await asyncio.wait_for(fetch(url), SCRAPE_TIMEOUT + 1))
        except Exception as e:
            event(log, "monitoring.scrape_failed", level=logging.WARNING, url=url, error=str(e) or type(e).__name__)
            return None

    results = await asyncio.gather(*(scrape(url) for _, _, url in targets))
    at = store._floor(now, STEP_S)
    points: list[store.Point] = []
    for (deployment, replica, _), samples in zip(targets, results, strict=True):
        for short, value in (samples or {}).items():
            points.append((f"replica_{short}", {"deployment": deployment, "replica": replica}, at, value))
    await store.write(session, points)
    return len(points)
