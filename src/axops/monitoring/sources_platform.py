"""Deployments and training jobs as metric history, read every 15 s by `tasks.collect_metrics` from
their tables (dashboard aggregates, plain SQL):

- per live deployment {deployment}: `deployment_replicas_ready` (local executor: replicas in state
  "ready"; Kubernetes: the `ready_pods` its one replica entry reports), `deployment_replicas_desired`
  (what the autoscaler wants now), `deployment_replicas_max` (its ceiling), and
  `deployment_replica_restarts`: the restarts its current replicas have had. A running total while
  the replicas live; a restart of the deployment replaces them and starts again from 0 (rules take an
  increase over a window, which a reset never raises);
- `training_jobs` {state}: how many jobs are in each state now (every state, 0 included);
- `training_queue_wait_s`: the average wait (started - queued) of the jobs that started since the
  last run (a watermark, so each start counts once); no point when none started."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.monitoring import store
from axops.training.models import STATUSES as TRAINING_STATES

STEP_S = 15
TRAINING_SOURCE = "training_started"

_DEPLOYMENTS = text("SELECT name, replicas, replicas_desired, replicas_max FROM deployments WHERE status <> 'stopped'")


def _ready(replicas: list) -> int:
    ready = 0
    for r in replicas or []:
        if "ready_pods" in r:  # the Kubernetes executor reports its pods in one entry
            ready += int(r.get("ready_pods") or 0)
        elif r.get("state") == "ready":
            ready += 1
    return ready


async def collect_deployments(session: AsyncSession, now: datetime) -> int:
    at = store._floor(now, STEP_S)
    points: list[store.Point] = []
    for name, replicas, desired, maximum in (await session.execute(_DEPLOYMENTS)).all():
        labels = {"deployment": name}
        restarts = sum(int(r.get("restarts") or 0) for r in replicas or [])
        points += [
            ("deployment_replicas_ready", labels, at, float(_ready(replicas))),
            ("deployment_replicas_desired", labels, at, float(desired)),
            ("deployment_replicas_max", labels, at, float(maximum)),
            ("deployment_replica_restarts", labels, at, float(restarts)),
        ]
    await store.write(session, points)
    return len(points)


_JOB_STATES = text("SELECT status, count(*) FROM training_jobs GROUP BY status")
_STARTED = text("""
SELECT avg(extract(epoch FROM started_at - queued_at)), max(started_at)
FROM training_jobs WHERE started_at > :since AND started_at <= :until
""")


async def collect_training(session: AsyncSession, now: datetime) -> int:
    at = store._floor(now, STEP_S)
    counts = dict.fromkeys(TRAINING_STATES, 0) | dict((await session.execute(_JOB_STATES)).all())
    points: list[store.Point] = [("training_jobs", {"state": s}, at, float(n)) for s, n in counts.items()]
    since = (
        await session.execute(
            text("SELECT at FROM metric_watermarks WHERE source = :s FOR UPDATE"), {"s": TRAINING_SOURCE}
        )
    ).scalar_one_or_none()
    if since is None:
        since = now - timedelta(seconds=STEP_S)
    wait, _ = (await session.execute(_STARTED, {"since": since, "until": now})).one()
    if wait is not None:
        points.append(("training_queue_wait_s", {}, at, float(wait)))
    await session.execute(
        text("""INSERT INTO metric_watermarks (source, at) VALUES (:s, :at)
                ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at"""),
        {"s": TRAINING_SOURCE, "at": now},
    )
    await store.write(session, points)
    return len(points)
