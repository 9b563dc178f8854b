"""Sending one notification to one channel, one function per kind, and the outbound address check.

Each sender gets the notification's payload (`notifications.Notification.to_json()`), the channel's
shown configuration and its decrypted secrets, and returns an `Outcome`; it never raises for the
receiver's faults (refused, slow, 5xx, bad TLS). Error texts are built here with every secret removed,
so they can be stored and shown.

Outbound addresses: a channel's host must resolve to public addresses only, unless an administrator
allowed private networks (`AXOPS_ALERT_ALLOWED_NETWORKS`): this keeps a channel from probing the
server's own network (cloud metadata at 169.254.169.254, internal services). The check runs when a
channel is saved and again before every send (DNS may change between the two)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import json
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Axops-Signature"
PAYLOAD_VERSION = "1"
MAX_ALERTS_SHOWN = 10
SEVERITY_COLOURS = {"critical": "#d32f2f", "warning": "#f9a825", "info": "#1976d2"}
RESOLVED_COLOUR = "#2e7d32"


@dataclass
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None


class AddressRefused(Exception):
    """The host is (or resolves to) an address channels may not send to."""


# --- outbound addresses -----------------------------------------------------------------------------


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.replace(";", ",").split(",") if part.strip()
    ]


def address_allowed(address: str, allowed: list) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    return any(ip.version == net.version and ip in net for net in allowed)


async def check_host(host: str, allowed: list) -> None:
    """Refuse a host that is, or resolves to, a non-public address outside the allowed networks."""
    host = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise AddressRefused(f"The host {host} could not be resolved.") from exc
        addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        if not address_allowed(address, allowed):
            raise AddressRefused(
                f"The host {host} is a private, loopback or link-local address ({address}); an administrator "
                "can allow such networks with AXOPS_ALERT_ALLOWED_NETWORKS."
            )


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


# --- errors without secrets -------------------------------------------------------------------------


def _secret_parts(secrets: dict[str, str]) -> list[str]:
    parts = []
    for value in secrets.values():
        if not value:
            continue
        parts.append(value)
        if value.startswith(("http://", "https://")):
            split = urlsplit(value)
            parts += [p for p in (split.path, split.query) if len(p) > 1]
    return sorted(parts, key=len, reverse=True)


def clean_error(text: str, secrets: dict[str, str], limit: int = 300) -> str:
    for part in _secret_parts(secrets):
        text = text.replace(part, "***")
    text = " ".join(text.split())
    return text[:limit] or "error"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError | asyncio.TimeoutError):
        return f"timed out after {TIMEOUT_S:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


# --- formats -----------------------------------------------------------------------------------------


def title(payload: dict) -> str:
    """`[FIRING:2] rule name (team)`, the subject line every kind uses."""
    firing = [a for a in payload.get("alerts", []) if a.get("state") == "firing"]
    status = str(payload.get("status", "firing")).upper()
    count = len(firing) if payload.get("status") == "firing" else len(payload.get("alerts", []))
    line = f"[{status}:{count}] {payload.get('rule_name', '')} ({payload.get('team', '')})"
    return " ".join(line.split())  # one line: no header injection through a name


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _slack_escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: dict) -> dict:
    """Slack's incoming-webhook format: a fallback `text`, and an attachment coloured by severity (green
    when resolved) whose blocks list each alert's labels, value and summary, and a link to the alert."""
    resolved = payload.get("status") == "resolved"
    colour = RESOLVED_COLOUR if resolved else SEVERITY_COLOURS.get(payload.get("severity", ""), "#757575")
    heading = _slack_escape(title(payload))
    if payload.get("url"):
        heading = f"<{payload['url']}|{heading}>"
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{heading}*"}}]
    alerts = payload.get("alerts", [])
    for alert in alerts[:MAX_ALERTS_SHOWN]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.get("labels", {}).items()))
        summary = alert.get("annotations", {}).get("summary", "")
        lines = [f"*{alert.get('state', '')}* value {_value(alert.get('value'))}", f"`{labels}`"]
        if summary:
            lines.append(summary)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape("\n".join(lines))}})
    if len(alerts) > MAX_ALERTS_SHOWN:
        more = f"+{len(alerts) - MAX_ALERTS_SHOWN} more"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    severity = f"severity {payload.get('severity', '')} · team {payload.get('team', '')}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(severity)}]})
    return {"text": title(payload), "attachments": [{"color": colour, "blocks": blocks}]}


def email_message(payload: dict, sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = title(payload)
    message["From"] = sender
    message["To"] = ", ".join(to)
    text_lines = [title(payload), ""]
    rows = []
    for alert in payload.get("alerts", []):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.get("labels", {}).items()))
        summary = alert.get("annotations", {}).get("summary", "")
        text_lines.append(f"- {alert.get('state')} value={_value(alert.get('value'))} {labels} {summary}".rstrip())
        rows.append(
            "<tr>"
            + "".join(
                f"<td style='padding:4px 8px;border:1px solid #ddd'>{html.escape(str(cell))}</td>"
                for cell in (alert.get("state", ""), _value(alert.get("value")), labels, summary)
            )
            + "</tr>"
        )
    if payload.get("url"):
        text_lines += ["", payload["url"]]
    message.set_content("\n".join(text_lines))
    colour = (
        RESOLVED_COLOUR
        if payload.get("status") == "resolved"
        else SEVERITY_COLOURS.get(payload.get("severity", ""), "#757575")
    )
    link = (
        f"<p><a href='{html.escape(payload['url'])}'>{html.escape(payload['url'])}</a></p>"
        if payload.get("url")
        else ""
    )
    message.add_alternative(
        f"<html><body><h2 style='color:{colour}'>{html.escape(title(payload))}</h2>"
        f"<table style='border-collapse:collapse'>{''.join(rows)}</table>{link}</body></html>",
        subtype="html",
    )
    return message


