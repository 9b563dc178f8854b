"""Attacks on agents from a Developer, a Viewer and narrow API keys: escaping a key's model list through
the run's own key, running another team's (organisation-visible) agent, replaying approvals, smuggling
another team's tool into a workflow, and secrets or PII leaking into traces."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests import factories
from tests.factories import AGENT_SCOPES, make_account, make_http_tool, make_key, make_route
from tests.mocks import MockUpstream
from tests.tool_server import LoopbackServer

PHONE, RRN = "010-1234-5678", "900101-1234567"


@pytest.fixture(scope="module")
def upstream():
    return MockUpstream("agent-attacks")


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def make_agent(api, headers, name: str, route: str = "atk-model", tool_ids=(), **extra) -> dict:
    return factories.make_agent(api, headers, name, route, tool_ids, **extra)


def python_tool(api, headers, name: str, source: str, approval: bool = False) -> dict:
    r = api.post(
        "/api/tool/tools",
        json={
            "name": name,
            "kind": "python",
            "requires_approval": approval,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "spec": {"source": source},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_model_restricted_key_cannot_escape_through_the_runs_key(api, admin, upstream):
    """A key limited to `cheap` runs an agent routed to `atk-model`: the run's key inherits the limit,
    so the expensive model is never called."""
    make_route(api, admin, "atk-model", upstream.url)
    dev = make_account(api, admin, "kim", new_team="team-k")
    make_agent(api, dev.headers, "pricey")
    narrow = make_key(api, dev.headers, "narrow", scopes=["gateway:invoke", "agents:write"], models=["cheap"])
    assert (
        api.post("/v1/chat/completions", json={"model": "atk-model", "messages": []}, headers=bearer(narrow["key"]))
    ).status_code == 404
    upstream.script, upstream.scripted, upstream.requests[:] = [{"content": "expensive answer"}], 0, []
    r = api.post(
        "/v1/chat/completions",
        json={"model": "agent:pricey", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(narrow["key"]),
    )
    assert r.status_code != 200 and "expensive answer" not in r.text
    assert upstream.requests == []
    run_keys = [
        k for k in api.get("/api/apikey", headers=dev.headers).json()["items"] if k["name"].startswith("agent-")
    ]
    assert all(k["models"] == ["cheap"] and k["status"] == "revoked" for k in run_keys)


def test_a_gateway_only_key_or_a_viewer_cannot_run_agents(api, admin, upstream):
    make_route(api, admin, "atk-model", upstream.url)
    dev = make_account(api, admin, "lee", new_team="team-l")
    viewer = make_account(api, admin, "park", role="viewer", team=dev.team)
    a = make_agent(api, dev.headers, "helper")
    invoke_only = make_key(api, dev.headers, "invoke", scopes=["gateway:invoke"])
    upstream.requests[:] = []
    body = {"model": "agent:helper", "messages": [{"role": "user", "content": "hi"}]}
    assert api.post("/v1/chat/completions", json=body, headers=bearer(invoke_only["key"])).status_code == 403
    # a Viewer cannot even hold a key, and the run route refuses the role
    assert api.post("/api/apikey/create", json={"name": "v"}, headers=viewer.headers).status_code == 403
    assert api.post(f"/api/agent/agents/{a['id']}/runs", json={"input": "x"}, headers=viewer.headers).status_code == 403
    assert upstream.requests == []


def test_another_teams_organisation_agent_cannot_be_run(api, admin, upstream):
    """Seeing an organisation-wide agent is not running it in its team (runs belong to the agent's team)."""
    make_route(api, admin, "atk-model", upstream.url)
    owner = make_account(api, admin, "choi", new_team="team-owner")
    outsider = make_account(api, admin, "jung", new_team="team-out", key_scopes=AGENT_SCOPES)
    shared = make_agent(api, owner.headers, "public-helper", visibility="organization")
    hidden = make_agent(api, owner.headers, "private-helper")
    upstream.script, upstream.scripted, upstream.requests[:] = [{"content": "ran"}], 0, []
    r = api.post(f"/api/agent/agents/{shared['id']}/runs", json={"input": "x"}, headers=outsider.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("team_members_only")
    r = api.post(f"/api/agent/agents/{hidden['id']}/runs", json={"input": "x"}, headers=outsider.headers)
    assert r.status_code == 404
    for name in ("public-helper", "private-helper"):
        r = api.post(
            "/v1/chat/completions",
            json={"model": f"agent:{name}", "messages": [{"role": "user", "content": "x"}]},
            headers=bearer(outsider.key),
        )
        assert r.status_code in (403, 404) and "ran" not in r.text
    assert upstream.requests == []
    runs = api.get("/api/agent/runs", headers=owner.headers).json()["items"]
    assert runs == []


class Target(LoopbackServer):
    """An HTTP service a tool calls; it counts the calls that reached it."""

    def __init__(self) -> None:
        self.hits: list[dict] = []
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/act", self.act)

    async def act(self, request: web.Request) -> web.Response:
        self.hits.append(dict(request.query))
        return web.json_response({"done": True, "echo": dict(request.query)})


@pytest.fixture(scope="module")
def target():
    server = Target()
    yield server
    server.close()


def http_tool(api, headers, url: str, name: str, approval: bool = False) -> dict:
    return make_http_tool(api, headers, name, url, "/act", query={"q": "string"}, requires_approval=approval)


def tool_workflow(tool_id: str) -> dict:
    def node(id_, type_, **config):
        return {"id": id_, "type": type_, "label": id_, "position": {"x": 0, "y": 0}, "config": config}

    return {
        "inputs": [{"name": "q", "type": "string"}],
        "nodes": [
            node("start", "input"),
            node("act", "tool", tool_id=tool_id, arguments={"q": "{{ input.q }}"}),
            node("done", "output", template="{{ act }}"),
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "act"},
            {"id": "e2", "source": "act", "target": "done"},
        ],
    }


def test_a_workflow_cannot_call_a_tool_that_needs_approval_or_another_teams_tool(api, admin, target):
    """Agents pause for a person before such a tool runs; a workflow has no such pause, so the node fails
    (checked when it runs: the flag may be set after the workflow was saved). Another team's tool fails too."""
    dev = make_account(api, admin, "yoon", new_team="team-y")
    other = make_account(api, admin, "han", new_team="team-h")
    guarded = http_tool(api, dev.headers, target.url, "wire_money")
    theirs = http_tool(api, other.headers, target.url, "their_tool")
    wf = api.post(
        "/api/agent/workflows",
        json={"name": "pay", "version": {"definition": tool_workflow(guarded["id"])}},
        headers=dev.headers,
    ).json()
    r = api.patch(f"/api/tool/tools/{guarded['id']}", json={"requires_approval": True}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["requires_approval"] is True
    target.hits.clear()
    out = api.post(f"/api/agent/workflows/{wf['id']}/runs", json={"input": {"q": "all"}}, headers=dev.headers).json()
    assert out["status"] == "failed" and target.hits == []
    assert "approval" in str(out).lower()
    r = api.post(
        "/api/agent/workflows",
        json={"name": "steal", "version": {"definition": tool_workflow(theirs["id"])}},
        headers=dev.headers,
    )
    if r.status_code == 201:  # saved, but the node cannot reach the tool
        out = api.post(f"/api/agent/workflows/{r.json()['id']}/runs", json={"input": {"q": "x"}}, headers=dev.headers)
        assert out.json()["status"] == "failed"
    else:
        assert r.status_code in (404, 422)
    assert target.hits == []


def test_a_redos_pattern_in_a_tools_schema_cannot_hold_the_server(api, admin, target):
    """`pattern` is matched on every call, on the event loop: a catastrophic pattern must be cut short."""
    dev = make_account(api, admin, "seo", new_team="team-s")
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "slow_match",
            "kind": "http",
            "allow_hosts": ["127.0.0.1"],
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string", "pattern": "^(a|aa)+$"}},
                "patternProperties": {"^(b|bb)+$": {"type": "string"}},
                "additionalProperties": False,
            },
            "spec": {"method": "GET", "base_url": target.url, "path": "/act", "params": {"q": {"in": "query"}}},
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    target.hits.clear()
    for arguments in ({"q": "a" * 5000 + "!"}, {"b" * 5000 + "!": "x"}):
        out = api.post(
            f"/api/tool/tools/{r.json()['id']}/test", json={"arguments": arguments}, headers=dev.headers, timeout=20
        )
        assert out.status_code == 200 and out.json()["error_kind"] == "invalid_arguments", out.text
        assert "a" * 100 not in out.text  # the value is not echoed back
    assert api.get("/healthz").status_code == 200
    ok = api.post(f"/api/tool/tools/{r.json()['id']}/test", json={"arguments": {"q": "aaa"}}, headers=dev.headers)
    assert ok.json()["ok"] is True and target.hits == [{"q": "aaa"}]


def test_a_deeply_nested_parameter_schema_is_refused_not_a_server_error(api, admin, target):
    dev = make_account(api, admin, "moon", new_team="team-m")
    deep: dict = {"type": "string"}
    for _ in range(400):
        deep = {"type": "object", "properties": {"a": deep}}
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "deep",
            "kind": "http",
            "allow_hosts": ["127.0.0.1"],
            "parameters": deep,
            "spec": {"method": "GET", "base_url": target.url, "path": "/act", "params": {}},
        },
        headers=dev.headers,
    )
    assert r.status_code == 422 and r.json()["type"].endswith("tool_parameters_invalid"), r.text[:300]


