"""Cost over HTTP: spend per day/month/team with GPU-hour cost, the forecast and budget burn-down on a
fixed clock, the simulator on recorded usage, and savings for repeated prompts and an idle deployment."""

from __future__ import annotations

import calendar
import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from axops.core.db import libpq_url
from axops.gateway.models import RequestLog, UsageRecord
from axops.registry.models import ModelVersion
from axops.serving.models import Deployment
from axops.training.models import TrainingJob
from tests.factories import insert_rows, make_account, make_route, register_model

DAY = timedelta(days=1)


def month_day(day: int) -> datetime:
    """A day of the current month at midnight UTC (its usage partition exists)."""
    return datetime.now(UTC).replace(day=day, hour=0, minute=0, second=0, microsecond=0)


def usage(created_at, user, team, model, cost, **extra) -> dict:
    return {
        "created_at": created_at,
        "user_id": uuid.UUID(user),
        "team_id": uuid.UUID(team),
        "endpoint": "chat",
        "model": model,
        "upstream": f"p-{model}/tiny",
        "status": 200,
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "cost": cost,
        "latency_ms": 10.0,
        **extra,
    }


@pytest.fixture
def teams(api, admin):
    alice = make_account(api, admin, "alice", new_team="team-a")
    bob = make_account(api, admin, "bob", new_team="team-b")
    return alice, bob


def test_spend_forecast_and_budgets(api, admin, teams, database_url):
    alice, bob = teams
    a, b = alice.team["id"], bob.team["id"]
    rows = []
    for d in range(1, 15):  # team a spends d on day d (1 + ... + 14 = 105), team b 100 a day (1,400)
        rows.append(usage(month_day(d) + timedelta(hours=12), alice.user_id, a, "chat-a", float(d)))
        rows.append(usage(month_day(d) + timedelta(hours=13), bob.user_id, b, "chat-b", 100.0))
    insert_rows(database_url, UsageRecord, rows)
    as_of = month_day(15)
    window = {"since": month_day(1).isoformat(), "until": as_of.isoformat()}

    r = api.get("/api/cost/spend", params={**window, "group_by": "team"}, headers=admin)
    assert r.status_code == 200, r.text
    spend = r.json()
    assert spend["scope"] == "all" and spend["total"] == pytest.approx(1505)
    assert {t["group"]: t["cost"] for t in spend["totals"]} == {"team-a": 105, "team-b": 1400}
    assert spend["monthly"] == [{"month": as_of.strftime("%Y-%m"), "cost": 1505}]
    day3 = {d["group"]: d["cost"] for d in spend["daily"] if d["day"] == month_day(3).date().isoformat()}
    assert day3 == {"team-a": 3, "team-b": 100}
    month = api.get(
        "/api/cost/spend", params={"month": as_of.strftime("%Y-%m"), "group_by": "user"}, headers=admin
    ).json()
    assert {t["group"]: t["cost"] for t in month["totals"]} == {"alice": 105, "bob": 1400}

    mine = api.get("/api/cost/spend", params={**window, "group_by": "model"}, headers=alice.headers).json()
    assert mine["scope"] == "teams" and mine["total"] == pytest.approx(105)
    assert [t["group"] for t in mine["totals"]] == ["chat-a"]

    for scope, subject, budget in (("team", a, 200), ("team", b, 1000)):
        r = api.put(f"/api/gateway/limits/{scope}/{subject}", json={"monthly_budget": budget}, headers=admin)
        assert r.status_code == 200, r.text
    r = api.get("/api/cost/forecast", params={"as_of": as_of.isoformat()}, headers=admin)
    assert r.status_code == 200, r.text
    f = r.json()
    left = calendar.monthrange(as_of.year, as_of.month)[1] - 14
    assert f["spent"] == pytest.approx(1505)
    assert f["rate_per_day"] == pytest.approx(111)  # mean of days 8..14 for a (11) + 100 for b
    assert f["remaining_days"] == pytest.approx(left)
    assert f["projected"] == pytest.approx(1505 + 111 * left)
    assert f["days"][13]["actual"] == pytest.approx(1505) and f["days"][-1]["projected"] == pytest.approx(
        1505 + 111 * left
    )
    budgets = {x["subject"]: x for x in f["budgets"]}
    assert budgets["team-a"]["spent"] == pytest.approx(105) and budgets["team-a"]["status"] == "at_risk"
    assert budgets["team-a"]["runs_out_on"] == (as_of + timedelta(days=95 / 11)).date().isoformat()
    assert budgets["team-b"]["status"] == "over"
    assert budgets["team-b"]["runs_out_on"] == month_day(10).date().isoformat()  # 10 × 100 reaches 1,000

    theirs = api.get("/api/cost/forecast", params={"as_of": as_of.isoformat()}, headers=alice.headers).json()
    assert theirs["spent"] == pytest.approx(105)
    assert [x["subject"] for x in theirs["budgets"]] == ["team-a"]


