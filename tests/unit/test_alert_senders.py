"""Alert senders' pure parts: the outbound address rule, error texts without secrets, titles, Slack and
Alertmanager formats, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from axops.monitoring import senders

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def payload(status="firing", **extra) -> dict:
    alerts = [
        {
            "labels": {"alertname": "지연", "route": "chat", "bad-name": "x", "empty": ""},
            "annotations": {"summary": "<b>"},
            "state": "firing",
            "value": 2400.0,
            "starts_at": "2026-01-02T03:00:00+00:00",
            "ends_at": None,
        },
        {
            "labels": {"alertname": "지연", "route": "embed"},
            "annotations": {},
            "state": "resolved",
            "value": 1.0,
            "starts_at": "2026-01-02T02:00:00+00:00",
            "ends_at": "2026-01-02T03:01:00+00:00",
        },
    ]
    return {
        "group_key": "g",
        "rule_id": "r",
        "rule_name": "지연 경보",
        "team": "플랫폼",
        "severity": "warning",
        "status": status,
        "alerts": alerts,
        "url": "https://axops.example/alerts",
        **extra,
    }


@pytest.mark.parametrize(
    ("address", "allowed", "ok"),
    [
        ("8.8.8.8", "", True),
        ("2001:4860:4860::8888", "", True),
        ("169.254.169.254", "", False),
        ("::ffff:169.254.169.254", "", False),
        ("10.1.2.3", "", False),
        ("100.64.0.1", "", False),
        ("127.0.0.1", "", False),
        ("::1", "", False),
        ("224.0.0.1", "", False),
        ("0.0.0.0", "", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("127.0.0.1", "10.0.0.0/8, 127.0.0.0/8", True),
        ("169.254.169.254", "10.0.0.0/8", False),
    ],
)
def test_address_rule(address, allowed, ok):
    assert senders.address_allowed(address, senders.parse_networks(allowed)) is ok


async def test_hosts_are_checked_after_resolution():
    with pytest.raises(senders.AddressRefused):
        await senders.check_host("localhost", [])
    await senders.check_host("localhost", senders.parse_networks("127.0.0.0/8,::1/128"))
    with pytest.raises(senders.AddressRefused, match="could not be resolved"):
        await senders.check_host("no-such-host.invalid", [])


def test_errors_lose_secrets_and_url_paths():
    secrets = {"webhook_url": "https://hooks.slack.com/services/T1/B2/token?x=1", "password": "pw-123"}
    text = senders.clean_error(
        "POST https://hooks.slack.com/services/T1/B2/token?x=1 failed; /services/T1/B2/token echoed; pw-123", secrets
    )
    assert "token" not in text and "pw-123" not in text and text.count("***") == 3
    assert len(senders.clean_error("x" * 1000, {})) == 300


def test_titles_count_firing_alerts_and_stay_on_one_line():
    assert senders.title(payload()) == "[FIRING:1] 지연 경보 (플랫폼)"
    assert senders.title(payload("resolved")) == "[RESOLVED:2] 지연 경보 (플랫폼)"
    assert senders.title(payload(rule_name="a\r\nBcc: x")) == "[FIRING:1] a Bcc: x (플랫폼)"


def test_slack_message_colours_and_escapes():
    message = senders.slack_message(payload())
    assert message["text"] == "[FIRING:1] 지연 경보 (플랫폼)"
    assert message["attachments"][0]["color"] == "#f9a825"
    blocks = message["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"].startswith("*<https://axops.example/alerts|")
    assert "&lt;b&gt;" in blocks[1]["text"]["text"] and "<b>" not in blocks[1]["text"]["text"]
    many = payload(alerts=[payload()["alerts"][0]] * 13)
    assert "+3 more" in str(senders.slack_message(many)["attachments"][0]["blocks"])
    assert senders.slack_message(payload("resolved"))["attachments"][0]["color"] == "#2e7d32"


def test_alertmanager_alerts():
    firing, resolved = senders.alertmanager_alerts(payload(), NOW)
    assert firing["labels"] == {"alertname": "지연", "route": "chat", "bad_name": "x"}
    assert firing["annotations"] == {"summary": "<b>"} and "endsAt" not in firing
    assert firing["generatorURL"] == "https://axops.example/alerts"
    assert resolved["endsAt"] == "2026-01-02T03:01:00+00:00"
    relative = senders.alertmanager_alerts(payload(url="/alerts"), NOW)[0]
    assert "generatorURL" not in relative


def test_webhook_signature_is_hmac_of_timestamp_and_body():
    body = senders.webhook_body(payload())
    assert b'"version":"1"' in body and "지연".encode() in body
    header = senders.signature("whsec_k", 1700000000, body)
    digest = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"
