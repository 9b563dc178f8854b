"""Alert channels: create, read, change, delete, test. A channel belongs to a team (its rules use it);
an admin may make one organisation-wide, usable by every team's rules and seen by everyone.

Secrets (a Slack webhook URL, an SMTP password, a webhook's signing key) are kept as one encrypted JSON
object (core.crypto) and never answered: the answer says `*_configured` and, for Slack, a hint of
the URL's host. A webhook's signing secret is made by the server and answered once, at creation or
when rotated, like an API key."""

from __future__ import annotations

import json
import secrets as token
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team
from axops.auth.scoping import owning_team, require, require_owner, team_ids_param
from axops.core import crypto
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.monitoring import senders
from axops.monitoring.channel_models import AlertChannel
from axops.monitoring.channel_schemas import CONFIG_MODELS, ChannelUpdate
from axops.monitoring.notifications import AlertItem, Notification

WRITE = "alerts:write"
SECRET_FIELDS = {"slack": ("webhook_url",), "email": ("password",), "webhook": (), "alertmanager": ()}


# --- secrets ------------------------------------------------------------------------------------------


def read_secrets(channel: AlertChannel, key: str) -> dict[str, str]:
    if not channel.secret:
        return {}
    plain = crypto.decrypt(key, channel.secret)
    return json.loads(plain) if plain else {}


def _split(kind: str, config: dict) -> tuple[dict, dict]:
    """The configuration as stored in the clear, and its secrets."""
    shown = {k: v for k, v in config.items() if k not in SECRET_FIELDS[kind] and v is not None}
    hidden = {k: config[k] for k in SECRET_FIELDS[kind] if config.get(k)}
    if kind == "slack" and hidden.get("webhook_url"):
        split = urlsplit(hidden["webhook_url"])
        shown["webhook_url_hint"] = f"{split.scheme}://{split.hostname}/…"
    return shown, hidden


def shown_config(channel: AlertChannel, has: set[str]) -> dict[str, Any]:
    config = dict(channel.config)
    for name in SECRET_FIELDS[channel.kind]:
        config[f"{name}_configured"] = name in has
    if channel.kind == "webhook":
        config["signing_secret_configured"] = "signing_secret" in has
    return config


def secret_names(channel: AlertChannel) -> set[str]:
    """Which secrets are set, without decrypting them: kept in the clear as `_secrets` in config."""
    return set(channel.config.get("_secrets", []))


# --- validation ---------------------------------------------------------------------------------------


def _hosts(kind: str, config: dict) -> list[str]:
    if kind == "email":
        return [config["host"]]
    url = config.get("webhook_url") if kind == "slack" else config.get("url")
    return [senders.url_host(str(url))] if url else []


async def _check_addresses(kind: str, config: dict, allowed_networks: str) -> None:
    allowed = senders.parse_networks(allowed_networks)
    for host in _hosts(kind, config):
        try:
            await senders.check_host(host, allowed)
        except senders.AddressRefused as exc:
            if "could not be resolved" in str(exc):
                continue  # maybe resolvable later, from where the worker runs; every send checks again
            raise Invalid(str(exc), code="alert_channel_address_refused", host=host) from None


def _validated(kind: str, config: dict) -> dict:
    try:
        model = CONFIG_MODELS[kind].model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise Invalid(
            f"The {kind} channel's configuration is invalid at '{field}': {first['msg']}",
            code="alert_channel_config_invalid",
            field=field,
        ) from None
    return model.model_dump(mode="json")


# --- reads --------------------------------------------------------------------------------------------

_LIST_SQL = """
SELECT c.id, t.name AS team_name, d.status, d.updated_at AS at, d.attempts, d.last_error
FROM alert_channels c
JOIN teams t ON t.id = c.team_id
LEFT JOIN LATERAL (
    SELECT status, updated_at, attempts, last_error FROM alert_deliveries
    WHERE channel_id = c.id ORDER BY created_at DESC, id DESC LIMIT 1
) d ON true
WHERE c.id = ANY(:ids)
"""


