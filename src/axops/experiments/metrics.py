"""The hot paths of tracking: logging a batch (metric points, params, tags) and reading metric histories.

Metric points never go through the ORM: a batch is validated into columns and written by one statement
over unnest() arrays that also moves the latest value of each key forward; histories are built as JSON by
PostgreSQL. Training calls log_batch (as SYSTEM) and latest_values."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.db import fetch_raw
from axops.core.errors import Conflict, Invalid, NotFound
from axops.experiments import metric_links
from axops.experiments.values import (
    MAX_METRICS,
    MAX_PARAM_VALUE,
    MAX_PARAMS,
    MAX_TAG_VALUE,
    MAX_TAGS,
    metric_columns,
    strings,
)

_LOG_POINTS = """
WITH pts AS (SELECT * FROM unnest($2::text[], $3::float8[], $4::int8[], $5::int8[]) AS p(key, value, step, ts)),
ins AS (INSERT INTO run_metrics (run_id, key, value, step, timestamp) SELECT $1, key, value, step, ts FROM pts)
INSERT INTO run_latest_metrics AS l (run_id, key, value, step, timestamp)
SELECT DISTINCT ON (key) $1, key, value, step, ts FROM pts ORDER BY key, step DESC, ts DESC
ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
WHERE (excluded.step, excluded.timestamp) >= (l.step, l.timestamp)
"""
# A batch with linked points (MLflow 3): a linked point equal to one already in the history (MLflow's log_model
# re-logs the step's points with the new model's id) is not written twice, as MLflow's metrics key keeps it once.
_LOG_POINTS_LINKED = _LOG_POINTS.replace(
    "SELECT $1, key, value, step, ts FROM pts)",
    """SELECT $1, key, value, step, ts FROM pts WHERE NOT (linked AND EXISTS (SELECT 1 FROM run_metrics m
       WHERE m.run_id = $1 AND m.key = pts.key AND m.step = pts.step AND m.timestamp = pts.ts AND m.value = pts.value)))""",
).replace("$5::int8[]) AS p(key, value, step, ts)", "$5::int8[], $6::bool[]) AS p(key, value, step, ts, linked)")
# Metric-only writes commit without waiting for the WAL flush (only this transaction: set_config(..., true)).
# A crash of PostgreSQL can lose the last ~0.6 s of acknowledged points (3 × wal_writer_delay), never part of
# a transaction and never anything else; params and tags keep synchronous commits. See bench/tracking/README.md.
_RUN_FOR_LOG = (
    "SELECT team_id, status, lifecycle, params, set_config('synchronous_commit', 'off', true) FROM runs WHERE id = $1"
)
_RUN_FOR_LOG_LOCKED = "SELECT team_id, status, lifecycle, params FROM runs WHERE id = $1 FOR NO KEY UPDATE"


async def log_batch(
    session: AsyncSession,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    metrics: Iterable[dict] = (),
    params: dict | None = None,
    tags: dict | None = None,
    max_metrics: int = MAX_METRICS,
) -> int:
    """Log metric points, params (write-once, as in MLflow) and tags to a run in one transaction.
    Returns the number of points written. One audit event per call with params or tags; metric-only calls
    (a training loop's log_metric per step) are audited once per run per minute (`_audit_metrics_now`)."""
    metrics = list(metrics)
    keys, values, steps, stamps = metric_columns(metrics, max_metrics)
    links = metric_links.point_links(metrics)
    linked = any(links)
    params = strings("params", params, MAX_PARAMS, MAX_PARAM_VALUE)
    tags = strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE)
    rows = await fetch_raw(session, _RUN_FOR_LOG_LOCKED if params or tags else _RUN_FOR_LOG, run_id)
    if not rows or not principal.sees_team(rows[0]["team_id"]):
        raise NotFound("No such run.", code="run_not_found")
    run = rows[0]
    if run["lifecycle"] != "active":
        raise Conflict("The run is deleted; restore it before logging to it.")
    if params:
        existing = orjson.loads(run["params"]) if isinstance(run["params"], str) else run["params"]
        changed = sorted(k for k, v in params.items() if k in existing and existing[k] != v)
        if changed:
            raise Invalid(
                f"Params are write-once; changing {', '.join(changed[:5])} is not allowed (log a new run).",
                keys=changed[:20],
            )
    if linked:
        flags = [link is not None for link in links]
        await fetch_raw(session, _LOG_POINTS_LINKED, run_id, keys, values, steps, stamps, flags)
        await metric_links.write(session, run_id, links, steps, stamps, values)
    elif keys:
        await fetch_raw(session, _LOG_POINTS, run_id, keys, values, steps, stamps)
    if params or tags:
        await fetch_raw(
            session,
            "UPDATE runs SET params = params || $2::jsonb, tags = tags || $3::jsonb, updated_at = now() WHERE id = $1",
            run_id,
            orjson.dumps(params).decode(),
            orjson.dumps(tags).decode(),
        )
    if (params or tags) or _audit_metrics_now(run_id, principal.user_id):
        audit.record(
            session,
            "run.log_batch",
            resource_type="run",
            resource_id=run_id,
            team_id=run["team_id"],
            summary={
                "metrics": len(keys),
                "metric_keys": sorted(set(keys))[:20],
                "params": sorted(params)[:20],
                "tags": sorted(tags)[:20],
            },
        )
    return len(keys)


