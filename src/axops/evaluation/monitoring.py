"""Quality monitoring of production traffic: a monitor judges a sampled share of one gateway route's
requests with an LLM judge (judges.py, single grading on a rubric that needs no reference) and keeps
every grade as a point of the route's quality series (`quality_scores`).

What a monitor reads: usage records of its route (chat and completions, status < 400) whose text the
gateway logged, PII-masked (keys with `log_content`; request_logs.py) — the masked text is all the
judge ever sees. The monitor sees what the owner of its API key sees in the request log: every
caller's requests for a gateway admin, else the owner's own. Requests of monitors' and evaluation
runs' own keys (`quality-monitor-*`, `eval-run-*`) are never read, so a judge never grades itself.

The sweep (monitoring_sweep.py, every minute from monitoring_tasks.py) reads the records after the monitor's watermark and
older than `LAG_S` (usage records and content logs reach the database in batches, a moment apart),
keeps a record when a hash of its id falls under `sample_rate` (the same records on every run, and
the same for two monitors of the route), judges at most `max_per_hour` in any hour (the rest are
counted in `skipped`), writes the grades and moves the watermark in one transaction. Judge calls go
through the gateway over HTTP with the monitor's key (owner: its creator, scope gateway:invoke, only
the judge route), so the owner's limits, budgets and usage records apply.

Series (`series`): buckets of an hour or a day over the request times, with the mean, the count and
the 10th percentile of the scores and the count of failed grades — one grouped query.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import apikeys, audit
from axops.auth.deps import Principal
from axops.auth.models import ApiKey, Team, User
from axops.auth.schemas import ApiKeyCreate
from axops.auth.scoping import owning_team, require_owner, sees, team_clause
from axops.core import crypto
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.ids import uuid7
from axops.core.pagination import decode_cursor, page_of
from axops.evaluation import judges
from axops.evaluation.monitoring_models import QualityMonitor, QualityScore
from axops.evaluation.monitoring_schemas import MonitorCreate, MonitorUpdate
from axops.gateway import service as gateway_service

log = logging.getLogger("axops.evaluation")

KEY_PREFIX = "quality-monitor-"
OWN_KEY_PATTERNS = ("quality-monitor-%", "eval-run-%")  # the platform's own judge and evaluation calls
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=366)}
DEFAULT_SPAN = {"hour": timedelta(days=2), "day": timedelta(days=30)}
_SCALE = float(1 << 64)


def sampled(usage_record_id: uuid.UUID | str, rate: float) -> bool:
    """Whether a request is judged at `rate`: a hash of its usage record id, so the choice is the same
    on every sweep and for every monitor of the route."""
    digest = hashlib.blake2b(str(usage_record_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < rate


# --- configuration ---------------------------------------------------------------------------------


def judge_spec(monitor: QualityMonitor) -> dict:
    spec: dict[str, Any] = {"name": monitor.rubric, "route": monitor.judge_route, "mode": "single"}
    spec["scale"] = monitor.scale
    if monitor.criteria:
        spec["criteria"] = monitor.criteria
    if monitor.prompt:
        spec["prompt"] = monitor.prompt
    return spec


def checked_judge(spec: dict) -> dict:
    """The judge as judges.py normalises it; production traffic has no reference answer, so a rubric
    that grades against one (correctness) is refused."""
    try:
        (judge,) = judges.validate_judges([spec])
    except ValueError as exc:
        raise Invalid(str(exc), code="quality_monitor_judge_invalid", reason=str(exc)) from None
    if judges.needs_reference(judge):
        raise Invalid(
            f"The rubric '{judge['name']}' grades against a reference answer, which production traffic does not "
            "have: choose helpfulness, harmlessness, korean_fluency or custom criteria.",
            code="quality_monitor_needs_reference",
            rubric=judge["name"],
        )
    return judge


async def _route(session: AsyncSession, principal: Principal, name: str) -> None:
    route = await gateway_service.find_route(session, name)
    if route is None or not sees(principal, route):
        raise NotFound(f"No enabled route serves '{name}'.", code="no_route", model=name)


def _not_found(monitor_id) -> NotFound:
    return NotFound(f"No quality monitor {monitor_id}.", code="quality_monitor_not_found")


def _audit(session: AsyncSession, action: str, m: QualityMonitor, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="quality_monitor",
        resource_id=m.id,
        team_id=m.team_id,
        summary={"name": m.name, "route": m.route, **summary},
    )


async def _issue_key(session: AsyncSession, principal: Principal, m: QualityMonitor, secret: str) -> None:
    """The key the judge calls are made with: the caller's, for the judge route only, no content logging."""
    await _release_key(session, m)
    key = await apikeys.create_key(
        session,
        principal,
        ApiKeyCreate(name=f"{KEY_PREFIX}{m.id}", team_id=m.team_id, scopes=["gateway:invoke"], models=[m.judge_route]),
    )
    m.api_key_id, m.api_key_secret = key.id, crypto.encrypt(secret, key.key)


