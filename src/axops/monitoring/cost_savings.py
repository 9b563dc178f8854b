"""Savings recommendations, each with an estimated monthly saving (a 30-day month) and its evidence.

- `cache`: identical requests on a route whose exact cache is off (`cache_ttl_s = 0`). Identical means
  the same md5 of the PII-masked request text in `gateway_request_logs` (only keys that log content are
  seen; the exact-cache key itself is not recorded, and the masked text keeps the messages only, not
  the sampling parameters, so a repeat may be non-deterministic and not cacheable). A prompt seen at
  least `MIN_REPEATS` times in 7 days counts; every repeat after the first could have been a hit:
  saving = the repeats' recorded cost (joined to usage records by request id) × 30/7.
- `idle_deployment`: a ready deployment with GPUs, older than a day, that served at most
  `IDLE_MAX_REQUESTS` requests in 24 h: saving = its replicas' GPU cost for a month.
- `overprovisioned`: more replicas than the mean 24 h `replica_load` (queued + running per replica,
  from the metric history) needs at the deployment's autoscale target: saving = the spare replicas'
  GPU cost for a month.
- `cheaper_route`: an evaluation run compared two route targets on one set and the cheaper route's mean
  is within `MARGIN` (0.02 on 0..1 metrics, else 2 points) of the dearer one's on every metric: saving
  = the dearer route's last 30 days of tokens at its price minus at the cheaper one's.
- Oversized `max_tokens` is not recommended: neither usage records nor the masked logs keep max_tokens.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.monitoring import store
from axops.monitoring.cost import rate_table, replica_hour_rate, sees_all, usage_scope
from axops.monitoring.cost_simulator import load as load_prices
from axops.monitoring.cost_simulator import price

MIN_REPEATS = 5
WINDOW_DAYS = 7
IDLE_MAX_REQUESTS = 5
MONTH_HOURS = 30 * 24
MARGIN = 0.02
NOTES = ["max_tokens_not_recorded"]


async def recommendations(session: AsyncSession, principal: Principal, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    items = [
        *await repeated_prompts(session, principal, now),
        *await deployments(session, principal, now),
        *await cheaper_routes(session, principal),
    ]
    items.sort(key=lambda i: -i["monthly_saving"])
    return {
        "total": sum(i["monthly_saving"] for i in items),
        "items": items,
        "notes": NOTES,
    }


async def repeated_prompts(session: AsyncSession, principal: Principal, now: datetime) -> list[dict]:
    where, params = usage_scope(principal)
    if not sees_all(principal):  # a log without a usage record still belongs to its user
        where = f"({where} OR (u.id IS NULL AND l.user_id = :scope_me))"
    since = now - timedelta(days=WINDOW_DAYS)
    rows = await session.execute(
        text(f"""
        SELECT l.model AS route, md5(l.request) AS digest, count(*) AS n, coalesce(sum(u.cost), 0) AS cost
        FROM gateway_request_logs l
        JOIN gateway_routes r ON r.model_name = l.model AND r.cache_ttl_s = 0
        LEFT JOIN usage_records u ON u.request_id = l.request_id AND u.created_at >= :since AND u.created_at < :until
        WHERE l.created_at >= :since AND l.created_at < :until AND l.status < 400 AND {where}
        GROUP BY 1, 2 HAVING count(*) >= :min
        ORDER BY 1, n DESC"""),
        {"since": since, "until": now, "min": MIN_REPEATS, **params},
    )
    by_route: dict[str, dict] = {}
    for r in rows:
        found = by_route.setdefault(r.route, {"prompts": 0, "repeats": 0, "saving": 0.0, "top": []})
        found["prompts"] += 1
        found["repeats"] += r.n - 1
        found["saving"] += float(r.cost) * (r.n - 1) / r.n * 30 / WINDOW_DAYS
        if len(found["top"]) < 5:
            found["top"].append({"digest": r.digest[:12], "count": r.n})
    return [
        {
            "kind": "cache",
            "subject": route,
            "monthly_saving": f["saving"],
            "evidence": {
                "window_days": WINDOW_DAYS,
                "min_repeats": MIN_REPEATS,
                "repeated_prompts": f["prompts"],
                "repeat_requests": f["repeats"],
                "top": f["top"],
            },
            "link": "/gateway/routes",
        }
        for route, f in by_route.items()
    ]


async def deployments(session: AsyncSession, principal: Principal, now: datetime) -> list[dict]:
    table, default, _ = await rate_table(session)
    rows = await session.execute(
        text("""
        SELECT d.id, d.name, d.resources, d.pricing, d.replicas_desired, d.replicas_min, d.autoscale_target,
               (SELECT count(*) FROM usage_records u WHERE u.model = d.name
                  AND u.created_at >= :since AND u.created_at < :now) AS requests
        FROM deployments d
        WHERE d.status IN ('ready', 'degraded') AND coalesce((d.resources->>'gpu')::int, 0) > 0
          AND d.created_at <= :since
          AND (CAST(:teams AS uuid[]) IS NULL OR d.team_id = ANY(CAST(:teams AS uuid[])))"""),
        {"since": now - timedelta(hours=24), "now": now, "teams": team_ids_param(principal)},
    )
    out = []
    for d in rows:
        hourly = replica_hour_rate(d.resources, d.pricing, table, default)
        base = {"subject": d.name, "link": f"/deployments/{d.id}"}
        evidence = {"requests_24h": d.requests, "replicas": d.replicas_desired, "replica_hour_cost": hourly}
        if d.requests <= IDLE_MAX_REQUESTS:
            saving = d.replicas_desired * hourly * MONTH_HOURS
            out.append({"kind": "idle_deployment", "monthly_saving": saving, "evidence": evidence, **base})
            continue
        if d.replicas_desired <= d.replicas_min:
            continue
        load = await _replica_load(session, d.name, now)
        if load is None:
            continue
        needed = max(d.replicas_min, math.ceil(load / max(d.autoscale_target, 1e-9)))
        if needed < d.replicas_desired:
            saving = (d.replicas_desired - needed) * hourly * MONTH_HOURS
            evidence |= {"mean_load": round(load, 3), "autoscale_target": d.autoscale_target, "replicas_needed": needed}
            out.append({"kind": "overprovisioned", "monthly_saving": saving, "evidence": evidence, **base})
    return out


async def _replica_load(session: AsyncSession, deployment: str, now: datetime) -> float | None:
    """The deployment's total load (sum over replicas of each one's mean `replica_load` over 24 h)."""
    found = await store.query(
        session, "replica_load", {"deployment": deployment}, now - timedelta(hours=24), now, 3600, now
    )
    means = [sum(v for _, v in s["points"]) / len(s["points"]) for s in found["series"] if s["points"]]
    return sum(means) if means else None


async def cheaper_routes(session: AsyncSession, principal: Principal) -> list[dict]:
    usage, routes = await load_prices(session, principal, 30)
    tokens: dict[str, list[int]] = {}
    for u in usage:
        t = tokens.setdefault(u.route, [0, 0])
        t[0] += u.prompt_tokens
        t[1] += u.completion_tokens
    runs = await session.execute(
        text("""
        SELECT DISTINCT ON (r.eval_set_id, r.targets::text) r.id, r.name, r.targets, r.summary, s.name AS eval_set
        FROM eval_runs r JOIN eval_sets s ON s.id = r.eval_set_id
        WHERE r.status = 'succeeded' AND r.summary IS NOT NULL
          AND (CAST(:teams AS uuid[]) IS NULL OR r.team_id = ANY(CAST(:teams AS uuid[])))
        ORDER BY r.eval_set_id, r.targets::text, r.finished_at DESC NULLS LAST"""),
        {"teams": team_ids_param(principal)},
    )
    best: dict[str, dict] = {}
    for run in runs:
        targets = [t for t in run.targets or [] if t.get("route") in routes and routes[t["route"]].primary()]
        for dear in targets:
            for cheap in targets:
                if dear["route"] == cheap["route"] or dear["route"] not in tokens:
                    continue
                pt, ct = tokens[dear["route"]]
                dp, cp = routes[dear["route"]].primary(), routes[cheap["route"]].primary()
                saving = price(pt, ct, dp.input_price, dp.output_price) - price(pt, ct, cp.input_price, cp.output_price)
                scores = _close(run.summary, dear["key"], cheap["key"])
                if saving <= 0 or scores is None:
                    continue
                if saving > best.get(dear["route"], {}).get("monthly_saving", 0):
                    best[dear["route"]] = {
                        "kind": "cheaper_route",
                        "subject": dear["route"],
                        "monthly_saving": saving,
                        "evidence": {
                            "to_route": cheap["route"],
                            "run_id": str(run.id),
                            "eval_set": run.eval_set,
                            "scores": scores,
                            "prompt_tokens_30d": pt,
                            "completion_tokens_30d": ct,
                        },
                        "link": f"/evaluation/runs/{run.id}",
                    }
    return list(best.values())


def _close(summary: dict, dear: str, cheap: str) -> dict | None:
    """{metric: [dear mean, cheap mean]} when the cheap target is within the margin on every metric."""
    scores = {}
    for metric, by_target in (summary or {}).items():
        a, b = (by_target or {}).get(dear), (by_target or {}).get(cheap)
        if a is None or b is None:
            continue
        margin = MARGIN if max(abs(a), abs(b)) <= 1 else MARGIN * 100
        if b < a - margin:
            return None
        scores[metric] = [a, b]
    return scores or None