METRIC_AUDIT_INTERVAL = 60.0  # seconds between audit events of metric-only writes to one run (per process)
_metric_audited: dict[tuple[uuid.UUID, uuid.UUID], float] = {}


def _audit_metrics_now(run_id: uuid.UUID, actor: uuid.UUID) -> bool:
    """Whether this metric-only write gets an audit event: each caller's first one to a run in each minute.
    The run's history is the record of its points; the audit log says who wrote to which run and when."""
    now = time.monotonic()
    last = _metric_audited.get((run_id, actor))
    if last is not None and now - last < METRIC_AUDIT_INTERVAL:
        return False
    if len(_metric_audited) > 10_000:
        _metric_audited.clear()
    _metric_audited[(run_id, actor)] = now
    return True


_HISTORY = """
SELECT json_build_object('run_id', $1::uuid, 'key', $2::text, 'count', count(*),
    'steps', coalesce(json_agg(s.step), '[]'), 'timestamps', coalesce(json_agg(s.timestamp), '[]'),
    'values', coalesce(json_agg(s.value), '[]'))::text
FROM (SELECT step, timestamp, value FROM run_metrics WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp) s
"""


async def _check_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> None:
    rows = await fetch_raw(session, "SELECT team_id FROM runs WHERE id = $1", run_id)
    if not rows or not principal.sees_team(rows[0]["team_id"]):
        raise NotFound("No such run.", code="run_not_found")


async def metric_history_json(session: AsyncSession, principal: Principal, run_id: uuid.UUID, key: str) -> bytes:
    """All points of one metric as JSON built by PostgreSQL: {run_id, key, count, steps, timestamps, values}."""
    await _check_run(session, principal, run_id)
    rows = await fetch_raw(session, _HISTORY, run_id, key)
    return rows[0][0].encode()


_PAGE = """
SELECT array_agg(step), array_agg(timestamp), array_agg(value),
       bool_or(value IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8))
FROM (SELECT step, timestamp, value FROM run_metrics WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp
      LIMIT $3 OFFSET $4) s
"""


def _json_number(v: float) -> float | str:
    return v if math.isfinite(v) else "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"


async def metric_history_mlflow_json(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, key: str, limit: int | None, offset: int
) -> tuple[bytes, bool]:
    """A page of points as MLflow's JSON list of {key, value, timestamp, step}, and whether more follow.
    PostgreSQL sends three binary arrays and orjson writes the objects: 3× faster than json_agg of
    json_build_object for 100,000 points. Non-finite values are written as MLflow does ("NaN", "Infinity")."""
    await _check_run(session, principal, run_id)
    rows = await fetch_raw(session, _PAGE, run_id, key, limit + 1 if limit else None, offset)
    steps, stamps, values, odd = rows[0]
    if steps is None:
        return b"[]", False
    more = bool(limit) and len(steps) > limit
    if more:
        steps, stamps, values = steps[:limit], stamps[:limit], values[:limit]
    if odd:
        values = [_json_number(v) for v in values]
    doc = [{"key": key, "value": v, "timestamp": t, "step": s} for s, t, v in zip(steps, stamps, values, strict=True)]
    return orjson.dumps(doc), more


