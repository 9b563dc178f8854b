"""HTTP routes of alert channels (`/api/alerts/channels`) and their deliveries (`/api/alerts/deliveries`).
Reading needs infra:read (secrets are never answered); changing and testing need alerts:write and
membership of the channel's team."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from axops.auth.deps import Principal, Session, require
from axops.core.state import SecretKey, SettingsDep
from axops.monitoring import channels, delivery
from axops.monitoring.channel_schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelList,
    ChannelOut,
    ChannelUpdate,
    DeliveryList,
    Kind,
    TestOutcome,
)

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Reader = Annotated[Principal, require("infra:read")]
Writer = Annotated[Principal, require("alerts:write")]


async def _out(session, channel, model=ChannelOut, **extra):
    return model.model_validate({**(await channels.described(session, [channel]))[0], **extra})


@router.get("/channels")
async def list_channels(principal: Reader, session: Session, kind: Kind | None = None) -> ChannelList:
    """Your teams' channels and the organisation-wide ones, by name, each with its last delivery."""
    found = await channels.list_channels(session, principal, kind)
    return ChannelList.model_validate({"items": await channels.described(session, found) if found else []})


@router.post("/channels", status_code=201, responses={403: {}, 404: {}, 409: {}, 422: {}})
async def create_channel(
    body: Annotated[ChannelCreate, Body()],
    principal: Writer,
    session: Session,
    secret: SecretKey,
    settings: SettingsDep,
) -> ChannelCreated:
    """A Slack, e-mail, signed-webhook or Alertmanager receiver. A webhook's signing secret is in this
    answer only."""
    channel, signing = await channels.create(session, principal, body, secret, settings.alert_allowed_networks)
    return await _out(session, channel, ChannelCreated, secret=signing)


@router.get("/channels/{channel_id}", responses={404: {}})
async def get_channel(channel_id: uuid.UUID, principal: Reader, session: Session) -> ChannelOut:
    return await _out(session, await channels.get(session, principal, channel_id))


@router.patch("/channels/{channel_id}", responses={403: {}, 404: {}, 409: {}, 422: {}})
async def update_channel(
    channel_id: uuid.UUID,
    body: ChannelUpdate,
    principal: Writer,
    session: Session,
    secret: SecretKey,
    settings: SettingsDep,
) -> ChannelCreated:
    """Change the name, visibility or configuration (secrets left out are kept); `rotate_secret` makes a
    webhook's new signing secret, answered once."""
    channel, signing = await channels.update(
        session, principal, channel_id, body, secret, settings.alert_allowed_networks
    )
    return await _out(session, channel, ChannelCreated, secret=signing)


@router.delete("/channels/{channel_id}", status_code=204, responses={403: {}, 404: {}})
async def delete_channel(channel_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await channels.delete(session, principal, channel_id)


@router.post("/channels/{channel_id}/test", responses={403: {}, 404: {}})
async def test_channel(
    channel_id: uuid.UUID, principal: Writer, session: Session, secret: SecretKey, settings: SettingsDep
) -> TestOutcome:
    """Send a test notification now; the answer is the receiver's outcome (an unreachable receiver is
    `ok: false` with the reason, not an error)."""
    return TestOutcome.model_validate(
        await channels.send_test(session, principal, channel_id, secret, settings.alert_allowed_networks)
    )


@router.get("/deliveries")
async def list_deliveries(
    principal: Reader,
    session: Session,
    status: Literal["pending", "sent", "failed"] | None = None,
    channel_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """Recent deliveries to your teams' channels, newest first: status, attempts, the last error."""
    return DeliveryList.model_validate(await delivery.recent(session, principal, status, channel_id, cursor, limit))
