"""HTTP routes of alerting: rules (`/api/alerts/rules`), alerts (`/api/alerts`), silences and the
notifications sent. `infra:read` reads, `alerts:write` changes; rows of other teams answer 404."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.monitoring import alert_service
from axops.monitoring.alert_schemas import (
    AlertList,
    AlertOut,
    BuiltinInstall,
    NotificationList,
    NotificationOut,
    PreviewIn,
    PreviewOut,
    RuleCreate,
    RuleList,
    RuleOut,
    RuleUpdate,
    SilenceCreate,
    SilenceList,
    SilenceOut,
)

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Reader = Annotated[Principal, require("infra:read")]
Writer = Annotated[Principal, require("alerts:write")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def _rule_out(session, rule) -> RuleOut:
    return RuleOut.model_validate((await alert_service.described(session, [rule]))[0])


@router.get("/rules")
async def list_rules(principal: Reader, session: Session, cursor: str | None = None, limit: Limit = 50) -> RuleList:
    """Your teams' rules, newest first, each with how many of its alerts fire and are pending now."""
    return RuleList.model_validate(await alert_service.list_rules(session, principal, cursor=cursor, limit=limit))


@router.post("/rules", status_code=201, responses={403: {}, 404: {}, 409: {}, 422: {}})
async def create_rule(body: RuleCreate, principal: Writer, session: Session) -> RuleOut:
    """A rule over the metric history: `expression` with a comparison (or absent()), held for `for`
    before firing; one alert per label set, notified per `group_by` group to `channel_ids`."""
    return await _rule_out(session, await alert_service.create_rule(session, principal, body))


@router.post("/rules/preview", responses={422: {}})
async def preview_rule(body: PreviewIn, principal: Reader, session: Session) -> PreviewOut:
    """What an expression gives now, per label set (at most 200), and whether its condition holds."""
    return PreviewOut.model_validate(await alert_service.preview(session, principal, body.expression))


@router.post("/rules/builtin", status_code=201, responses={403: {}, 404: {}})
async def install_builtin(body: BuiltinInstall, principal: Writer, session: Session) -> RuleList:
    """Install the built-in pack's rules the team doesn't have yet (idempotent); returns those added."""
    added = await alert_service.install_builtin(session, principal, body)
    return RuleList(items=[RuleOut.model_validate(r) for r in await alert_service.described(session, added)])


@router.get("/rules/{rule_id}", responses={404: {}})
async def get_rule(rule_id: uuid.UUID, principal: Reader, session: Session) -> RuleOut:
    return await _rule_out(session, await alert_service.get_rule(session, principal, rule_id))


@router.patch("/rules/{rule_id}", responses={403: {}, 404: {}, 409: {}, 422: {}})
async def update_rule(rule_id: uuid.UUID, body: RuleUpdate, principal: Writer, session: Session) -> RuleOut:
    return await _rule_out(session, await alert_service.update_rule(session, principal, rule_id, body))


@router.delete("/rules/{rule_id}", status_code=204, responses={403: {}, 404: {}})
async def delete_rule(rule_id: uuid.UUID, principal: Writer, session: Session) -> None:
    """The rule and its alerts; notifications already made stay (without the rule)."""
    await alert_service.delete_rule(session, principal, rule_id)


@router.get("/silences")
async def list_silences(
    principal: Reader, session: Session, active: bool | None = None, cursor: str | None = None, limit: Limit = 50
) -> SilenceList:
    return SilenceList.model_validate(
        await alert_service.list_silences(session, principal, active=active, cursor=cursor, limit=limit)
    )


@router.post("/silences", status_code=201, responses={403: {}, 404: {}, 422: {}})
async def create_silence(body: SilenceCreate, principal: Writer, session: Session) -> SilenceOut:
    """Alerts of the team whose labels (alertname, severity and team included) match every matcher
    are not notified from `starts_at` (default now) for `duration`."""
    return SilenceOut.model_validate(
        alert_service.silence_out(await alert_service.create_silence(session, principal, body))
    )


@router.delete("/silences/{silence_id}", status_code=204, responses={403: {}, 404: {}})
async def expire_silence(silence_id: uuid.UUID, principal: Writer, session: Session) -> None:
    """Expire the silence now (it stays listed)."""
    await alert_service.expire_silence(session, principal, silence_id)


@router.get("/notifications")
async def list_notifications(
    principal: Reader, session: Session, cursor: str | None = None, limit: Limit = 50
) -> NotificationList:
    """Notifications the engine decided to send for your teams' rules, newest first."""
    page = await alert_service.list_notifications(session, principal, cursor=cursor, limit=limit)
    return NotificationList(
        items=[NotificationOut.model_validate(n, from_attributes=True) for n in page["items"]],
        next_cursor=page["next_cursor"],
    )


@router.get("")
async def list_alerts(
    principal: Reader,
    session: Session,
    state: Literal["firing", "pending", "resolved", "active", "all"] = "active",
    severity: Literal["critical", "warning", "info"] | None = None,
    silenced: bool | None = None,
    rule_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> AlertList:
    """Your teams' alerts, the latest started first (`active`: firing and pending)."""
    return AlertList.model_validate(
        await alert_service.list_alerts(
            session,
            principal,
            state=state,
            severity=severity,
            silenced=silenced,
            rule_id=rule_id,
            cursor=cursor,
            limit=limit,
        )
    )


@router.post("/{alert_id}/ack", responses={403: {}, 404: {}})
async def ack_alert(alert_id: uuid.UUID, principal: Writer, session: Session) -> AlertOut:
    """Acknowledge: no repeat notifications for this alert until it resolves."""
    return AlertOut.model_validate(await alert_service.ack(session, principal, alert_id))
