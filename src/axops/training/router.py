"""HTTP routes of fine-tuning jobs (PRD §6.3 ④) and the GPU inventory (`GET /api/metrics/gpu`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.errors import Invalid
from axops.core.state import SecretKey, State, Storage, state_of
from axops.core.text import content_disposition
from axops.training import quotas, runtime_calls, service, sweeps
from axops.training.schemas import (
    CheckpointOut,
    ExecutorOut,
    GpuInventory,
    JobCreate,
    JobOut,
    JobSpec,
    LogPage,
    OutputVersion,
    Quota,
    QuotaOut,
    Report,
    SweepCreate,
    SweepOut,
    SweepSummary,
)

router = APIRouter(prefix="/api", tags=["training"])
Reader = Annotated[Principal, require("training:read")]
Writer = Annotated[Principal, require("training:write")]
InfraReader = Annotated[Principal, require("infra:read")]
InfraAdmin = Annotated[Principal, require("infra:admin")]
UPLOADS = "/api/training/upload/"  # streamed bodies (checkpoints, the trained model): exempt from the JSON body limit


async def _out(session, job) -> JobOut:
    await session.refresh(job)
    return JobOut.model_validate(job)


@router.post("/training/job/create", status_code=201)
async def create_job(body: JobCreate, principal: Writer, session: Session, state: State) -> JobOut:
    """Validated up front (approved datasets, columns, model version, resources), then queued."""
    job = await service.create_job(
        session,
        principal,
        state.secret_key,
        body,
        gpus_here=state.gpus_here,
        executors=state.training_executors,
    )
    return await _out(session, job)


@router.post("/training/sweep/create", status_code=201)
async def create_sweep(body: SweepCreate, principal: Writer, session: Session, state: State) -> SweepOut:
    """A grid or random search: one queued job per trial (all validated first); the best trial is
    the one whose run's `metric` ends lowest (`mode: min`) or highest."""
    sweep = await sweeps.create_sweep(
        session,
        principal,
        state.secret_key,
        body,
        gpus_here=state.gpus_here,
        executors=state.training_executors,
    )
    return await sweeps.sweep_out(session, principal, sweep.id)


@router.get("/training/sweeps")
async def list_sweeps(
    principal: Reader, session: Session, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[SweepSummary]:
    """The caller's teams' sweeps, newest first: trials counted by status, the best value so far."""
    return await sweeps.list_sweeps(session, principal, limit)


@router.get("/training/sweep/{sweep_id}")
async def get_sweep(sweep_id: uuid.UUID, principal: Reader, session: Session) -> SweepOut:
    return await sweeps.sweep_out(session, principal, sweep_id)


@router.get("/training/jobs")
async def list_jobs(
    principal: Reader, session: Session, status: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[JobOut]:
    return [JobOut.model_validate(j) for j in await service.list_jobs(session, principal, status, limit)]


@router.get("/training/queue")
async def queue(principal: Reader, session: Session) -> list[JobOut]:
    """Running jobs, then queued ones in the order they will start, each with why it waits."""
    return [JobOut.model_validate(j) for j in await service.queue_view(session, principal)]


@router.get("/training/job/{job_id}/status")
async def status(job_id: uuid.UUID, principal: Reader, session: Session) -> JobOut:
    return JobOut.model_validate(await service.get_job(session, principal, job_id))


@router.post("/training/job/{job_id}/cancel")
async def cancel(job_id: uuid.UUID, principal: Writer, session: Session) -> JobOut:
    return await _out(session, await service.cancel(session, principal, job_id))


@router.post("/training/job/{job_id}/retry")
async def retry(job_id: uuid.UUID, principal: Writer, session: Session, secret: SecretKey) -> JobOut:
    return await _out(session, await service.retry(session, principal, secret, job_id))


@router.put("/training/job/{job_id}/priority")
async def set_priority(
    job_id: uuid.UUID,
    priority: Annotated[int, Body(embed=True, ge=-100, le=100)],
    principal: InfraAdmin,
    session: Session,
) -> JobOut:
    """Move a queued job up or down the queue (higher starts first); infra admins only, as on create."""
    return await _out(session, await service.set_priority(session, principal, job_id, priority))


@router.get("/training/job/{job_id}/logs", responses={200: {"content": {"text/event-stream": {}}}})
async def logs(
    job_id: uuid.UUID,
    principal: Reader,
    session: Session,
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    follow: bool = False,
) -> LogPage:
    """Log lines after `after` (a `seq`), oldest first; `follow=true` streams them as server-sent
    events (`{"seq", "attempt", "at", "line"}`) until the job ends or the client leaves."""
    lines, last = await service.read_logs(session, principal, job_id, after, limit)
    if not follow:
        return LogPage(lines=lines, next_after=last)
    await session.close()
    db = state_of(request).db

    async def events():
        nonlocal last
        for line in lines:
            yield b"data: " + orjson.dumps(line) + b"\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(0.5)
            async with db.sessionmaker() as s:
                more, last = await service.read_logs(s, principal, job_id, last, 1000)
                ended = (await service.get_job(s, principal, job_id)).status not in ("queued", "running")
            for line in more:
                yield b"data: " + orjson.dumps(line) + b"\n\n"
            if ended and not more:
                yield b"event: end\ndata: {}\n\n"
                return
            if not more:
                yield b": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get(
    "/training/job/{job_id}/checkpoints/{step}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-tar": {}}, "description": "The checkpoint's files, as a tar"}},
)
async def download_checkpoint(
    job_id: uuid.UUID, step: str, principal: Reader, session: Session, storage: Storage
) -> StreamingResponse:
    """A checkpoint as a tar stream (`latest` for the newest; the runtime resumes from it)."""
    if step != "latest" and not step.isdigit():
        raise Invalid("step must be a number or 'latest'.")
    found = await runtime_calls.checkpoint_for_download(
        session, principal, job_id, None if step == "latest" else int(step)
    )
    return StreamingResponse(
        storage.get_stream(found["key"]),
        media_type="application/x-tar",
        headers={
            "x-axops-step": str(found["step"]),
            "content-length": str(found["size"]),
            "content-disposition": content_disposition(f"checkpoint-{found['step']}.tar"),
        },
    )