def running_deployment(api, database_url, owner, name: str, created_at: datetime, **fields) -> str:
    model = register_model(api, owner.headers, f"{name}-model")
    version = insert_rows(database_url, ModelVersion, [{"model_id": uuid.UUID(model["id"]), "version": 1}])[0]
    row = {
        "name": name,
        "team_id": uuid.UUID(owner.team["id"]),
        "model_id": uuid.UUID(model["id"]),
        "version_id": version,
        "executor": "kubernetes",
        "status": "ready",
        "created_at": created_at,
        "resources": {"gpu": 2, "gpu_type": "A100"},
        "replicas_desired": 3,
        "replicas_max": 3,
        **fields,
    }
    return str(insert_rows(database_url, Deployment, [row])[0])


def test_gpu_rates_and_gpu_hour_cost(api, admin, teams, database_url):
    alice, bob = teams
    assert api.get("/api/cost/gpu-rates", headers=alice.headers).json() == []
    rates = [{"gpu_type": "default", "hourly_rate": 2.0}, {"gpu_type": "A100", "hourly_rate": 4.0, "currency": "USD"}]
    r = api.put("/api/cost/gpu-rates", json={"rates": rates}, headers=admin)
    assert r.status_code == 200, r.text
    assert [(x["gpu_type"], x["hourly_rate"]) for x in r.json()] == [("A100", 4.0), ("default", 2.0)]
    events = api.get("/api/audit/logs", params={"action": "cost.gpu_rates_updated"}, headers=admin).json()
    assert [e["summary"]["changes"]["A100"] for e in events["items"]] == [[None, [4.0, "USD"]]]

    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(hours=10)
    running_deployment(api, database_url, alice, "gpu-dep", until - timedelta(hours=48))
    model = register_model(api, alice.headers, "base")
    version = insert_rows(database_url, ModelVersion, [{"model_id": uuid.UUID(model["id"]), "version": 1}])[0]
    job = {
        "name": "tune",
        "team_id": uuid.UUID(alice.team["id"]),
        "base_version_id": version,
        "dataset_version_ids": [],
        "method": "lora",
        "hyperparameters": {},
        "column_mapping": {},
        "resources": {"gpus": 1, "nodes": 2, "gpu_type": "H100"},
        "executor": "kubernetes",
        "status": "succeeded",
        "started_at": until - timedelta(hours=5),
        "finished_at": until - timedelta(hours=3),
    }
    insert_rows(database_url, TrainingJob, [job])
    window = {"since": since.isoformat(), "until": until.isoformat()}
    gpu = api.get("/api/cost/spend", params=window, headers=alice.headers).json()["gpu"]
    items = {i["name"]: i for i in gpu["items"]}
    # 10 h × 3 replicas × 2 GPUs at the A100 rate; 2 h × 2 nodes × 1 GPU at the default rate (H100 unlisted)
    assert items["gpu-dep"]["gpu_hours"] == pytest.approx(60) and items["gpu-dep"]["cost"] == pytest.approx(240)
    assert items["tune"]["gpu_hours"] == pytest.approx(4) and items["tune"]["cost"] == pytest.approx(8)
    assert gpu["total"] == pytest.approx(248)
    assert api.get("/api/cost/spend", params=window, headers=bob.headers).json()["gpu"]["items"] == []

    bad = api.put("/api/cost/gpu-rates", json={"rates": [{"gpu_type": "x", "hourly_rate": -1}]}, headers=admin)
    assert bad.status_code == 422
    dup = api.put("/api/cost/gpu-rates", json={"rates": [rates[0], rates[0]]}, headers=admin)
    assert dup.status_code == 422 and dup.json()["type"].endswith("cost_duplicate_gpu_type")


