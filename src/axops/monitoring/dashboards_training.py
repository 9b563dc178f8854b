"""The training dashboard (PRD §7.3 ③): outcomes of the jobs that finished in the range, GPU-hours per team,
queue waits, and the jobs that used the most GPU time. Non-admins see their teams' jobs only.

- A job's GPU-hours in a range: `resources.gpus` × the hours of [started_at, end of its run) that fall inside
  the range; a running job's run ends now, a finished one's at finished_at (updated_at when that is missing).
  A retried job counts from its latest start.
- A queue wait: started_at − queued_at of the jobs that started in the range; the jobs still queued wait
  now − queued_at.
- Days are UTC days."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.db import fetch_raw
from axops.monitoring.dashboards import Range

FINAL = ("succeeded", "failed", "cancelled")
TOP = 10
QUEUED_SHOWN = 20

_TEAMS = "($1::uuid[] IS NULL OR j.team_id = ANY($1))"

_OUTCOMES = f"""
SELECT date_trunc('day', j.finished_at AT TIME ZONE 'UTC') AS day, j.status, count(*) AS n
FROM training_jobs j
WHERE {_TEAMS} AND j.status IN ('succeeded', 'failed', 'cancelled') AND j.finished_at >= $2 AND j.finished_at < $3
GROUP BY 1, 2 ORDER BY 1, 2"""

# the clipped run of every job whose run overlaps the range, in hours × GPUs
_USAGE = f"""
WITH runs AS (
  SELECT j.id, j.name, j.team_id, j.status,
         greatest(coalesce((j.resources->>'gpus')::numeric, 0), 0) AS gpus,
         greatest(j.started_at, $2) AS a,
         least(CASE WHEN j.status = 'running' THEN $4 ELSE coalesce(j.finished_at, j.updated_at) END, $3) AS b
  FROM training_jobs j
  WHERE {_TEAMS} AND j.started_at IS NOT NULL AND j.started_at < $3
)
SELECT r.id, r.name, r.team_id, t.name AS team, r.status, r.gpus,
       r.gpus * extract(epoch FROM r.b - r.a) / 3600.0 AS gpu_hours
FROM runs r LEFT JOIN teams t ON t.id = r.team_id
WHERE r.b > r.a AND r.gpus > 0"""

_WAITS = f"""
SELECT date_trunc('day', j.started_at AT TIME ZONE 'UTC') AS day, count(*) AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.started_at - j.queued_at)) AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM j.started_at - j.queued_at)) AS p95_s,
       max(extract(epoch FROM j.started_at - j.queued_at)) AS max_s
FROM training_jobs j
WHERE {_TEAMS} AND j.started_at >= $2 AND j.started_at < $3
GROUP BY GROUPING SETS ((1), ()) ORDER BY 1 NULLS FIRST"""

_QUEUED = f"""
SELECT j.id, j.name, t.name AS team, j.priority, j.queued_at, j.status_reason,
       extract(epoch FROM $2 - j.queued_at) AS wait_s, count(*) OVER () AS total
FROM training_jobs j LEFT JOIN teams t ON t.id = j.team_id
WHERE {_TEAMS} AND j.status = 'queued'
ORDER BY j.queued_at, j.id LIMIT {QUEUED_SHOWN}"""


def _wait(row) -> dict:
    return {k: float(row[k]) if row[k] is not None else None for k in ("p50_s", "p95_s", "max_s")} | {
        "jobs": row["jobs"]
    }


async def training(session: AsyncSession, principal: Principal, window: Range, now: datetime) -> dict:
    teams = team_ids_param(principal)
    counts = dict.fromkeys(FINAL, 0)
    days: dict[datetime, dict[str, int]] = {}
    for r in await fetch_raw(session, _OUTCOMES, teams, window.start, window.end):
        counts[r["status"]] += r["n"]
        days.setdefault(r["day"], dict.fromkeys(FINAL, 0))[r["status"]] = r["n"]
    decided = counts["succeeded"] + counts["failed"]

    runs = await fetch_raw(session, _USAGE, teams, window.start, window.end, now)
    per_team: dict = {}
    for r in runs:
        entry = per_team.setdefault(r["team_id"], {"team_id": r["team_id"], "team": r["team"], "gpu_hours": 0.0})
        entry["gpu_hours"] += float(r["gpu_hours"])
        entry["jobs"] = entry.get("jobs", 0) + 1
    top = sorted(runs, key=lambda r: (-r["gpu_hours"], r["name"]))[:TOP]

    waits = await fetch_raw(session, _WAITS, teams, window.start, window.end)
    overall = next((w for w in waits if w["day"] is None), None)
    queued = await fetch_raw(session, _QUEUED, teams, now)
    return {
        "range": window.out(),
        "outcomes": {
            **counts,
            "success_rate": counts["succeeded"] / decided if decided else None,
            "days": [{"day": d.date(), **v} for d, v in sorted(days.items())],
        },
        "gpu_hours": {
            "total": sum(e["gpu_hours"] for e in per_team.values()),
            "teams": sorted(per_team.values(), key=lambda e: (-e["gpu_hours"], e["team"] or "")),
            "top_jobs": [
                {
                    "id": r["id"],
                    "name": r["name"],
                    "team": r["team"],
                    "status": r["status"],
                    "gpus": float(r["gpus"]),
                    "gpu_hours": float(r["gpu_hours"]),
                }
                for r in top
            ],
        },
        "queue": {
            "overall": _wait(overall) if overall else {"jobs": 0, "p50_s": None, "p95_s": None, "max_s": None},
            "days": [{"day": w["day"].date(), **_wait(w)} for w in waits if w["day"] is not None],
            "queued_total": queued[0]["total"] if queued else 0,
            "queued": [
                {k: r[k] for k in ("id", "name", "team", "priority", "queued_at", "status_reason")}
                | {"wait_s": float(r["wait_s"])}
                for r in queued
            ],
        },
    }
