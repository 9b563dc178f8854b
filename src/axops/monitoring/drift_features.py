"""Input and quality drift per gateway route: what is measured, on which bins, and the drift job.

Per request the gateway records (usage_writer.prompt_features, off no extra pass): the prompt's length in
characters, its Hangul and Latin shares of letters, and its prompt tokens. Per route with at least
`MIN_ROWS` requests in both windows the job compares the current window (default the last 24 h) with the
reference (the route's pinned window, else the 7 days before the current one), on the latest
`MAX_ROWS` rows of each window:

- prompt_chars, prompt_tokens: PSI on the bins below, and the two-sample KS test;
- hangul_ratio: PSI on tenths;
- language_mix: total variation between the mean (Hangul, Latin, other) shares of the windows;
- judge_score (evaluation's quality monitors, `quality_scores`) and feedback_score (`request_feedback` on
  the route's requests): PSI on fifths and KS, when each window has at least `MIN_SCORES` scores;
- embedding (only where the route names an embeddings route in its semantic-cache settings, and content
  logs hold masked prompts of both windows): the cosine distance between the windows' centroids of the
  unit embeddings of up to `EMBED_SAMPLE` masked prompts each, embedded through the gateway as the system
  (its usage recorded). Skipped, without a result, when not configured or when the embeddings fail.

Each result is stored in `drift_results` and in the metric history as drift_psi / drift_ks / drift_tv
{route, feature} (the statistic) at the time of the run."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import require, sees, visible
from axops.core.errors import Forbidden, Invalid, NotFound
from axops.gateway.models import Route
from axops.monitoring import drift, store
from axops.monitoring.drift_models import DriftReference, DriftResult

INF = math.inf
BINS: dict[str, list[float]] = {
    "prompt_chars": [0, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, INF],
    "prompt_tokens": [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, INF],
    "hangul_ratio": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, INF],
    "judge_score": [0, 0.2, 0.4, 0.6, 0.8, INF],
    "feedback_score": [0, 0.2, 0.4, 0.6, 0.8, INF],
}
KS_FEATURES = ("prompt_chars", "prompt_tokens", "judge_score", "feedback_score")
SERIES = {"psi": "drift_psi", "ks": "drift_ks", "tv": "drift_tv", "cosine": "drift_embedding"}
EMBED_SAMPLE = 50
EMBED_MIN = 10
DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_REFERENCE = timedelta(days=7)
MIN_ROWS = 100
MIN_SCORES = 30
MAX_ROWS = 20_000

_ROUTES = text("""
SELECT model FROM usage_records
WHERE created_at >= :start AND created_at < :end AND prompt_chars IS NOT NULL
GROUP BY model HAVING count(*) >= :min_rows
UNION
SELECT route FROM quality_scores
WHERE created_at >= :start AND created_at < :end AND score IS NOT NULL
GROUP BY route HAVING count(*) >= :min_scores
""")
_USAGE = text("""
SELECT prompt_chars, prompt_tokens, hangul_ratio, latin_ratio FROM usage_records
WHERE model = :route AND created_at >= :start AND created_at < :end AND prompt_chars IS NOT NULL
ORDER BY created_at DESC LIMIT :limit
""")
_JUDGE = text("""
SELECT score FROM quality_scores
WHERE route = :route AND created_at >= :start AND created_at < :end AND score IS NOT NULL
ORDER BY created_at DESC LIMIT :limit
""")
_FEEDBACK = text("""
SELECT f.score FROM request_feedback f
JOIN usage_records u ON u.request_id = f.request_id
WHERE u.model = :route AND u.created_at >= :start AND u.created_at < :end
ORDER BY u.created_at DESC LIMIT :limit
""")


def compare_usage(current: np.ndarray, reference: np.ndarray) -> list[dict]:
    """Results for two windows of usage rows (columns: chars, tokens, hangul ratio, latin ratio; ratios
    NaN when the prompt had no letters)."""
    out: list[dict] = []
    n, m = len(current), len(reference)
    for col, feature in ((0, "prompt_chars"), (1, "prompt_tokens")):
        value = drift.psi(current[:, col], reference[:, col], BINS[feature])
        out.append(_result(feature, "psi", value, None, drift.severity_of_psi(value), n, m))
        d, p = drift.ks_test(current[:, col], reference[:, col])
        out.append(_result(feature, "ks", d, p, drift.severity_of_ks(d, p), n, m))
    cur, ref = current[~np.isnan(current[:, 2])], reference[~np.isnan(reference[:, 2])]
    if len(cur) >= MIN_ROWS and len(ref) >= MIN_ROWS:
        value = drift.psi(cur[:, 2], ref[:, 2], BINS["hangul_ratio"])
        out.append(_result("hangul_ratio", "psi", value, None, drift.severity_of_psi(value), len(cur), len(ref)))
        mix_c, mix_r = _mix(cur), _mix(ref)
        tv = drift.total_variation(mix_c, mix_r)
        out.append(_result("language_mix", "tv", tv, None, drift.severity_of_mix(tv), len(cur), len(ref)))
    return out


def compare_scores(feature: str, current: np.ndarray, reference: np.ndarray) -> list[dict]:
    n, m = len(current), len(reference)
    value = drift.psi(current, reference, BINS[feature])
    d, p = drift.ks_test(current, reference)
    return [
        _result(feature, "psi", value, None, drift.severity_of_psi(value), n, m),
        _result(feature, "ks", d, p, drift.severity_of_ks(d, p), n, m),
    ]


def _mix(rows: np.ndarray) -> list[float]:
    hangul, latin = float(np.mean(rows[:, 2])), float(np.mean(rows[:, 3]))
    return [hangul, latin, max(0.0, 1.0 - hangul - latin)]


def _result(feature: str, test: str, statistic: float, p_value: float | None, severity: str, n: int, m: int) -> dict:
    return {
        "feature": feature,
        "test": test,
        "statistic": round(statistic, 6),
        "p_value": p_value,
        "severity": severity,
        "n_current": n,
        "n_reference": m,
    }


async def reference_of(session: AsyncSession, route: str, current_start: datetime) -> tuple[datetime, datetime, bool]:
    """(start, end, pinned) of the route's reference window."""
    pinned = await session.get(DriftReference, route)
    if pinned is not None:
        return pinned.reference_start, pinned.reference_end, True
    return current_start - DEFAULT_REFERENCE, current_start, False