async def _key_active(session: AsyncSession, m: QualityMonitor) -> bool:
    key = await session.get(ApiKey, m.api_key_id) if m.api_key_id else None
    return key is not None and apikeys.status_of(key) == "active"


async def _release_key(session: AsyncSession, m: QualityMonitor) -> None:
    if m.api_key_id is not None:
        await apikeys.revoke_key_by_id(session, m.api_key_id)
    m.api_key_id, m.api_key_secret = None, None


async def create(session: AsyncSession, principal: Principal, data: MonitorCreate, secret: str) -> QualityMonitor:
    team_id = owning_team(principal, data.team_id)
    spec = {"name": data.rubric, "route": data.judge_route, "mode": "single", "scale": data.scale}
    spec |= {k: v for k, v in (("criteria", data.criteria), ("prompt", data.prompt)) if v is not None}
    judge = checked_judge(spec)
    await _route(session, principal, data.route)
    await _route(session, principal, data.judge_route)
    taken = await session.scalar(
        select(QualityMonitor.id).where(QualityMonitor.team_id == team_id, QualityMonitor.name == data.name)
    )
    if taken is not None:
        raise Conflict(
            f"A quality monitor named '{data.name}' exists already.", code="quality_monitor_exists", name=data.name
        )
    now = datetime.now(UTC)
    m = QualityMonitor(
        id=uuid7(),
        team_id=team_id,
        name=data.name,
        route=data.route,
        judge_route=data.judge_route,
        rubric=judge["name"],
        criteria=judge.get("criteria"),
        prompt=judge.get("prompt"),
        scale=judge["scale"],
        sample_rate=data.sample_rate,
        max_per_hour=data.max_per_hour,
        enabled=data.enabled,
        watermark_at=now,  # production traffic from now on
        created_at=now,
        updated_at=now,
        skipped=0,
        created_by=principal.user_id,
    )
    session.add(m)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"A quality monitor named '{data.name}' exists already.", code="quality_monitor_exists", name=data.name
        ) from None
    if m.enabled:
        await _issue_key(session, principal, m, secret)
    await session.flush()
    _audit(
        session,
        "eval.monitor_create",
        m,
        judge_route=m.judge_route,
        rubric=m.rubric,
        sample_rate=m.sample_rate,
        max_per_hour=m.max_per_hour,
        enabled=m.enabled,
    )
    await session.refresh(m)  # updated_at, set by the database
    return m


async def get(session: AsyncSession, principal: Principal, monitor_id: uuid.UUID, *, for_update=False):
    q = select(QualityMonitor).where(QualityMonitor.id == monitor_id, team_clause(principal, QualityMonitor.team_id))
    m = await session.scalar(q.with_for_update() if for_update else q)
    if m is None:
        raise _not_found(monitor_id)
    return m


