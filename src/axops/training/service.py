"""Fine-tuning jobs: validated up front, queued by priority then age within team GPU quotas
(`quotas`), run by an executor (`axops.executors.local_training` on this machine,
`axops.executors.cluster_training` on Ray or Kubernetes), reported on by the training runtime with
the job's own key (`runtime_calls`), and registered as a new model version with its lineage when
they succeed. This module: a job's life from create to its end, the queue, and its log lines;
sweeps (several jobs over a search space) are in `sweeps`."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import apikeys, audit
from axops.auth.deps import Principal
from axops.auth.schemas import ApiKeyCreate
from axops.auth.scoping import SYSTEM, team_clause
from axops.core import crypto
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.datasets import service as datasets
from axops.experiments import runs as experiment_runs
from axops.registry import service as registry
from axops.registry.schemas import ModelCreate
from axops.training.models import ACTIVE, JobLogLine, TrainingJob
from axops.training.schemas import JobCreate

RUNTIME_SCOPES = ["datasets:read", "models:read", "models:write", "training:read", "training:write"]
RETRYABLE = ("killed", "distributed", "checkpoint")  # the same input would fail the same way otherwise


async def get_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, for_update: bool = False
) -> TrainingJob:
    q = select(TrainingJob).where(TrainingJob.id == job_id, team_clause(principal, TrainingJob.team_id))
    job = await session.scalar(q.with_for_update() if for_update else q)
    if job is None:
        raise NotFound("No such training job.", code="training_job_not_found")
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, status: str | None = None, limit: int = 100
) -> list[TrainingJob]:
    q = (
        select(TrainingJob)
        .where(team_clause(principal, TrainingJob.team_id))
        .order_by(TrainingJob.created_at.desc())
        .limit(limit)
    )
    if status:
        q = q.where(TrainingJob.status == status)
    return list((await session.scalars(q)).all())


def cpus_here() -> int:
    """The CPU cores this process may run on (its affinity: a container's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


async def create_job(
    session: AsyncSession,
    principal: Principal,
    secret: str,
    data: JobCreate,
    gpus_here: int,
    executors: Collection[str] = ("local",),
) -> TrainingJob:
    if data.priority != 0 and not principal.can("infra:admin"):
        raise Forbidden(
            f"Setting a queue priority ({data.priority}) needs the 'infra:admin' permission; leave it at 0."
        )
    if data.base_version_id is not None:
        base_model, base = await registry.get_version(session, principal, data.base_version_id)
    else:
        base_model, base = await registry.resolve(session, principal, data.base_model or "", data.base_ref)
    if base.status != "ready" or base.artifacts_deleted_at is not None:
        raise Conflict(
            f"Version {base.version} of '{base_model.name}' cannot be trained on: it is {base.status}.",
            code="base_version_not_ready",
            model=base_model.name,
            version=base.version,
            version_status=base.status,
        )
    mapping = data.column_mapping.columns()
    for version_id in dict.fromkeys(data.dataset_version_ids):
        dataset, version = await datasets.get_version(session, principal, version_id)
        if version.review_status != "approved":
            raise Conflict(
                f"Dataset '{dataset.name}' v{version.version} is {version.review_status}, not approved for training.",
                code="dataset_not_approved",
                dataset=dataset.name,
                version=version.version,
                review_status=version.review_status,
                dataset_version_id=str(version.id),
            )
        level = datasets.effective_sensitivity(dataset, version)
        if not datasets.may_read_rows(principal, dataset, level):
            raise Forbidden(
                f"Dataset '{dataset.name}' is {level}: training reads its rows, which are for {datasets.READ_POLICY[level]}."
            )
        names = [c["name"] for c in version.columns]
        if missing := [c for c in mapping.values() if c not in names]:
            raise Invalid(
                f"Dataset '{dataset.name}' v{version.version} has no column {', '.join(map(repr, missing))}; "
                f"its columns: {', '.join(names)}.",
                columns=names,
            )
    r = data.resources
    if data.executor not in executors:
        raise Invalid(
            f"The {data.executor} executor is not configured here; available: {', '.join(sorted(executors))}."
        )
    local = data.executor == "local"
    if data.method == "qlora" and not (gpus_here if local else r.gpus):
        raise Invalid(
            "QLoRA needs a GPU (and bitsandbytes): "
            + (
                "this machine has none — use method 'lora'."
                if local
                else "ask for resources.gpus, or use method 'lora'."
            )
        )
    if r.nodes > 1 and data.executor != "kubernetes":
        raise Invalid(
            f"The {data.executor} executor runs a job on one node; several nodes need the kubernetes executor."
        )
    if r.nodes > 1 and data.distributed == "none":
        raise Invalid("Several nodes need a distributed strategy (ddp, fsdp or deepspeed).")
    if local and r.gpus > gpus_here:
        raise Invalid(
            f"The job asks for {r.gpus} GPU(s); this machine has {gpus_here}.",
            code="not_enough_gpus",
            gpus=r.gpus,
            available=gpus_here,
        )
    if local and r.gpus and r.processes > r.gpus:
        raise Invalid(
            f"The job asks for {r.processes} processes on {r.gpus} GPU(s); with GPUs it runs one process per GPU."
        )
    if local and not r.gpus and r.processes > (cpus := cpus_here()):
        raise Invalid(
            f"The job asks for {r.processes} processes; this machine has {cpus} CPU cores, the limit for the local executor."
        )
    if data.distributed in ("fsdp", "deepspeed") and not r.gpus:
        raise Invalid(f"{data.distributed.upper()} needs GPUs; on the CPU use distributed 'ddp' (gloo).")
    if data.distributed == "ddp" and max(r.gpus, r.processes) < 2:
        raise Invalid("DDP needs at least two processes: set resources.processes (CPU) or resources.gpus.")
    output = await _output_model(session, principal, data.output_model or f"{base_model.name}-ft", base_model)
    team_id = output.team_id
    key = await _runtime_key(session, principal, data.name or output.name)
    job = TrainingJob(
        name=data.name or f"{output.name} from v{base.version}",
        team_id=team_id,
        created_by=principal.user_id,
        status="queued",
        priority=data.priority,
        base_version_id=base.id,
        dataset_version_ids=list(dict.fromkeys(data.dataset_version_ids)),
        column_mapping=mapping,
        method=data.method,
        lora=data.lora.model_dump() if data.method != "full" else {},
        hyperparameters=data.hyperparameters.model_dump(),
        resources=r.model_dump(),
        distributed=data.distributed,
        executor=data.executor,
        max_retries=data.max_retries,
        resume=data.resume,
        output_model_id=output.id,
        runtime_key=crypto.encrypt(secret, key.key),
        runtime_key_id=key.id,
        progress={},
        checkpoints=[],
        status_reason="waiting for the scheduler",
    )
    session.add(job)
    await session.flush()
    hp = data.hyperparameters.model_dump()
    params = {
        **{k: str(v) for k, v in hp.items() if v is not None},
        "method": job.method,
        "distributed": job.distributed,
        **({f"lora_{k}": str(v) for k, v in job.lora.items() if v is not None}),
        "base_model_version": str(base.id),
    }
    run = await experiment_runs.create_run(
        session,
        principal,
        experiment_name=data.experiment,
        team_id=team_id,
        run_name=job.name,
        params=params,
        tags={"axops.job": str(job.id), "base_model": base_model.name, "method": job.method},
        job_id=job.id,
        dataset_version_ids=job.dataset_version_ids,
        base_model_version_id=base.id,
    )
    job.run_id = run.id
    await session.flush()
    audit.record(
        session,
        "training.job_create",
        resource_type="training_job",
        resource_id=job.id,
        team_id=team_id,
        summary={
            "name": job.name,
            "base": f"{base_model.name} v{base.version}",
            "method": job.method,
            "datasets": [str(v) for v in job.dataset_version_ids],
            "executor": job.executor,
            "resources": r.model_dump(exclude_defaults=True),
            "priority": job.priority,
        },
    )
    await session.refresh(job)
    return job


async def _runtime_key(session: AsyncSession, principal: Principal, name: str):
    """The key the runtime acts with while the job runs: the owner's rights it needs, revoked when the job ends."""
    return await apikeys.create_key(
        session,
        principal,
        ApiKeyCreate(name=f"training job {name}"[:100], scopes=[s for s in RUNTIME_SCOPES if principal.can(s)]),
    )


async def ended(session: AsyncSession, job: TrainingJob) -> None:
    """A job reached its end: its key goes, its run records the outcome."""
    await release_key(session, job)
    if job.run_id is not None:
        status = {"succeeded": "FINISHED", "cancelled": "KILLED"}.get(job.status, "FAILED")
        await experiment_runs.set_run_status(session, SYSTEM, job.run_id, status)


async def release_key(session: AsyncSession, job: TrainingJob) -> None:
    if job.runtime_key_id is not None:
        await apikeys.revoke_key_by_id(session, job.runtime_key_id)
        job.runtime_key, job.runtime_key_id = None, None


async def _output_model(session: AsyncSession, principal: Principal, name: str, base_model):
    """The model the result is registered in: an existing one of the caller's teams, or a new one."""
    existing = await registry.find_model(session, principal, name)
    if existing is not None:
        if not principal.sees_team(existing.team_id):
            raise Conflict(f"The model '{name}' belongs to another team; choose another output_model.")
        return existing
    team = base_model.team_id if principal.sees_team(base_model.team_id) else None
    return await registry.register_model(
        session,
        principal,
        ModelCreate(name=name, task=base_model.task, team_id=team, description=f"Fine-tuned from {base_model.name}"),
    )


async def cancel(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
    job = await get_job(session, principal, job_id, for_update=True)
    if job.status not in ACTIVE:
        raise Conflict(
            f"The job is {job.status}; only queued or running jobs can be cancelled.",
            code="job_not_cancellable",
            job_status=job.status,
        )
    if job.status == "queued" and not job.placement.get("handle"):  # not handed to a cluster yet
        job.status, job.status_reason, job.failure_kind, job.finished_at = (
            "cancelled",
            "cancelled before it started",
            "cancelled",
            datetime.now(UTC),
        )
        await ended(session, job)
    else:
        job.cancel_requested = True
        job.status_reason = "cancelling: the process is asked to stop"
    await session.flush()
    audit.record(
        session,
        "training.job_cancel",
        resource_type="training_job",
        resource_id=job.id,
        team_id=job.team_id,
        summary={"name": job.name, "was": "queued" if job.status == "cancelled" else "running"},
    )
    return job


async def set_priority(session: AsyncSession, principal: Principal, job_id: uuid.UUID, priority: int) -> TrainingJob:
    """An infra admin moves a queued job up or down the queue."""
    if not principal.can("infra:admin"):
        raise Forbidden("Changing a job's queue priority needs the 'infra:admin' permission.")
    job = await get_job(session, principal, job_id, for_update=True)
    if job.status != "queued":
        raise Conflict(f"The job is {job.status}; only a queued job's priority can change.")
    before, job.priority = job.priority, priority
    await session.flush()
    audit.record(
        session,
        "training.job_priority",
        resource_type="training_job",
        resource_id=job.id,
        team_id=job.team_id,
        summary={"name": job.name, "before": before, "after": priority},
    )
    return job


async def retry(session: AsyncSession, principal: Principal, secret: str, job_id: uuid.UUID) -> TrainingJob:
    job = await get_job(session, principal, job_id, for_update=True)
    if job.status not in ("failed", "cancelled"):
        raise Conflict(
            f"The job is {job.status}; only failed or cancelled jobs can be retried.",
            code="job_not_retryable",
            job_status=job.status,
        )
    await release_key(session, job)
    key = await _runtime_key(session, principal, job.name)
    job.runtime_key, job.runtime_key_id = crypto.encrypt(secret, key.key), key.id
    requeue(job, f"retried by {principal.username}")
    await session.flush()
    audit.record(
        session,
        "training.job_retry",
        resource_type="training_job",
        resource_id=job.id,
        team_id=job.team_id,
        summary={"name": job.name, "attempts": job.attempts, "resume": job.resume},
    )
    return job


def requeue(job: TrainingJob, why: str) -> None:
    job.status, job.failure_kind, job.finished_at, job.cancel_requested = "queued", None, None, False
    job.status_reason = f"queued again ({why})" + (
        ", resuming from the latest checkpoint" if job.resume and job.checkpoints else ""
    )
    job.queued_at = datetime.now(UTC)
    job.placement = {}


async def finish_attempt(session: AsyncSession, job: TrainingJob, code: int | None, lost: str | None = None) -> None:
    """An attempt ended (exit `code`, or `lost` saying why there is none): the job succeeds, fails with a
    classified reason, is cancelled, or — for a retryable failure with retries left — is queued again."""
    if job.cancel_requested:
        job.status, job.failure_kind, job.status_reason = "cancelled", "cancelled", "cancelled while running"
    elif code == 0 and job.output_version_id is not None:
        job.status, job.status_reason = "succeeded", None
    else:
        if lost:
            job.failure_kind, job.status_reason = job.failure_kind or "killed", lost
        elif code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
            job.failure_kind, job.status_reason = "killed", f"the training process was killed by {name}"
        elif code == 0:
            job.failure_kind, job.status_reason = (
                "user_code",
                "the training process ended without registering a model version",
            )
        elif not job.failure_kind:  # the runtime reports its own failures; without that, the exit code is all we have
            job.failure_kind, job.status_reason = "user_code", f"the training process exited with code {code}"
        if job.failure_kind in RETRYABLE and job.attempts <= job.max_retries:
            await append_logs(
                session, job.id, job.attempts, [f"axops: attempt {job.attempts} failed ({job.status_reason}); retrying"]
            )
            requeue(job, f"attempt {job.attempts} failed: {job.status_reason}")
            return
        job.status = "failed"
    job.finished_at = datetime.now(UTC)
    await ended(session, job)
    await append_logs(
        session,
        job.id,
        job.attempts,
        [f"axops: job {job.status}" + (f": {job.status_reason}" if job.status_reason else "")],
    )


# -- the queue ----------------------------------------------------------------------------------


async def queue_view(session: AsyncSession, principal: Principal) -> list[TrainingJob]:
    q = select(TrainingJob).where(TrainingJob.status.in_(ACTIVE), team_clause(principal, TrainingJob.team_id))
    return list(
        (
            await session.scalars(
                q.order_by(
                    TrainingJob.status.desc(), TrainingJob.priority.desc(), TrainingJob.queued_at, TrainingJob.id
                )
            )
        ).all()
    )


def runtime_token(secret: str, job: TrainingJob) -> str | None:
    return crypto.decrypt(secret, job.runtime_key) if job.runtime_key else None


# -- logs ---------------------------------------------------------------------------------------


async def append_logs(session: AsyncSession, job_id: uuid.UUID, attempt: int, lines: list[str]) -> None:
    if lines:
        await session.execute(
            insert(JobLogLine), [{"job_id": job_id, "attempt": attempt, "line": line[:4000]} for line in lines]
        )


async def read_logs(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, after: int, limit: int
) -> tuple[list[dict], int]:
    await get_job(session, principal, job_id)
    rows = (
        await session.execute(
            select(JobLogLine.seq, JobLogLine.attempt, JobLogLine.at, JobLogLine.line)
            .where(JobLogLine.job_id == job_id, JobLogLine.seq > after)
            .order_by(JobLogLine.seq)
            .limit(limit)
        )
    ).all()
    lines = [{"seq": r.seq, "attempt": r.attempt, "at": r.at.isoformat(), "line": r.line} for r in rows]
    return lines, (rows[-1].seq if rows else after)