async def described(session: AsyncSession, channels: list[AlertChannel]) -> list[dict]:
    rows = {r.id: r for r in (await session.execute(text(_LIST_SQL), {"ids": [c.id for c in channels]})).all()}
    out = []
    for c in channels:
        r = rows[c.id]
        last = None
        if r.status is not None:
            last = {"status": r.status, "at": r.at, "attempts": r.attempts, "last_error": r.last_error}
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "kind": c.kind,
                "team_id": c.team_id,
                "team_name": r.team_name,
                "visibility": c.visibility,
                "config": {k: v for k, v in shown_config(c, secret_names(c)).items() if k != "_secrets"},
                "last_delivery": last,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
        )
    return out


def _visible(principal: Principal):
    teams = team_ids_param(principal)
    if teams is None:
        return None
    return or_(AlertChannel.team_id.in_(teams), AlertChannel.visibility == "organization")


async def list_channels(session: AsyncSession, principal: Principal, kind: str | None = None) -> list[AlertChannel]:
    query = select(AlertChannel).order_by(AlertChannel.name, AlertChannel.id)
    clause = _visible(principal)
    if clause is not None:
        query = query.where(clause)
    if kind:
        query = query.where(AlertChannel.kind == kind)
    return list((await session.scalars(query.limit(1000))).all())


async def get(session: AsyncSession, principal: Principal, channel_id: uuid.UUID) -> AlertChannel:
    channel = await session.get(AlertChannel, channel_id)
    if channel is None or not (channel.visibility == "organization" or principal.sees_team(channel.team_id)):
        raise NotFound("No such alert channel.", code="alert_channel_not_found")
    return channel


# --- changes ------------------------------------------------------------------------------------------


async def _flush(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"An alert channel named '{name}' exists already in this team.", code="alert_channel_exists", name=name
        ) from None


def _store(channel: AlertChannel, kind: str, config: dict, hidden: dict, key: str) -> None:
    shown, _ = _split(kind, config)
    shown["_secrets"] = sorted(hidden)
    channel.config = shown
    channel.secret = crypto.encrypt(key, json.dumps(hidden)) if hidden else None


async def create(
    session: AsyncSession, principal: Principal, data: Any, key: str, allowed_networks: str
) -> tuple[AlertChannel, str | None]:
    """The new channel, and the webhook's signing secret (answered once)."""
    require(principal, WRITE)
    if data.visibility == "organization" and not principal.is_admin:
        raise Forbidden("Only administrators can make an organisation-wide channel.", code="alert_channel_org_admin")
    team_id = owning_team(principal, data.team_id)
    config = data.config.model_dump(mode="json")
    await _check_addresses(data.kind, config, allowed_networks)
    _, hidden = _split(data.kind, config)
    signing = None
    if data.kind == "webhook":
        signing = "whsec_" + token.token_urlsafe(32)
        hidden["signing_secret"] = signing
    channel = AlertChannel(
        team_id=team_id,
        name=data.name,
        kind=data.kind,
        visibility=data.visibility,
        created_by=principal.user_id,
    )
    _store(channel, data.kind, config, hidden, key)
    session.add(channel)
    await _flush(session, data.name)
    audit.record(
        session,
        "alert_channel.create",
        resource_type="alert_channel",
        resource_id=channel.id,
        team_id=team_id,
        summary={"name": channel.name, "kind": channel.kind, "visibility": channel.visibility},
    )
    await session.refresh(channel)
    return channel, signing


