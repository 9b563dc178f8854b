"""A deployment's face on the gateway: the managed route named after it, whose targets are its ready
replicas (and its canary's, at the canary's weight), callable by the deployment's team or everyone
as the models it serves are visible, priced by GPU-hour; and the tokens its replicas act with
(`runtime_token`) and require from the gateway (`serve_token`). Executors call `sync_route` when
a deployment's ready replicas change."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.core import crypto
from axops.gateway import service as gateway
from axops.serving.models import ACTIVE, Deployment


async def canary_of(session: AsyncSession, stable_id: uuid.UUID) -> Deployment | None:
    return await session.scalar(
        select(Deployment).where(Deployment.canary_of == stable_id, Deployment.status.in_(ACTIVE))
    )


async def sync_route(session: AsyncSession, stable_id: uuid.UUID) -> None:
    """Point the gateway route of a deployment (and its canary) at their ready replicas."""
    stable = await session.get(Deployment, stable_id)
    if stable is None:
        return
    managed_by = f"deployment:{stable.id}"
    if stable.status == "stopped":
        await gateway.set_managed_route(session, stable.name, managed_by, [])
        return
    canary = await canary_of(session, stable.id)
    groups = [(stable, 100 - (canary.canary_weight if canary else 0))] + (
        [(canary, canary.canary_weight)] if canary else []
    )
    visibility = await _visibility(session, [d.model_id for d, _ in groups])
    upstreams = []
    for d, share in groups:
        ready = [r for r in d.replicas if r.get("state") == "ready" and r.get("endpoint")]
        for r in ready:
            upstreams.append(
                {
                    "name": f"dep-{d.id.hex[:12]}-r{r['index']}",
                    "base_url": r["endpoint"],
                    "model": d.name,
                    "weight": share / len(ready),
                    "pricing": price_fields(d),
                    "credentials": d.serve_token,
                }
            )
    if upstreams:
        await gateway.set_managed_route(
            session,
            stable.name,
            managed_by,
            upstreams,
            canary=canary is not None,
            team_id=stable.team_id,
            visibility=visibility,
        )
    elif stable.status in ("pending", "loading", "failed"):  # never served: nothing to keep
        await gateway.set_managed_route(session, stable.name, managed_by, [])
    else:  # degraded with no replica ready: the route keeps its last targets, which come back as they restart
        await gateway.set_managed_access(session, stable.name, managed_by, stable.team_id, visibility)


async def _visibility(session: AsyncSession, model_ids: list[uuid.UUID]) -> str:
    """Who may call a deployment's route: everyone only when every model it serves (a canary's too) is
    organisation-visible; else the deployment's team."""
    found = (
        await session.scalars(text("SELECT visibility FROM registered_models WHERE id = ANY(:ids)"), {"ids": model_ids})
    ).all()
    return "organization" if found and all(v == "organization" for v in found) else "team"


async def model_visibility_changed(session: AsyncSession, model_id: uuid.UUID) -> None:
    """The routes of a model's live deployments follow its visibility (the route table reloads)."""
    live = (
        await session.scalars(select(Deployment).where(Deployment.model_id == model_id, Deployment.status.in_(ACTIVE)))
    ).all()
    for stable_id in {d.canary_of or d.id for d in live}:
        await sync_route(session, stable_id)


def price_fields(d: Deployment) -> dict:
    """The gateway target's GPU-hour pricing: GPUs of one replica (a MIG slice as its share of seven; a
    CPU replica counts as one unit)."""
    if not d.pricing:
        return {}
    r = d.resources
    slice_ = r.get("mig_profile")
    gpus = int(slice_.split("g.")[0]) / 7 if slice_ else (r.get("gpu") or 1)
    return {
        "gpu_hour_price": d.pricing["gpu_hour_price"],
        "gpus": gpus,
        "throughput_tokens_per_s": d.pricing["throughput_tokens_per_s"],
    }


def runtime_token(secret: str, d: Deployment) -> str | None:
    return crypto.decrypt(secret, d.runtime_key) if d.runtime_key else None


def new_serve_token(secret: str) -> str:
    return crypto.encrypt(secret, "axs_" + secrets.token_urlsafe(32))


async def serve_token(db, secret: str, d: Deployment) -> str:
    """The token the deployment's replicas require (the gateway sends it as their API key). Deployments
    made before replicas were authenticated get one here, before their next replica starts."""
    if d.serve_token is None:
        async with db.sessionmaker() as session, session.begin():
            row = await session.get(Deployment, d.id, with_for_update=True)
            row.serve_token = row.serve_token or new_serve_token(secret)
            d.serve_token = row.serve_token
            await session.flush()
            await sync_route(session, row.canary_of or row.id)
    return crypto.decrypt(secret, d.serve_token) or ""
