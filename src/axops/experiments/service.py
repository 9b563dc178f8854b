"""Experiment tracking: experiments, runs, params, tags and metric series.

Metric points never go through the ORM: a batch is validated into columns and written by one statement
over unnest() arrays that also moves the latest value of each key forward; histories are built as JSON by
PostgreSQL. Other domains (training) call create_run / log_batch / set_run_status / link_model_version."""

from __future__ import annotations

import base64
import csv
import io
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.db import fetch_raw
from axops.core.errors import Conflict, Invalid, NotFound, StorageUnavailable
from axops.core.storage import ObjectStore
from axops.core.text import has_control
from axops.experiments.filter import compile_filter, compile_order_by
from axops.experiments.models import RUN_STATUSES, TERMINAL, Experiment, Run, RunArtifact
from axops.experiments.schemas import KEY_RULE, MAX_KEY, valid_key

MAX_METRICS = 10_000  # per log_batch call of the axops API (the MLflow API: 1000)
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
_NO_TEAM = uuid.UUID(int=0)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _teams(principal: Principal | None) -> list[uuid.UUID] | None:
    """Teams whose experiments the caller sees; None: all of them (admin, system)."""
    if principal is None or principal.is_admin:
        return None
    return list(principal.team_ids) or [_NO_TEAM]


def _visible(principal: Principal | None, team_id: uuid.UUID) -> bool:
    return principal is None or principal.sees_team(team_id)


def _team_for(principal: Principal | None, team_id: uuid.UUID | None) -> uuid.UUID:
    if team_id is None:
        if principal is None or not principal.team_ids:
            raise Invalid("Choose the owning team (team_id); you are not a member of any team yet.")
        return min(principal.team_ids)
    if not _visible(principal, team_id):
        raise NotFound("No such team among yours.")
    return team_id


def _strings(kind: str, values: Any, max_items: int, max_value: int) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise Invalid(f"{kind} must be an object of key → value strings.")
    if len(values) > max_items:
        raise Invalid(f"At most {max_items} {kind} per call ({len(values)} given).")
    out = {}
    for k, v in values.items():
        if not valid_key(k):
            raise Invalid(f"Invalid {kind} key {str(k)[:MAX_KEY]!r}: keys are {KEY_RULE}.")
        if isinstance(v, bool) or v is None:
            v = "" if v is None else str(v).lower()
        elif isinstance(v, int | float):
            v = repr(v) if isinstance(v, float) else str(v)
        elif not isinstance(v, str):
            raise Invalid(f"{kind}.{k} must be a string or a number.")
        if len(v) > max_value:
            raise Invalid(f"{kind}.{k} is longer than {max_value} characters.")
        out[k] = v
    return out


def _float(v: Any, i: int) -> float:
    if isinstance(v, bool):
        raise Invalid(f"metrics[{i}].value must be a number.")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "infinity", "-inf", "-infinity", "+inf", "+infinity"):
        return float(v.strip().lower().replace("infinity", "inf"))
    raise Invalid(f"metrics[{i}].value must be a number.")


def _int(v: Any, what: str, i: int) -> int:
    if isinstance(v, bool):
        raise Invalid(f"metrics[{i}].{what} must be an integer.")
    if isinstance(v, int):
        n = v
    elif (isinstance(v, float) and v.is_integer()) or (isinstance(v, str) and v.lstrip("-").isdigit()):
        n = int(v)
    else:
        raise Invalid(f"metrics[{i}].{what} must be an integer.")
    if not -(2**63) <= n < 2**63:
        raise Invalid(f"metrics[{i}].{what} is out of range.")
    return n


def metric_columns(metrics: Iterable[Any], max_items: int = MAX_METRICS) -> tuple[list, list, list, list]:
    """Validate metric points (dicts with key, value, step, timestamp) into four column lists."""
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    now = None
    for i, m in enumerate(metrics):
        if i >= max_items:
            raise Invalid(f"At most {max_items} metric points per call.")
        if not isinstance(m, dict):
            raise Invalid(f"metrics[{i}] must be an object with key, value, step and timestamp.")
        key = m.get("key")
        if not valid_key(key):
            raise Invalid(f"Invalid metric key {str(key)[:MAX_KEY]!r} (metrics[{i}].key): keys are {KEY_RULE}.")
        keys.append(key)
        values.append(_float(m.get("value"), i))
        step = m.get("step")
        steps.append(0 if step is None else _int(step, "step", i))
        ts = m.get("timestamp")
        if ts is None:
            now = now or _now_ms()
            ts = now
        stamps.append(_int(ts, "timestamp", i))
    return keys, values, steps, stamps


