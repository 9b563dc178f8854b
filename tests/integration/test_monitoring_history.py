"""GET /api/monitoring/series and /names over HTTP: labels filter, averaged steps, and the errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import psycopg
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation

from axops.core.db import libpq_url


def test_series_over_http(api, admin, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    start = now.replace(second=0) - timedelta(minutes=10)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES ('gateway_requests', %s::jsonb) RETURNING id",
                (labels,),
            ).fetchone()[0]
            for labels in ('{"route": "chat"}', '{"route": "embed"}')
        ]
        for sid, base in zip(ids, (1.0, 100.0), strict=True):
            for i in range(4):
                conn.execute(
                    "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s)",
                    (sid, start + timedelta(seconds=15 * i), base + i),
                )

    window = {"from": start.isoformat(), "to": (start + timedelta(minutes=1)).isoformat()}
    r = api.get(
        "/api/monitoring/series",
        params={"name": "gateway_requests", "label.route": "chat", "step": 30, **window},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    epoch = int(start.timestamp())
    assert r.json() == {
        "step": 30,
        "resolution": "raw",
        "series": [{"labels": {"route": "chat"}, "points": [[epoch, 1.5], [epoch + 30, 3.5]]}],
    }
    both = api.get(
        "/api/monitoring/series", params={"name": "gateway_requests", "step": 30, **window}, headers=admin
    ).json()
    assert sorted(s["labels"]["route"] for s in both["series"]) == ["chat", "embed"]

    assert api.get("/api/monitoring/names", headers=admin).json() == ["gateway_requests"]
    unknown = api.get("/api/monitoring/series", params={"name": "nope", **window}, headers=admin)
    assert unknown.status_code == 200 and unknown.json()["series"] == []
    backwards = {"from": window["to"], "to": window["from"]}
    bad = api.get("/api/monitoring/series", params={"name": "gateway_requests", **backwards}, headers=admin)
    assert bad.status_code == 422 and bad.json()["type"].endswith("validation_error")
    year = {"from": (now - timedelta(days=365)).isoformat(), "to": now.isoformat()}
    wide = api.get(
        "/api/monitoring/series", params={"name": "gateway_requests", "step": 1, **year}, headers=admin
    ).json()
    assert wide["resolution"] == "1h" and 365 * 86400 / wide["step"] <= 2000
    assert api.get("/api/monitoring/names").status_code == 401


def test_the_periodic_task_collects_the_gateways_usage(api, admin, database_url, live_server, task_worker):
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for i, (status, latency) in enumerate(((200, 10.0), (200, 30.0), (502, 50.0))):
            conn.execute(
                """INSERT INTO usage_records (created_at, endpoint, model, stream, status, prompt_tokens,
                       completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
                   VALUES (%s, 'chat', 'task-route', false, %s, 7, 3, 0.25, %s, 1, 'off', 0)""",
                (minute + timedelta(seconds=i), status, latency),
            )
    state = live_server.app.state.axops
    defer = state.tasks.tasks["monitoring:collect_metrics"].defer_async(timestamp=0)
    with contextlib.suppress(AlreadyEnqueued, UniqueViolation):  # one is queued already: the worker takes it
        asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)
    params = {"label.route": "task-route", "from": minute.isoformat(), "step": 30}
    deadline = time.monotonic() + 60
    while True:
        page = api.get("/api/monitoring/series", params={"name": "gateway_requests", **params}, headers=admin).json()
        if page["series"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    epoch = int(minute.timestamp())
    assert page["series"] == [{"labels": {"route": "task-route"}, "points": [[epoch, 3.0]]}]
    expected = {
        "gateway_errors": 1.0,
        "gateway_latency_p50_ms": 30.0,
        "gateway_prompt_tokens": 21.0,
        "gateway_cost": 0.75,
    }
    for name, value in expected.items():
        got = api.get("/api/monitoring/series", params={"name": name, **params}, headers=admin).json()
        assert got["series"][0]["points"] == [[epoch, value]], name
    minutes = api.get(
        "/api/monitoring/series", params={**params, "name": "gateway_requests", "step": 60}, headers=admin
    )
    assert minutes.json()["series"][0]["points"] == [[epoch, 3.0]]  # rolled up by the same run


def test_finished_jobs_older_than_a_day_are_removed(live_server, database_url, task_worker):
    """The 15-second tasks leave a finished job each run: the hourly task deletes succeeded ones after a day,
    keeping newer ones and failed ones."""
    ids = {}
    with psycopg.connect(libpq_url(database_url)) as conn:  # one transaction: the worker never sees them queued
        for name, status, hours in (("old", "succeeded", 30), ("new", "succeeded", 1), ("failed", "failed", 30)):
            job = conn.execute(
                """INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)
                   VALUES ('default', 'test:finished_job', '{}', 'todo') RETURNING id"""
            ).fetchone()[0]
            for step in ("doing", status):  # the status triggers write the job's events
                conn.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (step, job))
            conn.execute(
                "UPDATE procrastinate_events SET at = now() - make_interval(hours => %s) WHERE job_id = %s",
                (hours, job),
            )
            ids[name] = job
    state = live_server.app.state.axops
    defer = state.tasks.tasks["monitoring:remove_finished_jobs"].defer_async(timestamp=0)
    with contextlib.suppress(AlreadyEnqueued, UniqueViolation):
        asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)
    deadline = time.monotonic() + 60
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        while True:
            left = {
                row[0]
                for row in conn.execute("SELECT id FROM procrastinate_jobs WHERE id = ANY(%s)", (list(ids.values()),))
            }
            if ids["old"] not in left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert left == {ids["new"], ids["failed"]}
