"""Metric history (monitoring/store.py, collector.py): points written, rolled up into minutes and
hours, read back averaged per step from the right table, expired by age; the gateway collector turns
usage records into per-route series, each minute once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from axops.core.errors import Invalid
from axops.monitoring import collector, store

T = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
EPOCH = int(T.timestamp())


async def test_write_rollup_query_and_retention(db_session):
    name = f"test_metric_{uuid.uuid4().hex[:8]}"
    a, b = {"route": "a"}, {"route": "b"}
    s = timedelta(seconds=1)
    await store.write(
        db_session,
        [
            (name, a, T, 1.0),
            (name, a, T + 30 * s, 3.0),
            (name, a, T + 60 * s, 5.0),
            (name, a, T + 90 * s, 7.0),
            (name, a, T + 3600 * s, 10.0),
            (name, b, T, 100.0),
        ],
    )
    await store.write(db_session, [(name, a, T + 30 * s, 3.0)])  # the same point again: replaced, not doubled
    await db_session.execute(text("DELETE FROM metric_watermarks WHERE source LIKE 'rollup_%'"))  # T is long ago
    now = T + timedelta(hours=2, seconds=10)
    await store.rollup(db_session, now)
    await store.rollup(db_session, now)  # idempotent

    async def points(step, start=T, end=T + timedelta(hours=2), at=now, match=a):
        page = await store.query(db_session, name, match, start, end, step, at)
        return page["resolution"], [s["points"] for s in page["series"]]

    assert await points(30, end=T + 120 * s) == (
        "raw",
        [[[EPOCH, 1.0], [EPOCH + 30, 3.0], [EPOCH + 60, 5.0], [EPOCH + 90, 7.0]]],
    )
    assert await points(60, end=T + 120 * s) == ("1m", [[[EPOCH, 2.0], [EPOCH + 60, 6.0]]])
    assert await points(120, end=T + 120 * s) == ("1m", [[[EPOCH, 4.0]]])
    assert await points(3600) == ("1h", [[[EPOCH, 4.0], [EPOCH + 3600, 10.0]]])
    # points not rolled up yet (the open minute and hour) are read raw
    await store.write(db_session, [(name, a, T + 7205 * s, 20.0)])
    assert await points(3600, end=T + timedelta(hours=3)) == (
        "1h",
        [[[EPOCH, 4.0], [EPOCH + 3600, 10.0], [EPOCH + 7200, 20.0]]],
    )
    assert await points(60, start=T + timedelta(hours=2), end=T + timedelta(hours=3)) == (
        "1m",
        [[[EPOCH + 7200, 20.0]]],
    )
    both = await store.query(db_session, name, {}, T, T + 60 * s, 60, now)
    assert sorted(x["labels"]["route"] for x in both["series"]) == ["a", "b"]
    assert (await store.query(db_session, name + "_unknown", {}, T, now, None, now))["series"] == []
    minute = (
        await db_session.execute(
            text(
                "SELECT count, sum, min, max FROM metric_points_1m m JOIN metric_series s ON s.id = m.series_id "
                'WHERE s.name = :n AND s.labels = \'{"route": "a"}\' AND bucket = :t'
            ),
            {"n": name, "t": T},
        )
    ).one()
    assert tuple(minute) == (2, 4.0, 1.0, 3.0)

    later = T + timedelta(days=3)
    deleted = await store.apply_retention(db_session, later)
    assert deleted["metric_points"] >= 6 and deleted["metric_points_1m"] == 0
    assert await points(30, end=T + 120 * s, at=later) == ("1m", [[[EPOCH, 2.0], [EPOCH + 60, 6.0]]])  # from minutes


def test_plan_bounds_the_points_and_refuses_an_empty_range():
    now = T + timedelta(hours=1)
    with pytest.raises(Invalid):
        store.plan(T, T, None, now)
    table, step = store.plan(T - timedelta(days=20), T, 1, now)  # 20 days at 1 s: widened
    assert table == "metric_points_1m" and step % 60 == 0 and 20 * 86400 / step <= store.MAX_POINTS
    assert store.plan(T, T + timedelta(minutes=10), None, now) == ("metric_points", 2)
    assert store.plan(T - timedelta(days=200), T, None, now)[0] == "metric_points_1h"
    # a week without a step: hours (168 points), not 34-minute steps over minute rollups
    assert store.plan(T - timedelta(days=7), T, None, now) == ("metric_points_1h", 3600)
    assert store.plan(T - timedelta(days=7), T, 600, now) == ("metric_points_1m", 600)  # a step asked for is kept
    assert store.plan(T - timedelta(hours=24), T, None, now) == ("metric_points_1m", 300)


async def _usage(session, route: str, at: datetime, status: int, latency: float) -> None:
    await session.execute(
        text("""INSERT INTO usage_records (created_at, endpoint, model, stream, status, prompt_tokens,
                    completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
                VALUES (:at, 'chat', :route, false, :status, 10, 5, 0.5, :latency, 1, 'off', 0)"""),
        {"at": at, "route": route, "status": status, "latency": latency},
    )


async def test_gateway_collector_counts_each_minute_once(db_session):
    route = f"route-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=45, microsecond=0)
    minute = now.replace(second=0) - timedelta(minutes=2)
    await db_session.execute(text("DELETE FROM metric_watermarks WHERE source = 'gateway'"))
    for i in range(10):
        await _usage(db_session, route, minute + timedelta(seconds=i), 500 if i == 0 else 200, float(i + 1))
    await _usage(db_session, route, minute + timedelta(minutes=1, seconds=5), 200, 50.0)
    await _usage(db_session, route, now - timedelta(seconds=20), 200, 1.0)  # the open minute: not yet

    assert await collector.collect_gateway(db_session, now) >= 27  # 2 closed minutes + the open one, 9 series
    # nothing new closed after the watermark: only the open minute is written again (replacing itself)
    assert await collector.collect_gateway(db_session, now) >= 9

    async def value(name, at=now):
        page = await store.query(db_session, name, {"route": route}, minute, at, 60, at)
        return [p for s in page["series"] for p in s["points"]]

    epoch = int(minute.timestamp())
    await store.write(db_session, [])  # no points: no statement
    # the 1m rollup only has closed minutes: read the raw points per minute (step < 60 keeps raw)
    page = await store.query(db_session, "gateway_requests", {"route": route}, minute, now, 30, now)
    assert page["series"][0]["points"] == [[epoch, 10.0], [epoch + 60, 1.0], [epoch + 120, 1.0]]
    await store.rollup(db_session, now)
    assert await value("gateway_requests") == [[epoch, 10.0], [epoch + 60, 1.0], [epoch + 120, 1.0]]
    assert await value("gateway_errors") == [[epoch, 1.0], [epoch + 60, 0.0], [epoch + 120, 0.0]]
    assert await value("gateway_server_errors") == [[epoch, 1.0], [epoch + 60, 0.0], [epoch + 120, 0.0]]
    assert await value("gateway_latency_p50_ms") == [[epoch, 5.5], [epoch + 60, 50.0], [epoch + 120, 1.0]]
    p95 = (await value("gateway_latency_p95_ms"))[0][1]
    assert p95 == pytest.approx(9.55)
    assert (await value("gateway_latency_p99_ms"))[0][1] == pytest.approx(9.91)
    assert await value("gateway_prompt_tokens") == [[epoch, 100.0], [epoch + 60, 10.0], [epoch + 120, 10.0]]
    assert await value("gateway_completion_tokens") == [[epoch, 50.0], [epoch + 60, 5.0], [epoch + 120, 5.0]]
    assert await value("gateway_cost") == [[epoch, 5.0], [epoch + 60, 0.5], [epoch + 120, 0.5]]

    # a 4xx is an error but not a server error; once its minute closes the full count replaces the partial
    await _usage(db_session, route, now - timedelta(seconds=5), 404, 3.0)
    later = now + timedelta(minutes=1)
    await collector.collect_gateway(db_session, later)
    assert (await value("gateway_requests", later))[2] == [epoch + 120, 2.0]
    assert (await value("gateway_errors", later))[2] == [epoch + 120, 1.0]
    assert (await value("gateway_server_errors", later))[2] == [epoch + 120, 0.0]
    watermark = (await db_session.execute(text("SELECT at FROM metric_watermarks WHERE source = 'gateway'"))).scalar()
    assert watermark == minute + timedelta(minutes=3)  # only closed minutes (+ grace) are behind it
