"""Writing, rolling up, expiring and reading metric history.

Raw points keep `RAW_DAYS`, per-minute rollups `MINUTE_DAYS`, per-hour rollups `HOUR_DAYS`. A rollup
bucket is written once it is closed (its end is at or before `now`) and rewritten while it stays in the
look-back window, so rolling up twice gives the same rows; each rollup's reach is kept as the watermarks
'rollup_1m' and 'rollup_1h'. A query reads raw points, minute or hour rollups by its step and how far
back it starts (what lies beyond a rollup's reach from the finer tables), and averages the values
inside each step."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.core.errors import Invalid

RAW_DAYS = 2
MINUTE_DAYS = 30
HOUR_DAYS = 400
MAX_POINTS = 2000  # per series in one query: a longer range gets a wider step
DEFAULT_POINTS = 300  # without a step, the range is cut into about this many steps

Point = tuple[str, dict, datetime, float]  # name, labels, time, value

_WRITE = text("""
WITH input AS (
    SELECT DISTINCT ON (name, labels, ts) name, labels, ts, value
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(name text, labels jsonb, ts timestamptz, value float8)
    ORDER BY name, labels, ts
), wanted AS (
    SELECT DISTINCT name, labels FROM input
), added AS (
    INSERT INTO metric_series (name, labels) SELECT name, labels FROM wanted
    ON CONFLICT (name, labels) DO NOTHING RETURNING id, name, labels
), series AS (
    SELECT id, name, labels FROM added
    UNION ALL
    SELECT s.id, s.name, s.labels FROM metric_series s JOIN wanted w ON s.name = w.name AND s.labels = w.labels
)
INSERT INTO metric_points (series_id, ts, value)
SELECT s.id, i.ts, i.value FROM input i JOIN series s ON s.name = i.name AND s.labels = i.labels
ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value
""")


async def write(session: AsyncSession, points: list[Point]) -> None:
    """Store points in one statement: their series are made when new, a point at a time a series
    already has replaces the value. The caller commits."""
    if not points:
        return
    rows = [
        {"name": name, "labels": {str(k): str(v) for k, v in labels.items()}, "ts": ts.isoformat(), "value": value}
        for name, labels, ts, value in points
        if value is not None and math.isfinite(value)
    ]
    if rows:
        await session.execute(_WRITE, {"rows": orjson.dumps(rows).decode()})


_ROLLUP_1M = text("""
INSERT INTO metric_points_1m (series_id, bucket, count, sum, min, max)
SELECT series_id, date_trunc('minute', ts), count(*), sum(value), min(value), max(value)
FROM metric_points WHERE ts >= :since AND ts < :until
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max
""")
_ROLLUP_1H = text("""
INSERT INTO metric_points_1h (series_id, bucket, count, sum, min, max)
SELECT series_id, date_trunc('hour', bucket), sum(count), sum(sum), min(min), max(max)
FROM metric_points_1m WHERE bucket >= :since AND bucket < :until
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE
SET count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max
""")


def _floor(at: datetime, seconds: int) -> datetime:
    epoch = at.timestamp()
    return at - timedelta(seconds=epoch % seconds)


async def rollup(session: AsyncSession, now: datetime, lookback: timedelta = timedelta(hours=3)) -> None:
    """Roll raw points up into the minutes, and minutes into the hours, that closed before `now` and
    began within `lookback` of it (points written later than that into older buckets are not counted)."""
    minute = _floor(now, 60)
    await session.execute(_ROLLUP_1M, {"since": _floor(minute - lookback, 60), "until": minute})
    hour = _floor(now, 3600)
    await session.execute(_ROLLUP_1H, {"since": _floor(hour - lookback, 3600), "until": hour})
    # how far each rollup reaches: a query reads what lies beyond from the finer table
    await session.execute(
        text("""INSERT INTO metric_watermarks (source, at) VALUES ('rollup_1m', :minute), ('rollup_1h', :hour)
                ON CONFLICT (source) DO UPDATE SET at = greatest(metric_watermarks.at, EXCLUDED.at)"""),
        {"minute": minute, "hour": hour},
    )


async def apply_retention(
    session: AsyncSession,
    now: datetime,
    raw_days: int = RAW_DAYS,
    minute_days: int = MINUTE_DAYS,
    hour_days: int = HOUR_DAYS,
) -> dict[str, int]:
    """Delete raw points, minute and hour rollups older than their retention; returns the counts."""
    deleted = {}
    for table, column, days in (
        ("metric_points", "ts", raw_days),
        ("metric_points_1m", "bucket", minute_days),
        ("metric_points_1h", "bucket", hour_days),
    ):
        result = await session.execute(
            text(f"DELETE FROM {table} WHERE {column} < :before"), {"before": now - timedelta(days=days)}
        )
        deleted[table] = result.rowcount
    return deleted


def plan(start: datetime, end: datetime, step_s: int | None, now: datetime) -> tuple[str, int]:
    """The table to read and the step (seconds) for a query: at most MAX_POINTS steps; minute rollups
    for steps of a minute or more or a start older than the raw points kept, hours likewise. Without
    a step, ranges of 150 hours or more are read per hour."""
    if end <= start:
        raise Invalid("`to` must be after `from`.")
    span = (end - start).total_seconds()
    step = int(step_s) if step_s else max(1, math.ceil(span / DEFAULT_POINTS))
    if not step_s and span >= DEFAULT_POINTS / 2 * 3600:
        # a week or more without a step: hours (>= 150 points) read ~60x fewer rows than minutes
        step = max(step, 3600)
    if step < 1:
        raise Invalid("`step` is a positive number of seconds.")
    step = max(step, math.ceil(span / MAX_POINTS))
    if step >= 3600 or start < now - timedelta(days=MINUTE_DAYS):
        return "metric_points_1h", math.ceil(step / 3600) * 3600
    if step >= 60 or start < now - timedelta(days=RAW_DAYS):
        return "metric_points_1m", math.ceil(step / 60) * 60
    return "metric_points", step


async def query(
    session: AsyncSession,
    name: str,
    labels_match: dict[str, str],
    start: datetime,
    end: datetime,
    step_s: int | None,
    now: datetime,
) -> dict:
    """Each series named `name` whose labels include `labels_match`, as {labels, points: [[t, value]]}
    from `start` (inclusive) to `end` (exclusive); t is a step's start (aligned to the epoch), value the
    average of the points in it. Steps without points are left out."""
    table, step = plan(start, end, step_s, now)
    # A rollup table holds closed buckets up to its watermark; newer points come from the finer tables.
    frontier = dict(
        (await session.execute(text("SELECT source, at FROM metric_watermarks WHERE source LIKE 'rollup_%'"))).all()
    )
    # The series first (by name and labels), then only their rows: each table is read through its
    # (series_id, time) key instead of every series' rows in the range.
    found = (
        await session.execute(
            text("SELECT id, labels FROM metric_series WHERE name = :name AND labels @> CAST(:match AS jsonb)"),
            {"name": name, "match": orjson.dumps(labels_match).decode()},
        )
    ).all()
    labels_of = {sid: labels for sid, labels in found}
    keep = "series_id = ANY(:ids)"
    raw = f"SELECT series_id, ts AS t, value AS total, 1 AS n FROM metric_points WHERE {keep} AND ts >= :start AND ts < :end"
    minutes = f"SELECT series_id, bucket AS t, sum AS total, count AS n FROM metric_points_1m WHERE {keep} AND bucket >= :start AND bucket < :end"
    hours = f"SELECT series_id, bucket AS t, sum AS total, count AS n FROM metric_points_1h WHERE {keep} AND bucket >= :start AND bucket < :end"
    epoch0 = datetime.fromtimestamp(0, UTC)
    m, h = frontier.get("rollup_1m", epoch0), frontier.get("rollup_1h", epoch0)
    if table == "metric_points":
        source = raw
    elif table == "metric_points_1m":
        source = f"{minutes} AND bucket < :m UNION ALL {raw} AND ts >= :m"
    else:
        source = f"{hours} AND bucket < :h UNION ALL {minutes} AND bucket >= :h AND bucket < :m UNION ALL {raw} AND ts >= greatest(:m, :h)"
    rows = []
    if labels_of:
        rows = (
            await session.execute(
                # date_bin: the steps aligned to the epoch, without numeric arithmetic on every row
                text(f"""
                SELECT series_id, extract(epoch FROM b)::bigint AS t, v FROM (
                    SELECT p.series_id, date_bin(make_interval(secs => :step), p.t, TIMESTAMPTZ 'epoch') AS b,
                           sum(p.total) / sum(p.n) AS v
                    FROM ({source}) p GROUP BY 1, 2) g
                ORDER BY 1, 2"""),
                {"step": float(step), "ids": list(labels_of), "start": start, "end": end, "m": m, "h": h},
            )
        ).all()
    series: dict[int, dict] = {}
    for sid, t, v in rows:
        series.setdefault(sid, {"labels": labels_of[sid], "points": []})["points"].append([int(t), float(v)])
    return {
        "step": step,
        "resolution": {"metric_points": "raw", "metric_points_1m": "1m"}.get(table, "1h"),
        "series": list(series.values()),
    }


async def names(session: AsyncSession) -> list[str]:
    return list((await session.execute(text("SELECT DISTINCT name FROM metric_series ORDER BY name"))).scalars())


async def apply_retention_daily(session: AsyncSession, now: datetime) -> dict[str, int] | None:
    """`apply_retention` when it last ran a day or more ago (its time kept as the watermark
    'retention'); None when it is not due."""
    last = (
        await session.execute(text("SELECT at FROM metric_watermarks WHERE source = 'retention' FOR UPDATE"))
    ).scalar_one_or_none()
    if last is not None and now - last < timedelta(days=1):
        return None
    deleted = await apply_retention(session, now)
    await session.execute(
        text("""INSERT INTO metric_watermarks (source, at) VALUES ('retention', :at)
                ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at"""),
        {"at": now},
    )
    return deleted
