"""Alert channels over real HTTP with real receivers: a Slack-format and a signed-webhook receiver (aiohttp
on a loopback port), an SMTP server (aiosmtpd) and the Alertmanager binary. Notifications are rows of
`alert_notifications` as the alert engine writes them; `delivery.dispatch` is driven with an explicit
`now` to step through the retry backoff."""

from __future__ import annotations

import asyncio
import contextlib
import email
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from axops.monitoring import alerts, delivery
from axops.monitoring.notifications import AlertItem, Notification
from tests.factories import free_port, make_account
from tests.mocks import Receiver

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


@pytest.fixture
def loopback(settings, monkeypatch):
    """Receivers run on 127.0.0.1: allowed the way an administrator would (AXOPS_ALERT_ALLOWED_NETWORKS)."""
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def notify(database_url: str, team_id: str, channel_ids: list[str], status: str = "firing", **fields) -> str:
    """A notification as the alert engine stores it; returns its id."""
    now = datetime.now(UTC)
    alerts = fields.pop("alerts", None) or [
        AlertItem(
            fingerprint="f1",
            labels={"alertname": "지연", "route": "chat", "severity": "critical", "team": "t"},
            annotations={"summary": "p95 지연 2,400 ms > 2,000 ms"},
            state=status,
            value=2400.0,
            starts_at=now - timedelta(minutes=3),
            ends_at=now if status == "resolved" else None,
        )
    ]
    n = Notification(
        group_key=fields.pop("group_key", "g1"),
        rule_id=str(uuid.uuid4()),
        rule_name=fields.pop("rule_name", "지연 경보"),
        team=fields.pop("team", "플랫폼"),
        severity="critical",
        status=status,
        alerts=alerts,
        url="http://axops.example/alerts",
    )
    nid = str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alert_notifications (id, team_id, group_key, status, channel_ids, payload) "
            "VALUES (%s, %s, %s, %s, %s::uuid[], %s)",
            (nid, team_id, n.group_key, status, channel_ids, json.dumps(n.to_json())),
        )
    return nid


def dispatch(live_server, now: datetime | None = None) -> int:
    state = live_server.app.state.axops
    return asyncio.run_coroutine_threadsafe(delivery.dispatch(state.db, now), live_server.server_loop).result(90)


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does with X-Axops-Signature (docs/MONITORING.md): recompute, compare, check the age."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= tolerance_s


