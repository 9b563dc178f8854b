"""The quality monitors' sweep (monitoring.py says what a monitor reads and why): every minute
(monitoring_tasks.py), for each enabled monitor, read the route's logged requests past the
watermark, sample them by a hash of their id, judge at most the hour's budget through the gateway
over HTTP with the monitor's key, write the grades and move the watermark in one transaction."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
from sqlalchemy import func, select, text

from axops.auth import apikeys
from axops.auth.models import ApiKey, User
from axops.auth.service import principal_of
from axops.core import crypto
from axops.core.ids import uuid7
from axops.core.logging import event
from axops.evaluation import judges, runner
from axops.evaluation.monitoring import judge_spec, sampled
from axops.evaluation.monitoring_models import QualityMonitor, QualityScore

log = logging.getLogger("axops.evaluation")

LAG_S = 120.0  # records younger than this may still be on their way to the database
BATCH = 1000  # records read per monitor and sweep
CONCURRENCY = 4  # judge calls at once per monitor
_LAST = uuid.UUID(int=(1 << 128) - 1)


CANDIDATES_SQL = """
SELECT u.id, u.created_at, u.request_id, c.request, c.response
FROM usage_records u
JOIN api_keys k ON k.id = u.api_key_id
JOIN LATERAL (
    SELECT l.request, l.response FROM gateway_request_logs l
    WHERE l.api_key_id = u.api_key_id AND l.request_id = u.request_id
      AND l.created_at BETWEEN u.created_at - interval '10 minutes' AND u.created_at + interval '10 minutes'
    LIMIT 1) c ON TRUE
WHERE u.model = :route AND u.endpoint IN ('chat', 'completions') AND u.status < 400
  AND u.created_at >= :after_at AND (u.created_at, u.id) > (:after_at, :after_id) AND u.created_at <= :until
  AND k.name NOT LIKE 'quality-monitor-%' AND k.name NOT LIKE 'eval-run-%'
  AND (CAST(:owner AS uuid) IS NULL OR u.user_id = :owner)