@router.put("/training/quotas/{team_id}", status_code=204)
async def set_quota(team_id: uuid.UUID, body: Quota, _: InfraAdmin, session: Session) -> None:
    """GPUs the team's running jobs may hold at once."""
    await quotas.set_quota(session, team_id, body.gpus)


@router.get("/training/quotas")
async def list_quotas(principal: InfraReader, session: Session) -> list[QuotaOut]:
    """Teams with a GPU quota or active jobs: quota (null: no limit), GPUs in use, running and queued jobs."""
    return await quotas.list_quotas(session, principal)


@router.delete("/training/quotas/{team_id}", status_code=204)
async def clear_quota(team_id: uuid.UUID, _: InfraAdmin, session: Session) -> None:
    """No GPU limit for the team any more."""
    await quotas.clear_quota(session, team_id)


@router.get("/training/executors")
async def executors(_: Reader, state: State) -> list[ExecutorOut]:
    """Where jobs can run here: this machine, and the clusters configured."""
    return [ExecutorOut(name=name, description=text) for name, text in state.training_executors.items()]


@router.get("/metrics/gpu")
async def gpu_metrics(_: InfraReader, state: State) -> GpuInventory:
    """This machine's GPUs (NVML): utilisation, memory, temperature; an explicit empty state without.
    With the Kubernetes executor, `cluster` lists the nodes' allocatable GPUs and MIG slices."""
    return await quotas.gpu_inventory(state.training_backends)


# -- the training runtime's side (the job's own key) ---------------------------------------------


@router.get("/training/job/{job_id}/spec", include_in_schema=False)
async def spec(job_id: uuid.UUID, principal: Writer, session: Session) -> JobSpec:
    return await runtime_calls.spec(session, principal, job_id)


@router.post("/training/job/{job_id}/report", status_code=204, include_in_schema=False)
async def report(job_id: uuid.UUID, body: Report, principal: Writer, session: Session) -> None:
    await runtime_calls.report(session, principal, job_id, body)


@router.put(UPLOADS.removeprefix("/api") + "{job_id}/checkpoints/{step}", include_in_schema=False)
async def upload_checkpoint(
    job_id: uuid.UUID, step: int, principal: Writer, session: Session, request: Request, storage: Storage
) -> CheckpointOut:
    return await runtime_calls.store_checkpoint(session, principal, storage, job_id, step, request.stream())


@router.post(UPLOADS.removeprefix("/api") + "{job_id}/output", include_in_schema=False)
async def upload_output(job_id: uuid.UUID, principal: Writer, session: Session, request: Request) -> OutputVersion:
    form = await request.form(max_files=200, max_fields=10, max_part_size=1024 * 1024)
    uploads = [f for f in form.getlist("files") if not isinstance(f, str)]

    async def chunks(upload):
        while chunk := await upload.read(1024 * 1024):
            yield chunk

    try:
        version = await runtime_calls.register_output(
            session, principal, state_of(request).storage, job_id, [(u.filename or "", chunks(u)) for u in uploads]
        )
    finally:
        await form.close()
    return OutputVersion(id=version.id, version=version.version, model_id=version.model_id)
