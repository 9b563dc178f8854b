"""Runs as the API shows them (one run with its latest metrics, a page of a search, a comparison): hand-written
SQL through asyncpg, the search language compiled by filter.py."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.db import fetch_raw
from axops.core.errors import Invalid, NotFound
from axops.experiments.filter import compile_filter, compile_order_by

_RUN_COLUMNS = """
    r.id, r.experiment_id, e.name AS experiment_name, r.team_id, r.name, r.status, r.start_time, r.end_time, r.params, r.tags,
    r.job_id, r.model_version_id, r.base_model_version_id, r.dataset_version_ids, r.created_by, u.username AS user_name,
    r.lifecycle, r.created_at, r.updated_at,
    (SELECT coalesce(json_object_agg(m.key, json_build_object('value', m.value, 'step', m.step, 'timestamp', m.timestamp)), '{}')
       FROM run_latest_metrics m WHERE m.run_id = r.id) AS metrics
"""
_RUN_FROM = "FROM runs r JOIN experiments e ON e.id = r.experiment_id LEFT JOIN users u ON u.id = r.created_by"


def _run_row(r) -> dict:
    d = dict(r)
    for k in ("params", "tags", "metrics"):
        if isinstance(d[k], str):
            d[k] = orjson.loads(d[k])
    d["dataset_version_ids"] = list(d["dataset_version_ids"] or [])
    return d


async def run_out(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> dict:
    rows = await fetch_raw(session, f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.id = $1", run_id)
    if not rows or not principal.sees_team(rows[0]["team_id"]):
        raise NotFound("No such run.", code="run_not_found")
    return _run_row(rows[0])


def decode_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        n = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if n < 0:
            raise ValueError
        return n
    except Exception as exc:
        raise Invalid("The cursor is malformed; use the next_cursor value from the previous page.") from exc


def encode_offset(n: int) -> str:
    return base64.urlsafe_b64encode(str(n).encode()).decode().rstrip("=")


def _where(principal: Principal, experiment_ids, filter, lifecycle: str, params: list) -> str:
    """The condition over `runs r JOIN experiments e` of a search: the caller's teams, the experiments, the
    lifecycle and the filter expression (its values appended to `params`)."""
    params += [team_ids_param(principal), experiment_ids or None]
    where = compile_filter(filter, params).sql
    life = {"active": "r.lifecycle = 'active'", "deleted": "r.lifecycle = 'deleted'"}.get(lifecycle, "TRUE")
    return f"""($1::uuid[] IS NULL OR r.team_id = ANY($1)) AND ($2::uuid[] IS NULL OR r.experiment_id = ANY($2))
          AND {life} AND e.lifecycle = 'active' AND ({where})"""


async def search_runs(
    session: AsyncSession,
    principal: Principal,
    *,
    experiment_ids: list[uuid.UUID] | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    limit: int = 100,
    cursor: str | None = None,
    lifecycle: str = "active",  # active, deleted, all
) -> tuple[list[dict], str | None]:
    """Runs matching the filter expression, in the order asked (newest first by default)."""
    if not 1 <= limit <= 50_000:
        raise Invalid("limit is 1 to 50000.")
    params: list = []
    where = _where(principal, experiment_ids, filter, lifecycle, params)
    order = compile_order_by(order_by, params)
    offset = decode_offset(cursor)
    params += [limit + 1, offset]
    sql = f"""
        SELECT {_RUN_COLUMNS} {_RUN_FROM}
        WHERE {where}
        ORDER BY {order + ", " if order else ""}r.start_time DESC, r.id DESC
        LIMIT ${len(params) - 1} OFFSET ${len(params)}
    """
    rows = [_run_row(r) for r in await fetch_raw(session, sql, *params)]
    if len(rows) > limit:
        return rows[:limit], encode_offset(offset + limit)
    return rows, None


async def count_runs(
    session: AsyncSession,
    principal: Principal,
    *,
    experiment_ids: list[uuid.UUID] | None = None,
    filter: str | None = None,
    lifecycle: str = "active",
) -> int:
    """How many runs a search matches in all (the UI says "100 of 1,000" instead of stopping silently)."""
    params: list = []
    where = _where(principal, experiment_ids, filter, lifecycle, params)
    rows = await fetch_raw(
        session, f"SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE {where}", *params
    )
    return int(rows[0][0])


async def run_keys(
    session: AsyncSession, principal: Principal, *, experiment_ids: list[uuid.UUID] | None = None, limit: int = 2000
) -> dict[str, list[str]]:
    """Every param, metric and tag key of the active runs the caller sees in these experiments (all when none
    are named), sorted; each list at most `limit` long. The runs table offers them all as columns."""
    params: list = []
    where = _where(principal, experiment_ids, None, "active", params)
    params.append(limit)
    runs_of = f"SELECT r.id, r.params, r.tags FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE {where}"
    n = len(params)
    rows = await fetch_raw(
        session,
        f"""
        WITH v AS ({runs_of})
        SELECT 'params', array(SELECT DISTINCT k FROM v, jsonb_object_keys(v.params) k ORDER BY k LIMIT ${n})
        UNION ALL
        SELECT 'tags', array(SELECT DISTINCT k FROM v, jsonb_object_keys(v.tags) k ORDER BY k LIMIT ${n})
        UNION ALL
        SELECT 'metrics', array(SELECT DISTINCT m.key FROM run_latest_metrics m JOIN v ON v.id = m.run_id
                                ORDER BY m.key LIMIT ${n})
        """,
        *params,
    )
    return {kind: list(keys) for kind, keys in rows}


async def metric_keys(session: AsyncSession, run_ids: list[uuid.UUID]) -> list[str]:
    rows = await fetch_raw(
        session, "SELECT DISTINCT key FROM run_latest_metrics WHERE run_id = ANY($1) ORDER BY key", run_ids
    )
    return [r[0] for r in rows]


async def compare_runs(
    session: AsyncSession,
    principal: Principal,
    run_ids: list[uuid.UUID],
    keys: list[str] | None = None,
    max_points: int = 2000,
) -> dict:
    """Runs side by side: params (with the keys that differ), latest metrics, and each metric's series
    (down-sampled to at most max_points per run and key, keeping the last point)."""
    if not 1 <= len(run_ids) <= 20:
        raise Invalid("Compare 1 to 20 runs.")
    run_ids = list(dict.fromkeys(run_ids))
    runs = [await run_out(session, principal, rid) for rid in run_ids]
    keys = keys or await metric_keys(session, run_ids)
    keys = keys[:50]
    rows = await fetch_raw(
        session,
        """
        SELECT run_id, key, json_build_object('steps', json_agg(step ORDER BY step, timestamp),
                                              'values', json_agg(value ORDER BY step, timestamp))::text
        FROM (SELECT run_id, key, step, timestamp, value, row_number() OVER w AS n, count(*) OVER (PARTITION BY run_id, key) AS c
              FROM run_metrics WHERE run_id = ANY($1) AND key = ANY($2)
              WINDOW w AS (PARTITION BY run_id, key ORDER BY step, timestamp)) p
        WHERE c <= $3 OR n = c OR (n - 1) % ceil(c::float8 / $3)::int = 0
        GROUP BY run_id, key
    """,
        run_ids,
        keys,
        max_points,
    )
    series: dict[str, dict[str, Any]] = {k: {} for k in keys}
    for run_id, key, doc in rows:
        series[key][str(run_id)] = orjson.loads(doc)
    param_keys = sorted({k for r in runs for k in r["params"]})
    differing = [k for k in param_keys if len({r["params"].get(k) for r in runs}) > 1]
    return {
        "runs": runs,
        "param_keys": param_keys,
        "differing_params": differing,
        "metric_keys": keys,
        "series": series,
    }
