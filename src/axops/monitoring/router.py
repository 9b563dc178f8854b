"""Metric history over HTTP: a series' points by name and labels, and the names kept.

Everyone with `infra:read` sees the platform's series (GPUs, nodes, queues); series of a gateway route or a
deployment only when they see that route or deployment (`scope.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from axops.auth.deps import Principal, Session, require
from axops.monitoring import scope, store

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
InfraReader = Annotated[Principal, require("infra:read")]


class SeriesOut(BaseModel):
    labels: dict[str, str]
    points: list[tuple[int, float]]  # [unix seconds of the step's start, average value]


class SeriesPage(BaseModel):
    step: int  # seconds
    resolution: str  # raw, 1m or 1h
    series: list[SeriesOut]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/series")
async def series(
    request: Request,
    principal: InfraReader,
    session: Session,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    step: Annotated[int | None, Query(ge=1, le=31_536_000)] = None,
) -> SeriesPage:
    """Each series called `name` whose labels include every `label.<key>=<value>` given, from `from`
        (default: an hour before `to`) to `to` (default: now), averaged per `step` seconds (default: about
        300 steps; widened so a series has at most 2,000 points). An unknown name gives no series; series of
    routes or deployments the caller doesn't see are left out."""
    now = datetime.now(UTC)
    end = _utc(to) if to else now
    start = _utc(from_) if from_ else end - timedelta(hours=1)
    match = {k[len("label.") :]: v for k, v in request.query_params.items() if k.startswith("label.")}
    page = await store.query(session, name, match, start, end, step, now)
    allowed = await scope.series_check(session, principal)
    page["series"] = [s for s in page["series"] if allowed(s["labels"])]
    return SeriesPage.model_validate(page)


@router.get("/names")
async def names(principal: InfraReader, session: Session) -> list[str]:
    """The names of the series kept."""
    return await store.names(session)
