"""Fine-tuning jobs: validated up front, queued by priority then age within team GPU quotas, run
by an executor (`axops.executors.local_training` on this machine, `axops.executors.cluster_training`
on Ray or Kubernetes), reported on by the training runtime with the
job's own key, and registered as a new model version with its lineage when they succeed."""

from __future__ import annotations

import itertools
import math
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import apikeys, audit
from axops.auth.deps import Principal
from axops.auth.models import Team
from axops.auth.schemas import ApiKeyCreate
from axops.core import crypto
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound, StorageUnavailable
from axops.core.storage import ObjectStore
from axops.datasets import service as datasets
from axops.experiments import service as experiments
from axops.registry import service as registry
from axops.registry.schemas import ModelCreate
from axops.training.models import ACTIVE, JobLogLine, TeamQuota, TrainingJob, TrainingSweep
from axops.training.schemas import JobCreate, QuotaOut, Report, SweepCreate, SweepOut, SweepSummary, TrialOut

RUNTIME_SCOPES = ["datasets:read", "models:read", "models:write", "training:read", "training:write"]
RETRYABLE = ("killed", "distributed", "checkpoint")  # the same input would fail the same way otherwise
CURVE_POINTS = 500  # loss points kept on the job for its live chart (the run keeps them all)


async def get_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, for_update: bool = False
) -> TrainingJob:
    q = select(TrainingJob).where(TrainingJob.id == job_id, principal.team_clause(TrainingJob.team_id))
    job = await session.scalar(q.with_for_update() if for_update else q)
    if job is None:
        raise NotFound("No such training job.")
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, status: str | None = None, limit: int = 100
) -> list[TrainingJob]:
    q = (
        select(TrainingJob)
        .where(principal.team_clause(TrainingJob.team_id))
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
        raise Conflict(f"Version {base.version} of '{base_model.name}' cannot be trained on: it is {base.status}.")
    mapping = data.column_mapping.columns()
    for version_id in dict.fromkeys(data.dataset_version_ids):
        dataset, version = await datasets.get_version(session, principal, version_id)
        if version.review_status != "approved":
            raise Conflict(
                f"Dataset '{dataset.name}' v{version.version} is {version.review_status}, not approved for training.",
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
        raise Invalid(f"The job asks for {r.gpus} GPU(s); this machine has {gpus_here}.")
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
    run = await experiments.create_run(
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
        await experiments.set_run_status(session, None, job.run_id, status)


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
        raise Conflict(f"The job is {job.status}; only queued or running jobs can be cancelled.")
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
        raise Conflict(f"The job is {job.status}; only failed or cancelled jobs can be retried.")
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


async def gpus_in_use(session: AsyncSession) -> dict[uuid.UUID, int]:
    """GPUs each team's jobs hold, on every executor: running ones and those handed to a cluster."""
    gpus = TrainingJob.resources["gpus"].as_integer() * func.greatest(TrainingJob.resources["nodes"].as_integer(), 1)
    held = (TrainingJob.status == "running") | (
        (TrainingJob.status == "queued") & TrainingJob.placement.has_key("handle")
    )
    rows = await session.execute(select(TrainingJob.team_id, func.sum(gpus)).where(held).group_by(TrainingJob.team_id))
    return {team: int(n or 0) for team, n in rows}


async def quota_wait(session: AsyncSession, queued: list[TrainingJob]) -> dict[uuid.UUID, str]:
    """Why each of these queued jobs (in start order) may not start for its team's GPU quota; the
    jobs not named fit, counting the ones before them."""
    quotas = {q.team_id: q.gpus for q in (await session.scalars(select(TeamQuota))).all()}
    use = await gpus_in_use(session)
    waits: dict[uuid.UUID, str] = {}
    for job in queued:
        wanted = int(job.resources.get("gpus", 0)) * max(int(job.resources.get("nodes", 1)), 1)
        quota = quotas.get(job.team_id)
        if quota is not None and use.get(job.team_id, 0) + wanted > quota:
            waits[job.id] = (
                f"waiting for the team's GPU quota: {use.get(job.team_id, 0)} of {quota} in use, this job needs {wanted}"
            )
        else:
            use[job.team_id] = use.get(job.team_id, 0) + wanted
    return waits


# -- what the training runtime calls (with the job's key) ---------------------------------------


async def runtime_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, for_update: bool = False
) -> TrainingJob:
    job = await session.get(TrainingJob, job_id, with_for_update=for_update)
    if job is None or principal.api_key_id is None or principal.api_key_id != job.runtime_key_id:
        raise NotFound("No such training job for this key.")
    return job


def spec_of(job: TrainingJob, output_name: str) -> dict:
    return {
        "job_id": str(job.id),
        "base_version_id": str(job.base_version_id),
        "dataset_version_ids": [str(v) for v in job.dataset_version_ids],
        "column_mapping": job.column_mapping,
        "method": job.method,
        "lora": job.lora,
        "hyperparameters": job.hyperparameters,
        "resume": job.resume and bool(job.checkpoints) and job.attempts > 1,
        "output_model_name": output_name,
        "distributed": job.distributed,
    }


async def spec(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> dict:
    job = await runtime_job(session, principal, job_id)
    output = await registry.model_name(session, job.output_model_id) if job.output_model_id else "fine-tuned model"
    return spec_of(job, output)


async def report(session: AsyncSession, principal: Principal, job_id: uuid.UUID, data: Report) -> None:
    job = await runtime_job(session, principal, job_id, for_update=True)
    if job.cancel_requested or job.status == "cancelled":
        raise Conflict("The job was cancelled.")
    if data.progress:
        job.progress = {
            **job.progress,
            **{k: v for k, v in data.progress.items() if k in ("step", "max_steps", "epoch")},
        }
    losses = [(m.step, m.value) for m in data.metrics if m.key == "loss"]
    if losses:
        curve = [*job.progress.get("loss_curve", []), *[[step, round(value, 6)] for step, value in losses]]
        if len(curve) > CURVE_POINTS:  # keep the live chart small: every other point of the older half
            half = len(curve) // 2
            curve = curve[:half:2] + curve[half:]
        job.progress = {
            **job.progress,
            "loss": losses[-1][1],
            "first_loss": job.progress.get("first_loss", losses[0][1]),
            "loss_curve": curve,
        }
    if data.failure:
        job.failure_kind, job.status_reason = (
            data.failure.get("kind", "user_code")[:16],
            data.failure.get("reason", "")[:2000],
        )
    if data.metrics and job.run_id is not None:  # the run keeps every point; the job only its loss curve
        await experiments.log_batch(session, None, job.run_id, metrics=[m.model_dump() for m in data.metrics])
    await session.flush()


async def store_checkpoint(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    job_id: uuid.UUID,
    step: int,
    chunks: AsyncIterator[bytes],
) -> dict:
    job = await runtime_job(session, principal, job_id)
    key = f"training/{job.id}/checkpoints/{step:09d}.tar"
    try:
        obj = await storage.put_stream(key, chunks)
    except Exception as exc:
        raise StorageUnavailable(
            f"The object store refused checkpoint {step}: {type(exc).__name__}: {exc}"[:500]
        ) from exc
    job = await runtime_job(session, principal, job_id, for_update=True)
    entry = {
        "step": step,
        "key": key,
        "size": obj.size,
        "sha256": obj.sha256,
        "at": datetime.now(UTC).isoformat(),
        "attempt": job.attempts,
    }
    job.checkpoints = [*[c for c in job.checkpoints if c["step"] != step], entry]
    await session.flush()
    return entry


def latest_checkpoint_of(job: TrainingJob) -> dict | None:
    return max(job.checkpoints, key=lambda c: c["step"]) if job.checkpoints else None


async def checkpoint_for_download(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, step: int | None
) -> dict:
    """The runtime's latest checkpoint (resume), or any by step for a person who can see the job."""
    job = await session.get(TrainingJob, job_id)
    own_key = job is not None and principal.api_key_id is not None and principal.api_key_id == job.runtime_key_id
    if not own_key:
        job = await get_job(session, principal, job_id)
    found = latest_checkpoint_of(job) if step is None else next((c for c in job.checkpoints if c["step"] == step), None)
    if found is None:
        raise NotFound("No checkpoint yet." if step is None else f"No checkpoint at step {step}.")
    return found


async def register_output(
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStore,
    job_id: uuid.UUID,
    files: list[tuple[str, AsyncIterator[bytes]]],
):
    job = await runtime_job(session, principal, job_id, for_update=True)
    if job.output_version_id is not None:
        raise Conflict("This job already registered its model version.")
    version = await registry.upload_version(
        session,
        principal,
        storage,
        job.output_model_id,
        files,
        source="training",
        source_ref=f"training job {job.id}",
        base_version_id=job.base_version_id,
        dataset_version_ids=list(job.dataset_version_ids),
        run_id=job.run_id,
    )
    job.output_version_id = version.id
    await session.flush()
    if job.run_id is not None:
        await experiments.link_model_version(session, job.run_id, version.id)
    audit.record(
        session,
        "training.model_registered",
        resource_type="training_job",
        resource_id=job.id,
        team_id=job.team_id,
        summary={"name": job.name, "model_version": str(version.id), "version": version.version},
    )
    return version


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


# -- quotas and the queue -----------------------------------------------------------------------


async def set_quota(session: AsyncSession, team_id: uuid.UUID, gpus: int) -> None:
    if await session.scalar(select(Team.id).where(Team.id == team_id)) is None:
        raise NotFound("No such team.")
    row = await session.get(TeamQuota, team_id)
    before = row.gpus if row else None
    if row is None:
        session.add(TeamQuota(team_id=team_id, gpus=gpus))
    else:
        row.gpus = gpus
    await session.flush()
    audit.record(
        session,
        "training.quota_set",
        resource_type="team",
        resource_id=team_id,
        team_id=team_id,
        summary={"gpus": gpus, "before": before},
    )


async def queue_view(session: AsyncSession, principal: Principal) -> list[TrainingJob]:
    q = select(TrainingJob).where(TrainingJob.status.in_(ACTIVE), principal.team_clause(TrainingJob.team_id))
    return list(
        (
            await session.scalars(
                q.order_by(TrainingJob.status.desc(), TrainingJob.priority.desc(), TrainingJob.queued_at)
            )
        ).all()
    )


def runtime_token(secret: str, job: TrainingJob) -> str | None:
    return crypto.decrypt(secret, job.runtime_key) if job.runtime_key else None


# -- sweeps -------------------------------------------------------------------------------------


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
    if sweep is None or not principal.sees_team(sweep.team_id):
        raise NotFound("No such sweep.")
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
    values = await experiments.latest_values(session, [j.run_id for j in done], [metric[j.sweep_id] for j in done])
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
    q = select(TrainingSweep).where(principal.team_clause(TrainingSweep.team_id))
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


# -- team quotas, as the queue page shows them ---------------------------------------------------


async def list_quotas(session: AsyncSession, principal: Principal) -> list[QuotaOut]:
    """Teams with a GPU quota or with active jobs: the quota, the GPUs their jobs hold, and how many
    run and wait. Infra admins see every team (they set the quotas); others their own teams."""
    quotas = {q.team_id: q.gpus for q in (await session.scalars(select(TeamQuota))).all()}
    counts: dict[uuid.UUID, dict[str, int]] = {}
    rows = await session.execute(
        select(TrainingJob.team_id, TrainingJob.status, func.count())
        .where(TrainingJob.status.in_(ACTIVE))
        .group_by(TrainingJob.team_id, TrainingJob.status)
    )
    for team_id, status, n in rows:
        counts.setdefault(team_id, {})[status] = n
    use = await gpus_in_use(session)
    teams = [t for t in {*quotas, *counts} if principal.can("infra:admin") or principal.sees_team(t)]
    names = dict((await session.execute(select(Team.id, Team.name).where(Team.id.in_(teams)))).all()) if teams else {}
    return sorted(
        (
            QuotaOut(
                team_id=t,
                team_name=names.get(t, str(t)),
                gpus=quotas.get(t),
                gpus_in_use=use.get(t, 0),
                running=counts.get(t, {}).get("running", 0),
                queued=counts.get(t, {}).get("queued", 0),
            )
            for t in teams
        ),
        key=lambda q: q.team_name.lower(),
    )


async def clear_quota(session: AsyncSession, team_id: uuid.UUID) -> None:
    """The team's jobs may hold any number of GPUs again."""
    row = await session.get(TeamQuota, team_id)
    if row is None:
        raise NotFound("The team has no GPU quota.")
    before = row.gpus
    await session.delete(row)
    await session.flush()
    audit.record(
        session,
        "training.quota_clear",
        resource_type="team",
        resource_id=team_id,
        team_id=team_id,
        summary={"before": before},
    )