async def update(
    session: AsyncSession, principal: Principal, monitor_id: uuid.UUID, data: MonitorUpdate, secret: str
) -> QualityMonitor:
    m = await get(session, principal, monitor_id, for_update=True)
    require_owner(principal, m, "eval:write", "quality monitor")
    changes = data.model_dump(exclude_unset=True)
    for field in ("judge_route", "rubric", "scale", "sample_rate", "max_per_hour"):
        if changes.get(field) is None:
            changes.pop(field, None)
    if "rubric" in changes and changes["rubric"] != m.rubric:
        # a built-in rubric has no criteria; a custom one brings its own
        changes.setdefault("criteria", None)
        changes.setdefault("prompt", None)
    before = {k: getattr(m, k) for k in changes}
    spec = judge_spec(m)
    for k in ("rubric", "judge_route", "scale", "criteria", "prompt"):
        if k in changes:
            spec.pop({"rubric": "name", "judge_route": "route"}.get(k, k), None)
            if changes[k] is not None:
                spec[{"rubric": "name", "judge_route": "route"}.get(k, k)] = changes[k]
    judge = checked_judge(spec)
    if changes.get("judge_route", m.judge_route) != m.judge_route:
        await _route(session, principal, changes["judge_route"])
    new_key = changes.get("judge_route", m.judge_route) != m.judge_route
    was_enabled = m.enabled
    for k, v in changes.items():
        if k != "enabled" or v is not None:
            setattr(m, k, v)
    m.rubric, m.scale = judge["name"], judge["scale"]
    m.criteria, m.prompt = judge.get("criteria"), judge.get("prompt")
    if not m.enabled:
        await _release_key(session, m)
    elif not was_enabled:
        m.watermark_at, m.watermark_id = datetime.now(UTC), None  # nothing of the time it was off
        await _issue_key(session, principal, m, secret)
    elif new_key or not await _key_active(session, m):  # a new judge route, or the key was revoked meanwhile
        await _issue_key(session, principal, m, secret)
    m.last_error = None if m.enabled else m.last_error
    await session.flush()
    after = {k: getattr(m, k) for k in changes}
    _audit(session, "eval.monitor_update", m, before=before, after=after)
    await session.refresh(m)
    return m


async def delete(session: AsyncSession, principal: Principal, monitor_id: uuid.UUID) -> None:
    m = await get(session, principal, monitor_id, for_update=True)
    require_owner(principal, m, "eval:write", "quality monitor")
    await _release_key(session, m)
    judged = await session.scalar(select(func.count()).where(QualityScore.monitor_id == m.id))
    _audit(session, "eval.monitor_delete", m, scores=judged)
    await session.delete(m)
    await session.flush()


async def list_monitors(
    session: AsyncSession, principal: Principal, *, route: str | None, cursor: str | None, limit: int
) -> dict:
    where = [team_clause(principal, QualityMonitor.team_id)]
    if route:
        where.append(QualityMonitor.route == route)
    total = None
    if not cursor:
        total = await session.scalar(select(func.count()).select_from(QualityMonitor).where(*where))
    q = select(QualityMonitor).where(*where)
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(QualityMonitor.created_at, QualityMonitor.id) < tuple_(at, id_))
    rows = list(
        await session.scalars(q.order_by(QualityMonitor.created_at.desc(), QualityMonitor.id.desc()).limit(limit + 1))
    )
    rows, next_cursor = page_of(rows, limit)
    return {"items": await described(session, rows), "next_cursor": next_cursor, "total": total}


