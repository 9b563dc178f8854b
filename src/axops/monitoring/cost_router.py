"""/api/cost: spend, GPU rates, the month-end forecast, the what-if simulator and savings.
Reading needs `infra:read` (what each caller sees is scoped in the services); rates need `infra:admin`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.core.state import SettingsDep
from axops.monitoring import cost, cost_forecast, cost_savings, cost_simulator
from axops.monitoring.cost_schemas import (
    ForecastOut,
    GpuRateOut,
    GpuRatesIn,
    SavingsOut,
    SimRoute,
    SimulateIn,
    SimulateOut,
    SpendOut,
)

router = APIRouter(prefix="/api/cost", tags=["cost"])
Reader = Annotated[Principal, require("infra:read")]
Admin = Annotated[Principal, require("infra:admin")]


def _utc(at: datetime | None) -> datetime | None:
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/spend")
async def spend(
    principal: Reader,
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    month: Annotated[
        str | None, Query(max_length=7, description="YYYY-MM: the whole month instead of since/until")
    ] = None,
    group_by: str = "model",
    *,
    settings: SettingsDep,
) -> SpendOut:
    """Usage cost per day, month and group (model = route, team, user, upstream, api_key) and the
    GPU-hour cost of deployments and training jobs over the window (default: the last 30 days)."""
    if month:
        since, until = cost.month_window(month)
    found = await cost.spend(session, principal, _utc(since), _utc(until), group_by)
    return SpendOut.model_validate({**found, "currency": settings.gateway_currency})


@router.get("/gpu-rates")
async def gpu_rates(principal: Reader, session: Session) -> list[GpuRateOut]:
    return [GpuRateOut.model_validate(r) for r in await cost.rates(session)]


@router.put("/gpu-rates")
async def put_gpu_rates(body: GpuRatesIn, principal: Admin, session: Session) -> list[GpuRateOut]:
    """Replace the GPU rate table; `default` prices every GPU type not listed."""
    found = await cost.set_rates(session, principal, [r.model_dump() for r in body.rates])
    return [GpuRateOut.model_validate(r) for r in found]


@router.get("/forecast")
async def forecast(
    principal: Reader, session: Session, settings: SettingsDep, as_of: datetime | None = None
) -> ForecastOut:
    """This month's spend so far, the run rate and the projected total, and each visible budget's burn-down."""
    found = await cost_forecast.forecast(session, principal, _utc(as_of))
    return ForecastOut.model_validate({**found, "currency": settings.gateway_currency})


@router.get("/simulate/routes")
async def simulate_routes(principal: Reader, session: Session) -> list[SimRoute]:
    """The visible routes and their targets' prices (per 1M tokens), for building scenarios."""
    _, routes = await cost_simulator.load(session, principal, 1)
    return [SimRoute(route=name, targets=[t.__dict__ for t in r.targets]) for name, r in sorted(routes.items())]


@router.post("/simulate")
async def simulate(body: SimulateIn, principal: Reader, session: Session, settings: SettingsDep) -> SimulateOut:
    """Baseline (the last `days` of usage) and projected monthly cost under the scenarios combined."""
    usage, routes = await cost_simulator.load(session, principal, body.days)
    scenarios = [s.model_dump() for s in body.scenarios]
    found = cost_simulator.simulate(usage, routes, scenarios, body.days)
    return SimulateOut.model_validate({**found, "currency": settings.gateway_currency})


@router.get("/savings")
async def savings(principal: Reader, session: Session, settings: SettingsDep) -> SavingsOut:
    """Recommendations sorted by estimated monthly saving, with their evidence."""
    found = await cost_savings.recommendations(session, principal)
    return SavingsOut.model_validate({**found, "currency": settings.gateway_currency})
