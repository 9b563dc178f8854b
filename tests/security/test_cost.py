"""What the cost pages must refuse: another team's spend, budgets, GPU time, simulator baseline and
savings stay hidden; GPU rates change only with infra:admin; group names and windows are not SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from axops.gateway.models import RequestLog, UsageRecord
from tests.factories import insert_rows, make_route
from tests.integration.test_cost import running_deployment, usage


def test_other_teams_spend_is_hidden(api, admin, victim, attacker, database_url):
    now = datetime.now(UTC)
    make_route(api, admin, "victim-chat", "http://127.0.0.1:9", input_price=10.0, output_price=30.0)
    rows, logs = [], []
    for i in range(6):
        at = now - timedelta(hours=i + 1)
        rows.append(usage(at, victim.user_id, victim.team["id"], "victim-chat", 7.0, request_id=f"v{i}"))
        logs.append(
            {
                "created_at": at,
                "request_id": f"v{i}",
                "user_id": uuid.UUID(victim.user_id),
                "model": "victim-chat",
                "status": 200,
                "request": '{"prompt": "secret plan"}',
                "response": "",
            }
        )
    insert_rows(database_url, UsageRecord, rows)
    insert_rows(database_url, RequestLog, logs)
    running_deployment(api, database_url, victim, "victim-dep", now - timedelta(hours=48))
    r = api.put(f"/api/gateway/limits/team/{victim.team['id']}", json={"monthly_budget": 10}, headers=admin)
    assert r.status_code == 200

    window = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}
    for group in ("model", "team", "user", "upstream", "api_key"):
        seen = api.get("/api/cost/spend", params={**window, "group_by": group}, headers=attacker.headers).json()
        assert seen["total"] == 0 and seen["totals"] == [] and seen["daily"] == [], group
        assert seen["gpu"]["items"] == []
    victims = api.get("/api/cost/spend", params={**window, "group_by": "team"}, headers=victim.headers).json()
    assert victims["total"] == 42 and [i["name"] for i in victims["gpu"]["items"]] == ["victim-dep"]

    forecast = api.get("/api/cost/forecast", headers=attacker.headers).json()
    assert forecast["budgets"] == [] and forecast["spent"] == 0
    assert [b["subject"] for b in api.get("/api/cost/forecast", headers=victim.headers).json()["budgets"]] == [
        "victims"
    ]
    assert api.get("/api/cost/savings", headers=attacker.headers).json()["items"] == []
    assert {i["kind"] for i in api.get("/api/cost/savings", headers=victim.headers).json()["items"]} >= {
        "cache",
        "idle_deployment",
    }
    sim = api.post("/api/cost/simulate", json={"days": 7}, headers=attacker.headers).json()
    assert sim["routes"] == [] and sim["baseline_monthly"] == 0


def test_gpu_rates_need_infra_admin(api, admin, attacker, attacker_viewer, attacker_operator):
    body = {"rates": [{"gpu_type": "default", "hourly_rate": 0.01}]}
    for who in (attacker, attacker_viewer):
        r = api.put("/api/cost/gpu-rates", json=body, headers=who.headers)
        assert r.status_code == 403, r.text
    assert api.get("/api/cost/gpu-rates", headers=admin).json() == []
    assert api.put("/api/cost/gpu-rates", json=body, headers=attacker_operator.headers).status_code == 200
    assert api.put("/api/cost/gpu-rates", json=body).status_code == 401
    assert api.get("/api/cost/spend").status_code == 401


def test_parameters_are_not_sql(api, admin):
    for params in (
        {"group_by": "model; DROP TABLE usage_records"},
        {"month": "2026-1'"},
        {"since": "2026-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
        {"since": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},  # longer than 92 days
    ):
        r = api.get("/api/cost/spend", params=params, headers=admin)
        assert r.status_code == 422, (params, r.text)
    bad_route = {"scenarios": [{"kind": "cache", "route": "x' OR '1'='1", "hit_rate": 10}]}
    r = api.post("/api/cost/simulate", json=bad_route, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("cost_unknown_route")
    extra = {"scenarios": [{"kind": "shift", "route": "a", "percent": 10, "to_route": "b", "sql": "x"}]}
    assert api.post("/api/cost/simulate", json=extra, headers=admin).status_code == 422