# -- experiments


async def create_experiment(
    session: AsyncSession,
    principal: Principal | None,
    *,
    name: str,
    team_id: uuid.UUID | None = None,
    description: str | None = None,
    tags: dict | None = None,
) -> Experiment:
    team = _team_for(principal, team_id)
    name = (name or "").strip()
    if not 0 < len(name) <= 250:
        raise Invalid("An experiment name is 1 to 250 characters.")
    if await session.scalar(select(Experiment.id).where(Experiment.team_id == team, Experiment.name == name)):
        raise Conflict(f"An experiment named {name!r} already exists in this team.")
    exp = Experiment(
        name=name,
        team_id=team,
        description=description,
        tags=_strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE),
        created_by=principal.user_id if principal else None,
        lifecycle="active",
    )
    session.add(exp)
    await session.flush()
    audit.record(
        session,
        "experiment.create",
        resource_type="experiment",
        resource_id=exp.id,
        team_id=team,
        summary={"name": name},
    )
    return exp


async def get_experiment(session: AsyncSession, principal: Principal | None, experiment_id: uuid.UUID) -> Experiment:
    exp = await session.get(Experiment, experiment_id)
    if exp is None or not _visible(principal, exp.team_id):
        raise NotFound("No such experiment.")
    return exp


async def get_experiment_by_name(
    session: AsyncSession, principal: Principal | None, name: str, team_id: uuid.UUID | None = None
) -> Experiment | None:
    q = select(Experiment).where(Experiment.name == name)
    if team_id is not None:
        q = q.where(Experiment.team_id == team_id)
    teams = _teams(principal)
    if teams is not None:
        q = q.where(Experiment.team_id.in_(teams))
    found = list((await session.scalars(q.order_by(Experiment.created_at))).all())
    if not found:
        return None
    if principal is not None and principal.team_ids and len(found) > 1:  # the caller's default team first
        default = min(principal.team_ids)
        found.sort(key=lambda e: e.team_id != default)
    return found[0]


async def list_experiments(
    session: AsyncSession, principal: Principal | None, include_deleted: bool = False
) -> list[dict]:
    teams = _teams(principal)
    rows = await fetch_raw(
        session,
        """
        SELECT e.id, e.name, e.description, e.tags, e.team_id, t.name AS team_name, e.lifecycle, e.created_at, e.updated_at,
               (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.lifecycle = 'active') AS run_count,
               (SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = e.id) AS last_run_at
        FROM experiments e JOIN teams t ON t.id = e.team_id
        WHERE ($1::uuid[] IS NULL OR e.team_id = ANY($1)) AND ($2 OR e.lifecycle = 'active')
        ORDER BY e.created_at DESC LIMIT 1000
    """,
        teams,
        include_deleted,
    )
    return [_experiment_row(r) for r in rows]


def _experiment_row(r) -> dict:
    d = dict(r)
    d["tags"] = orjson.loads(d["tags"]) if isinstance(d["tags"], str) else d["tags"]
    return d


async def experiment_out(session: AsyncSession, exp: Experiment) -> dict:
    rows = await fetch_raw(
        session,
        """
        SELECT t.name, (SELECT count(*) FROM runs r WHERE r.experiment_id = $1 AND r.lifecycle = 'active'),
               (SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = $1)
        FROM teams t WHERE t.id = $2
    """,
        exp.id,
        exp.team_id,
    )
    team_name, count, last = rows[0] if rows else (None, 0, None)
    return {
        "id": exp.id,
        "name": exp.name,
        "description": exp.description,
        "tags": exp.tags,
        "team_id": exp.team_id,
        "team_name": team_name,
        "lifecycle": exp.lifecycle,
        "created_at": exp.created_at,
        "updated_at": exp.updated_at,
        "run_count": count,
        "last_run_at": last,
    }


