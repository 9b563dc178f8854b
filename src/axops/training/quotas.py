"""GPUs: team quotas, set and cleared by infra admins and counted against the GPUs each team's jobs
hold; the reason a queued job waits for its team's quota (the executors ask before starting one);
and the inventory of this machine's and the clusters' GPUs."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops import hardware
from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team
from axops.core.errors import NotFound
from axops.training.models import ACTIVE, TeamQuota, TrainingJob
from axops.training.schemas import ClusterGpus, GpuInventory, QuotaOut


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


async def clear_quota(session: AsyncSession, team_id: uuid.UUID) -> None:
    """The team's jobs may hold any number of GPUs again."""
    row = await session.get(TeamQuota, team_id)
    if row is None:
        raise NotFound("The team has no GPU quota.", code="gpu_quota_not_set")
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


async def gpu_inventory(backends: list) -> GpuInventory:
    """This machine's GPUs, and the GPU nodes of the first cluster executor that lists them."""
    found = hardware.gpus(details=True)
    answer = GpuInventory(
        gpus=found,
        count=len(found),
        message=None
        if found
        else "No GPU on this machine (NVML reports none, or no NVIDIA driver): jobs run on the CPU.",
    )
    for backend in backends:  # the first cluster configured (Kubernetes before Ray)
        if hasattr(backend, "gpu_nodes") and answer.cluster is None:
            try:
                answer.cluster = ClusterGpus(executor=backend.name, nodes=await backend.gpu_nodes())
            except Exception as exc:
                answer.cluster = ClusterGpus(
                    executor=backend.name, nodes=[], error=f"the cluster did not answer: {type(exc).__name__}"
                )
    return answer