async def described(session: AsyncSession, monitors: list[QualityMonitor]) -> list[dict]:
    """Monitors with their team and creator names and their last hour's and day's figures (one query each)."""
    if not monitors:
        return []
    ids = [m.id for m in monitors]
    figures = {
        r.monitor_id: r
        for r in await session.execute(
            text(
                "SELECT monitor_id, count(*) FILTER (WHERE judged_at > now() - interval '1 hour') AS last_hour, "
                "avg(score) FILTER (WHERE created_at > now() - interval '24 hours') AS avg_24h, "
                "count(score) FILTER (WHERE created_at > now() - interval '24 hours') AS n_24h "
                "FROM quality_scores WHERE monitor_id = ANY(:ids) "
                "AND (judged_at > now() - interval '1 hour' OR created_at > now() - interval '24 hours') "
                "GROUP BY monitor_id"
            ),
            {"ids": ids},
        )
    }
    users = {m.created_by for m in monitors if m.created_by}
    names = (
        dict((await session.execute(select(User.id, User.username).where(User.id.in_(users)))).all()) if users else {}
    )
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({m.team_id for m in monitors})))).all()
    )
    out = []
    for m in monitors:
        f = figures.get(m.id)
        out.append(
            {
                **{c: getattr(m, c) for c in _OUT_COLUMNS},
                "team_name": teams.get(m.team_id),
                "created_by_name": names.get(m.created_by),
                "judged_last_hour": f.last_hour if f else 0,
                "avg_last_24h": float(f.avg_24h) if f and f.avg_24h is not None else None,
                "n_last_24h": f.n_24h if f else 0,
            }
        )
    return out


_OUT_COLUMNS = (
    "id",
    "team_id",
    "name",
    "route",
    "judge_route",
    "rubric",
    "criteria",
    "prompt",
    "scale",
    "sample_rate",
    "max_per_hour",
    "enabled",
    "watermark_at",
    "last_swept_at",
    "last_error",
    "skipped",
    "created_at",
    "updated_at",
)


# --- the series ------------------------------------------------------------------------------------

SERIES_SQL = """
SELECT date_trunc(:step, created_at, 'UTC') AS bucket, avg(score) AS avg, count(score) AS n,
       percentile_cont(0.1) WITHIN GROUP (ORDER BY score) AS p10, count(*) - count(score) AS errors
FROM quality_scores
WHERE monitor_id = :monitor_id AND created_at >= :start AND created_at < :end
GROUP BY 1 ORDER BY 1"""


async def series(
    session: AsyncSession,
    principal: Principal,
    monitor_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    step: str,
) -> dict:
    """The monitor's scores per hour or day of the request time (UTC buckets; buckets without a
    judged request are left out)."""
    m = await get(session, principal, monitor_id)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_SPAN[step]
    if start >= end:
        raise Invalid("`from` must be before `to`.", code="quality_series_range_invalid", step=step)
    if end - start > MAX_SPAN[step]:
        raise Invalid(
            f"At most {MAX_SPAN[step].days} days at a time with step={step}.",
            code="quality_series_range_invalid",
            step=step,
        )
    rows = await session.execute(text(SERIES_SQL), {"step": step, "monitor_id": m.id, "start": start, "end": end})
    points = [
        {
            "t": r.bucket,
            "avg": float(r.avg) if r.avg is not None else None,
            "n": r.n,
            "p10": float(r.p10) if r.p10 is not None else None,
            "errors": r.errors,
        }
        for r in rows
    ]
    return {
        "monitor_id": m.id,
        "route": m.route,
        "rubric": m.rubric,
        "step": step,
        "start": start,
        "end": end,
        "points": points,
    }


async def scores(
    session: AsyncSession, principal: Principal, monitor_id: uuid.UUID, *, cursor: str | None, limit: int
) -> dict:
    """The monitor's judged requests, the latest judged first, with the judge's reasoning."""
    m = await get(session, principal, monitor_id)
    q = select(QualityScore).where(QualityScore.monitor_id == m.id)
    if cursor:
        at, id_ = decode_cursor(cursor)
        q = q.where(tuple_(QualityScore.judged_at, QualityScore.id) < tuple_(at, id_))
    rows = list(
        await session.scalars(q.order_by(QualityScore.judged_at.desc(), QualityScore.id.desc()).limit(limit + 1))
    )
    rows, next_cursor = page_of(rows, limit, key=lambda r: (r.judged_at, r.id))
    return {"items": rows, "next_cursor": next_cursor}