async def set_experiment_lifecycle(
    session: AsyncSession, principal: Principal | None, experiment_id: uuid.UUID, lifecycle: str
) -> Experiment:
    exp = await get_experiment(session, principal, experiment_id)
    if exp.lifecycle != lifecycle:
        exp.lifecycle = lifecycle
        await session.flush()
        audit.record(
            session,
            "experiment.delete" if lifecycle == "deleted" else "experiment.restore",
            resource_type="experiment",
            resource_id=exp.id,
            team_id=exp.team_id,
            summary={"name": exp.name},
        )
    return exp


async def update_experiment(
    session: AsyncSession,
    principal: Principal | None,
    experiment_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: dict | None = None,
) -> Experiment:
    exp = await get_experiment(session, principal, experiment_id)
    change: dict[str, Any] = {}
    if name is not None and name.strip() != exp.name:
        name = name.strip()
        if not 0 < len(name) <= 250:
            raise Invalid("An experiment name is 1 to 250 characters.")
        if await session.scalar(
            select(Experiment.id).where(Experiment.team_id == exp.team_id, Experiment.name == name)
        ):
            raise Conflict(f"An experiment named {name!r} already exists in this team.")
        change["name"] = [exp.name, name]
        exp.name = name
    if description is not None and description != exp.description:
        change["description"] = True
        exp.description = description
    if tags:
        exp.tags = {**exp.tags, **_strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE)}
        change["tags"] = sorted(tags)
    if change:
        await session.flush()
        audit.record(
            session,
            "experiment.update",
            resource_type="experiment",
            resource_id=exp.id,
            team_id=exp.team_id,
            summary=change,
        )
    return exp


# -- runs


async def create_run(
    session: AsyncSession,
    principal: Principal | None,
    *,
    experiment_name: str,
    team_id: uuid.UUID | None,
    run_name: str | None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    job_id: uuid.UUID | None = None,
    dataset_version_ids: Iterable[uuid.UUID] = (),
    base_model_version_id: uuid.UUID | None = None,
    experiment_id: uuid.UUID | None = None,
    start_time: datetime | None = None,
) -> Run:
    """Start a run (status RUNNING) in the named experiment of the team, creating the experiment if missing."""
    if experiment_id is not None:
        exp = await get_experiment(session, principal, experiment_id)
    else:
        team = _team_for(principal, team_id)
        exp = await get_experiment_by_name(session, principal, experiment_name, team_id=team)
        if exp is None:
            try:
                async with session.begin_nested():  # two runs starting a new experiment at once: one creates it
                    exp = await create_experiment(session, principal, name=experiment_name, team_id=team)
            except (IntegrityError, Conflict):
                exp = await get_experiment_by_name(session, principal, experiment_name, team_id=team)
                if exp is None:
                    raise
    if exp.lifecycle != "active":
        raise Conflict(f"The experiment {exp.name!r} is deleted; restore it first.")
    params = _strings("params", params, MAX_PARAMS * 10, MAX_PARAM_VALUE)
    tags = _strings("tags", tags, MAX_TAGS * 10, MAX_TAG_VALUE)
    name = (run_name or "").strip()[:250] or _run_name()
    run = Run(
        experiment_id=exp.id,
        team_id=exp.team_id,
        name=name,
        status="RUNNING",
        start_time=start_time or datetime.now(UTC),
        params=params,
        tags=tags,
        job_id=job_id,
        base_model_version_id=base_model_version_id,
        dataset_version_ids=list(dataset_version_ids),
        created_by=principal.user_id if principal else None,
        lifecycle="active",
    )
    session.add(run)
    await session.flush()
    audit.record(
        session,
        "run.create",
        resource_type="run",
        resource_id=run.id,
        team_id=exp.team_id,
        summary={"experiment": exp.name, "name": name, "job_id": str(job_id) if job_id else None},
    )
    return run


