"""Which stored series a caller may read. GPUs, nodes and training queues are the platform's and shown to
everyone with `infra:read`; a series labelled with a gateway route or a deployment is shown only to those who
see that route or deployment (their teams', or organisation-wide; Admins and gateway admins see all)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import ApiKey
from axops.auth.scoping import visible
from axops.gateway.models import Route
from axops.serving.models import Deployment

LabelCheck = Callable[[dict], bool]


async def series_check(session: AsyncSession, principal: Principal) -> LabelCheck:
    """A test of a series' labels: may `principal` see it?"""
    if principal.is_admin or principal.can("gateway:admin"):
        return lambda labels: True
    routes = set((await session.execute(select(Route.model_name).where(visible(principal, Route)))).scalars())
    deployments = set((await session.execute(select(Deployment.name).where(visible(principal, Deployment)))).scalars())

    keys = (await session.execute(select(ApiKey.id).where(ApiKey.user_id == principal.user_id))).scalars()
    subjects = {f"user:{principal.user_id}", *(f"api_key:{key}" for key in keys)}

    def allowed(labels: dict) -> bool:
        route, deployment, subject = labels.get("route"), labels.get("deployment"), labels.get("subject")
        return (
            (route is None or route in routes)
            and (deployment is None or deployment in deployments)
            and (subject is None or subject in subjects)
        )

    return allowed
