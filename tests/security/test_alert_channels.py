"""Alert channels must refuse: sending to the server's own network (cloud metadata, private ranges, loopback)
unless an administrator allowed it; answering or logging a channel's secrets; another team's channels;
viewers changing channels; header injection into e-mail through a rule's name."""

from __future__ import annotations

import asyncio
import email
import json
import uuid
from datetime import UTC, datetime
from email import policy

import psycopg
import pytest
from aiosmtpd.controller import Controller

from axops.monitoring import delivery
from axops.monitoring.notifications import AlertItem, Notification
from tests.factories import free_port, make_account
from tests.mocks import Receiver

SECRET_TOKEN = "xoxb-very-secret-token-42"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _create(api, headers, **body):
    return api.post("/api/alerts/channels", json=body, headers=headers)


def _notify(database_url, team_id, channel_ids, rule_name="rule") -> None:
    n = Notification(
        group_key="g",
        rule_id=str(uuid.uuid4()),
        rule_name=rule_name,
        team="t",
        severity="warning",
        status="firing",
        alerts=[AlertItem("f", {"alertname": "a"}, {}, "firing", 1.0, datetime.now(UTC))],
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alert_notifications (id, team_id, group_key, status, channel_ids, payload) "
            "VALUES (%s, %s, 'g', 'firing', %s::uuid[], %s)",
            (str(uuid.uuid4()), team_id, channel_ids, json.dumps(n.to_json())),
        )


def _dispatch(live_server) -> int:
    state = live_server.app.state.axops
    return asyncio.run_coroutine_threadsafe(delivery.dispatch(state.db), live_server.server_loop).result(60)


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("webhook", {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}),
        ("webhook", {"url": "http://[::ffff:169.254.169.254]/"}),
        ("webhook", {"url": "http://2852039166/"}),  # 169.254.169.254 as one decimal number
        ("webhook", {"url": "http://10.1.2.3:8080/hook"}),
        ("slack", {"webhook_url": "https://192.168.0.10/services/x"}),
        ("alertmanager", {"url": "http://localhost:9093"}),
        ("alertmanager", {"url": "http://[::1]:9093"}),
        (
            "email",
            {
                "host": "127.0.0.1",
                "port": 25,
                "security": "none",
                "from_address": "a@example.com",
                "to": ["b@example.com"],
            },
        ),
    ],
)
def test_private_addresses_are_refused_by_default(api, admin, kind, config):
    r = _create(api, admin, name=f"ssrf-{kind}", kind=kind, config=config)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/alert_channel_address_refused")
    assert api.get("/api/alerts/channels", headers=admin).json()["items"] == []  # nothing half-written


def test_every_send_checks_the_address_again(api, admin, live_server, settings, monkeypatch, receiver):
    """A channel saved while loopback was allowed (or whose name now resolves elsewhere) is refused at send."""
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    channel = _create(api, admin, name="was-allowed", kind="webhook", config={"url": receiver.url}).json()
    monkeypatch.setattr(settings, "alert_allowed_networks", "")
    outcome = api.post(f"/api/alerts/channels/{channel['id']}/test", headers=admin).json()
    assert outcome["ok"] is False and "AXOPS_ALERT_ALLOWED_NETWORKS" in outcome["error"]
    assert receiver.requests == []


