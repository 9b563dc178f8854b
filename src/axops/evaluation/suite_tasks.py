"""When suites run by themselves: on a new version of their model and on their schedule.

- New version: the registry tells `on_version_ready` inside the transaction that makes a version ready;
  it only queues `start_version_runs` for after the commit, so an upload is never slowed or failed by
  evaluation. The task starts one run per suite of the model with `run_on_new_version`.
- Schedule: a periodic task every five minutes runs the suites whose `interval_hours` have passed since
  `last_scheduled_at`, starts new-version runs the fast path missed (a version made ready by a server
  import, which commits outside a request), and settles the verdicts of finished suite runs.

Runs started this way act as the suite's creator (the run's gateway key is that user's, so limits and
budgets apply as if they had pressed Run); a suite whose creator is gone, deactivated or no longer allowed
to run evaluations in the suite's team is skipped and logged, as is a suite the run service refuses
(a route gone, a set no longer readable)."""

from __future__ import annotations

import inspect
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import User
from axops.auth.service import principal_of
from axops.core.errors import AppError
from axops.core.logging import event
from axops.core.state import task_state
from axops.core.tasks import defer_after_commit
from axops.evaluation import suites as suiting
from axops.evaluation.models import EvalRun, EvalSuite
from axops.registry import service as registry
from axops.registry.models import ModelVersion, RegisteredModel

log = logging.getLogger("axops.evaluation")
tasks = procrastinate.Blueprint()
NAMESPACE = "eval_suites"  # app.py registers the blueprint under it
CATCH_UP = timedelta(days=1)  # how far back the sweep looks for new versions the fast path missed


async def acting_as(session: AsyncSession, suite: EvalSuite) -> Principal | None:
    """The suite's creator as a caller, when they may still run it."""
    user = await session.get(User, suite.created_by) if suite.created_by else None
    if user is None or not user.is_active:
        return None
    principal = await principal_of(session, user)
    if not principal.can("eval:write") or not principal.sees_team(suite.team_id):
        return None
    return principal


async def start(session: AsyncSession, state: Any, suite: EvalSuite, trigger: str, **kwargs) -> bool:
    """Queue one run of the suite in a savepoint; a refusal is logged, never raised."""
    principal = await acting_as(session, suite)
    if principal is None:
        event(log, "eval.suite_skipped", suite=str(suite.id), trigger=trigger, reason="its creator cannot run it")
        return False
    hooks = session.info.setdefault("after_commit", [])
    queued = len(hooks)
    try:
        async with session.begin_nested():
            run = await suiting.run_suite(session, principal, state, suite, trigger=trigger, **kwargs)
    except AppError as exc:
        del hooks[queued:]  # the run was rolled back: don't start its task
        event(log, "eval.suite_skipped", logging.WARNING, suite=str(suite.id), trigger=trigger, reason=exc.detail)
        return False
    event(log, "eval.suite_started", suite=str(suite.id), trigger=trigger, run=str(run.id))
    return True


async def _commit(session: AsyncSession) -> None:
    """Commit, then run what the services queued for after the commit (the runs' tasks)."""
    await session.commit()
    for hook in session.info.pop("after_commit", ()):
        result = hook()
        if inspect.isawaitable(result):
            await result


# --- a new version ---------------------------------------------------------------------------------


def _new_version_suites(model_id: Any):
    return select(EvalSuite).where(
        EvalSuite.model_id == model_id, EvalSuite.run_on_new_version, EvalSuite.target.is_not(None)
    )


async def on_version_ready(session: AsyncSession, model: RegisteredModel, version: ModelVersion) -> None:
    if await session.scalar(select(exists(_new_version_suites(model.id)))):
        defer_after_commit(session, f"{NAMESPACE}:start_version_runs", version_id=str(version.id))


registry.version_ready_listeners.append(on_version_ready)


async def start_version_runs(session: AsyncSession, state: Any, version_id: uuid.UUID) -> int:
    """One run per suite of the version's model that runs on new versions, unless it has one already."""
    version = await session.get(ModelVersion, version_id)
    if version is None or version.status != "ready":
        return 0
    suites = (await session.scalars(_new_version_suites(version.model_id).with_for_update())).all()
    started = 0
    for suite in suites:
        done = await session.scalar(
            select(exists().where(EvalRun.suite_id == suite.id, EvalRun.model_version_id == version.id))
        )
        if not done:
            started += await start(session, state, suite, "new version", model_version_id=version.id)
    return started


@tasks.task(name="start_version_runs", pass_context=True)
async def start_version_runs_task(job_context, version_id: str) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        await start_version_runs(session, state, uuid.UUID(version_id))
        await _commit(session)


# --- the schedule ----------------------------------------------------------------------------------


async def due_suites(session: AsyncSession, now: datetime) -> list[EvalSuite]:
    q = (
        select(EvalSuite)
        .where(
            EvalSuite.interval_hours.is_not(None),
            EvalSuite.target.is_not(None),
            or_(
                EvalSuite.last_scheduled_at.is_(None),
                EvalSuite.last_scheduled_at + func.make_interval(0, 0, 0, 0, EvalSuite.interval_hours) <= now,
            ),
        )
        .order_by(EvalSuite.last_scheduled_at.asc().nulls_first())
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())


async def missed_versions(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Ready versions of the last day, made after a new-version suite of their model, without its run."""
    q = (
        select(ModelVersion.id)
        .join(EvalSuite, EvalSuite.model_id == ModelVersion.model_id)
        .where(
            EvalSuite.run_on_new_version,
            EvalSuite.target.is_not(None),
            ModelVersion.status == "ready",
            ModelVersion.created_at >= EvalSuite.created_at,
            ModelVersion.updated_at >= now - CATCH_UP,
            ~exists().where(and_(EvalRun.suite_id == EvalSuite.id, EvalRun.model_version_id == ModelVersion.id)),
        )
        .distinct()
        .limit(100)
    )
    return list((await session.scalars(q)).all())


async def sweep(session: AsyncSession, state: Any, now: datetime | None = None) -> dict[str, int]:
    """Start the suites that are due and the new-version runs missed; settle unread verdicts."""
    now = now or datetime.now(UTC)
    scheduled = 0
    for suite in await due_suites(session, now):
        suite.last_scheduled_at = now  # also when skipped: a broken suite is tried again on its next turn
        scheduled += await start(session, state, suite, "schedule")
    await session.flush()
    caught_up = 0
    for version_id in await missed_versions(session, now):
        caught_up += await start_version_runs(session, state, version_id)
    settled = await suiting.settle_pending(session)
    return {"scheduled": scheduled, "new_versions": caught_up, "settled": settled}


@tasks.periodic(cron="*/5 * * * *", periodic_id="eval-suite-schedule")
@tasks.task(name="run_due_suites", pass_context=True, queueing_lock="eval-suite-schedule")
async def run_due_suites_task(job_context, timestamp: int) -> None:
    state = task_state(job_context)
    async with state.db.sessionmaker() as session:
        counts = await sweep(session, state)
        await _commit(session)
    if any(counts.values()):
        event(log, "eval.suites_swept", **counts)
