"""Violation detection over real audit events and gateway usage records: each rule fires on crafted rows
and not on benign ones, dedupe, the workflow with its audit trail, automatic key suspension (the key then
gets 401 on /v1) and a notification delivered to a team's webhook channel."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from axops.gateway.models import UsageRecord
from axops.governance import violations
from tests.factories import insert_audit_events, insert_rows, make_account, make_key
from tests.mocks import Receiver

URL = "/api/governance/violations"


@pytest.fixture
def loopback(settings, monkeypatch):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")


def detect(live_server, since: datetime, now: datetime | None = None) -> list:
    db = live_server.app.state.axops.db
    run = violations.detect(db, now=now or datetime.now(UTC), since=since)
    return asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(60)


def usage(database_url, key: dict, at: datetime, n: int, status=200, error=None, ip="10.1.2.3", user_id=None):
    rows = [
        {
            "created_at": at + timedelta(seconds=i),
            "request_id": f"req-{uuid.uuid4().hex[:8]}",
            "api_key_id": key["id"],
            "user_id": user_id,
            "team_id": key.get("team_id"),
            "endpoint": "chat",
            "model": "chat",
            "status": status,
            "error": error,
            "latency_ms": 5.0,
            "client_ip": ip,
        }
        for i in range(n)
    ]
    insert_rows(database_url, UsageRecord, rows)


def listed(api, headers, **params) -> list[dict]:
    r = api.get(URL, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_blocked_prompts_dedupe_workflow_and_notification(api, admin, live_server, database_url, loopback):
    hook = Receiver()
    try:
        op = make_account(api, admin, "vio-op", role="operator", new_team="vio-team")
        dev = make_account(api, admin, "vio-dev", team=op.team)
        key = make_key(api, dev.headers, "분석 키", team_id=op.team["id"])
        benign = make_key(api, dev.headers, "정상 키", team_id=op.team["id"])
        r = api.post(
            "/api/alerts/channels",
            json={"name": "거버넌스", "kind": "webhook", "config": {"url": f"{hook.url}/gov"}},
            headers=op.headers,
        )
        assert r.status_code == 201, r.text
        base = datetime.now(UTC) - timedelta(minutes=5)
        usage(database_url, key, base, 5, status=400, error="guardrail_blocked: pii")
        usage(database_url, key, base, 2, status=403, error="policy_denied")
        # benign: a key refused fewer times than the threshold, and other errors that are not refusals
        usage(database_url, benign, base, 4, status=400, error="guardrail_blocked")
        usage(database_url, benign, base, 20, status=502, error="upstream answered 502")
        opened = detect(live_server, since=base - timedelta(minutes=1))
        assert len(opened) == 1
        items = listed(api, op.headers, kind="blocked_prompts")
        assert len(items) == 1
        v = items[0]
        assert v["subject_type"] == "apikey" and v["subject_id"] == key["id"] and "분석 키" in v["subject_name"]
        assert v["event_count"] == 7 and v["status"] == "open" and v["severity"] == "warning"
        assert v["evidence"]["codes"] == {"guardrail_blocked": 5, "policy_denied": 2}
        assert len(v["evidence"]["request_ids"]) <= 10 and "pii" not in json.dumps(v["evidence"])

        # the team's channel got the notification
        assert hook.received.wait(30), "no notification delivered"
        sent = json.loads(hook.requests[-1]["body"])
        assert sent["rule_name"] == "governance: blocked_prompts" and sent["severity"] == "warning"

        # dedupe: more refusals add to the open violation
        later = datetime.now(UTC) - timedelta(minutes=1)
        usage(database_url, key, later, 3, status=400, error="guardrail_blocked")
        assert detect(live_server, since=later - timedelta(seconds=5)) == []
        again = listed(api, op.headers, kind="blocked_prompts")
        assert len(again) == 1 and again[0]["event_count"] == 10

        # the workflow: resolve needs a comment; ack twice is a conflict; each step audited
        vid = v["id"]
        assert api.post(f"{URL}/{vid}/resolve", json={"comment": "  "}, headers=op.headers).status_code == 422
        acked = api.post(f"{URL}/{vid}/ack", headers=op.headers)
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
        assert acked.json()["acked_by"] == "vio-op"
        twice = api.post(f"{URL}/{vid}/ack", headers=op.headers)
        assert twice.status_code == 409 and twice.json()["type"].endswith("violation_state")
        done = api.post(f"{URL}/{vid}/resolve", json={"comment": "키 소유자에게 확인함"}, headers=op.headers)
        assert done.status_code == 200 and done.json()["status"] == "resolved"
        assert done.json()["comment"] == "키 소유자에게 확인함" and done.json()["resolved_by"] == "vio-op"
        actions = [
            e["action"]
            for e in api.get("/api/audit/logs", params={"resource_type": "violation"}, headers=admin).json()["items"]
        ]
        assert {"violation.open", "violation.acknowledge", "violation.resolve"} <= set(actions)
        # the same, already-resolved events do not open it again; the filter finds it resolved
        assert detect(live_server, since=base - timedelta(minutes=1)) == []
        assert [x["id"] for x in listed(api, op.headers, status="resolved")] == [vid]
        assert listed(api, op.headers, status="open") == []
    finally:
        hook.close()


def test_restricted_downloads_off_hours_privilege_and_new_network(api, admin, live_server, database_url):
    user = make_account(api, admin, "vio-user", new_team="vio-t2")
    uid = user.user_id
    base = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    restricted = {"action": "dataset.read_rows", "actor_id": uid, "resource_type": "dataset", "resource_id": "d1"}
    events = [
        {
            **restricted,
            "created_at": base + timedelta(seconds=i),
            "summary": {"what": "download", "sensitivity": "restricted"},
        }
        for i in range(3)
    ]
    # benign: previews of restricted data and downloads of internal data
    events += [
        {**restricted, "created_at": base, "summary": {"what": "preview", "sensitivity": "restricted"}},
        {**restricted, "created_at": base, "summary": {"what": "download", "sensitivity": "internal"}},
        {"action": "user.role_change", "actor_id": uid, "created_at": base, "summary": {"role": ["viewer", "admin"]}},
        {"action": "model.update", "actor_id": str(uuid.uuid4()), "created_at": base},
    ]
    insert_audit_events(database_url, events)
    hour = base.astimezone(ZoneInfo("Asia/Seoul")).hour  # the events' hour (not now's: an hour may have begun since)
    inside = {"start_hour": hour, "end_hour": hour + 1}
    r = api.put(
        "/api/governance/violation-rules",
        json={"restricted_downloads": {"threshold": 3, "window_minutes": 60}, "off_hours": inside},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["restricted_downloads"]["threshold"] == 3
    since = base - timedelta(minutes=1)
    detect(live_server, since=since)
    kinds = {(v["kind"], v["subject_id"]) for v in listed(api, admin)}
    assert ("restricted_downloads", uid) in kinds and ("privilege_change", uid) in kinds
    # the rule change itself is a privilege change of the admin (audited violation_rules.update)
    assert not any(k == "off_hours" for k, _ in kinds), "the events are inside business hours"

    # the same events outside business hours (the current hour set outside them)
    outside = {"start_hour": hour + 1, "end_hour": 24} if hour < 23 else {"start_hour": 0, "end_hour": 23}
    assert api.put("/api/governance/violation-rules", json={"off_hours": outside}, headers=admin).status_code == 200
    insert_audit_events(
        database_url,
        [{"action": "auth.login", "actor_id": uid, "created_at": datetime.now(UTC) - timedelta(minutes=1)}],
    )
    detect(live_server, since=since)
    off = [v for v in listed(api, admin, kind="off_hours") if v["subject_id"] == uid]
    assert len(off) == 1 and "auth.login" in off[0]["evidence"]["actions"]

    # new network: a key seen from 10.1.2.0/24 for weeks, now from 198.51.100.7
    key = make_key(api, user.headers, "네트워크 키")
    old = datetime.now(UTC) - timedelta(days=3)
    usage(database_url, key, old, 2, ip="10.1.2.3")
    usage(database_url, key, base, 2, ip="10.1.2.99")  # same /24: benign
    detect(live_server, since=since)
    assert not [v for v in listed(api, admin, kind="new_network")]
    usage(database_url, key, base + timedelta(minutes=1), 1, ip="198.51.100.7")
    detect(live_server, since=since)
    new = listed(api, admin, kind="new_network")
    assert len(new) == 1 and new[0]["evidence"]["networks"] == ["198.51.100.0/24"]
    # a brand-new key has no baseline: its first network is not a violation
    fresh = make_key(api, user.headers, "새 키")
    usage(database_url, fresh, base, 1, ip="203.0.113.5")
    detect(live_server, since=since)
    assert [v["subject_id"] for v in listed(api, admin, kind="new_network")] == [key["id"]]


def test_auto_suspend_revokes_the_key(api, admin, live_server, database_url):
    dev = make_account(api, admin, "vio-sus", new_team="vio-t3")
    key = make_key(api, dev.headers, "정지될 키")
    secret = {"Authorization": f"Bearer {key['key']}"}
    assert api.get("/v1/models", headers=secret).status_code == 200
    r = api.put(
        "/api/governance/violation-rules",
        json={
            "blocked_prompts": {"severity": "critical", "threshold": 2},
            "auto_suspend": {"enabled": True, "threshold": 2},
        },
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["rules"]["auto_suspend"] == {
        "enabled": True,
        "threshold": 2,
        "window_days": 30,
    }
    base = datetime.now(UTC) - timedelta(minutes=5)
    usage(database_url, key, base, 2, status=400, error="guardrail_blocked")
    detect(live_server, since=base - timedelta(minutes=1))
    first = listed(api, admin, kind="blocked_prompts")[0]
    assert first["severity"] == "critical" and first["action"] is None
    assert api.get("/v1/models", headers=secret).status_code == 200  # one critical violation: not yet
    api.post(f"{URL}/{first['id']}/resolve", json={"comment": "ok"}, headers=admin)
    later = datetime.now(UTC) - timedelta(minutes=2)
    usage(database_url, key, later, 2, status=403, error="policy_denied")
    detect(live_server, since=later - timedelta(seconds=5))
    second = listed(api, admin, kind="blocked_prompts", status="open")[0]
    assert second["action"] == "key_suspended"
    for _ in range(50):  # the key cache is invalidated by NOTIFY
        if api.get("/v1/models", headers=secret).status_code == 401:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert api.get("/v1/models", headers=secret).status_code == 401
    revoked = api.get("/api/audit/logs", params={"action": "apikey.revoke"}, headers=admin).json()["items"]
    assert revoked and revoked[0]["actor_type"] == "system" and revoked[0]["resource_id"] == key["id"]
