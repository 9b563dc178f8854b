"""The home page's data in one request (GET /api/home), shaped by the caller's role."""

from __future__ import annotations

from fastapi import APIRouter

from axops.auth.deps import CurrentPrincipal, Session
from axops.core.state import SettingsDep
from axops.gateway.deps import GatewayDep
from axops.home import service
from axops.home.schemas import HomeOut

router = APIRouter(prefix="/api/home", tags=["home"])


@router.get("")
async def home(principal: CurrentPrincipal, session: Session, gateway: GatewayDep, settings: SettingsDep) -> HomeOut:
    """Running deployments and their health, the gateway's last 24 h per hour, failing upstreams,
    the training queue, recent runs, dataset versions waiting for review and (audit:read) recent
    audit events — each only as far as the caller may see it; a tile the role cannot use is null."""
    return HomeOut.model_validate(await service.home(session, principal, gateway, settings.gateway_currency))
