"""Agents over HTTP: the loop against a scripted upstream through the real gateway, HTTP tools on a
local server through the tool registry, approvals, limits, traces, scoping and `agent:NAME` on /v1."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest
from aiohttp import web

from tests import factories
from tests.factories import AGENT_SCOPES, flush_gateway, make_account, make_http_tool, make_route
from tests.mocks import MockUpstream
from tests.tool_server import LoopbackServer

PHONE = "010-1234-5678"


class ToolApi(LoopbackServer):
    """Tools the agents call: /slow answers after 0.3 s, /hang never in time, /weather echoes its city."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, float]] = []
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/hang", self.hang)
        app.router.add_get("/weather", self.weather)

    async def slow(self, request: web.Request) -> web.Response:
        self.requests.append(("slow", time.monotonic()))
        await asyncio.sleep(0.3)
        return web.json_response({"n": request.query.get("n")})

    async def hang(self, request: web.Request) -> web.Response:
        self.requests.append(("hang", time.monotonic()))
        await asyncio.sleep(30)
        return web.json_response({})

    async def weather(self, request: web.Request) -> web.Response:
        self.requests.append(("weather", time.monotonic()))
        return web.json_response({"city": request.query["city"], "sky": "맑음"})


@pytest.fixture(scope="module")
def tool_api():
    return ToolApi()  # not closed: closing waits for the /hang call still sleeping


@pytest.fixture(scope="module")
def upstream():
    return MockUpstream("agent-up")


@pytest.fixture
def lab(api, admin, upstream, tool_api):
    upstream.script, upstream.scripted = None, 0
    upstream.requests.clear()
    make_route(api, admin, "agent-model", upstream.url, input_price=1000.0, output_price=1000.0)
    dev = make_account(api, admin, "agentdev", new_team="agent-team", key_scopes=AGENT_SCOPES)
    return dev


def make_tool(api, headers, name, path, *, params=None, approval=False, timeout_s=5.0, api_url) -> str:
    tool = make_http_tool(
        api,
        headers,
        name,
        api_url,
        path,
        query=params,
        required=True,
        description=f"the {name} tool",
        requires_approval=approval,
        timeout_s=timeout_s,
    )
    return tool["id"]


def make_agent(api, headers, name, tool_ids, **limits) -> dict:
    version = {"system_prompt": "You are a helpful agent.", "limits": {"max_steps": 10, "max_seconds": 60, **limits}}
    return factories.make_agent(api, headers, name, "agent-model", tool_ids, version=version)


