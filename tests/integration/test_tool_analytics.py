"""Tool analytics over HTTP: an agent run against a scripted upstream calls a priced tool and a failing
one with a Korean input; the analytics report exact calls, success rates, own and attributed model
cost, cost shares, the agent × tool matrix and Korean keywords, and count no other team's calls."""

from __future__ import annotations

import asyncio
import socket
import threading

import psycopg
import pytest
from aiohttp import web

from axops.core.db import libpq_url
from tests.factories import make_account, make_route
from tests.mocks import MockUpstream

SCOPES = ["gateway:invoke", "agents:read", "agents:write", "tools:read", "tools:write"]


class ToolApi:
    """/weather answers its city; /fail answers 500."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def weather(request: web.Request) -> web.Response:
            return web.json_response({"city": request.query["city"], "sky": "맑음"})

        async def fail(request: web.Request) -> web.Response:
            return web.json_response({"error": "down"}, status=500)

        async def up():
            app = web.Application()
            app.router.add_get("/weather", weather)
            app.router.add_get("/fail", fail)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)


@pytest.fixture(scope="module")
def tool_api():
    return ToolApi()


@pytest.fixture(scope="module")
def upstream():
    return MockUpstream("analytics-up")


def make_tool(api, headers, name, path, api_url, params=(), **extra) -> str:
    props = {k: {"type": "string"} for k in params}
    r = api.post(
        "/api/tool/tools",
        json={
            "name": name,
            "kind": "http",
            "allow_hosts": ["127.0.0.1"],
            "parameters": {"type": "object", "properties": props, "required": list(props)},
            "spec": {"method": "GET", "base_url": api_url, "path": path, "params": {k: {"in": "query"} for k in props}},
            **extra,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def call(name, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def test_costs_matrix_and_keywords_of_an_agent_run(api, admin, upstream, tool_api, database_url):
    # 10 prompt + 10 completion tokens at 1000 per million each: 0.02 a model step
    make_route(api, admin, "ta-model", upstream.url, input_price=1000.0, output_price=1000.0)
    dev = make_account(api, admin, "tadev", new_team="ta-team", key_scopes=SCOPES)
    other = make_account(api, admin, "taother", new_team="ta-other", key_scopes=SCOPES)
    team = dev.team["id"]

    weather = make_tool(api, dev.headers, "weather", "/weather", tool_api.url, ["city"], cost_per_call=0.5)
    broken = make_tool(api, dev.headers, "broken", "/fail", tool_api.url)
    assert api.get(f"/api/tool/tools/{weather}", headers=dev.headers).json()["cost_per_call"] == 0.5
    r = api.post(
        "/api/agent/agents",
        json={
            "name": "ta-analyst",
            "version": {
                "route": "ta-model",
                "system_prompt": "You answer with tools.",
                "tool_ids": [weather, broken],
                "limits": {"max_steps": 10, "max_seconds": 60},
            },
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    agent = r.json()
    upstream.script, upstream.scripted = (
        [
            {"tool_calls": [call("weather", city="Seoul"), call("broken")]},  # 0.02 split: 0.01 each
            {"tool_calls": [call("weather", city="Busan")]},  # 0.02 to weather alone
            {"content": "서울과 부산은 맑습니다."},  # an answer asks for no call: attributed to no tool
        ],
        0,
    )
    r = api.post(
        f"/api/agent/agents/{agent['id']}/runs",
        json={"input": "서울과 부산의 날씨를 알려주고 환율도 확인해줘"},
        headers=dev.headers,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded", r.json()
    run_id = r.json()["id"]

    # another team's tool, called by its own test run: never in the first team's numbers
    theirs = make_tool(api, other.headers, "weather", "/weather", tool_api.url, ["city"], cost_per_call=7.0)
    r = api.post(f"/api/tool/tools/{theirs}/test", json={"arguments": {"city": "Jeju"}}, headers=other.headers)
    assert r.status_code == 200 and r.json()["ok"], r.text

    out = api.get("/api/tool/analytics", params={"days": 7}, headers=dev.headers).json()
    by_id = {i["tool_id"]: i for i in out["items"]}
    assert set(by_id) == {weather, broken}
    assert out["calls"] == 3
    w, b = by_id[weather], by_id[broken]
    assert (w["calls"], w["ok"], w["success_rate"]) == (2, 2, 1.0)
    assert (b["calls"], b["ok"], b["success_rate"]) == (1, 0, 0.0)
    assert b["error_kinds"] == {"tool_error": 1} and w["error_kinds"] == {}
    assert w["cost"] == pytest.approx(1.0) and b["cost"] == 0
    assert w["model_cost"] == pytest.approx(0.03) and b["model_cost"] == pytest.approx(0.01)
    assert w["total_cost"] == pytest.approx(1.03) and out["total_cost"] == pytest.approx(1.04)
    assert w["cost_share"] == pytest.approx(round(1.03 / 1.04, 4))
    assert b["cost_share"] == pytest.approx(round(0.01 / 1.04, 4))
    assert w["p50_ms"] > 0 and w["p95_ms"] >= w["p50_ms"]

    matrix = {(c["agent_name"], c["tool_name"]): (c["calls"], c["ok"], c["success_rate"]) for c in out["agents"]}
    assert matrix == {("ta-analyst", "weather"): (2, 2, 1.0), ("ta-analyst", "broken"): (1, 0, 0.0)}

    kw = {k["tool_id"]: k for k in out["keywords"]}
    assert kw[weather]["runs"] == 1
    words = {k["word"]: k["count"] for k in kw[weather]["keywords"]}
    assert words.get("날씨") == 1 and words.get("환율") == 1, words
    assert "알려주" not in words  # a verb, not a noun

    # the run's keywords were stored when it ended; a run without them (one that predates migration 0045,
    # or never ended) is analysed by the next answer, stored, and counted the same
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        (stored,) = conn.execute("SELECT keywords FROM agent_runs WHERE id = %s", (run_id,)).fetchone()
        assert stored == sorted(stored) and {"날씨", "환율"} <= set(stored) and "알려주" not in stored
        conn.execute("UPDATE agent_runs SET keywords = NULL WHERE id = %s", (run_id,))
        again = api.get("/api/tool/analytics", params={"days": 7}, headers=dev.headers).json()
        assert again["keywords"] == out["keywords"]
        (refilled,) = conn.execute("SELECT keywords FROM agent_runs WHERE id = %s", (run_id,)).fetchone()
        assert refilled == stored

    # the other team sees its own call only, and its price
    mine = api.get("/api/tool/analytics", headers=other.headers).json()
    assert [(i["tool_id"], i["calls"], i["cost"], i["cost_share"]) for i in mine["items"]] == [(theirs, 1, 7.0, 1.0)]
    assert mine["agents"] == [] and mine["keywords"] == []

    # narrowing to a team: one of the caller's, else 404 like a missing one
    assert api.get("/api/tool/analytics", params={"team_id": team}, headers=dev.headers).json()["calls"] == 3
    r = api.get("/api/tool/analytics", params={"team_id": other.team["id"]}, headers=dev.headers)
    assert r.status_code == 404 and r.json()["type"].endswith("team_not_found")
    assert api.get("/api/tool/analytics", params={"team_id": team}, headers=admin).json()["calls"] == 3


def test_price_is_editable_and_checked(api, admin, tool_api):
    dev = make_account(api, admin, "taprice", new_team="ta-price", key_scopes=SCOPES)
    tool = make_tool(api, dev.headers, "quote", "/weather", tool_api.url, ["city"])
    r = api.patch(f"/api/tool/tools/{tool}", json={"cost_per_call": 0.25}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["cost_per_call"] == 0.25
    r = api.patch(f"/api/tool/tools/{tool}", json={"cost_per_call": -1}, headers=dev.headers)
    assert r.status_code == 422
    events = api.get("/api/audit/logs", params={"resource_id": tool}, headers=admin)
    assert events.status_code == 200, events.text
    updates = [e for e in events.json()["items"] if e["action"] == "tool.update"]
    assert len(updates) == 1 and "cost_per_call" in str(updates[0]["summary"])
    r = api.post(f"/api/tool/tools/{tool}/test", json={"arguments": {"city": "Seoul"}}, headers=dev.headers)
    assert r.json()["ok"]
    (item,) = api.get("/api/tool/analytics", headers=dev.headers).json()["items"]
    assert item["cost"] == 0.25 and item["model_cost"] == 0 and item["cost_share"] == 1.0


def test_approved_call_keeps_its_share_and_refused_arguments_are_not_charged(api, admin, upstream, tool_api):
    make_route(api, admin, "ta-model2", upstream.url, input_price=1000.0, output_price=1000.0)
    dev = make_account(api, admin, "taapprove", new_team="ta-approve", key_scopes=SCOPES)
    paid = make_tool(api, dev.headers, "paid", "/weather", tool_api.url, ["city"], cost_per_call=0.5)
    gated = make_tool(
        api, dev.headers, "gated", "/weather", tool_api.url, ["city"], cost_per_call=0.25, requires_approval=True
    )
    r = api.post(
        "/api/agent/agents",
        json={
            "name": "ta-gated",
            "version": {"route": "ta-model2", "system_prompt": "s", "tool_ids": [paid, gated], "limits": {}},
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    upstream.script, upstream.scripted = (
        [
            # one answer, two calls (0.01 each): the paid one with arguments its schema refuses, the gated one waits
            {"tool_calls": [{"name": "paid", "arguments": {"city": 42}}, call("gated", city="Jeju")]},
            {"content": "done"},
        ],
        0,
    )
    out = api.post(f"/api/agent/agents/{r.json()['id']}/runs", json={"input": "제주 날씨"}, headers=dev.headers).json()
    assert out["status"] == "waiting_approval", out
    (approval,) = out["approvals"]
    r = api.post(f"/api/agent/runs/{out['id']}/approvals/{approval['id']}", json={"approve": True}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text

    items = {i["name"]: i for i in api.get("/api/tool/analytics", headers=dev.headers).json()["items"]}
    assert items["paid"]["error_kinds"] == {"invalid_arguments": 1}
    assert items["paid"]["cost"] == 0 and items["paid"]["model_cost"] == pytest.approx(0.01)
    assert items["gated"]["cost"] == 0.25 and items["gated"]["model_cost"] == pytest.approx(0.01)