MAX_BULK_RUNS = 100  # MLflow's limits for get-history-bulk-interval
MAX_BULK_RESULTS = 2500


def _sample_steps(steps: list[int], edges: set[int], start: int, end: int, max_results: int) -> list[int]:
    """MLflow's sampling: up to max_results steps evenly by index among the distinct steps in [start, end],
    the last one, and each run's first and last step in that range."""
    inside = [s for s in steps if start <= s <= end]
    if len(inside) <= max_results:
        chosen = set(inside)
    else:
        interval = len(inside) / max_results
        chosen = {inside[int(i * interval)] for i in range(max_results)} | {inside[-1]}
    return sorted(chosen | {s for s in edges if start <= s <= end})


def _evenly(total: int, n: int) -> list[int]:
    if total <= n:
        return list(range(total))
    if n == 1:
        return [total - 1]
    gap = (total - 1) / (n - 1)
    return sorted({round(i * gap) for i in range(n)})


async def metric_history_bulk_interval(
    session: AsyncSession,
    principal: Principal,
    run_ids: list[uuid.UUID],
    key: str,
    max_results: int,
    start_step: int | None,
    end_step: int | None,
) -> list[dict]:
    """What the MLflow UI draws charts from: one metric of several runs, downsampled to about max_results
    steps (MLflow's get-history-bulk-interval, same sampling), as {key, value, timestamp, step, run_id}."""
    runs = await fetch_raw(session, "SELECT id, team_id FROM runs WHERE id = ANY($1)", run_ids)
    visible = {r[0] for r in runs if principal.sees_team(r[1])}
    missing = [r for r in run_ids if r not in visible]
    if missing:
        raise NotFound(f"No run with id {missing[0].hex!r}.", code="run_not_found")
    ranges = await fetch_raw(
        session,
        "SELECT run_id, min(step), max(step), array_agg(DISTINCT step) FROM run_metrics "
        "WHERE run_id = ANY($1) AND key = $2 GROUP BY run_id",
        run_ids,
        key,
    )
    if not ranges:
        return []
    steps = sorted({s for r in ranges for s in r[3]})
    edges = {r[1] for r in ranges} | {r[2] for r in ranges}
    start, end = (0, steps[-1]) if start_step is None else (start_step, end_step)
    chosen = _sample_steps(steps, edges, start, end, max_results)
    rows = await fetch_raw(
        session,
        "SELECT run_id, array_agg(step ORDER BY step, timestamp), array_agg(timestamp ORDER BY step, timestamp), "
        "array_agg(value ORDER BY step, timestamp) FROM run_metrics "
        "WHERE run_id = ANY($1) AND key = $2 AND step = ANY($3) GROUP BY run_id",
        run_ids,
        key,
        chosen,
    )
    by_run = {r[0]: r for r in rows}
    cap = max(max_results, len(chosen))
    out = []
    for run_id in dict.fromkeys(run_ids):
        if run_id not in by_run:
            continue
        _, st, ts, vs = by_run[run_id]
        out += [
            {"key": key, "value": _json_number(vs[i]), "timestamp": ts[i], "step": st[i], "run_id": run_id.hex}
            for i in _evenly(len(st), cap)
        ]
    return out


async def latest_values(
    session: AsyncSession, run_ids: list[uuid.UUID], keys: list[str]
) -> dict[tuple[uuid.UUID, str], float]:
    """The latest value of each of these metrics in each of these runs, in one query (for callers that
    have already checked the runs are the caller's: training's sweep pages)."""
    if not run_ids or not keys:
        return {}
    rows = await fetch_raw(
        session,
        "SELECT run_id, key, value FROM run_latest_metrics WHERE run_id = ANY($1) AND key = ANY($2)",
        list(set(run_ids)),
        list(set(keys)),
    )
    return {(r[0], r[1]): float(r[2]) for r in rows}