def webhook_body(payload: dict) -> bytes:
    return json.dumps({"version": PAYLOAD_VERSION, **payload}, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: what a receiver recomputes to trust the body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


def alertmanager_alerts(payload: dict, now: datetime) -> list[dict]:
    """Alertmanager's v2 `postableAlerts`: resolved alerts carry their end time, which resolves them."""
    out = []
    for alert in payload.get("alerts", []):
        labels = {}
        for name, value in alert.get("labels", {}).items():
            name = _LABEL_NAME.sub("_", str(name))
            if name and not name[0].isdigit() and value not in (None, ""):
                labels[name] = str(value)
        labels.setdefault("alertname", str(payload.get("rule_name", "alert")))
        item: dict[str, Any] = {
            "labels": labels,
            "annotations": {k: str(v) for k, v in alert.get("annotations", {}).items() if v not in (None, "")},
            "startsAt": alert.get("starts_at"),
        }
        if alert.get("state") == "resolved":
            item["endsAt"] = alert.get("ends_at") or now.isoformat()
        if str(payload.get("url", "")).startswith(("http://", "https://")):
            item["generatorURL"] = payload["url"]
        out.append(item)
    return out


# --- senders -----------------------------------------------------------------------------------------


async def _post(client: httpx.AsyncClient, url: str, secrets: dict, **kwargs) -> Outcome:
    try:
        response = await client.post(url, timeout=TIMEOUT_S, **kwargs)
    except Exception as exc:  # the receiver's fault, whatever it is: recorded, retried
        return Outcome(False, None, clean_error(_describe(exc), secrets))
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code)
    body = response.text[:200] if response.content else ""
    return Outcome(False, response.status_code, clean_error(f"HTTP {response.status_code} {body}", secrets))


async def send_slack(client, config: dict, secrets: dict, payload: dict, allowed: list) -> Outcome:
    url = secrets["webhook_url"]
    await check_host(url_host(url), allowed)
    return await _post(client, url, secrets, json=slack_message(payload))


async def send_webhook(client, config: dict, secrets: dict, payload: dict, allowed: list) -> Outcome:
    await check_host(url_host(config["url"]), allowed)
    body = webhook_body(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "axops-alerts",
        SIGNATURE_HEADER: signature(secrets["signing_secret"], int(time.time()), body),
    }
    return await _post(client, config["url"], secrets, content=body, headers=headers)


async def send_alertmanager(client, config: dict, secrets: dict, payload: dict, allowed: list) -> Outcome:
    await check_host(url_host(config["url"]), allowed)
    url = config["url"].rstrip("/") + "/api/v2/alerts"
    return await _post(client, url, secrets, json=alertmanager_alerts(payload, datetime.now(UTC)))


def _smtp_send(config: dict, secrets: dict, message: EmailMessage) -> int:
    context = ssl.create_default_context()
    host, port = config["host"], int(config["port"])
    smtp_class = smtplib.SMTP_SSL if config.get("security") == "ssl" else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": context} if config.get("security") == "ssl" else {}
    with smtp_class(host, port, timeout=TIMEOUT_S, **kwargs) as smtp:
        if config.get("security") == "starttls":
            smtp.starttls(context=context)
        if config.get("username") and secrets.get("password"):
            smtp.login(config["username"], secrets["password"])
        refused = smtp.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        code, _ = smtp.noop()
        return code


async def send_email(client, config: dict, secrets: dict, payload: dict, allowed: list) -> Outcome:
    await check_host(config["host"], allowed)
    message = email_message(payload, config["from_address"], list(config["to"]))
    try:
        code = await asyncio.wait_for(asyncio.to_thread(_smtp_send, config, secrets, message), TIMEOUT_S * 2)
    except smtplib.SMTPResponseException as exc:
        return Outcome(False, exc.smtp_code, clean_error(f"SMTP {exc.smtp_code} {exc.smtp_error!r}", secrets))
    except Exception as exc:
        return Outcome(False, None, clean_error(_describe(exc), secrets))
    return Outcome(True, code)


SENDERS = {"slack": send_slack, "email": send_email, "webhook": send_webhook, "alertmanager": send_alertmanager}


async def send(
    client: httpx.AsyncClient, kind: str, config: dict, secrets: dict, payload: dict, allowed: list
) -> Outcome:
    """Send, never raise: a refused address, a missing secret or any receiver fault is an Outcome."""
    try:
        return await SENDERS[kind](client, config, secrets, payload, allowed)
    except AddressRefused as exc:
        return Outcome(False, None, clean_error(str(exc), secrets))
    except KeyError:
        return Outcome(
            False, None, "The channel's secret is missing (the server's key changed?): save the channel again."
        )
    except Exception as exc:
        return Outcome(False, None, clean_error(_describe(exc), secrets))