def test_a_malicious_mcp_servers_tool_list_is_screened(api, admin, monkeypatch):
    """The server answers discovery with thousands of tools, a huge schema, a deep one, one that is not
    JSON schema and names with control characters: only the sane ones become registry tools."""
    from axops.tools import mcp

    deep: dict = {"type": "string"}
    for _ in range(60):
        deep = {"type": "object", "properties": {"a": deep}}
    listed = [
        {"name": "good", "description": "fine", "input_schema": {"type": "object", "properties": {}}},
        {"name": "huge", "description": "", "input_schema": {"type": "object", "description": "x" * 200_000}},
        {"name": "deep", "description": "", "input_schema": deep},
        {"name": "broken", "description": "", "input_schema": {"type": "object", "properties": 5}},
        {"name": "evil\r\nX-Injected: 1", "description": "", "input_schema": {"type": "object"}},
        {"name": "n" * 5000, "description": "", "input_schema": {"type": "object"}},
    ] + [{"name": f"spam{i}", "description": "", "input_schema": {"type": "object"}} for i in range(3000)]

    async def discover(spec, timeout_s=10):
        return listed

    monkeypatch.setattr(mcp, "discover", discover)
    dev = make_account(api, admin, "kang", new_team="team-mcp")
    body = {"name": "evil", "transport": "http", "url": "https://mcp.example.com/mcp"}
    r = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers, timeout=60)
    assert r.status_code == 201, r.text
    server = r.json()
    names = {t["name"] for t in server["tools"]}
    assert "good" in names and not names & {"huge", "deep", "broken", "evil\r\nX-Injected: 1", "n" * 5000}
    assert len(names) <= mcp.MAX_TOOLS and len(server["tool_ids"]) <= mcp.MAX_TOOLS
    assert "refused" in server["last_error"] and len(server["last_error"]) < 2000
    tools = api.get("/api/tool/tools", params={"limit": 200}, headers=dev.headers).json()
    assert tools["total"] <= mcp.MAX_TOOLS