async def _values(session: AsyncSession, sql, route: str, start: datetime, end: datetime) -> list:
    rows = await session.execute(sql, {"route": route, "start": start, "end": end, "limit": MAX_ROWS})
    return list(rows)


def _usage_array(rows: list) -> np.ndarray:
    return np.array(
        [(r[0], r[1] or 0, np.nan if r[2] is None else r[2], np.nan if r[3] is None else r[3]) for r in rows],
        dtype=float,
    ).reshape(-1, 4)


# the route's semantic-cache settings name its embeddings route (read as JSON: no column needed to exist)
_EMBEDDINGS_ROUTE = text(
    "SELECT to_jsonb(r) -> 'semantic_cache' ->> 'embeddings_route' FROM gateway_routes r WHERE model_name = :route"
)
_LOGGED = text("""
SELECT request FROM gateway_request_logs
WHERE model = :route AND created_at >= :start AND created_at < :end
ORDER BY created_at DESC LIMIT :limit
""")


def logged_prompt(request) -> str:
    """The masked prompt text of a content log's request (the user's messages, else the prompt)."""
    data = orjson.loads(request) if isinstance(request, str | bytes) else request
    if not isinstance(data, dict):
        return ""
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    users = [m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
    text_ = "\n".join(users) if users else str(data.get("prompt") or "")
    return text_[:4000]


async def _embedding_drift(
    session: AsyncSession, gw, route: str, windows: tuple[tuple[datetime, datetime], tuple[datetime, datetime]]
) -> list[dict]:
    embeddings_route = await session.scalar(_EMBEDDINGS_ROUTE, {"route": route})
    if gw is None or not embeddings_route:
        return []
    from axops.auth.scoping import SYSTEM
    from axops.gateway.semantic_cache import embed

    await gw.table.ensure(gw.db, gw.secret)
    centroids = []
    counts = []
    for start, end in windows:
        rows = await session.execute(_LOGGED, {"route": route, "start": start, "end": end, "limit": EMBED_SAMPLE})
        vectors = []
        for (request,) in rows:
            prompt = logged_prompt(request)
            vector = await embed(gw, SYSTEM, embeddings_route, prompt) if prompt.strip() else None
            if vector is not None:
                vectors.append(vector)
        if len(vectors) < EMBED_MIN or len({v.shape for v in vectors}) != 1:
            return []
        centroids.append(np.mean(np.stack(vectors), axis=0))
        counts.append(len(vectors))
    distance = drift.cosine_distance(centroids[0], centroids[1])
    return [_result("embedding", "cosine", distance, None, drift.severity_of_cosine(distance), *counts)]


async def run_route(
    session: AsyncSession, route: str, now: datetime, window: timedelta = DEFAULT_WINDOW, gw=None
) -> list[DriftResult]:
    """Compare the route's windows, store the results and their series; the caller commits."""
    cur_start = now - window
    ref_start, ref_end, _ = await reference_of(session, route, cur_start)
    found: list[dict] = []
    cur = _usage_array(await _values(session, _USAGE, route, cur_start, now))
    ref = _usage_array(await _values(session, _USAGE, route, ref_start, ref_end))
    if len(cur) >= MIN_ROWS and len(ref) >= MIN_ROWS:
        found += compare_usage(cur, ref)
    for feature, sql in (("judge_score", _JUDGE), ("feedback_score", _FEEDBACK)):
        c = np.array([r[0] for r in await _values(session, sql, route, cur_start, now)], dtype=float)
        r = np.array([r[0] for r in await _values(session, sql, route, ref_start, ref_end)], dtype=float)
        if len(c) >= MIN_SCORES and len(r) >= MIN_SCORES:
            found += compare_scores(feature, c, r)
    found += await _embedding_drift(session, gw, route, ((cur_start, now), (ref_start, ref_end)))
    rows = [
        DriftResult(
            route=route,
            current_start=cur_start,
            current_end=now,
            reference_start=ref_start,
            reference_end=ref_end,
            computed_at=now,
            **f,
        )
        for f in found
    ]
    session.add_all(rows)
    await store.write(
        session, [(SERIES[f["test"]], {"route": route, "feature": f["feature"]}, now, f["statistic"]) for f in found]
    )
    await session.flush()
    return rows


async def run(
    session: AsyncSession,
    now: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
    route: str | None = None,
    gw=None,
) -> list[DriftResult]:
    """The drift job: every route with enough traffic (or the one named). The caller commits."""
    now = now or datetime.now(UTC)
    if route is not None:
        routes = [route]
    else:
        params = {"start": now - window, "end": now, "min_rows": MIN_ROWS, "min_scores": MIN_SCORES}
        routes = sorted((await session.execute(_ROUTES, params)).scalars())
    results: list[DriftResult] = []
    for name in routes:
        results += await run_route(session, name, now, window, gw)
    return results


# --- reads and the pinned reference (the router's services) ---


async def visible_routes(session: AsyncSession, principal: Principal) -> set[str] | None:
    """The routes whose drift the caller sees (their teams' and organisation-wide ones); None: all."""
    if principal.is_admin or principal.can("gateway:admin"):
        return None
    return set((await session.execute(select(Route.model_name).where(visible(principal, Route)))).scalars())


async def _route_row(session: AsyncSession, principal: Principal, route: str) -> Route | None:
    row = await session.scalar(select(Route).where(Route.model_name == route))
    if row is not None and (principal.is_admin or principal.can("gateway:admin") or sees(principal, row)):
        return row
    return None


_LATEST = """
SELECT DISTINCT ON (route, feature, test) * FROM drift_results
WHERE (CAST(:routes AS text[]) IS NULL OR route = ANY(CAST(:routes AS text[])))
ORDER BY route, feature, test, computed_at DESC"""


async def latest(session: AsyncSession, principal: Principal, route: str | None = None) -> list[DriftResult]:
    """The newest result per route, feature and test, of the routes the caller sees."""
    allowed = await visible_routes(session, principal)
    routes = None if allowed is None else sorted(allowed)
    if route is not None:
        routes = [route] if routes is None or route in routes else []
    q = select(DriftResult).from_statement(text(_LATEST).bindparams(routes=routes))
    return list((await session.execute(q)).scalars())


async def detail(session: AsyncSession, principal: Principal, route: str, days: int) -> dict:
    """A route's latest results, the PSI and KS history of the last `days` days and its reference."""
    row = await _route_row(session, principal, route)
    if row is None and not (principal.is_admin or principal.can("gateway:admin")):
        raise NotFound("No such route among those you see.", code="route_not_found")
    now = datetime.now(UTC)
    rows = await latest(session, principal, route)
    if row is None and not rows:
        raise NotFound("No such route among those you see.", code="route_not_found")
    history = (
        await session.execute(
            select(DriftResult)
            .where(DriftResult.route == route, DriftResult.computed_at >= now - timedelta(days=days))
            .order_by(DriftResult.computed_at)
            .limit(5000)
        )
    ).scalars()
    start, end, pinned = await reference_of(session, route, now - DEFAULT_WINDOW)
    return {
        "route": route,
        "latest": rows,
        "history": [
            {"t": h.computed_at, "feature": h.feature, "test": h.test, "statistic": h.statistic} for h in history
        ],
        "reference": {"start": start, "end": end, "pinned": pinned},
        "window_hours": int(DEFAULT_WINDOW.total_seconds() // 3600),
    }


MAX_REFERENCE = timedelta(days=90)
MIN_REFERENCE = timedelta(hours=1)


async def set_reference(
    session: AsyncSession, principal: Principal, route: str, start: datetime | None, end: datetime | None
) -> dict:
    """Pin (or, with no start and end, unpin) the route's reference window. Needs alerts:write and
    membership of the route's team (gateway admins: any route); audited."""
    require(principal, "alerts:write")
    row = await _route_row(session, principal, route)
    if row is None:
        raise NotFound("No such route among those you see.", code="route_not_found")
    if not (principal.is_admin or principal.can("gateway:admin") or principal.sees_team(row.team_id)):
        raise Forbidden("Only members of the route's team can change it.", code="team_members_only")
    pinned = await session.get(DriftReference, route)
    if start is None and end is None:
        if pinned is not None:
            await session.delete(pinned)
    else:
        if start is None or end is None:
            raise Invalid("Give both `start` and `end`, or neither.", code="drift_reference_invalid")
        if end <= start or end - start < MIN_REFERENCE or end - start > MAX_REFERENCE or end > datetime.now(UTC):
            raise Invalid(
                "The reference window must end in the past and span 1 hour to 90 days.",
                code="drift_reference_invalid",
            )
        if pinned is None:
            session.add(DriftReference(route=route, reference_start=start, reference_end=end, set_by=principal.user_id))
        else:
            pinned.reference_start, pinned.reference_end, pinned.set_by = start, end, principal.user_id
            pinned.updated_at = datetime.now(UTC)
    audit.record(
        session,
        "monitoring.drift_reference_set" if start else "monitoring.drift_reference_cleared",
        resource_type="gateway_route",
        resource_id=row.id,
        team_id=row.team_id,
        summary={
            "route": route,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
    )
    await session.flush()
    s, e, p = await reference_of(session, route, datetime.now(UTC) - DEFAULT_WINDOW)
    return {"start": s, "end": e, "pinned": p}
