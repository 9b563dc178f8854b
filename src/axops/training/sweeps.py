"""Sweeps: a grid or random search over a job's settings, one queued job per trial, scored by the
last value of a metric in each trial's run."""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import sees, team_clause
from axops.core.errors import Invalid, NotFound
from axops.experiments import metrics as run_metrics
from axops.training.models import TrainingJob, TrainingSweep
from axops.training.schemas import JobCreate, SweepCreate, SweepOut, SweepSummary, TrialOut
from axops.training.service import create_job


def trial_points(data: SweepCreate) -> list[dict[str, Any]]:
    """The settings of each trial: the grid's combinations (capped at max_trials), or random draws (seeded)."""
    keys = sorted(data.space)
    if data.strategy == "grid":
        combos = itertools.product(*(data.space[k].values for k in keys))
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.islice(combos, data.max_trials)]
    rng = random.Random(data.seed)

    def draw(r) -> Any:
        if r.values is not None:
            return rng.choice(r.values)
        value = math.exp(rng.uniform(math.log(r.min), math.log(r.max))) if r.log else rng.uniform(r.min, r.max)
        return round(value) if r.integer else value

    return [{k: draw(data.space[k]) for k in keys} for _ in range(data.max_trials)]


def _with(job: JobCreate, point: dict[str, Any]) -> JobCreate:
    body = job.model_dump()
    for path, value in point.items():
        section, key = path.split(".", 1)
        body[section][key] = value
    try:
        return JobCreate.model_validate(body)
    except ValueError as exc:
        raise Invalid(f"A trial's settings are invalid ({point}): {exc}") from None


async def create_sweep(
    session: AsyncSession,
    principal: Principal,
    secret: str,
    data: SweepCreate,
    gpus_here: int,
    executors: Collection[str] = ("local",),
) -> TrainingSweep:
    points = trial_points(data)
    trials = [_with(data.job, p) for p in points]  # all validated before any job exists
    sweep = TrainingSweep(
        name=data.name,
        team_id=uuid.UUID(int=0),
        created_by=principal.user_id,
        strategy=data.strategy,
        space={k: v.model_dump(exclude_none=True) for k, v in data.space.items()},
        metric=data.metric,
        mode=data.mode,
        seed=data.seed,
    )
    for i, (point, body) in enumerate(zip(points, trials, strict=True)):
        experiment = (
            data.name if body.experiment == "fine-tuning" else body.experiment
        )  # trials of a sweep share a run list
        body = body.model_copy(update={"name": f"{data.name} #{i + 1}", "experiment": experiment})
        job = await create_job(session, principal, secret, body, gpus_here, executors)
        if i == 0:
            sweep.team_id = job.team_id
            session.add(sweep)
            await session.flush()
        job.sweep_id, job.trial_params = sweep.id, point
    await session.flush()
    audit.record(
        session,
        "training.sweep_create",
        resource_type="training_sweep",
        resource_id=sweep.id,
        team_id=sweep.team_id,
        summary={"name": sweep.name, "strategy": sweep.strategy, "trials": len(points), "metric": sweep.metric},
    )
    return sweep


async def sweep_out(session: AsyncSession, principal: Principal, sweep_id: uuid.UUID) -> SweepOut:
    sweep = await session.get(TrainingSweep, sweep_id)
    if sweep is None or not sees(principal, sweep):
        raise NotFound("No such sweep.", code="sweep_not_found")
    trials, best, status = (await _scored(session, [sweep]))[sweep.id]
    return SweepOut(
        id=sweep.id,
        name=sweep.name,
        strategy=sweep.strategy,
        metric=sweep.metric,
        mode=sweep.mode,
        space=sweep.space,
        status=status,
        trials=trials,
        best_job_id=best.job_id if best else None,
        best_value=best.value if best else None,
        created_at=sweep.created_at,
    )


async def _scored(
    session: AsyncSession, sweeps: list[TrainingSweep]
) -> dict[uuid.UUID, tuple[list[TrialOut], TrialOut | None, str]]:
    """Each sweep's trials in creation order (a succeeded trial's value: the last one of the sweep's metric
    in its run), the best of them, and the sweep's status — for any number of sweeps in two queries."""
    found: dict[uuid.UUID, list] = {s.id: [] for s in sweeps}
    if found:
        rows = await session.execute(
            select(
                TrainingJob.sweep_id, TrainingJob.id, TrainingJob.run_id, TrainingJob.status, TrainingJob.trial_params
            )
            .where(TrainingJob.sweep_id.in_(list(found)))
            .order_by(TrainingJob.created_at, TrainingJob.id)
        )
        for row in rows:
            found[row.sweep_id].append(row)
    metric = {s.id: s.metric for s in sweeps}
    done = [j for jobs in found.values() for j in jobs if j.status == "succeeded" and j.run_id is not None]
    values = await run_metrics.latest_values(session, [j.run_id for j in done], [metric[j.sweep_id] for j in done])
    out = {}
    for sweep in sweeps:
        trials = []
        for j in found[sweep.id]:
            value = values.get((j.run_id, sweep.metric)) if j.status == "succeeded" else None
            value = value if value is not None and math.isfinite(value) else None
            trials.append(TrialOut(job_id=j.id, run_id=j.run_id, status=j.status, params=j.trial_params, value=value))
        scored = [t for t in trials if t.value is not None]
        best = (min if sweep.mode == "min" else max)(scored, key=lambda t: t.value) if scored else None
        statuses = {t.status for t in trials}
        status = "running" if statuses & {"queued", "running"} else ("succeeded" if scored else "failed")
        out[sweep.id] = (trials, best, status)
    return out


async def list_sweeps(session: AsyncSession, principal: Principal, limit: int = 100) -> list[SweepSummary]:
    """The caller's teams' sweeps, newest first, with their trials counted by status and the best so far."""
    q = select(TrainingSweep).where(team_clause(principal, TrainingSweep.team_id))
    sweeps = list(
        (await session.scalars(q.order_by(TrainingSweep.created_at.desc(), TrainingSweep.id.desc()).limit(limit))).all()
    )
    scored = await _scored(session, sweeps)
    out = []
    for s in sweeps:
        trials, best, status = scored[s.id]
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        out.append(
            SweepSummary(
                id=s.id,
                name=s.name,
                strategy=s.strategy,
                metric=s.metric,
                mode=s.mode,
                status=status,
                trials=len(trials),
                trial_counts=counts,
                best_job_id=best.job_id if best else None,
                best_value=best.value if best else None,
                created_at=s.created_at,
            )
        )
    return out