async def update(
    session: AsyncSession,
    principal: Principal,
    channel_id: uuid.UUID,
    data: ChannelUpdate,
    key: str,
    allowed_networks: str,
) -> tuple[AlertChannel, str | None]:
    channel = await get(session, principal, channel_id)
    require_owner(principal, channel, WRITE, "alert channel")
    summary: dict[str, Any] = {}
    if data.visibility is not None and data.visibility != channel.visibility:
        if data.visibility == "organization" and not principal.is_admin:
            raise Forbidden(
                "Only administrators can make an organisation-wide channel.", code="alert_channel_org_admin"
            )
        summary["visibility"] = [channel.visibility, data.visibility]
        channel.visibility = data.visibility
    if data.name is not None and data.name != channel.name:
        summary["name"] = [channel.name, data.name]
        channel.name = data.name
    hidden = read_secrets(channel, key)
    signing = None
    if data.config is not None:
        current = {k: v for k, v in channel.config.items() if k not in ("_secrets", "webhook_url_hint")}
        editable = {k: v for k, v in hidden.items() if k != "signing_secret"}  # made by the server, not edited
        merged = _validated(channel.kind, {**current, **editable, **data.config})
        await _check_addresses(channel.kind, merged, allowed_networks)
        before_shown = current
        _, new_hidden = _split(channel.kind, merged)
        if new_hidden != {k: v for k, v in hidden.items() if k != "signing_secret"}:
            summary["secret_changed"] = True
        hidden = {**new_hidden, **({"signing_secret": hidden["signing_secret"]} if "signing_secret" in hidden else {})}
        _store(channel, channel.kind, merged, hidden, key)
        changed = audit.diff(
            before_shown, {k: v for k, v in channel.config.items() if k not in ("_secrets", "webhook_url_hint")}
        )
        summary.update(changed)
    if data.rotate_secret:
        if channel.kind != "webhook":
            raise Invalid("Only webhook channels have a signing secret to rotate.", code="alert_channel_no_secret")
        signing = "whsec_" + token.token_urlsafe(32)
        hidden["signing_secret"] = signing
        _store(channel, channel.kind, {k: v for k, v in channel.config.items() if k != "_secrets"}, hidden, key)
        summary["secret_rotated"] = True
    await _flush(session, channel.name)
    audit.record(
        session,
        "alert_channel.update",
        resource_type="alert_channel",
        resource_id=channel.id,
        team_id=channel.team_id,
        summary={"name": channel.name, **summary},
    )
    await session.refresh(channel)
    return channel, signing


async def delete(session: AsyncSession, principal: Principal, channel_id: uuid.UUID) -> None:
    channel = await get(session, principal, channel_id)
    require_owner(principal, channel, WRITE, "alert channel")
    # Rules stop naming it, so editing them later doesn't trip over an unknown channel.
    rules = (
        await session.execute(
            text(
                "UPDATE alert_rules SET channel_ids = array_remove(channel_ids, :id), updated_at = now() "
                "WHERE :id = ANY(channel_ids)"
            ),
            {"id": channel.id},
        )
    ).rowcount
    audit.record(
        session,
        "alert_channel.delete",
        resource_type="alert_channel",
        resource_id=channel.id,
        team_id=channel.team_id,
        summary={"name": channel.name, "kind": channel.kind, "rules_updated": rules},
    )
    await session.delete(channel)
    await session.flush()


def test_payload(channel: AlertChannel, team_name: str, now: datetime) -> dict:
    alert = AlertItem(
        fingerprint="axops-test",
        labels={"alertname": "axops_test", "severity": "info", "team": team_name, "channel": channel.name},
        annotations={"summary": "A test notification from axops: this channel works."},
        state="firing",
        value=1.0,
        starts_at=now,
    )
    return Notification(
        group_key=f"test:{channel.id}",
        rule_id="test",
        rule_name="Test notification",
        team=team_name,
        severity="info",
        status="firing",
        alerts=[alert],
    ).to_json()


async def send_test(
    session: AsyncSession, principal: Principal, channel_id: uuid.UUID, key: str, allowed_networks: str
) -> dict:
    """Send a test notification now and answer the outcome; an unreachable receiver is an outcome."""
    channel = await get(session, principal, channel_id)
    require_owner(principal, channel, WRITE, "alert channel")
    team = await session.get(Team, channel.team_id)
    payload = test_payload(channel, team.name if team else "", datetime.now(UTC))
    started = time.perf_counter()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        outcome = await senders.send(
            client,
            channel.kind,
            channel.config,
            read_secrets(channel, key),
            payload,
            senders.parse_networks(allowed_networks),
        )
    audit.record(
        session,
        "alert_channel.test",
        resource_type="alert_channel",
        resource_id=channel.id,
        team_id=channel.team_id,
        outcome="success" if outcome.ok else "failure",
        summary={"name": channel.name, "status": outcome.status, "error": outcome.error},
    )
    return {
        "ok": outcome.ok,
        "status": outcome.status,
        "error": outcome.error,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
