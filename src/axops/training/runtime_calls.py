"""What the training runtime calls while a job runs, with the job's own key: the job's spec, progress
reports (the loss curve, metrics into the job's run), checkpoints (stored, and downloaded to resume),
and the trained model registered as a new version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM
from axops.core.errors import Conflict, NotFound, StorageUnavailable
from axops.core.storage import ObjectStore
from axops.experiments import metrics as run_metrics
from axops.experiments import runs as experiment_runs
from axops.registry import files as registry_files
from axops.registry import service as registry
from axops.training.models import TrainingJob
from axops.training.schemas import JobSpec, Report
from axops.training.service import get_job

CURVE_POINTS = 500  # loss points kept on the job for its live chart (the run keeps them all)


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


async def spec(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> JobSpec:
    job = await runtime_job(session, principal, job_id)
    output = await registry.model_name(session, job.output_model_id) if job.output_model_id else "fine-tuned model"
    return JobSpec.model_validate(spec_of(job, output))


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
        await run_metrics.log_batch(session, SYSTEM, job.run_id, metrics=[m.model_dump() for m in data.metrics])
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
    version = await registry_files.upload_version(
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
        await experiment_runs.link_model_version(session, job.run_id, version.id)
    audit.record(
        session,
        "training.model_registered",
        resource_type="training_job",
        resource_id=job.id,
        team_id=job.team_id,
        summary={"name": job.name, "model_version": str(version.id), "version": version.version},
    )
    return version
