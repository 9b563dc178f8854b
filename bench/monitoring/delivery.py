"""Alert delivery benchmark (issue 17 target: a breach reaches its channel within 15 s, rule evaluation included).

    .venv/bin/python bench/monitoring/delivery.py

Runs on its own database `axops_bench_delivery` on AXOPS_BENCH_DATABASE_URL's server (default the local
PostgreSQL), created, migrated and dropped, with an HTTP receiver (aiohttp) on a loopback port that notes when
each notification arrives. Measured, with `delivery.dispatch` called the way the engine calls it (right after it
commits notifications):
1. latency: BENCH_DELIVERY_N (50) notifications one at a time to a signed-webhook channel: from the row's
   commit to the receiver having the body (p50, p95, max);
2. fan-out: 200 notifications x 5 channels (1,000 deliveries) committed at once, then dispatch until none is
   due: total time and deliveries per second;
3. a slow receiver (answers after 30 s: the 10 s timeout) in the same batch as a fast one: when the fast one
   got its notification, and how long the dispatch call took.
The periodic task (every 15 s) only matters when the engine's own dispatch call was missed: worst case
15 s + one dispatch. Results are printed and written to bench/monitoring/delivery_results.json."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import psycopg
from aiohttp import web
from sqlalchemy import make_url

from axops.core import crypto
from axops.core.db import Database, libpq_url
from axops.migrations.runner import upgrade
from axops.monitoring import delivery
from axops.monitoring.notifications import AlertItem, Notification

SERVER = os.environ.get("AXOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "axops_bench_delivery"
N = int(os.environ.get("BENCH_DELIVERY_N", "50"))
KEY = "bench-secret-key-" + "x" * 32


class Settings:
    alert_allowed_networks = "127.0.0.0/8"


class Receiver:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # group_key -> perf_counter at arrival
        self.delay_s = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrived.setdefault(body["group_key"], time.perf_counter())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(text="ok")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


def payload(group_key: str) -> str:
    alert = AlertItem(
        "f", {"alertname": "지연", "route": "chat"}, {"summary": "p95 > 2 s"}, "firing", 2400.0, datetime.now(UTC)
    )
    return json.dumps(Notification(group_key, "r", "지연 경보", "bench", "critical", "firing", [alert]).to_json())


def channel(conn, team: uuid.UUID, name: str, url: str) -> uuid.UUID:
    cid = uuid.uuid4()
    secret = crypto.encrypt(KEY, json.dumps({"signing_secret": "whsec_bench"}))
    conn.execute(
        "INSERT INTO alert_channels (id, team_id, name, kind, visibility, config, secret) "
        "VALUES (%s, %s, %s, 'webhook', 'team', %s::jsonb, %s)",
        (cid, team, name, json.dumps({"url": url, "_secrets": ["signing_secret"]}), secret),
    )
    return cid


def notify(conn, team: uuid.UUID, channels: list[uuid.UUID], group_key: str) -> None:
    conn.execute(
        "INSERT INTO alert_notifications (id, team_id, group_key, status, channel_ids, payload) "
        "VALUES (%s, %s, %s, 'firing', %s, %s::jsonb)",
        (uuid.uuid4(), team, group_key, channels, payload(group_key)),
    )


async def drain(db: Database) -> int:
    total = 0
    while sent := await delivery.dispatch(db):
        total += sent
    return total


def q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def main() -> dict:
    admin = libpq_url(SERVER)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = make_url(SERVER).set(database=DB_NAME).render_as_string(hide_password=False)
    results: dict = {}
    try:
        upgrade(url)
        delivery.configure(KEY, Settings())
        fast, slow = Receiver(), Receiver()
        fast_url, slow_url = await fast.start(), await slow.start()
        slow.delay_s = 30
        db = Database(url, pool_size=5)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            team = conn.execute(
                "INSERT INTO teams (id, name, description) VALUES (gen_random_uuid(), 'bench', '') RETURNING id"
            ).fetchone()[0]
            hook = channel(conn, team, "hook", fast_url + "/hook")
            fan = [channel(conn, team, f"fan-{i}", fast_url + f"/fan{i}") for i in range(5)]
            late = channel(conn, team, "slow", slow_url + "/slow")

            # 1. latency, one notification at a time
            await drain(db)
            latencies = []
            for i in range(N):
                key = f"one-{i}"
                notify(conn, team, [hook], key)
                committed = time.perf_counter()
                await delivery.dispatch(db)
                latencies.append((fast.arrived[key] - committed) * 1000)
            results["latency_ms"] = {
                "n": N,
                "p50": round(statistics.median(latencies), 1),
                "p95": round(q(latencies, 0.95), 1),
                "max": round(max(latencies), 1),
            }

            # 2. fan-out
            for i in range(200):
                notify(conn, team, fan, f"fan-{i}")
            started = time.perf_counter()
            sent = await drain(db)
            took = time.perf_counter() - started
            results["fan_out"] = {"deliveries": sent, "seconds": round(took, 2), "per_second": round(sent / took, 1)}

            # 3. a slow receiver beside a fast one
            notify(conn, team, [hook, late], "mixed")
            committed = time.perf_counter()
            await delivery.dispatch(db)
            results["slow_beside_fast"] = {
                "fast_received_ms": round((fast.arrived["mixed"] - committed) * 1000, 1),
                "dispatch_s": round(time.perf_counter() - committed, 2),
                "slow_status": conn.execute(
                    "SELECT status || ' attempts=' || attempts || ' ' || coalesce(last_error, '') FROM alert_deliveries "
                    "WHERE channel_id = %s",
                    (late,),
                ).fetchone()[0],
            }
        await db.engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    results["worst_case_periodic_s"] = round(15 + results["latency_ms"]["max"] / 1000, 2)
    return results


if __name__ == "__main__":
    out = asyncio.run(main())
    print(json.dumps(out, indent=2, ensure_ascii=False))
    (Path(__file__).parent / "delivery_results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
