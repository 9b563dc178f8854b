"""The hot paths of tracking: logging a batch (metric points, params, tags) and reading metric histories.

Metric points never go through the ORM: a batch is validated into columns and written by one statement
over unnest() arrays that also moves the latest value of each key forward; histories are built as JSON by
PostgreSQL. Training calls log_batch (as SYSTEM) and latest_values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.db import fetch_raw
from axops.core.errors import Conflict, Invalid, NotFound
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
_RUN_FOR_LOG = "SELECT team_id, status, lifecycle, params FROM runs WHERE id = $1"
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
    Returns the number of points written; one audit event per call."""
    keys, values, steps, stamps = metric_columns(metrics, max_metrics)
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
    if keys:
        await fetch_raw(session, _LOG_POINTS, run_id, keys, values, steps, stamps)
    if params or tags:
        await fetch_raw(
            session,
            "UPDATE runs SET params = params || $2::jsonb, tags = tags || $3::jsonb, updated_at = now() WHERE id = $1",
            run_id,
            orjson.dumps(params).decode(),
            orjson.dumps(tags).decode(),
        )
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


async def metric_history_mlflow_json(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, key: str, limit: int | None, offset: int
) -> tuple[bytes, bool]:
    """A page of points as MLflow's JSON list of {key, value, timestamp, step} (built by PostgreSQL), and
    whether more follow."""
    await _check_run(session, principal, run_id)
    rows = await fetch_raw(
        session,
        """
        SELECT coalesce(json_agg(json_build_object('key', $2::text, 'value', value, 'timestamp', timestamp, 'step', step)), '[]')::text,
               count(*)
        FROM (SELECT value, timestamp, step, row_number() OVER () AS n FROM
              (SELECT value, timestamp, step FROM run_metrics WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp
               LIMIT $3 OFFSET $4) o) s
        WHERE $5::bigint IS NULL OR s.n <= $5
    """,
        run_id,
        key,
        limit + 1 if limit else None,
        offset,
        limit,
    )
    doc, _count = rows[0]
    more = False
    if limit:
        total = await fetch_raw(session, "SELECT count(*) FROM run_metrics WHERE run_id = $1 AND key = $2", run_id, key)
        more = total[0][0] > offset + limit
    return doc.encode(), more


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
