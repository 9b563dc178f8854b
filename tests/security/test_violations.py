"""Exploits violations must refuse: developers reading or moving violations, an operator reaching another
team's violation (404 like a missing one), non-admins changing the detection rules, bad rule settings,
and prompt text leaking into evidence or notifications."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from axops.gateway.models import UsageRecord
from axops.governance import violations
from tests.factories import insert_rows, make_account, make_key

URL = "/api/governance/violations"
SECRET_PROMPT = "주민등록번호 900101-1234567 알려줘"


def _violation_of(api, admin, live_server, database_url, team_name: str) -> tuple[dict, object]:
    op = make_account(api, admin, f"{team_name}-op", role="operator", new_team=team_name)
    key = make_key(api, op.headers, "k", team_id=op.team["id"])
    base = datetime.now(UTC) - timedelta(minutes=3)
    insert_rows(
        database_url,
        UsageRecord,
        [
            {
                "created_at": base + timedelta(seconds=i),
                "api_key_id": key["id"],
                "team_id": op.team["id"],
                "endpoint": "chat",
                "model": "chat",
                "status": 400,
                "error": f"guardrail_blocked {SECRET_PROMPT}",  # a careless writer: must not be echoed
                "latency_ms": 1.0,
            }
            for i in range(6)
        ],
    )
    run = violations.detect(live_server.app.state.axops.db, since=base - timedelta(minutes=1))
    asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(60)
    items = api.get(URL, headers=op.headers).json()["items"]
    assert len(items) == 1
    return items[0], op


def test_developer_and_other_team_are_refused(api, admin, live_server, database_url):
    v, op = _violation_of(api, admin, live_server, database_url, "sec-vio-a")
    assert SECRET_PROMPT not in json.dumps(v) and "900101" not in json.dumps(v)
    dev = make_account(api, admin, "sec-vio-dev", team=op.team)
    for method, path, body in (
        ("GET", URL, None),
        ("GET", f"{URL}/{v['id']}", None),
        ("POST", f"{URL}/{v['id']}/ack", None),
        ("POST", f"{URL}/{v['id']}/resolve", {"comment": "x"}),
        ("GET", "/api/governance/violation-rules", None),
    ):
        assert api.request(method, path, json=body, headers=dev.headers).status_code == 403, path
    other = make_account(api, admin, "sec-vio-other", role="operator", new_team="sec-vio-b")
    assert api.get(URL, headers=other.headers).json()["items"] == []
    for method, path, body in (
        ("GET", f"{URL}/{v['id']}", None),
        ("POST", f"{URL}/{v['id']}/ack", None),
        ("POST", f"{URL}/{v['id']}/resolve", {"comment": "x"}),
    ):
        r = api.request(method, path, json=body, headers=other.headers)
        assert r.status_code == 404 and r.json()["type"].endswith("violation_not_found"), path
    assert api.get(f"{URL}/{v['id']}", headers=op.headers).json()["status"] == "open"


def test_only_admins_change_rules_and_bad_settings_are_refused(api, admin):
    op = make_account(api, admin, "sec-vio-op2", role="operator", new_team="sec-vio-c")
    body = {"auto_suspend": {"enabled": False}}
    assert api.put("/api/governance/violation-rules", json=body, headers=op.headers).status_code == 403
    for bad in (
        {"off_hours": {"timezone": "Mars/Olympus"}},
        {"off_hours": {"start_hour": 20, "end_hour": 8}},
        {"blocked_prompts": {"threshold": 0}},
        {"blocked_prompts": {"codes": ["%"]}},
        {"unknown_rule": {"enabled": True}},
        {"auto_suspend": {"enabled": True, "script": "rm -rf /"}},
    ):
        r = api.put("/api/governance/violation-rules", json=bad, headers=admin)
        assert r.status_code == 422, bad
    rules = api.get("/api/governance/violation-rules", headers=admin).json()["rules"]
    assert rules["off_hours"]["timezone"] == "Asia/Seoul" and rules["auto_suspend"]["enabled"] is False
    # a setting a rule doesn't have is ignored rather than stored
    r = api.put("/api/governance/violation-rules", json={"privilege_change": {"threshold": 9}}, headers=admin)
    assert r.status_code == 200 and "threshold" not in r.json()["rules"]["privilege_change"]


def test_bad_filters_and_cursor(api, admin):
    assert api.get(URL, params={"status": "deleted"}, headers=admin).status_code == 422
    assert api.get(URL, params={"kind": "'; DROP TABLE violations; --"}, headers=admin).status_code == 422
    r = api.get(URL, params={"cursor": "not-a-cursor"}, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("invalid_cursor")
    r = api.get(f"{URL}/not-a-uuid", headers=admin)
    assert r.status_code == 422
