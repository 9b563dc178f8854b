"""Month-end forecast and budget burn-down.

Method: the run rate is the mean daily spend of the last `RATE_DAYS` complete UTC days before `as_of`
(days without usage count as 0); the projected month total is the spend so far (the month's first
instant to `as_of`) + rate × the days left until the month ends (fractional: the rest of today counts).
The interval uses the daily spread: rate ± one sample standard deviation of those days (the low end
never below 0). A budget (`gateway_limits.monthly_budget` of a key, user or team) is `over` once its
spend so far reaches it, `at_risk` when its own projection passes it, else `on_track`; it runs out on
as_of + (budget − spent) / its own rate."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.monitoring.cost import daily_costs, next_month, sees_all

RATE_DAYS = 7


def project(daily: dict[date, float], as_of: datetime, budget: float | None = None) -> dict:
    """The forecast from spend per UTC day (`daily` holds at least the month so far and the rate days)."""
    month_start = as_of.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_end = next_month(as_of)
    today = as_of.date()
    spent = sum(c for d, c in daily.items() if month_start.date() <= d <= today)
    days = [daily.get(today - timedelta(days=i), 0.0) for i in range(1, RATE_DAYS + 1)]
    rate = sum(days) / RATE_DAYS
    spread = statistics.stdev(days) if len(days) > 1 else 0.0
    remaining = (month_end - as_of).total_seconds() / 86400
    out = {
        "spent": spent,
        "rate_per_day": rate,
        "rate_stdev": spread,
        "remaining_days": remaining,
        "projected": spent + rate * remaining,
        "projected_low": spent + max(0.0, rate - spread) * remaining,
        "projected_high": spent + (rate + spread) * remaining,
    }
    if budget is not None:
        out["budget"] = budget
        if spent >= budget:
            out["status"], out["runs_out_on"] = "over", _crossed(daily, month_start.date(), today, budget)
        else:
            out["status"] = "at_risk" if out["projected"] > budget else "on_track"
            out["runs_out_on"] = (as_of + timedelta(days=(budget - spent) / rate)).date() if rate > 0 else None
    return out


def _crossed(daily: dict[date, float], first: date, last: date, budget: float) -> date | None:
    """The day the month's cumulative spend reached the budget."""
    total, day = 0.0, first
    while day <= last:
        total += daily.get(day, 0.0)
        if total >= budget:
            return day
        day += timedelta(days=1)
    return None


def cumulative(daily: dict[date, float], as_of: datetime, projected: dict) -> list[dict]:
    """Per day of the month: cumulative actual spend up to as_of's day, then the projection (and its interval)."""
    day, end = as_of.replace(day=1).date(), (next_month(as_of) - timedelta(days=1)).date()
    total, out = 0.0, []
    today = as_of.date()
    while day <= end:
        if day <= today:
            total += daily.get(day, 0.0)
            out.append({"day": day, "actual": total, "projected": None, "low": None, "high": None})
        else:
            elapsed = (
                datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) - as_of
            ).total_seconds() / 86400
            s, r, sd = projected["spent"], projected["rate_per_day"], projected["rate_stdev"]
            out.append(
                {
                    "day": day,
                    "actual": None,
                    "projected": s + r * elapsed,
                    "low": s + max(0.0, r - sd) * elapsed,
                    "high": s + (r + sd) * elapsed,
                }
            )
        day += timedelta(days=1)
    return out


_BUDGETS = """
SELECT l.id, l.scope, l.subject_id, l.monthly_budget, l.warn_ratio,
       CASE l.scope WHEN 'team' THEN t.name WHEN 'user' THEN us.username
            ELSE k.name || ' (' || k.prefix || ')' END AS subject
FROM gateway_limits l
LEFT JOIN teams t ON l.scope = 'team' AND t.id = l.subject_id
LEFT JOIN users us ON l.scope = 'user' AND us.id = l.subject_id
LEFT JOIN api_keys k ON l.scope = 'key' AND k.id = l.subject_id
WHERE l.monthly_budget IS NOT NULL AND ({visible})
ORDER BY l.scope, subject"""


async def forecast(session: AsyncSession, principal: Principal, as_of: datetime | None = None) -> dict:
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    month_start = as_of.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    since = min(month_start, datetime.combine(as_of.date() - timedelta(days=RATE_DAYS), datetime.min.time(), UTC))
    daily = await daily_costs(session, principal, since, as_of)
    overall = project(daily, as_of)
    if sees_all(principal):
        visible, params = "TRUE", {}
    else:
        visible = (
            "(l.scope = 'team' AND l.subject_id = ANY(:teams)) OR (l.scope = 'user' AND l.subject_id = :me)"
            " OR (l.scope = 'key' AND k.user_id = :me)"
        )
        params = {"teams": list(principal.team_ids), "me": principal.user_id}
    budgets = []
    for b in await session.execute(text(_BUDGETS.format(visible=visible)), params):
        spend = await daily_costs(session, principal, since, as_of, (b.scope, uuid.UUID(str(b.subject_id))))
        budgets.append(
            {
                "id": b.id,
                "scope": b.scope,
                "subject_id": b.subject_id,
                "subject": b.subject or str(b.subject_id),
                **project(spend, as_of, float(b.monthly_budget)),
            }
        )
    return {
        "as_of": as_of,
        "month": as_of.strftime("%Y-%m"),
        "method": f"mean of the last {RATE_DAYS} complete days ± 1 standard deviation",
        **overall,
        "days": cumulative(daily, as_of, overall),
        "budgets": budgets,
    }
