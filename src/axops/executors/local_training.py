"""The local executor for fine-tuning jobs: training runtime processes on this machine.

Each supervisor round it ships the running jobs' new output lines into the job log, notices jobs
that ended (and classifies a killed one), retries the retryable, stops cancelled ones, and starts
queued jobs in order — priority, then age — while a training slot and the GPUs they ask for are
free and their team's GPU quota allows; every waiting job is told why it waits. GPUs are handed
to a job through CUDA_VISIBLE_DEVICES; DDP runs under torchrun (gloo on the CPU, nccl on GPUs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from axops.executors.environment import runtime_environment
from axops.training import quotas
from axops.training import service as training
from axops.training.models import TrainingJob

log = logging.getLogger("axops.executors.training")


@dataclass
class LocalJob:
    id: uuid.UUID
    attempt: int
    gpus: list[int]
    team_id: uuid.UUID
    log_path: Path
    process: asyncio.subprocess.Process
    offset: int = 0
    pending: bytes = b""
    stopping: bool = False


class JobRunner:
    def __init__(self, db, secret: str, control_url: str, work_dir: Path, slots: int = 1, gpu_count: int = 0) -> None:
        self.db, self.secret, self.control_url, self.work_dir = db, secret, control_url.rstrip("/"), work_dir
        self.slots, self.gpu_count = slots, gpu_count
        self.running: dict[uuid.UUID, LocalJob] = {}

    async def reconcile(self) -> None:
        for job in list(self.running.values()):
            await self._ship_logs(job)
            if job.process.returncode is not None:
                await self._ended(job)
        async with self.db.sessionmaker() as session, session.begin():
            # The id (UUIDv7) breaks ties: a sweep's trials are queued in one transaction, at one queued_at.
            rows = (
                await session.scalars(
                    select(TrainingJob)
                    .where(TrainingJob.executor == "local", TrainingJob.status.in_(("queued", "running")))
                    .order_by(TrainingJob.priority.desc(), TrainingJob.queued_at, TrainingJob.id)
                )
            ).all()
            for job in rows:
                mine = self.running.get(job.id)
                if job.status == "running" and mine is None:  # the process is gone (the server restarted)
                    await self._finish(session, job, None, "the training process was lost when axops restarted")
                elif mine is not None and job.cancel_requested and not mine.stopping:
                    mine.stopping = True
                    with contextlib.suppress(ProcessLookupError):
                        mine.process.send_signal(signal.SIGTERM)
            await self._schedule(session, [j for j in rows if j.status == "queued"])

    async def _schedule(self, session, queued: list[TrainingJob]) -> None:
        used = {g for j in self.running.values() for g in j.gpus}
        free_gpus = [g for g in range(self.gpu_count) if g not in used]
        quota_waits = await quotas.quota_wait(session, queued)
        blocked = None  # the first job that cannot start holds back the ones behind it
        for position, job in enumerate(queued):
            wanted = int(job.resources.get("gpus", 0))
            if job.id in quota_waits:
                reason = quota_waits[job.id]
            elif blocked is not None:
                reason = f"queued behind {blocked} (position {position + 1})"
            elif len(self.running) >= self.slots:
                reason = f"waiting for a free training slot ({len(self.running)} of {self.slots} in use)"
            elif wanted > len(free_gpus):
                reason = f"waiting for {wanted} GPU(s): {len(free_gpus)} free"
            else:
                gpus, free_gpus = free_gpus[:wanted], free_gpus[wanted:]
                await self._start(session, job, gpus)
                continue
            blocked = blocked or f"'{job.name}'"
            if job.status_reason != reason:
                job.status_reason = reason

    async def _start(self, session, job: TrainingJob, gpus: list[int]) -> None:
        job.attempts += 1
        job.status, job.status_reason, job.failure_kind = "running", None, None
        job.started_at = job.started_at or datetime.now(UTC)
        log_path = self.work_dir / str(job.id) / f"attempt-{job.attempts}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        processes = max(len(gpus), int(job.resources.get("processes", 1))) if job.distributed != "none" else 1
        entry = [
            "-m",
            "axops.runtime.train",
            "--job-id",
            str(job.id),
            "--control-url",
            self.control_url,
            "--cache-dir",
            str(self.work_dir / "cache"),
        ]
        command = (
            [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *entry]
            if processes > 1
            else [sys.executable, *entry]
        )
        env = runtime_environment(
            AXOPS_RUNTIME_TOKEN=training.runtime_token(self.secret, job) or "",
            PYTHONUNBUFFERED="1",
            CUDA_VISIBLE_DEVICES=",".join(map(str, gpus)),
            TOKENIZERS_PARALLELISM="false",
            OMP_NUM_THREADS=str(max(1, int(float(job.resources.get("cpu", 2))) // processes)),
        )
        with log_path.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True
            )
        self.running[job.id] = LocalJob(job.id, job.attempts, gpus, job.team_id, log_path, process)
        what = f"{processes} process{'es' if processes > 1 else ''}, GPUs: {','.join(map(str, gpus)) or 'none'}"
        job.placement = {"where": f"this machine ({what})", "gpus": gpus, "handle": str(process.pid)}
        await training.append_logs(session, job.id, job.attempts, [f"axops: attempt {job.attempts} started ({what})"])
        log.info("training.job_started job=%s attempt=%d pid=%d", job.id, job.attempts, process.pid)

    async def _ship_logs(self, job: LocalJob) -> None:
        try:
            with job.log_path.open("rb") as f:
                f.seek(job.offset)
                data = f.read(4 * 1024 * 1024)
        except OSError:
            return
        if not data:
            return
        job.offset += len(data)
        *lines, job.pending = (job.pending + data).split(b"\n")
        text = [line.decode("utf-8", "replace").rstrip("\r") for line in lines]
        async with self.db.sessionmaker() as session, session.begin():
            await training.append_logs(session, job.id, job.attempt, text)

    async def _ended(self, local: LocalJob) -> None:
        del self.running[local.id]
        if local.pending:
            local.pending += b"\n"
            await self._ship_logs(local)
        code = local.process.returncode
        async with self.db.sessionmaker() as session, session.begin():
            job = await session.get(TrainingJob, local.id, with_for_update=True)
            if job is not None and job.status == "running":
                await self._finish(session, job, code, None)

    async def _finish(self, session, job: TrainingJob, code: int | None, lost: str | None) -> None:
        await training.finish_attempt(session, job, code, lost)
        log.info("training.job_ended job=%s status=%s kind=%s", job.id, job.status, job.failure_kind)

    async def stop(self) -> None:
        for job in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.process.pid, signal.SIGTERM)
        await asyncio.gather(*(j.process.wait() for j in self.running.values()), return_exceptions=True)