ORDER BY u.created_at, u.id
LIMIT :batch"""


def conversation(request: str | dict) -> str:
    """The masked request as the judge's question: a lone user message as it is, else each message
    on its own lines after its role."""
    body = orjson.loads(request) if isinstance(request, str) else request
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if not messages:
        return str(body.get("prompt") or "")

    def content(m: dict) -> str:
        c = m.get("content")
        if isinstance(c, list):  # content parts: their text
            return "\n".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
        return "" if c is None else str(c)

    if len(messages) == 1 and messages[0].get("role") == "user":
        return content(messages[0])
    return "\n\n".join(f"[{m.get('role', 'user')}]\n{content(m)}" for m in messages)


async def sweep(state, *, lag_s: float = LAG_S, make_call=None) -> dict:
    """One pass over every enabled monitor (see the module's docstring); a monitor that fails keeps
    its watermark and says why in `last_error`. `make_call(route, key)` gives the judge's call
    (default: through the gateway over HTTP at settings.control_url)."""
    if make_call is None:
        async with aiohttp.ClientSession() as http:
            return await sweep(state, lag_s=lag_s, make_call=gateway_caller(http, state.settings.control_url))
    async with state.db.sessionmaker() as session:
        ids = list(await session.scalars(select(QualityMonitor.id).where(QualityMonitor.enabled)))
    totals = {"monitors": len(ids), "read": 0, "judged": 0, "errors": 0, "skipped": 0}
    for monitor_id in ids:
        try:
            done = await sweep_monitor(state, monitor_id, lag_s=lag_s, make_call=make_call)
        except Exception as exc:  # one monitor's failure never stops the others
            event(log, "eval.monitor_sweep_failed", logging.WARNING, monitor_id=str(monitor_id), error=repr(exc)[:300])
            async with state.db.sessionmaker() as session:
                m = await session.get(QualityMonitor, monitor_id)
                if m is not None:
                    m.last_error, m.last_swept_at = f"{type(exc).__name__}: {exc}"[:1000], datetime.now(UTC)
                    await session.commit()
            continue
        for k in ("read", "judged", "errors", "skipped"):
            totals[k] += done[k]
    return totals


async def _unusable(state, monitor_id: uuid.UUID, why: str) -> dict:
    async with state.db.sessionmaker() as session:
        m = await session.get(QualityMonitor, monitor_id)
        if m is not None:
            m.last_error, m.last_swept_at = why, datetime.now(UTC)
            await session.commit()
    return {"read": 0, "judged": 0, "errors": 0, "skipped": 0}


async def sweep_monitor(state, monitor_id: uuid.UUID, *, lag_s: float, make_call) -> dict:
    now = datetime.now(UTC)
    # 1. read what to judge (no transaction stays open during the judge calls)
    async with state.db.sessionmaker() as session:
        m = await session.get(QualityMonitor, monitor_id)
        if m is None or not m.enabled:
            return {"read": 0, "judged": 0, "errors": 0, "skipped": 0}
        key = await session.get(ApiKey, m.api_key_id) if m.api_key_id else None
        secret = crypto.decrypt(state.secret_key, m.api_key_secret) if m.api_key_secret else None
        if key is None or apikeys.status_of(key, now) != "active" or secret is None:
            return await _unusable(
                state,
                monitor_id,
                "The monitor's API key is revoked or expired: save or resume the monitor to issue a new one.",
            )
        owner = await session.get(User, key.user_id)
        if owner is None or not owner.is_active:
            return await _unusable(state, monitor_id, "The monitor's owner is deactivated.")
        principal = await principal_of(session, owner)
        watermark = (m.watermark_at, m.watermark_id)
        rows = (
            await session.execute(
                text(CANDIDATES_SQL),
                {
                    "route": m.route,
                    "after_at": m.watermark_at,
                    "after_id": m.watermark_id or uuid.UUID(int=0),
                    "until": now - timedelta(seconds=lag_s),
                    "owner": None if principal.can("gateway:admin") else principal.user_id,
                    "batch": BATCH,
                },
            )
        ).all()
        judged_hour = await session.scalar(
            select(func.count()).where(
                QualityScore.monitor_id == m.id, QualityScore.judged_at > now - timedelta(hours=1)
            )
        )
        budget = max(0, m.max_per_hour - (judged_hour or 0))
        picked = [r for r in rows if sampled(r.id, m.sample_rate)]
        chosen, over = picked[:budget], picked[budget:]
        judge = judge_spec(m)
        route, team_id, rubric = m.route, m.team_id, m.rubric
    if len(rows) == BATCH:
        new_mark = (rows[-1].created_at, rows[-1].id)
    else:  # everything up to `until` was read
        new_mark = (now - timedelta(seconds=lag_s), _LAST)
        if new_mark[0] < watermark[0]:
            new_mark = watermark

    # 2. judge, through the gateway as the key's owner
    call = make_call(judge["route"], secret)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def grade(r) -> dict:
        async with gate:
            try:
                question = conversation(r.request)
            except ValueError:
                return {"score": None, "raw": None, "reasoning": "", "error": "unreadable request log"}
            return await judges.judge_single(call, judge, question, r.response or "", [], None)

    grades = await asyncio.gather(*(grade(r) for r in chosen))

    # 3. write the points and move the watermark, unless someone changed the monitor meanwhile
    judged_at = datetime.now(UTC)
    errors = sum(1 for g in grades if g.get("error"))
    async with state.db.sessionmaker() as session:
        m = await session.get(QualityMonitor, monitor_id, with_for_update=True)
        if m is None or not m.enabled or (m.watermark_at, m.watermark_id) != watermark:
            return {"read": 0, "judged": 0, "errors": 0, "skipped": 0}
        if chosen:
            await session.execute(
                text(
                    "INSERT INTO quality_scores (id, monitor_id, team_id, route, usage_record_id, request_id, created_at, "
                    "judged_at, rubric, score, raw, reasoning, error) VALUES (:id, :monitor_id, :team_id, :route, "
                    ":usage_record_id, :request_id, :created_at, :judged_at, :rubric, :score, :raw, :reasoning, :error) "
                    "ON CONFLICT (monitor_id, usage_record_id) DO NOTHING"
                ),
                [
                    {
                        "id": uuid7(),
                        "monitor_id": monitor_id,
                        "team_id": team_id,
                        "route": route,
                        "usage_record_id": r.id,
                        "request_id": r.request_id,
                        "created_at": r.created_at,
                        "judged_at": judged_at,
                        "rubric": rubric,
                        "score": g.get("score"),
                        "raw": g.get("raw"),
                        "reasoning": (g.get("reasoning") or "")[: judges.MAX_REASONING],
                        "error": (g.get("error") or None) and str(g["error"])[:1000],
                    }
                    for r, g in zip(chosen, grades, strict=True)
                ],
            )
        m.watermark_at, m.watermark_id = new_mark
        m.skipped += len(over)
        m.last_swept_at = judged_at
        failed = [g["error"] for g in grades if g.get("error")]
        m.last_error = f"{len(failed)} of {len(grades)} judge calls failed: {failed[0]}"[:1000] if failed else None
        await session.commit()
    if chosen or over:
        event(
            log,
            "eval.monitor_swept",
            monitor_id=str(monitor_id),
            read=len(rows),
            judged=len(chosen),
            errors=errors,
            skipped=len(over),
        )
    return {"read": len(rows), "judged": len(chosen), "errors": errors, "skipped": len(over)}


def gateway_caller(http: aiohttp.ClientSession, control_url: str):
    """`make_call(route, key)`: the judge's Call (judges.py), the evaluation runner's gateway client
    (POST /v1/chat/completions with the key; 429, 5xx and connection errors tried 3 times with backoff;
    a failure raises and becomes the grade's error)."""

    def make(route: str, key: str):
        client = runner.GatewayClient(http, control_url, key, asyncio.Semaphore(CONCURRENCY))

        async def call(fragment: dict) -> str:
            return runner.answer_text(await client.post("chat/completions", {"model": route, **fragment}))

        return call

    return make


async def expire(state, now: datetime | None = None) -> dict:
    """Retention: the judges' reasoning (written about logged request text) goes when the request logs
    do (`request_log_retention_days`); the scores themselves stay as long as usage records
    (`usage_retention_days`), so the series outlives the text."""
    now = now or datetime.now(UTC)
    s = state.settings
    async with state.db.sessionmaker() as session:
        cleared = await session.execute(
            text("UPDATE quality_scores SET reasoning = '' WHERE created_at < :cutoff AND reasoning <> ''"),
            {"cutoff": now - timedelta(days=s.request_log_retention_days)},
        )
        deleted = await session.execute(
            text("DELETE FROM quality_scores WHERE created_at < :cutoff"),
            {"cutoff": now - timedelta(days=s.usage_retention_days)},
        )
        await session.commit()
    return {"cleared": cleared.rowcount, "deleted": deleted.rowcount}