def make_channel(api, headers, **body) -> dict:
    r = api.post("/api/alerts/channels", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_webhook_and_slack_channels_deliver_signed_and_formatted(api, admin, live_server, database_url, loopback):
    hook, slack = Receiver(), Receiver()
    try:
        dev = make_account(api, admin, "ch-dev", new_team="ch-team")
        webhook = make_channel(api, dev.headers, name="운영 웹훅", kind="webhook", config={"url": f"{hook.url}/axops"})
        assert webhook["secret"].startswith("whsec_") and webhook["team_id"] == dev.team["id"]
        slack_url = f"{slack.url}/services/T000/B000/very-secret-token"
        sl = make_channel(api, dev.headers, name="slack", kind="slack", config={"webhook_url": slack_url})
        assert sl["secret"] is None and sl["config"]["webhook_url_configured"] is True
        shown = api.get("/api/alerts/channels", headers=dev.headers).json()["items"]
        assert {c["name"] for c in shown} == {"운영 웹훅", "slack"}
        assert "very-secret-token" not in json.dumps(shown) and webhook["secret"] not in json.dumps(shown)
        assert all(c["last_delivery"] is None for c in shown)

        # The test button: a signed test notification, answered synchronously.
        tested = api.post(f"/api/alerts/channels/{webhook['id']}/test", headers=dev.headers)
        assert tested.status_code == 200 and tested.json()["ok"] is True and tested.json()["status"] == 200
        sent = hook.requests[-1]
        assert sent["path"] == "/axops"
        assert verify(webhook["secret"], sent["headers"]["X-Axops-Signature"], sent["body"])
        assert not verify("whsec_wrong", sent["headers"]["X-Axops-Signature"], sent["body"])
        assert json.loads(sent["body"])["rule_name"] == "Test notification"

        nid = notify(database_url, dev.team["id"], [webhook["id"], sl["id"]])
        assert dispatch(live_server) == 2
        assert dispatch(live_server) == 0  # nothing is sent twice
        body = hook.requests[-1]["body"]
        assert verify(webhook["secret"], hook.requests[-1]["headers"]["X-Axops-Signature"], body)
        payload = json.loads(body)
        assert payload["version"] == "1" and payload["status"] == "firing" and payload["rule_name"] == "지연 경보"
        assert payload["alerts"][0]["labels"]["route"] == "chat" and payload["alerts"][0]["value"] == 2400.0

        message = json.loads(slack.requests[-1]["body"])
        assert slack.requests[-1]["path"] == "/services/T000/B000/very-secret-token"
        assert message["text"] == "[FIRING:1] 지연 경보 (플랫폼)"
        attachment = message["attachments"][0]
        assert attachment["color"] == "#d32f2f"  # critical
        blocks = json.dumps(attachment["blocks"], ensure_ascii=False)
        assert "route=chat" in blocks and "2400" in blocks and "http://axops.example/alerts" in blocks

        deliveries = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"]
        assert {(d["channel_name"], d["status"], d["attempts"]) for d in deliveries} == {
            ("운영 웹훅", "sent", 1),
            ("slack", "sent", 1),
        }
        assert all(d["notification_id"] == nid and d["rule_name"] == "지연 경보" for d in deliveries)
        listed = api.get("/api/alerts/channels", headers=dev.headers).json()["items"]
        assert {c["last_delivery"]["status"] for c in listed} == {"sent"}

        # Resolution: green, RESOLVED.
        notify(database_url, dev.team["id"], [sl["id"]], status="resolved")
        assert dispatch(live_server) == 1
        resolved = json.loads(slack.requests[-1]["body"])
        assert resolved["text"].startswith("[RESOLVED:1]") and resolved["attachments"][0]["color"] == "#2e7d32"

        # Bad changes: a taken name, a broken configuration, a secret only webhooks have; nothing is changed.
        path = f"/api/alerts/channels/{webhook['id']}"
        taken = api.patch(path, json={"name": "slack"}, headers=dev.headers)
        assert taken.status_code == 409 and taken.json()["type"].endswith("/alert_channel_exists")
        broken = api.patch(path, json={"config": {"url": "ftp://x"}}, headers=dev.headers)
        assert broken.status_code == 422 and broken.json()["type"].endswith("/alert_channel_config_invalid")
        assert broken.json()["field"] == "url"
        no_secret = api.patch(f"/api/alerts/channels/{sl['id']}", json={"rotate_secret": True}, headers=dev.headers)
        assert no_secret.status_code == 422 and no_secret.json()["type"].endswith("/alert_channel_no_secret")
        assert api.get(path, headers=dev.headers).json()["name"] == "운영 웹훅"
        moved = api.patch(path, json={"config": {"url": f"{hook.url}/moved"}}, headers=dev.headers)
        assert moved.status_code == 200, moved.text
        assert moved.json()["config"]["url"] == f"{hook.url}/moved" and moved.json()["secret"] is None
        api.post(f"/api/alerts/channels/{webhook['id']}/test", headers=dev.headers)
        assert hook.requests[-1]["path"] == "/moved"  # the signing secret is kept
        assert verify(webhook["secret"], hook.requests[-1]["headers"]["X-Axops-Signature"], hook.requests[-1]["body"])
        missing = api.post(
            "/api/alerts/channels", json={"name": "x", "kind": "email", "config": {}}, headers=dev.headers
        )
        assert missing.status_code == 422

        # Rotating the webhook's secret answers the new one once; deliveries are signed with it.
        rotated = api.patch(f"/api/alerts/channels/{webhook['id']}", json={"rotate_secret": True}, headers=dev.headers)
        assert rotated.status_code == 200 and rotated.json()["secret"] not in (None, webhook["secret"])
        api.post(f"/api/alerts/channels/{webhook['id']}/test", headers=dev.headers)
        assert verify(
            rotated.json()["secret"], hook.requests[-1]["headers"]["X-Axops-Signature"], hook.requests[-1]["body"]
        )

        # Audit: every change, no secret in the details.
        events = api.get("/api/audit/logs", params={"action": "alert_channel."}, headers=admin).json()
        text = json.dumps(events, ensure_ascii=False)
        assert "alert_channel.create" in text and "alert_channel.test" in text and "alert_channel.update" in text
        assert "very-secret-token" not in text and webhook["secret"] not in text
        rule_id = str(uuid.uuid4())
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO alert_rules (id, team_id, name, description, expression, for_s, severity, labels, "
                "annotations, group_by, repeat_s, channel_ids, enabled) VALUES (%s, %s, 'r', '', 'x > 1', 0, "
                "'warning', '{}', '{}', '[]', 3600, %s::uuid[], false)",
                (rule_id, dev.team["id"], [sl["id"], webhook["id"]]),
            )
        assert api.delete(f"/api/alerts/channels/{sl['id']}", headers=dev.headers).status_code == 204
        with psycopg.connect(database_url) as conn:
            left = conn.execute("SELECT channel_ids FROM alert_rules WHERE id = %s", (rule_id,)).fetchone()[0]
        assert [str(c) for c in left] == [webhook["id"]]  # the rule no longer names the deleted channel
        assert api.get(f"/api/alerts/channels/{sl['id']}", headers=dev.headers).status_code == 404
    finally:
        hook.close()
        slack.close()


def test_retries_with_backoff_until_delivered(api, admin, live_server, database_url, loopback, receiver):
    dev = make_account(api, admin, "retry-dev", new_team="retry-team")
    channel = make_channel(api, dev.headers, name="flaky", kind="webhook", config={"url": receiver.url + "/in"})
    receiver.statuses = [500, 500]
    notify(database_url, dev.team["id"], [channel["id"]])
    t0 = datetime.now(UTC)
    assert dispatch(live_server, t0) == 1
    first = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"][0]
    assert (first["status"], first["attempts"], first["response_status"]) == ("pending", 1, 500)
    assert "HTTP 500" in first["last_error"]
    assert dispatch(live_server, t0 + timedelta(seconds=5)) == 0  # not due before 10 s
    assert dispatch(live_server, t0 + timedelta(seconds=11)) == 1
    assert dispatch(live_server, t0 + timedelta(seconds=11 + 20)) == 0  # the second wait is 30 s
    assert dispatch(live_server, t0 + timedelta(seconds=11 + 31)) == 1
    done = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"][0]
    assert (done["status"], done["attempts"], done["response_status"], done["last_error"]) == ("sent", 3, 200, None)
    assert len(receiver.requests) == 3
    failed = api.get("/api/alerts/deliveries", params={"status": "failed"}, headers=dev.headers).json()
    assert failed["items"] == []


def test_unreachable_receiver_fails_without_stopping_the_others(
    api, admin, live_server, database_url, loopback, receiver
):
    dev = make_account(api, admin, "dead-dev", new_team="dead-team")
    dead = make_channel(
        api, dev.headers, name="dead", kind="webhook", config={"url": f"http://127.0.0.1:{free_port()}/"}
    )
    alive = make_channel(api, dev.headers, name="alive", kind="webhook", config={"url": receiver.url})
    tested = api.post(f"/api/alerts/channels/{dead['id']}/test", headers=dev.headers)
    assert tested.status_code == 200
    assert tested.json()["ok"] is False and "could not connect" in tested.json()["error"]
    notify(database_url, dev.team["id"], [dead["id"], alive["id"]])
    now = datetime.now(UTC)
    assert dispatch(live_server, now) == 2
    assert len(receiver.requests) == 1
    for wait in delivery.BACKOFF:  # every retry, then failed
        now += wait + timedelta(seconds=1)
        assert dispatch(live_server, now) == 1
    assert dispatch(live_server, now + timedelta(hours=1)) == 0
    failed = api.get("/api/alerts/deliveries", params={"status": "failed"}, headers=dev.headers).json()["items"]
    assert [(d["channel_name"], d["attempts"]) for d in failed] == [("dead", delivery.MAX_ATTEMPTS)]
    assert "could not connect" in failed[0]["last_error"]
    channels = {c["name"]: c for c in api.get("/api/alerts/channels", headers=dev.headers).json()["items"]}
    assert (
        channels["dead"]["last_delivery"]["status"] == "failed"
        and channels["alive"]["last_delivery"]["status"] == "sent"
    )


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_email_channel_sends_multipart_mail(api, admin, live_server, database_url, loopback):
    inbox = _Inbox()
    logins = []

    def authenticate(server, session, envelope, mechanism, data):
        logins.append(
            (mechanism, data.login.decode(), data.password.decode()) if isinstance(data, LoginPassword) else None
        )
        ok = isinstance(data, LoginPassword) and data.password == b"smtp-pass-1"
        return AuthResult(success=ok, handled=False)

    port = free_port()
    # aiosmtpd's LOGIN waits for a username that smtplib sent with the command: offer PLAIN only.
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        dev = make_account(api, admin, "mail-dev", new_team="mail-team")
        config = {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": "alerts",
            "password": "smtp-pass-1",
            "from_address": "axops@example.com",
            "to": ["oncall@example.com", "sre@example.com"],
        }
        channel = make_channel(api, dev.headers, name="메일", kind="email", config=config)
        assert channel["config"]["password_configured"] is True and "password" not in channel["config"]
        assert "smtp-pass" not in api.get(f"/api/alerts/channels/{channel['id']}", headers=dev.headers).text

        alerts = [
            AlertItem(
                fingerprint=f"f{i}",
                labels={"alertname": "오류율", "route": f"r{i}"},
                annotations={"summary": "<b>높음</b>"},
                state="firing",
                value=0.12,
                starts_at=datetime.now(UTC),
            )
            for i in range(2)
        ]
        notify(database_url, dev.team["id"], [channel["id"]], alerts=alerts, rule_name="오류율 경보", team="mail-team")
        assert dispatch(live_server) == 1
        assert logins and logins[0][1:] == ("alerts", "smtp-pass-1")
        mail_from, rcpt, raw = inbox.messages[-1]
        assert mail_from == "axops@example.com" and rcpt == ["oncall@example.com", "sre@example.com"]
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["Subject"] == "[FIRING:2] 오류율 경보 (mail-team)"
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "route=r0" in plain and "route=r1" in plain
        assert "&lt;b&gt;높음&lt;/b&gt;" in html and "<b>높음</b>" not in html  # annotations are escaped
        delivered = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"][0]
        assert delivered["status"] == "sent"

        # A wrong password fails the delivery with the server's answer and no secret in the error.
        patched = api.patch(
            f"/api/alerts/channels/{channel['id']}", json={"config": {"password": "wrong-pass"}}, headers=dev.headers
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["config"]["to"] == ["oncall@example.com", "sre@example.com"]  # the rest is kept
        outcome = api.post(f"/api/alerts/channels/{channel['id']}/test", headers=dev.headers).json()
        assert outcome["ok"] is False and outcome["status"] == 535, outcome
        assert "wrong-pass" not in outcome["error"]
    finally:
        controller.stop()


@contextlib.contextmanager
def running_alertmanager(tmp_path: Path):
    """The real Alertmanager on a free loopback port, ready; yields its base URL."""
    port = free_port()
    (tmp_path / "am.yml").write_text("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Alertmanager did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


needs_alertmanager = pytest.mark.skipif(
    not ALERTMANAGER.exists(), reason="prometheus-alertmanager is not installed (CI installs it)"
)


@needs_alertmanager
def test_alertmanager_receives_and_resolves(api, admin, live_server, database_url, loopback, tmp_path):
    with running_alertmanager(tmp_path) as base:
        dev = make_account(api, admin, "am-dev", new_team="am-team")
        channel = make_channel(api, dev.headers, name="am", kind="alertmanager", config={"url": base})
        notify(database_url, dev.team["id"], [channel["id"]])
        assert dispatch(live_server) == 1
        assert api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"][0]["status"] == "sent"
        active = httpx.get(f"{base}/api/v2/alerts").json()
        assert [(a["labels"]["alertname"], a["labels"]["route"], a["status"]["state"]) for a in active] == [
            ("지연", "chat", "active")
        ]
        assert active[0]["annotations"]["summary"] == "p95 지연 2,400 ms > 2,000 ms"
        assert active[0]["generatorURL"] == "http://axops.example/alerts"

        notify(database_url, dev.team["id"], [channel["id"]], status="resolved")
        assert dispatch(live_server) == 1
        assert httpx.get(f"{base}/api/v2/alerts").json() == []  # resolved: no longer listed


@needs_alertmanager
def test_a_rule_fires_and_resolves_on_all_four_channels(
    api, admin, live_server, database_url, loopback, receiver, tmp_path
):
    """The whole path to every kind of receiver: a rule naming a signed webhook, a Slack webhook, an e-mail
    address and an Alertmanager; a breaching point, one evaluation cycle, dispatch (what the engine's task does
    after committing) — each receiver has the firing notification; the value falls back, the next cycle resolves
    the alert and each receiver hears that too."""
    slack, inbox = Receiver(), _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with running_alertmanager(tmp_path) as alertmanager:
            dev = make_account(api, admin, "e2e-dev", new_team="e2e-team")
            hook = make_channel(api, dev.headers, name="온콜", kind="webhook", config={"url": receiver.url})
            mail = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from_address": "axops@example.com"}
            channels = [
                hook,
                make_channel(api, dev.headers, name="슬랙", kind="slack", config={"webhook_url": f"{slack.url}/T/B/x"}),
                make_channel(
                    api, dev.headers, name="메일", kind="email", config={**mail, "to": ["oncall@example.com"]}
                ),
                make_channel(api, dev.headers, name="am", kind="alertmanager", config={"url": alertmanager}),
            ]
            # a minute ago: the resolution's endsAt (the cycle's time) must be past for Alertmanager to drop it
            now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
            with psycopg.connect(database_url, autocommit=True) as conn:
                sid = conn.execute(
                    "INSERT INTO metric_series (name, labels) "
                    'VALUES (\'gpu_temperature_c\', \'{"node": "n9", "gpu": "3"}\') RETURNING id'
                ).fetchone()[0]
                conn.execute("INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, 93)", (sid, now))
            rule = {
                "name": "GPU 과열",
                "expression": "last(gpu_temperature_c[5m]) >= 85",
                "for": "0s",
                "severity": "critical",
                "group_by": ["node"],
                "channel_ids": [c["id"] for c in channels],
            }
            r = api.post("/api/alerts/rules", json=rule, headers=dev.headers)
            assert r.status_code == 201, r.text

            async def cycle_then_dispatch(at: datetime):
                db = live_server.app.state.axops.db
                async with db.sessionmaker() as session:
                    result = await alerts.run_cycle(session, at)
                    await session.commit()
                return result.notifications, await delivery.dispatch(db)

            def step(at: datetime) -> tuple[int, int]:
                return asyncio.run_coroutine_threadsafe(cycle_then_dispatch(at), live_server.server_loop).result(60)

            assert step(now + timedelta(seconds=1)) == (1, 4)
            request = receiver.requests[-1]
            assert verify(hook["secret"], request["headers"]["X-Axops-Signature"], request["body"])
            body = json.loads(request["body"])
            assert (body["rule_name"], body["status"], body["severity"]) == ("GPU 과열", "firing", "critical")
            assert body["alerts"][0]["labels"]["gpu"] == "3" and body["alerts"][0]["value"] == 93
            assert json.loads(slack.requests[-1]["body"])["text"] == "[FIRING:1] GPU 과열 (e2e-team)"
            message = email.message_from_bytes(inbox.messages[-1][2], policy=policy.default)
            assert message["Subject"] == "[FIRING:1] GPU 과열 (e2e-team)"
            (active,) = httpx.get(f"{alertmanager}/api/v2/alerts").json()
            assert (active["labels"]["alertname"], active["labels"]["gpu"]) == ("GPU 과열", "3")
            deliveries = api.get("/api/alerts/deliveries", headers=dev.headers).json()["items"]
            assert sorted(d["status"] for d in deliveries) == ["sent"] * 4

            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, 60)",
                    (sid, now + timedelta(seconds=30)),
                )
            assert step(now + timedelta(seconds=31)) == (1, 4)
            assert json.loads(receiver.requests[-1]["body"])["status"] == "resolved"
            assert json.loads(slack.requests[-1]["body"])["text"] == "[RESOLVED:1] GPU 과열 (e2e-team)"
            message = email.message_from_bytes(inbox.messages[-1][2], policy=policy.default)
            assert message["Subject"] == "[RESOLVED:1] GPU 과열 (e2e-team)"
            assert httpx.get(f"{alertmanager}/api/v2/alerts").json() == []
    finally:
        slack.close()
        smtp.stop()
