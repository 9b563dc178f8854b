"""Request and response models of alert channels (`/api/alerts/channels`) and deliveries
(`/api/alerts/deliveries`). A channel's secrets are write-only: answers say whether one is set."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl

from axops.auth.schemas import Label

Kind = Literal["slack", "email", "webhook", "alertmanager"]
Visibility = Literal["team", "organization"]
Url = Annotated[HttpUrl, Field(max_length=2000)]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackConfig(Strict):
    webhook_url: Url = Field(description="The Slack incoming webhook URL (a secret: stored encrypted, never returned)")


class EmailConfig(Strict):
    host: Host = Field(description="The SMTP server")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="STARTTLS, implicit TLS, or none")
    # SMTP AUTH (smtplib) sends printable ASCII only.
    username: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[\x20-\x7e]+$")
    password: str | None = Field(
        None, min_length=1, max_length=500, pattern=r"^[\x20-\x7e]+$", description="Stored encrypted; never returned"
    )
    from_address: EmailStr
    to: list[EmailStr] = Field(min_length=1, max_length=50)


class WebhookConfig(Strict):
    url: Url = Field(description="Receives the notification as JSON, signed with the channel's secret")


class AlertmanagerConfig(Strict):
    url: Url = Field(description="The Alertmanager's base URL (alerts are POSTed to <url>/api/v2/alerts)")


CONFIG_MODELS: dict[str, type[Strict]] = {
    "slack": SlackConfig,
    "email": EmailConfig,
    "webhook": WebhookConfig,
    "alertmanager": AlertmanagerConfig,
}


class _Create(Strict):
    name: Label
    team_id: uuid.UUID | None = Field(None, description="The owning team (default: yours)")
    visibility: Visibility = Field("team", description="organization: every team's rules may use it (admins only)")


class SlackCreate(_Create):
    kind: Literal["slack"]
    config: SlackConfig


class EmailCreate(_Create):
    kind: Literal["email"]
    config: EmailConfig


class WebhookCreate(_Create):
    kind: Literal["webhook"]
    config: WebhookConfig


class AlertmanagerCreate(_Create):
    kind: Literal["alertmanager"]
    config: AlertmanagerConfig


ChannelCreate = Annotated[SlackCreate | EmailCreate | WebhookCreate | AlertmanagerCreate, Field(discriminator="kind")]


class ChannelUpdate(Strict):
    name: Label | None = None
    visibility: Visibility | None = None
    config: dict[str, Any] | None = Field(
        None, description="Fields of the kind's configuration to change; a secret left out is kept"
    )
    rotate_secret: bool = Field(False, description="webhook: make a new signing secret (answered once)")


class LastDelivery(BaseModel):
    status: str
    at: datetime
    attempts: int
    last_error: str | None


class ChannelOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: Kind
    team_id: uuid.UUID
    team_name: str
    visibility: Visibility
    config: dict[str, Any] = Field(
        description="The configuration without secrets: *_configured says a secret is set, webhook_url_hint masks "
        "a Slack URL"
    )
    last_delivery: LastDelivery | None
    created_at: datetime
    updated_at: datetime


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        None, description="webhook: the signing secret, shown only in this answer (and when rotated)"
    )


class ChannelList(BaseModel):
    items: list[ChannelOut]


class TestOutcome(BaseModel):
    ok: bool
    status: int | None = Field(description="The receiver's HTTP status (SMTP: its reply code), when it answered")
    error: str | None = Field(description="Why the send failed (no secrets)")
    duration_ms: float


class DeliveryOut(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    channel_kind: Kind
    status: Literal["pending", "sent", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    response_status: int | None
    sent_at: datetime | None
    created_at: datetime
    rule_name: str | None
    notification_status: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