_ADJECTIVES = (
    "brisk",
    "calm",
    "eager",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "noble",
    "quiet",
    "swift",
    "vivid",
    "witty",
)
_NOUNS = ("otter", "heron", "lynx", "panda", "raven", "tiger", "whale", "crane", "fox", "koala", "moose", "wren")


def _run_name() -> str:
    n = uuid.uuid4().int
    return f"{_ADJECTIVES[n % 12]}-{_NOUNS[(n >> 8) % 12]}-{(n >> 16) % 1000}"


async def get_run(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, for_update: bool = False
) -> Run:
    q = select(Run).where(Run.id == run_id)
    run = await session.scalar(q.with_for_update() if for_update else q)
    if run is None or not _visible(principal, run.team_id):
        raise NotFound("No such run.")
    return run


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
    principal: Principal | None,
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
    params = _strings("params", params, MAX_PARAMS, MAX_PARAM_VALUE)
    tags = _strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE)
    rows = await fetch_raw(session, _RUN_FOR_LOG_LOCKED if params or tags else _RUN_FOR_LOG, run_id)
    if not rows or not _visible(principal, rows[0]["team_id"]):
        raise NotFound("No such run.")
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


async def delete_tag(session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, key: str) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    if key not in run.tags:
        raise NotFound(f"The run has no tag {key!r}.")
    run.tags = {k: v for k, v in run.tags.items() if k != key}
    await session.flush()
    audit.record(
        session, "run.delete_tag", resource_type="run", resource_id=run.id, team_id=run.team_id, summary={"key": key}
    )
    return run


async def set_run_status(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, status: str, end_time: datetime | None = None
) -> Run:
    """RUNNING, FINISHED, FAILED or KILLED; a terminal status sets end_time (now unless given)."""
    status = status.upper()
    if status not in RUN_STATUSES:
        raise Invalid(f"status must be one of {', '.join(RUN_STATUSES)}.")
    run = await get_run(session, principal, run_id, for_update=True)
    before = run.status
    run.status = status
    if status in TERMINAL:
        run.end_time = end_time or run.end_time or datetime.now(UTC)
    elif end_time is not None:
        run.end_time = end_time
    else:
        run.end_time = None
    await session.flush()
    audit.record(
        session,
        "run.status",
        resource_type="run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={"from": before, "to": status},
    )
    return run


async def rename_run(session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, name: str) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    name = name.strip()[:250]
    if name and name != run.name:
        audit.record(
            session,
            "run.rename",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"from": run.name, "to": name},
        )
        run.name = name
        await session.flush()
    return run


async def set_run_lifecycle(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, lifecycle: str
) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    if run.lifecycle != lifecycle:
        run.lifecycle = lifecycle
        await session.flush()
        audit.record(
            session,
            "run.delete" if lifecycle == "deleted" else "run.restore",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"name": run.name},
        )
    return run


async def link_model_version(session: AsyncSession, run_id: uuid.UUID, model_version_id: uuid.UUID) -> Run:
    """Record the model version a run produced (called by the training domain on registration)."""
    run = await get_run(session, None, run_id, for_update=True)
    run.model_version_id = model_version_id
    await session.flush()
    audit.record(
        session,
        "run.link_model_version",
        resource_type="run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={"model_version_id": str(model_version_id)},
    )
    return run


async def find_run_by_job(session: AsyncSession, job_id: uuid.UUID) -> Run | None:
    return await session.scalar(select(Run).where(Run.job_id == job_id).order_by(Run.created_at.desc()).limit(1))


# -- reads

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


