"""HTTP routes of quality monitors (`/api/eval/monitors`): configuration, the score series for
charts and alerting, and the judged samples with the judge's reasoning."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.core.state import SecretKey
from axops.evaluation import monitoring
from axops.evaluation.monitoring_schemas import (
    MonitorCreate,
    MonitorList,
    MonitorOut,
    MonitorSeries,
    MonitorUpdate,
    ScoreList,
    ScoreOut,
)

router = APIRouter(prefix="/api/eval/monitors", tags=["evaluation"])
Reader = Annotated[Principal, require("eval:read")]
Writer = Annotated[Principal, require("eval:write")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def _out(session, m) -> MonitorOut:
    return MonitorOut.model_validate((await monitoring.described(session, [m]))[0])


@router.post("", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def create_monitor(body: MonitorCreate, principal: Writer, session: Session, secret: SecretKey) -> MonitorOut:
    """Judge a sampled share of a route's production requests (those whose masked text the gateway
    logs) with a judge route and a rubric that needs no reference; the judge calls are made with a
    key of yours for the judge route only."""
    return await _out(session, await monitoring.create(session, principal, body, secret))


@router.get("")
async def list_monitors(
    principal: Reader, session: Session, route: str | None = None, cursor: str | None = None, limit: Limit = 50
) -> MonitorList:
    """Your teams' monitors, newest first, with the last hour's judged count and the last day's mean."""
    return MonitorList.model_validate(
        await monitoring.list_monitors(session, principal, route=route, cursor=cursor, limit=limit)
    )


@router.get("/{monitor_id}", responses={404: {}})
async def get_monitor(monitor_id: uuid.UUID, principal: Reader, session: Session) -> MonitorOut:
    return await _out(session, await monitoring.get(session, principal, monitor_id))


@router.patch("/{monitor_id}", responses={403: {}, 404: {}, 422: {}})
async def update_monitor(
    monitor_id: uuid.UUID, body: MonitorUpdate, principal: Writer, session: Session, secret: SecretKey
) -> MonitorOut:
    """Change the judge, the rubric, the sample share or the budget, or pause (enabled=false: its key is
    revoked) and resume (a new key of yours; the paused time is not judged afterwards)."""
    return await _out(session, await monitoring.update(session, principal, monitor_id, body, secret))


@router.delete("/{monitor_id}", status_code=204, responses={403: {}, 404: {}})
async def delete_monitor(monitor_id: uuid.UUID, principal: Writer, session: Session) -> None:
    """The monitor, its key and its scores."""
    await monitoring.delete(session, principal, monitor_id)


@router.get("/{monitor_id}/series", responses={404: {}, 422: {}})
async def monitor_series(
    monitor_id: uuid.UUID,
    principal: Reader,
    session: Session,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    step: Literal["hour", "day"] = "hour",
) -> MonitorSeries:
    """Per hour or day of the request time (UTC): the mean score (0..1), how many were judged, the
    10th percentile and the failed grades. Default span: 2 days by hour, 30 by day; buckets without
    a judged request are left out."""
    return MonitorSeries.model_validate(
        await monitoring.series(session, principal, monitor_id, start=start, end=end, step=step)
    )


@router.get("/{monitor_id}/scores", responses={404: {}})
async def monitor_scores(
    monitor_id: uuid.UUID, principal: Reader, session: Session, cursor: str | None = None, limit: Limit = 50
) -> ScoreList:
    """The judged requests, latest first, with the judge's score and reasoning."""
    page = await monitoring.scores(session, principal, monitor_id, cursor=cursor, limit=limit)
    return ScoreList(
        items=[ScoreOut.model_validate(s, from_attributes=True) for s in page["items"]], next_cursor=page["next_cursor"]
    )