def run(api, headers, agent_id, text="Weather in Seoul?") -> dict:
    r = api.post(f"/api/agent/agents/{agent_id}/runs", json={"input": text}, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def call(name, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def test_loop_sends_tool_results_back_in_order_and_keeps_a_masked_trace(api, lab, upstream, tool_api):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "forecaster", [weather])
    upstream.script = [
        {"tool_calls": [call("weather", city="Seoul")]},
        {"tool_calls": [call("weather", city="Busan")]},
        {"content": "Seoul and Busan are sunny."},
    ]
    out = run(api, lab.headers, agent["id"], f"Weather in Seoul and Busan? Call me at {PHONE}")
    assert out["status"] == "succeeded", out
    assert out["output"] == "Seoul and Busan are sunny."
    assert out["steps"] == 3

    bodies = upstream.requests[-3:]
    assert [b["model"] for b in bodies] == ["tiny"] * 3
    assert bodies[0]["tools"][0]["function"]["name"] == "weather"
    assert [m["role"] for m in bodies[0]["messages"]] == ["system", "user"]
    assert PHONE in bodies[0]["messages"][1]["content"]  # the model gets the caller's text
    assert [m["role"] for m in bodies[2]["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    first, second = bodies[2]["messages"][3], bodies[2]["messages"][5]
    assert first["tool_call_id"] == bodies[2]["messages"][2]["tool_calls"][0]["id"]
    assert json.loads(first["content"])["city"] == "Seoul"
    assert json.loads(second["content"])["city"] == "Busan"

    kinds = [s["kind"] for s in out["trace"]]
    assert kinds == ["model", "tool", "model", "tool", "model", "answer"]
    model = out["trace"][0]
    assert model["prompt_tokens"] == 10 and model["completion_tokens"] == 10
    assert model["cost"] == pytest.approx(0.02)
    assert model["latency_ms"] > 0
    assert out["trace"][1]["name"] == "weather" and out["trace"][1]["latency_ms"] > 0
    assert out["cost"] == pytest.approx(0.06)
    stored = json.dumps(out["input"], ensure_ascii=False)
    assert PHONE not in stored and "1234" not in stored  # masked before storage

    listed = api.get("/api/agent/runs", params={"agent_id": agent["id"]}, headers=lab.headers).json()
    assert [r["id"] for r in listed["items"]] == [out["id"]]


def test_parallel_tool_calls_run_together(api, lab, upstream, tool_api):
    slow = make_tool(api, lab.headers, "slow", "/slow", params={"n": "string"}, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "parallel", [slow])
    upstream.script = [{"tool_calls": [call("slow", n="1"), call("slow", n="2")]}, {"content": "done"}]
    tool_api.requests.clear()
    out = run(api, lab.headers, agent["id"])
    assert out["status"] == "succeeded"
    tools = [s for s in out["trace"] if s["kind"] == "tool"]
    assert len(tools) == 2 and tools[0]["parallel_group"] == tools[1]["parallel_group"] == 0
    starts = [t for name, t in tool_api.requests if name == "slow"]
    assert len(starts) == 2
    assert abs(starts[0] - starts[1]) < 0.25  # the second began before the first (0.3 s) was over
    last = upstream.requests[-1]["messages"]
    assert [json.loads(m["content"])["n"] for m in last if m["role"] == "tool"] == ["1", "2"]


def test_approval_pauses_then_resumes(api, lab, upstream, tool_api):
    weather = make_tool(
        api, lab.headers, "weather", "/weather", params={"city": "string"}, approval=True, api_url=tool_api.url
    )
    agent = make_agent(api, lab.headers, "careful", [weather])
    upstream.script = [{"tool_calls": [call("weather", city="Jeju")]}, {"content": "Jeju is sunny."}]
    tool_api.requests.clear()
    out = run(api, lab.headers, agent["id"])
    assert out["status"] == "waiting_approval"
    assert tool_api.requests == []  # nothing ran before the decision
    (approval,) = out["approvals"]
    assert approval["status"] == "pending" and approval["tool_name"] == "weather"

    r = api.post(f"/api/agent/runs/{out['id']}/approvals/{approval['id']}", json={"approve": True}, headers=lab.headers)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "succeeded" and done["output"] == "Jeju is sunny."
    assert [n for n, _ in tool_api.requests] == ["weather"]
    tool_msg = [m for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_msg[0]["content"])["city"] == "Jeju"
    again = api.post(
        f"/api/agent/runs/{out['id']}/approvals/{approval['id']}", json={"approve": True}, headers=lab.headers
    )
    assert again.status_code == 409


def test_rejected_call_is_told_to_the_model(api, lab, upstream, tool_api):
    weather = make_tool(
        api, lab.headers, "weather", "/weather", params={"city": "string"}, approval=True, api_url=tool_api.url
    )
    agent = make_agent(api, lab.headers, "declined", [weather])
    upstream.script = [{"tool_calls": [call("weather", city="Jeju")]}, {"content": "I could not check."}]
    tool_api.requests.clear()
    out = run(api, lab.headers, agent["id"])
    approval = out["approvals"][0]
    done = api.post(
        f"/api/agent/runs/{out['id']}/approvals/{approval['id']}",
        json={"approve": False, "comment": "not now"},
        headers=lab.headers,
    ).json()
    assert done["status"] == "succeeded"
    assert done["approvals"][0]["status"] == "rejected"
    assert tool_api.requests == []
    tool_msg = next(m for m in upstream.requests[-1]["messages"] if m["role"] == "tool")
    assert "declined" in tool_msg["content"] and "not now" in tool_msg["content"]


def test_max_steps_on_a_model_that_always_calls_tools(api, lab, upstream, tool_api):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "looper", [weather], max_steps=3)
    upstream.script = [{"tool_calls": [call("weather", city="Seoul")]}]
    before = len(upstream.requests)
    out = run(api, lab.headers, agent["id"])
    assert out["status"] == "limit_reached" and out["stop_reason"] == "max_steps"
    assert out["steps"] == 3 and len(upstream.requests) - before == 3


def test_max_cost_stops_the_run(api, lab, upstream, tool_api):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "spender", [weather], max_cost=0.05)
    upstream.script = [{"tool_calls": [call("weather", city="Seoul")]}]
    out = run(api, lab.headers, agent["id"])
    assert out["status"] == "limit_reached" and out["stop_reason"] == "max_cost"
    assert out["steps"] == 3 and out["cost"] == pytest.approx(0.06)  # 0.02 a call: the third passes 0.05


def test_invalid_arguments_and_a_hanging_tool_are_fed_back(api, lab, upstream, tool_api):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    hang = make_tool(api, lab.headers, "hang", "/hang", timeout_s=0.5, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "robust", [weather, hang])
    upstream.script = [
        {"tool_calls": [{"name": "weather", "arguments": {"city": 42}}]},
        {"tool_calls": [call("hang")]},
        {"content": "gave up"},
    ]
    out = run(api, lab.headers, agent["id"])
    assert out["status"] == "succeeded" and out["output"] == "gave up"
    tools = [s for s in out["trace"] if s["kind"] == "tool"]
    assert [t["error_kind"] for t in tools] == ["invalid_arguments", "timeout"]
    messages = upstream.requests[-1]["messages"]
    results = [m["content"] for m in messages if m["role"] == "tool"]
    assert results[0].startswith("Error (invalid_arguments)") and "city" in results[0]
    assert results[1].startswith("Error (timeout)")


def test_another_teams_agent_and_run_are_404(api, admin, lab, upstream, tool_api):
    agent = make_agent(api, lab.headers, "private", [])
    upstream.script = [{"content": "hi"}]
    out = run(api, lab.headers, agent["id"])
    other = make_account(api, admin, "outsider", new_team="other-team", key_scopes=AGENT_SCOPES)
    assert api.get(f"/api/agent/agents/{agent['id']}", headers=other.headers).status_code == 404
    assert api.get(f"/api/agent/runs/{out['id']}", headers=other.headers).status_code == 404
    r = api.post(f"/api/agent/agents/{agent['id']}/runs", json={"input": "x"}, headers=other.headers)
    assert r.status_code == 404
    assert api.post(f"/api/agent/runs/{out['id']}/cancel", headers=other.headers).status_code == 404
    assert api.get("/api/agent/runs", headers=other.headers).json()["items"] == []
    dup = api.post(
        "/api/agent/agents",
        json={"name": "PRIVATE", "version": {"route": "agent-model"}},
        headers=other.headers,
    )
    assert dup.status_code == 409  # names are installation-wide: /v1 callers name agent:NAME
    bad = api.post("/api/agent/agents", json={"name": "x y", "version": {"route": "r"}}, headers=lab.headers)
    assert bad.status_code == 422


def test_stream_events(api, lab, upstream, tool_api):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    agent = make_agent(api, lab.headers, "streamer", [weather])
    upstream.script = [{"tool_calls": [call("weather", city=f"Seoul {PHONE}")]}, {"content": "sunny"}]
    with api.stream(
        "POST", f"/api/agent/agents/{agent['id']}/runs", json={"input": "hi", "stream": True}, headers=lab.headers
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = list(r.iter_lines())
    kinds = [line[len("event: ") :] for line in lines if line.startswith("event: ")]
    data = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
    assert kinds == ["run", "step", "tool_call", "tool_result", "step", "answer", "done"]
    run_id = data[0]["run_id"]
    detail = api.get(f"/api/agent/runs/{run_id}", headers=lab.headers).json()
    assert detail["agent_id"] == agent["id"] and detail["status"] == "succeeded"
    # the call's arguments are shown as the trace keeps them: PII masked
    arguments = data[kinds.index("tool_call")]["arguments"]
    assert "Seoul" in arguments and PHONE not in arguments
    # the tool's recent calls name the run that made the call
    calls = api.get(f"/api/tool/tools/{weather}/calls", headers=lab.headers).json()["items"]
    assert calls[0]["agent_run_id"] == run_id and calls[0]["status"] == "ok"
    assert calls[0]["caller_name"] == "agentdev"


def test_agent_model_through_the_openai_sdk(api, lab, upstream, tool_api, live_server):
    weather = make_tool(api, lab.headers, "weather", "/weather", params={"city": "string"}, api_url=tool_api.url)
    make_agent(api, lab.headers, "sdk-agent", [weather])
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=lab.key, max_retries=0)
    upstream.script = [{"tool_calls": [call("weather", city="Seoul")]}, {"content": "Seoul is sunny."}]
    upstream.scripted = 0
    raw = client.chat.completions.with_raw_response.create(
        model="agent:sdk-agent", messages=[{"role": "user", "content": "Weather?"}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Seoul is sunny."
    assert answer.usage.prompt_tokens == 20
    run_id = raw.headers["x-axops-agent-run"]
    detail = api.get(f"/api/agent/runs/{run_id}", headers=lab.headers).json()
    assert detail["source"] == "v1" and detail["status"] == "succeeded"

    upstream.script, upstream.scripted = [{"content": "streamed answer"}], 0
    chunks = list(
        client.chat.completions.create(
            model="agent:sdk-agent", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed answer"

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="agent:nope", messages=[{"role": "user", "content": "x"}])
    no_agents = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"model": "agent:sdk-agent", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {make_key_without_agents(api, lab.headers)}"},
    )
    assert no_agents.status_code == 403
    flush_gateway(live_server)


def make_key_without_agents(api, headers) -> str:
    r = api.post("/api/apikey/create", json={"name": "no-agents", "scopes": ["gateway:invoke"]}, headers=headers)
    return r.json()["key"]


def test_cancel_a_waiting_run(api, lab, upstream, tool_api):
    weather = make_tool(
        api, lab.headers, "weather", "/weather", params={"city": "string"}, approval=True, api_url=tool_api.url
    )
    agent = make_agent(api, lab.headers, "cancelled", [weather])
    upstream.script = [{"tool_calls": [call("weather", city="Jeju")]}]
    out = run(api, lab.headers, agent["id"])
    r = api.post(f"/api/agent/runs/{out['id']}/cancel", headers=lab.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.post(
        f"/api/agent/runs/{out['id']}/approvals/{out['approvals'][0]['id']}",
        json={"approve": True},
        headers=lab.headers,
    )
    assert r.status_code == 409