def test_secrets_are_never_answered_logged_or_audited(
    api, admin, live_server, database_url, settings, monkeypatch, receiver, caplog
):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    dev = make_account(api, admin, "sec-dev", new_team="sec-team")
    slack_url = f"{receiver.url}/services/T1/B1/{SECRET_TOKEN}"
    slack = _create(api, dev.headers, name="slack", kind="slack", config={"webhook_url": slack_url}).json()
    hook = _create(api, dev.headers, name="hook", kind="webhook", config={"url": receiver.url}).json()
    signing = hook["secret"]
    mail = _create(
        api,
        dev.headers,
        name="mail",
        kind="email",
        config={
            "host": "127.0.0.1",
            "port": free_port(),
            "security": "none",
            "username": "u",
            "password": "smtp-secret-pw",
            "from_address": "a@example.com",
            "to": ["b@example.com"],
        },
    ).json()
    receiver.statuses, receiver.echo = [500], True  # the receiver repeats the secret URL in its error
    outcome = api.post(f"/api/alerts/channels/{slack['id']}/test", headers=dev.headers).json()
    assert outcome["ok"] is False and outcome["status"] == 500
    _notify(database_url, dev.team["id"], [slack["id"], mail["id"], hook["id"]])
    receiver.statuses = [500, 500]  # both the Slack and the webhook delivery fail, echoing their URL
    with caplog.at_level("DEBUG"):
        assert _dispatch(live_server) == 3

    answers = [
        api.get("/api/alerts/channels", headers=dev.headers).text,
        *(api.get(f"/api/alerts/channels/{c['id']}", headers=dev.headers).text for c in (slack, hook, mail)),
        api.patch(f"/api/alerts/channels/{slack['id']}", json={"name": "slack2"}, headers=dev.headers).text,
        api.get("/api/alerts/deliveries", headers=dev.headers).text,
        api.get("/api/audit/logs", params={"action": "alert_channel."}, headers=admin).text,
        json.dumps(outcome),
        # axops's own log lines (httpx's request lines, which carry URLs, are silenced by core/logging)
        "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("axops")),
    ]
    for text in answers:
        assert SECRET_TOKEN not in text and signing not in text and "smtp-secret-pw" not in text
    deliveries = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"]
    assert any("***" in (d["last_error"] or "") for d in deliveries)  # the echoed URL, redacted
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT config::text, secret FROM alert_channels").fetchall()
    assert all(SECRET_TOKEN not in c and "smtp-secret-pw" not in c and signing not in c for c, _ in stored)
    assert all(s is None or (SECRET_TOKEN not in s and "smtp-secret-pw" not in s) for _, s in stored)


def test_other_teams_channels_are_not_found_and_viewers_cannot_change(api, admin, monkeypatch, settings):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    owner = make_account(api, admin, "own-dev", new_team="own-team")
    other = make_account(api, admin, "other-dev", new_team="other-team")
    viewer = make_account(api, admin, "own-viewer", role="viewer", team=owner.team)
    channel = _create(api, owner.headers, name="mine", kind="webhook", config={"url": "http://127.0.0.1:9/"}).json()
    path = f"/api/alerts/channels/{channel['id']}"
    for method, url, body in [
        ("GET", path, None),
        ("PATCH", path, {"name": "stolen"}),
        ("DELETE", path, None),
        ("POST", path + "/test", None),
    ]:
        r = api.request(method, url, json=body, headers=other.headers)
        assert r.status_code == 404, (method, url, r.text)
    assert api.get("/api/alerts/channels", headers=other.headers).json()["items"] == []
    # Viewers read (without secrets) but change nothing.
    assert [c["name"] for c in api.get("/api/alerts/channels", headers=viewer.headers).json()["items"]] == ["mine"]
    assert (
        _create(api, viewer.headers, name="v", kind="webhook", config={"url": "http://127.0.0.1:9/"}).status_code == 403
    )
    assert api.patch(path, json={"name": "v"}, headers=viewer.headers).status_code == 403
    assert api.post(path + "/test", headers=viewer.headers).status_code == 403
    assert api.delete(path, headers=viewer.headers).status_code == 403
    # Organisation-wide channels: only an admin makes them; other teams see them but cannot change them.
    refused = _create(
        api, owner.headers, name="org", kind="webhook", visibility="organization", config={"url": "http://127.0.0.1:9/"}
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("/alert_channel_org_admin")
    org = _create(
        api,
        admin,
        name="org",
        kind="webhook",
        visibility="organization",
        config={"url": "http://127.0.0.1:9/"},
        team_id=owner.team["id"],
    ).json()
    assert "org" in [c["name"] for c in api.get("/api/alerts/channels", headers=other.headers).json()["items"]]
    assert api.patch(f"/api/alerts/channels/{org['id']}", json={"name": "x"}, headers=other.headers).status_code == 403


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_rule_names_cannot_inject_mail_headers(api, admin, live_server, database_url, settings, monkeypatch):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = _create(
            api,
            admin,
            name="mail",
            kind="email",
            config={
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_address": "a@example.com",
                "to": ["oncall@example.com"],
            },
        ).json()
        _notify(database_url, mail["team_id"], [mail["id"]], rule_name="x\r\nBcc: evil@example.com\r\n\r\nbody")
        assert _dispatch(live_server) == 1
        rcpt, raw = inbox.messages[-1]
        assert rcpt == ["oncall@example.com"]
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["Bcc"] is None and message["Subject"].startswith("[FIRING:1] x Bcc: evil@example.com body")
    finally:
        controller.stop()
