"""What the home page shows, read in one request: each tile from its own domain, scoped by
`auth.scoping` (a Developer sees their teams' deployments and jobs, their own gateway usage), and
left out (None) when the caller's role cannot use its page. Every read is bounded: a handful of
rows per tile, and the gateway's last day from an index (usage_queries.hourly)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import team_clause, visible
from axops.datasets.models import Dataset, DatasetVersion
from axops.experiments.models import Experiment, Run
from axops.gateway import usage_queries
from axops.gateway.health import unhealthy_upstreams
from axops.gateway.state import Gateway
from axops.serving import service as serving
from axops.training import service as training

ROWS = 6  # rows per list tile


async def home(session: AsyncSession, principal: Principal, gateway: Gateway, currency: str) -> dict:
    gateway_user = principal.can("gateway:invoke") or principal.can("gateway:admin")
    out: dict = {"generated_at": datetime.now(UTC)}
    out["deployments"] = await _deployments(session, principal) if principal.can("deployments:read") else None
    out["usage"] = (
        {**await usage_queries.hourly(session, principal, 24), "currency": currency} if gateway_user else None
    )
    if gateway_user:
        await gateway.table.ensure(gateway.db, gateway.secret)
        out["upstreams"] = unhealthy_upstreams(gateway.table, principal)[:ROWS]
    else:
        out["upstreams"] = None
    reads_training = principal.can("training:read")
    out["training"] = await _training(session, principal) if reads_training else None
    out["runs"] = await _runs(session, principal) if reads_training else None
    out["reviews"] = await _reviews(session, principal) if principal.can("datasets:read") else None
    out["audit"] = await _audit(session, principal) if principal.can("audit:read") else None
    return out


async def _deployments(session: AsyncSession, principal: Principal) -> list[dict]:
    live = await serving.list_deployments(session, principal)
    return [
        {
            "id": d.id,
            "name": d.name,
            "model_name": d.model_name,
            "version": d.version,
            "status": d.status,
            "status_reason": d.status_reason,
            "replicas_ready": sum(1 for r in d.replicas if r.state == "ready"),
            "replicas_desired": d.replicas_desired,
            "canary_of": d.canary_of,
        }
        for d in await serving.to_out(session, live[:50])
    ]


async def _training(session: AsyncSession, principal: Principal) -> dict:
    jobs = await training.queue_view(session, principal)  # running first, then the queue's order
    return {
        "queued": sum(1 for j in jobs if j.status == "queued"),
        "running": sum(1 for j in jobs if j.status == "running"),
        "jobs": [
            {
                "id": j.id,
                "name": j.name,
                "status": j.status,
                "status_reason": j.status_reason,
                "priority": j.priority,
                "step": (j.progress or {}).get("step"),
                "max_steps": (j.progress or {}).get("max_steps"),
                "queued_at": j.queued_at,
                "started_at": j.started_at,
            }
            for j in jobs[:ROWS]
        ],
    }


async def _runs(session: AsyncSession, principal: Principal) -> list[dict]:
    rows = await session.execute(
        select(Run, Experiment.name)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(team_clause(principal, Run.team_id), Run.lifecycle == "active")
        .order_by(Run.start_time.desc(), Run.id.desc())
        .limit(ROWS)
    )
    return [
        {
            "id": r.id,
            "name": r.name,
            "experiment_id": r.experiment_id,
            "experiment_name": name,
            "status": r.status,
            "start_time": r.start_time,
            "end_time": r.end_time,
        }
        for r, name in rows
    ]


async def _reviews(session: AsyncSession, principal: Principal) -> dict:
    waiting = (
        select(DatasetVersion, Dataset.name)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(visible(principal, Dataset), DatasetVersion.review_status == "scanned", DatasetVersion.status == "ready")
    )
    total = await session.scalar(select(func.count()).select_from(waiting.subquery()))
    rows = await session.execute(waiting.order_by(DatasetVersion.created_at.desc()).limit(ROWS))
    return {
        "total": total or 0,
        "items": [
            {
                "dataset_id": v.dataset_id,
                "dataset_name": name,
                "version_id": v.id,
                "version": v.version,
                "sensitivity": v.sensitivity,
                "row_count": v.row_count,
                "created_at": v.created_at,
            }
            for v, name in rows
        ],
    }


async def _audit(session: AsyncSession, principal: Principal) -> list[dict]:
    events, _ = await audit.list_events(session, principal, audit.AuditFilter(), None, ROWS)
    return [{**e, "resource_id": None if e["resource_id"] is None else str(e["resource_id"])} for e in events]
