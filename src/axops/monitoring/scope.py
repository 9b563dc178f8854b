"""Which stored series a caller may read. GPUs, nodes and training queues are the platform's and shown to
everyone with `infra:read`; a series labelled with a gateway route or a deployment is shown only to those who
see that route or deployment (their teams', or organisation-wide; Admins and gateway admins see all)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
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

    def allowed(labels: dict) -> bool:
        route, deployment = labels.get("route"), labels.get("deployment")
        return (route is None or route in routes) and (deployment is None or deployment in deployments)

    return allowed
