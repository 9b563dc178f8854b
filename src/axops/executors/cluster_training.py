"""Fine-tuning jobs on a cluster (Ray or Kubernetes): axops keeps the order (priority, then age) and
the team GPU quotas, hands each job that may start to the cluster, and from then on follows it
there — the cluster's own scheduler decides when and where it runs. Every round it reads each
handed-over job's state and new log lines, asks cancelled ones to stop, and ends an attempt the
same way the local executor does (classified, retried when retryable).

A backend says how to talk to one kind of cluster: `submit` an attempt, read its `state` and
`logs`, `stop` it, and `cleanup` what the attempt left behind once it ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select

from axops.training import quotas
from axops.training import service as training
from axops.training.models import TrainingJob

log = logging.getLogger("axops.executors.cluster_training")


@dataclass
class ClusterState:
    phase: str  # pending | running | ended
    message: str | None = None  # the cluster's words: why it waits, or how it ended
    exit_code: int | None = None  # of the training process, when it ended and the cluster knows it
    failure_kind: str | None = None  # what the cluster knows of a failure (e.g. "oom" for an OOM-killed pod)


class Backend(Protocol):
    name: str  # the job's `executor`
    description: str  # where, for people: "Ray cluster http://ray-head:8265"

    async def submit(self, job: TrainingJob, token: str, control_url: str) -> tuple[str, str]:
        """Hand the job's current attempt to the cluster: (handle, where — for people)."""

    async def state(self, handle: str) -> ClusterState: ...

    async def logs(self, handle: str) -> str:
        """Everything the attempt printed so far."""

    async def stop(self, handle: str) -> None: ...

    async def cleanup(self, handle: str) -> None: ...


class ClusterJobRunner:
    def __init__(self, db, secret: str, control_url: str, backend: Backend) -> None:
        self.db, self.secret, self.control_url, self.backend = db, secret, control_url.rstrip("/"), backend

    async def reconcile(self) -> None:
        async with self.db.sessionmaker() as session, session.begin():
            rows = (
                await session.scalars(
                    select(TrainingJob)
                    .where(TrainingJob.executor == self.backend.name, TrainingJob.status.in_(("queued", "running")))
                    .order_by(TrainingJob.priority.desc(), TrainingJob.queued_at, TrainingJob.id)
                )
            ).all()
            waiting = []
            for job in rows:
                if job.placement.get("handle"):
                    try:
                        await self._follow(session, job)
                    except Exception:  # the cluster did not answer: try again next round, the job stays as it is
                        log.warning(
                            "training.cluster_unreachable executor=%s job=%s", self.backend.name, job.id, exc_info=True
                        )
                else:
                    waiting.append(job)
            quota_waits = await quotas.quota_wait(session, waiting)
            for job in waiting:
                if job.id in quota_waits:
                    job.status_reason = quota_waits[job.id]
                else:
                    await self._submit(session, job)

    async def _submit(self, session, job: TrainingJob) -> None:
        job.attempts += 1
        job.failure_kind, job.cancel_requested = None, False
        token = training.runtime_token(self.secret, job) or ""
        try:
            handle, where = await self.backend.submit(job, token, self.control_url)
        except Exception as e:
            job.attempts -= 1
            said = str(e).replace(token, "***") if token else str(e)  # the cluster might echo the request
            job.status_reason = f"could not be handed to {self.backend.name}: {said[:300]}; trying again"
            log.warning(
                "training.submit_failed executor=%s job=%s error=%s", self.backend.name, job.id, type(e).__name__
            )
            return
        job.placement = {"where": where, "handle": handle, "log_offset": 0}
        job.status_reason = f"handed to {where}; waiting for the cluster to start it"
        await training.append_logs(session, job.id, job.attempts, [f"axops: attempt {job.attempts} handed to {where}"])
        log.info("training.job_submitted executor=%s job=%s handle=%s", self.backend.name, job.id, handle)

    async def _follow(self, session, job: TrainingJob) -> None:
        handle = job.placement["handle"]
        state = await self.backend.state(handle)
        await self._ship_logs(session, job, final=state.phase == "ended")
        if job.cancel_requested and state.phase != "ended":
            await self.backend.stop(handle)
            if job.status == "queued":
                job.status_reason = "cancelling: the cluster is asked to stop it"
            return
        if state.phase == "pending":
            reason = f"waiting in {job.placement['where']}" + (f": {state.message}" if state.message else "")
            if job.status_reason != reason:
                job.status_reason = reason
        elif state.phase == "running" and job.status == "queued":
            job.status, job.status_reason = "running", None
            job.started_at = job.started_at or datetime.now(UTC)
            await training.append_logs(session, job.id, job.attempts, [f"axops: attempt {job.attempts} running"])
        elif state.phase == "ended":
            if state.failure_kind:  # what the cluster saw (an OOM kill) says more than the exit code
                job.failure_kind, job.status_reason = state.failure_kind, state.message
            lost = (
                None
                if state.exit_code is not None
                else (state.message or f"the job ended in {self.backend.name} without an exit code")
            )
            await training.finish_attempt(session, job, state.exit_code, lost)
            await self.backend.cleanup(handle)
            log.info(
                "training.job_ended executor=%s job=%s status=%s kind=%s",
                self.backend.name,
                job.id,
                job.status,
                job.failure_kind,
            )

    async def _ship_logs(self, session, job: TrainingJob, final: bool) -> None:
        """New whole lines since the last round (all of the rest once the attempt ended)."""
        offset = int(job.placement.get("log_offset", 0))
        text = await self.backend.logs(job.placement["handle"])
        fresh = text[offset:]
        if not final:
            fresh = fresh[: fresh.rfind("\n") + 1]
        if not fresh:
            return
        await training.append_logs(session, job.id, job.attempts, fresh.rstrip("\n").split("\n"))
        job.placement = {**job.placement, "log_offset": offset + len(fresh)}

    async def stop(self) -> None:
        """Jobs on a cluster keep running when axops stops; the next process follows them on."""