async def run_out(session: AsyncSession, principal: Principal | None, run_id: uuid.UUID) -> dict:
    rows = await fetch_raw(session, f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.id = $1", run_id)
    if not rows or not _visible(principal, rows[0]["team_id"]):
        raise NotFound("No such run.")
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


async def search_runs(
    session: AsyncSession,
    principal: Principal | None,
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
    params: list = [_teams(principal), experiment_ids or None]
    where = compile_filter(filter, params).sql
    order = compile_order_by(order_by, params)
    offset = decode_offset(cursor)
    params += [limit + 1, offset]
    life = {"active": "r.lifecycle = 'active'", "deleted": "r.lifecycle = 'deleted'"}.get(lifecycle, "TRUE")
    sql = f"""
        SELECT {_RUN_COLUMNS} {_RUN_FROM}
        WHERE ($1::uuid[] IS NULL OR r.team_id = ANY($1)) AND ($2::uuid[] IS NULL OR r.experiment_id = ANY($2))
          AND {life} AND e.lifecycle = 'active' AND ({where})
        ORDER BY {order + ", " if order else ""}r.start_time DESC, r.id DESC
        LIMIT ${len(params) - 1} OFFSET ${len(params)}
    """
    rows = [_run_row(r) for r in await fetch_raw(session, sql, *params)]
    if len(rows) > limit:
        return rows[:limit], encode_offset(offset + limit)
    return rows, None


_HISTORY = """
SELECT json_build_object('run_id', $1::uuid, 'key', $2::text, 'count', count(*),
    'steps', coalesce(json_agg(s.step), '[]'), 'timestamps', coalesce(json_agg(s.timestamp), '[]'),
    'values', coalesce(json_agg(s.value), '[]'))::text
FROM (SELECT step, timestamp, value FROM run_metrics WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp) s
"""


async def _check_run(session: AsyncSession, principal: Principal | None, run_id: uuid.UUID) -> None:
    rows = await fetch_raw(session, "SELECT team_id FROM runs WHERE id = $1", run_id)
    if not rows or not _visible(principal, rows[0]["team_id"]):
        raise NotFound("No such run.")


async def metric_history_json(session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, key: str) -> bytes:
    """All points of one metric as JSON built by PostgreSQL: {run_id, key, count, steps, timestamps, values}."""
    await _check_run(session, principal, run_id)
    rows = await fetch_raw(session, _HISTORY, run_id, key)
    return rows[0][0].encode()


async def metric_history(
    session: AsyncSession,
    principal: Principal | None,
    run_id: uuid.UUID,
    key: str,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[int, int, float]]:
    """(step, timestamp, value) rows in step order (the MLflow API's form)."""
    await _check_run(session, principal, run_id)
    return [
        tuple(r)
        for r in await fetch_raw(
            session,
            "SELECT step, timestamp, value FROM run_metrics WHERE run_id = $1 AND key = $2 ORDER BY step, timestamp "
            "LIMIT $3 OFFSET $4",
            run_id,
            key,
            limit,
            offset,
        )
    ]


async def metric_history_mlflow_json(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, key: str, limit: int | None, offset: int
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


async def metric_keys(session: AsyncSession, run_ids: list[uuid.UUID]) -> list[str]:
    rows = await fetch_raw(
        session, "SELECT DISTINCT key FROM run_latest_metrics WHERE run_id = ANY($1) ORDER BY key", run_ids
    )
    return [r[0] for r in rows]


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


async def compare_runs(
    session: AsyncSession,
    principal: Principal | None,
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


# -- export and report


def _flat(runs: list[dict]) -> tuple[list[str], list[dict]]:
    params = sorted({k for r in runs for k in r["params"]})
    metrics = sorted({k for r in runs for k in r["metrics"]})
    tags = sorted({k for r in runs for k in r["tags"]})
    header = ["run_id", "experiment", "name", "status", "start_time", "end_time", "user", "job_id", "model_version_id"]
    header += [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics] + [f"tags.{k}" for k in tags]
    out = []
    for r in runs:
        row = {
            "run_id": str(r["id"]),
            "experiment": r["experiment_name"],
            "name": r["name"],
            "status": r["status"],
            "start_time": r["start_time"].isoformat() if r["start_time"] else None,
            "end_time": r["end_time"].isoformat() if r["end_time"] else None,
            "user": r["user_name"],
            "job_id": str(r["job_id"]) if r["job_id"] else None,
            "model_version_id": str(r["model_version_id"]) if r["model_version_id"] else None,
        }
        row |= {f"params.{k}": r["params"].get(k) for k in params}
        row |= {f"metrics.{k}": (r["metrics"].get(k) or {}).get("value") for k in metrics}
        row |= {f"tags.{k}": r["tags"].get(k) for k in tags}
        out.append(row)
    return header, out


def _csv_cell(v: Any) -> Any:
    # Spreadsheet formula injection: a cell starting with = + - @ is read as a formula.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def export_csv(runs: list[dict]) -> str:
    header, rows = _flat(runs)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def export_json(runs: list[dict]) -> bytes:
    return orjson.dumps(_flat(runs)[1], option=orjson.OPT_SERIALIZE_NUMPY)


def _md(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        v = "NaN" if math.isnan(v) else f"{v:.6g}"
    return str(v).replace("|", "\\|").replace("\n", " ")[:200]


def comparison_report(cmp: dict, lower_is_better: Iterable[str] = ("loss",)) -> str:
    """A markdown report of a comparison: runs, params (differences in bold), latest metrics with the best marked."""
    runs = cmp["runs"]
    names = [_md(r["name"]) for r in runs]
    lines = [
        f"# Run comparison: {', '.join(names)}",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by axops.",
        "",
        "## Runs",
        "",
        "| run | experiment | status | start | end | user |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        start = r["start_time"].strftime("%Y-%m-%d %H:%M") if r["start_time"] else None
        end = r["end_time"].strftime("%Y-%m-%d %H:%M") if r["end_time"] else None
        lines.append(
            f"| {_md(r['name'])} | {_md(r['experiment_name'])} | {r['status']} | {_md(start)} | {_md(end)} | {_md(r['user_name'])} |"
        )
    header = "| | " + " | ".join(names) + " |"
    rule = "|---|" + "---|" * len(runs)
    lines += ["", "## Parameters", ""]
    if cmp["param_keys"]:
        lines += [
            f"{len(cmp['differing_params'])} of {len(cmp['param_keys'])} parameters differ (in bold).",
            "",
            header,
            rule,
        ]
        for k in cmp["param_keys"]:
            cells = [_md(r["params"].get(k)) for r in runs]
            if k in cmp["differing_params"]:
                lines.append(f"| **{_md(k)}** | " + " | ".join(f"**{c}**" for c in cells) + " |")
            else:
                lines.append(f"| {_md(k)} | " + " | ".join(cells) + " |")
    else:
        lines.append("No parameters logged.")
    lines += ["", "## Metrics (latest value)", ""]
    keys = sorted({k for r in runs for k in r["metrics"]})
    if keys:
        lines += [header, rule]
        best_lines = []
        for k in keys:
            vals = [(r["metrics"].get(k) or {}).get("value") for r in runs]
            finite = [v for v in vals if isinstance(v, int | float) and not math.isnan(v)]
            lower = any(word in k.lower() for word in lower_is_better)
            best = (min(finite) if lower else max(finite)) if finite else None
            cells = [f"**{_md(v)}**" if v is not None and v == best and len(runs) > 1 else _md(v) for v in vals]
            lines.append(f"| {_md(k)} | " + " | ".join(cells) + " |")
            if best is not None and len(runs) > 1:
                winner = names[vals.index(best)]
                best_lines.append(f"- **{_md(k)}**: best {_md(best)} ({'lowest' if lower else 'highest'}) in {winner}")
        if best_lines:
            lines += ["", "## Summary", "", *best_lines]
    else:
        lines.append("No metrics logged.")
    lines.append("")
    return "\n".join(lines)


async def run_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Run)) or 0


# -- artifacts --------------------------------------------------------------------------------------

MAX_ARTIFACT_PATH = 1000


def artifact_path(path: str | None, allow_empty: bool = False) -> str:
    """A run-relative artifact path ("plots/loss.png"), or a clear refusal of anything that could
    leave the run's folder or name nothing."""
    path = (path or "").strip("/")
    if not path and allow_empty:
        return ""
    parts = path.split("/")
    if (
        not path
        or len(path) > MAX_ARTIFACT_PATH
        or "\\" in path
        or has_control(path)
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise Invalid(
            "An artifact path is relative, '/'-separated, without '.', '..', empty parts or control characters, "
            f"at most {MAX_ARTIFACT_PATH} characters."
        )
    return path


def _artifact_key(run_id: uuid.UUID, path: str) -> str:
    return f"experiments/runs/{run_id}/artifacts/{path}"


async def log_artifact(
    session: AsyncSession,
    storage: ObjectStore,
    principal: Principal | None,
    run_id: uuid.UUID,
    path: str,
    chunks: AsyncIterator[bytes],
) -> RunArtifact:
    """Stores one file of a run (a new upload of a path replaces it); a failed upload records nothing."""
    run = await get_run(session, principal, run_id)
    if run.lifecycle != "active":
        raise Conflict("The run is deleted; restore it before logging artifacts.")
    path = artifact_path(path)
    if await session.scalar(
        select(RunArtifact.path).where(RunArtifact.run_id == run_id, RunArtifact.path.startswith(path + "/")).limit(1)
    ):
        raise Conflict(f"'{path}' is a folder of this run's artifacts, not a file.")
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
    if folders and (
        clash := await session.scalar(
            select(RunArtifact.path).where(RunArtifact.run_id == run_id, RunArtifact.path.in_(folders))
        )
    ):
        raise Conflict(f"'{clash}' is a file of this run's artifacts, not a folder.")
    try:
        stored = await storage.put_stream(_artifact_key(run_id, path), chunks)
    except (OSError, RuntimeError) as exc:
        raise StorageUnavailable(f"The object store refused the artifact: {type(exc).__name__}") from exc
    await session.execute(
        pg_insert(RunArtifact)
        .values(run_id=run_id, path=path, size=stored.size, sha256=stored.sha256)
        .on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"size": stored.size, "sha256": stored.sha256, "created_at": func.now()},
        )
    )
    audit.record(
        session,
        "run.log_artifact",
        resource_type="run",
        resource_id=run_id,
        team_id=run.team_id,
        summary={"path": path, "size": stored.size},
    )
    return RunArtifact(run_id=run_id, path=path, size=stored.size, sha256=stored.sha256)


async def list_artifacts(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, folder: str | None = None
) -> list[dict]:
    """The files and folders directly in `folder` (the run's root by default), folders first."""
    await get_run(session, principal, run_id)
    folder = artifact_path(folder, allow_empty=True)
    q = select(RunArtifact.path, RunArtifact.size).where(RunArtifact.run_id == run_id)
    if folder:
        q = q.where(RunArtifact.path.startswith(folder + "/"))
    entries: dict[str, dict] = {}
    for path, size in (await session.execute(q.order_by(RunArtifact.path))).all():
        rest = path[len(folder) + 1 :] if folder else path
        head, sep, _ = rest.partition("/")
        full = f"{folder}/{head}" if folder else head
        entries.setdefault(
            full, {"path": full, "is_dir": True} if sep else {"path": full, "is_dir": False, "file_size": size}
        )
    return sorted(entries.values(), key=lambda e: (not e["is_dir"], e["path"]))


async def artifact(
    session: AsyncSession, principal: Principal | None, run_id: uuid.UUID, path: str
) -> tuple[str, RunArtifact]:
    """(object store key, row) of one file of a run."""
    await get_run(session, principal, run_id)
    path = artifact_path(path)
    row = await session.get(RunArtifact, (run_id, path))
    if row is None:
        raise NotFound(f"The run has no artifact '{path}'.")
    return _artifact_key(run_id, path), row


async def delete_artifacts(
    session: AsyncSession, storage: ObjectStore, principal: Principal | None, run_id: uuid.UUID, path: str | None
) -> int:
    """Removes a file, or a folder with everything in it (everything with no path)."""
    run = await get_run(session, principal, run_id)
    path = artifact_path(path, allow_empty=True)
    q = select(RunArtifact).where(RunArtifact.run_id == run_id)
    if path:
        q = q.where((RunArtifact.path == path) | RunArtifact.path.startswith(path + "/"))
    rows = (await session.scalars(q)).all()
    for row in rows:
        await session.delete(row)
    await session.flush()
    for (
        row
    ) in rows:  # after the rows are gone in this transaction: should it roll back, downloads say the file is missing
        await storage.delete(_artifact_key(run_id, row.path))
    if rows:
        audit.record(
            session,
            "run.delete_artifacts",
            resource_type="run",
            resource_id=run_id,
            team_id=run.team_id,
            summary={"path": path or "/", "files": len(rows)},
        )
    return len(rows)