def test_pii_in_a_failing_tools_error_is_masked_in_workflow_and_agent_traces(api, admin, upstream):
    """A tool's error echoes a Korean phone number and RRN from its arguments: stored masked everywhere."""
    make_route(api, admin, "atk-model", upstream.url)
    dev = make_account(api, admin, "ohsu", new_team="team-o")
    source = "def lookup(q):\n    raise ValueError('no customer with ' + q)\n"
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "lookup",
            "kind": "python",
            "timeout_s": 20,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "spec": {"source": source, "function": "lookup"},
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    secret = f"phone {PHONE} rrn {RRN}"
    wf = api.post(
        "/api/agent/workflows",
        json={"name": "find", "version": {"definition": tool_workflow(r.json()["id"])}},
        headers=dev.headers,
    ).json()
    out = api.post(f"/api/agent/workflows/{wf['id']}/runs", json={"input": {"q": secret}}, headers=dev.headers)
    assert out.json()["status"] == "failed", out.text
    assert "no customer with" in out.text  # the error is kept, masked
    again = api.get(f"/api/agent/workflow-runs/{out.json()['id']}", headers=dev.headers)
    assert again.status_code == 200
    for text in (out.text, again.text):
        assert PHONE not in text and RRN not in text and "1234567" not in text
    a = make_agent(api, dev.headers, "finder", tool_ids=[r.json()["id"]])
    upstream.script, upstream.scripted = (
        [{"tool_calls": [{"name": "lookup", "arguments": {"q": secret}}]}, {"content": "not found"}],
        0,
    )
    run = api.post(f"/api/agent/agents/{a['id']}/runs", json={"input": "find"}, headers=dev.headers)
    assert run.json()["status"] == "succeeded", run.text
    assert PHONE not in run.text and RRN not in run.text