def test_simulator_over_recorded_usage(api, admin, teams, database_url):
    alice, _ = teams
    make_route(api, admin, "chat-a", "http://127.0.0.1:9", input_price=10.0, output_price=30.0)
    make_route(api, admin, "chat-small", "http://127.0.0.1:9", input_price=1.0, output_price=2.0)
    now = datetime.now(UTC)
    # 30 requests of 1,000 + 500 tokens on chat-a at (1000 × 10 + 500 × 30) / 1e6 = 0.025 each: 0.75 in 30 days
    rows = [usage(now - timedelta(hours=i + 1), alice.user_id, alice.team["id"], "chat-a", 0.025) for i in range(30)]
    insert_rows(database_url, UsageRecord, rows)
    body = {"days": 30, "scenarios": [{"kind": "shift", "route": "chat-a", "percent": 50, "to_route": "chat-small"}]}
    r = api.post("/api/cost/simulate", json=body, headers=alice.headers)
    assert r.status_code == 200, r.text
    sim = r.json()
    # half stays (0.375); half of 30,000 + 15,000 tokens at (1, 2): 0.5 × 0.06 = 0.03
    assert sim["baseline_monthly"] == pytest.approx(0.75)
    assert sim["projected_monthly"] == pytest.approx(0.405)
    routes = api.get("/api/cost/simulate/routes", headers=alice.headers).json()
    assert {x["route"] for x in routes} == {"chat-a", "chat-small"}
    assert routes[0]["targets"][0]["upstream"] == "p-chat-a/tiny"

    for bad in (
        {"scenarios": [{"kind": "cache", "route": "nope", "hit_rate": 10}]},
        {"scenarios": [{"kind": "shift", "route": "chat-a", "percent": 150, "to_route": "chat-small"}]},
        {"scenarios": [{"kind": "price", "upstream": "p-chat-a/tiny", "input_price": -1, "output_price": 0}]},
    ):
        assert api.post("/api/cost/simulate", json=bad, headers=alice.headers).status_code == 422


def test_savings_repeated_prompts_and_idle_deployment(api, admin, teams, database_url):
    alice, bob = teams
    api.put("/api/cost/gpu-rates", json={"rates": [{"gpu_type": "A100", "hourly_rate": 4.0}]}, headers=admin)
    make_route(api, admin, "chat-a", "http://127.0.0.1:9", input_price=10.0, output_price=30.0)
    now = datetime.now(UTC)
    request = '{"messages": [{"role": "user", "content": "환불 규정을 알려줘"}]}'
    logs, rows = [], []
    for i in range(6):  # the same prompt six times at 0.5 each: five could have been cache hits
        rid = f"req-{i}"
        at = now - timedelta(hours=i + 1)
        logs.append(
            {
                "created_at": at,
                "request_id": rid,
                "user_id": uuid.UUID(alice.user_id),
                "model": "chat-a",
                "status": 200,
                "request": request,
                "response": "...",
            }
        )
        rows.append(usage(at, alice.user_id, alice.team["id"], "chat-a", 0.5, request_id=rid))
    logs.append({**logs[0], "request_id": "other", "request": '{"messages": []}'})
    insert_rows(database_url, RequestLog, logs)
    insert_rows(database_url, UsageRecord, rows)
    dep = running_deployment(api, database_url, alice, "idle-dep", now - timedelta(hours=48))
    # busy-dep serves traffic, but its three replicas carry a load of 1 each against a target of 4: one is enough
    running_deployment(api, database_url, alice, "busy-dep", now - timedelta(hours=48), autoscale_target=4.0)
    insert_rows(
        database_url,
        UsageRecord,
        [usage(now - timedelta(minutes=i + 1), alice.user_id, alice.team["id"], "busy-dep", 0.0) for i in range(20)],
    )
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for replica in ("0", "1", "2"):
            labels = json.dumps({"deployment": "busy-dep", "replica": replica})
            sid = conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES ('replica_load', %s::jsonb) RETURNING id", (labels,)
            ).fetchone()[0]
            for minutes in (30, 90, 600):
                conn.execute(
                    "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, 1.0)",
                    (sid, now - timedelta(minutes=minutes)),
                )

    r = api.get("/api/cost/savings", headers=alice.headers)
    assert r.status_code == 200, r.text
    found = {i["kind"]: i for i in r.json()["items"]}
    cache = found["cache"]
    assert cache["subject"] == "chat-a"
    assert cache["evidence"]["repeated_prompts"] == 1 and cache["evidence"]["repeat_requests"] == 5
    assert cache["monthly_saving"] == pytest.approx(2.5 * 30 / 7)
    idle = found["idle_deployment"]
    assert idle["subject"] == "idle-dep" and idle["link"] == f"/deployments/{dep}"
    assert idle["monthly_saving"] == pytest.approx(3 * 2 * 4.0 * 720)  # replicas × GPUs × rate × 30 days
    over = found["overprovisioned"]
    assert over["subject"] == "busy-dep" and over["evidence"]["replicas_needed"] == 1
    assert over["evidence"]["mean_load"] == pytest.approx(3.0)
    assert over["monthly_saving"] == pytest.approx(2 * 2 * 4.0 * 720)  # two spare replicas
    kinds = [i["kind"] for i in r.json()["items"]]
    assert kinds == ["idle_deployment", "overprovisioned", "cache"]  # largest saving first
    assert "max_tokens_not_recorded" in r.json()["notes"]

    assert api.get("/api/cost/savings", headers=bob.headers).json()["items"] == []