def test_approvals_cannot_be_replayed_raced_or_moved_between_runs(api, admin, upstream, target):
    from concurrent.futures import ThreadPoolExecutor

    make_route(api, admin, "atk-model", upstream.url)
    dev = make_account(api, admin, "baek", new_team="team-b2")
    guarded = http_tool(api, dev.headers, target.url, "send_mail", approval=True)
    a = make_agent(api, dev.headers, "mailer", tool_ids=[guarded["id"]])

    def paused() -> dict:
        upstream.script, upstream.scripted = (
            [{"tool_calls": [{"name": "send_mail", "arguments": {"q": "boss"}}]}, {"content": "sent"}],
            0,
        )
        out = api.post(f"/api/agent/agents/{a['id']}/runs", json={"input": "mail"}, headers=dev.headers).json()
        assert out["status"] == "waiting_approval", out
        return out

    first, second = paused(), paused()
    target.hits.clear()
    # an approval of one run named under another run's URL
    moved = f"/api/agent/runs/{first['id']}/approvals/{second['approvals'][0]['id']}"
    assert api.post(moved, json={"approve": True}, headers=dev.headers).status_code == 404
    assert target.hits == []
    # two decisions at once: one wins, the tool runs once
    url = f"/api/agent/runs/{first['id']}/approvals/{first['approvals'][0]['id']}"
    upstream.script, upstream.scripted = [{"content": "sent"}], 0
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(
            pool.map(lambda _: api.post(url, json={"approve": True}, headers=dev.headers).status_code, range(4))
        )
    assert codes.count(200) == 1 and set(codes[1:]) == {409}, codes
    assert len(target.hits) == 1
    # a decided call cannot be decided again, nor a cancelled run's
    assert api.post(url, json={"approve": False}, headers=dev.headers).status_code == 409
    assert api.post(f"/api/agent/runs/{second['id']}/cancel", headers=dev.headers).status_code == 200
    url2 = f"/api/agent/runs/{second['id']}/approvals/{second['approvals'][0]['id']}"
    assert api.post(url2, json={"approve": True}, headers=dev.headers).status_code == 409
    assert len(target.hits) == 1


def test_a_teammate_cannot_redirect_a_tools_credential_to_another_host(api, admin, target):
    """The credential is never shown, even to the team: a new version that sends it to another origin (or
    puts it elsewhere in the request) drops it, so it must be set again by someone who knows it."""
    owner = make_account(api, admin, "nam", new_team="team-n")
    mate = make_account(api, admin, "ryu", team=owner.team)
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "crm",
            "kind": "http",
            "allow_hosts": ["127.0.0.1"],
            "credential": "crm-secret-token-123",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "spec": {
                "method": "GET",
                "base_url": target.url,
                "path": "/act",
                "params": {"q": {"in": "query"}},
                "auth": {"type": "query", "name": "token"},
            },
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    tool_id = r.json()["id"]
    target.hits.clear()
    assert api.post(f"/api/tool/tools/{tool_id}/test", json={"arguments": {"q": "a"}}, headers=mate.headers).json()[
        "ok"
    ]
    assert target.hits[-1]["token"] == "crm-secret-token-123"  # the honest path carries it
    # the teammate points the tool at a host of their choosing (here: another name of the same service)
    evil = f"http://localhost:{target.port}"
    r = api.patch(f"/api/tool/tools/{tool_id}", json={"allow_hosts": ["127.0.0.1", "localhost"]}, headers=mate.headers)
    assert r.status_code == 200
    spec = {
        "method": "GET",
        "base_url": evil,
        "path": "/act",
        "params": {"q": {"in": "query"}},
        "auth": {"type": "query", "name": "token"},
    }
    r = api.post(
        f"/api/tool/tools/{tool_id}/versions",
        json={"parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, "spec": spec},
        headers=mate.headers,
    )
    assert r.status_code == 201, r.text
    target.hits.clear()
    api.post(f"/api/tool/tools/{tool_id}/test", json={"arguments": {"q": "b"}}, headers=mate.headers)
    assert target.hits and "token" not in target.hits[-1]
    assert api.get(f"/api/tool/tools/{tool_id}", headers=owner.headers).json()["has_credential"] is False
    events = api.get("/api/audit/logs", params={"resource_type": "tool"}, headers=admin).json()["items"]
    assert any(e["action"] == "tool.version" and e["summary"].get("credential") == "removed" for e in events)


def test_state_values_are_data_never_template_source(api, admin, target):
    """A workflow input (or a model's answer) holding Jinja reaches the tool as text, not evaluated."""
    dev = make_account(api, admin, "shin", new_team="team-sh")
    t = http_tool(api, dev.headers, target.url, "echo")
    wf = api.post(
        "/api/agent/workflows",
        json={"name": "echo", "version": {"definition": tool_workflow(t["id"])}},
        headers=dev.headers,
    ).json()
    target.hits.clear()
    payload = "{{ 7*7 }}{{ ''.__class__.__mro__ }}{% for x in range(10**9) %}{% endfor %}"
    out = api.post(f"/api/agent/workflows/{wf['id']}/runs", json={"input": {"q": payload}}, headers=dev.headers)
    assert out.json()["status"] == "succeeded", out.text
    assert target.hits == [{"q": payload}]


def test_a_flooding_mcp_tools_answer_is_cut_off(api, admin, settings, monkeypatch):
    """An MCP tool answering 5 MB is `output_too_large` (as HTTP tools past 1 MB), never fed to the model."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    monkeypatch.setattr(settings, "mcp_allowed_networks", "127.0.0.0/8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = str(Path(__file__).with_name("mcp_flood_server.py"))
    proc = subprocess.Popen([sys.executable, script, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        dev = make_account(api, admin, "heo", new_team="team-fl")
        body = {"name": "flood", "transport": "http", "url": f"http://127.0.0.1:{port}/mcp"}
        server = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers).json()
        tool_id = server["tool_ids"]["flood"]
        small = api.post(f"/api/tool/tools/{tool_id}/test", json={"arguments": {"n": 10}}, headers=dev.headers)
        assert small.json()["ok"] is True and small.json()["output"] == "x" * 10
        big = api.post(
            f"/api/tool/tools/{tool_id}/test", json={"arguments": {"n": 5_000_000}}, headers=dev.headers, timeout=60
        )
        assert big.json()["ok"] is False and big.json()["error_kind"] == "output_too_large"
        assert len(big.content) < 100_000
    finally:
        proc.kill()
        proc.wait()
