"""A long agent or workflow run holds no PostgreSQL transaction while a tool works (a pooled connection
idle in transaction per run would exhaust the pool with hundreds of users), and runs whose process died
are ended by the stale-run sweep."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from types import SimpleNamespace

import psycopg
import pytest
from aiohttp import web

from axops.agents import tasks as agent_tasks
from axops.core.db import libpq_url
from tests.factories import AGENT_SCOPES, make_account, make_http_tool, make_route
from tests.mocks import MockUpstream
from tests.tool_server import LoopbackServer

HELD = """
    SELECT pid, state, left(query, 120) AS query FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND state LIKE 'idle in transaction%' AND now() - xact_start > interval '0.3 seconds'
"""


class ProbeTool(LoopbackServer):
    """An HTTP tool that, while it "works" (about a second), looks for the app's connections sitting
    idle in a transaction older than 0.3 s: whatever it finds was held across the call."""

    def __init__(self, database_url: str) -> None:
        self.dsn = libpq_url(database_url)
        self.seen: list[tuple] = []
        self.calls = 0
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/probe", self.probe)

    def _sample(self) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(HELD).fetchall()

    async def probe(self, request: web.Request) -> web.Response:
        self.calls += 1
        for _ in range(4):
            await asyncio.sleep(0.25)
            self.seen.extend(await asyncio.to_thread(self._sample))
        return web.json_response({"ok": True})


@pytest.fixture(scope="module")
def probe(database_url):
    server = ProbeTool(database_url)
    yield server
    server.close()


@pytest.fixture(scope="module")
def upstream():
    u = MockUpstream("conn-up")
    yield u
    u.stop()


@pytest.fixture
def dev(api, admin, upstream, probe):
    upstream.script, upstream.scripted = None, 0
    probe.seen.clear()
    probe.calls = 0
    make_route(api, admin, "conn-model", upstream.url)
    return make_account(api, admin, "conndev", new_team="conn-team", key_scopes=AGENT_SCOPES)


def _probe_tool(api, headers, url) -> str:
    return make_http_tool(api, headers, "probe", url, "/probe", timeout_s=10.0)["id"]


def test_an_agent_run_holds_no_transaction_while_its_tool_works(api, dev, upstream, probe):
    tool_id = _probe_tool(api, dev.headers, probe.url)
    agent = api.post(
        "/api/agent/agents",
        json={"name": "conn-agent", "version": {"route": "conn-model", "tool_ids": [tool_id]}},
        headers=dev.headers,
    )
    assert agent.status_code == 201, agent.text
    upstream.script = [
        {"tool_calls": [{"name": "probe", "arguments": {}}]},
        {"tool_calls": [{"name": "probe", "arguments": {}}, {"name": "probe", "arguments": {}}]},
        {"content": "done"},
    ]
    r = api.post(f"/api/agent/agents/{agent.json()['id']}/runs", json={"input": "go"}, headers=dev.headers, timeout=60)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "succeeded" and out["output"] == "done", out
    assert probe.calls == 3
    assert probe.seen == []
    # the registry's call records landed with the steps
    calls = api.get(f"/api/tool/tools/{tool_id}/calls", headers=dev.headers)
    assert calls.status_code == 200, calls.text
    items = calls.json()["items"]
    assert len(items) == 3 and {c["agent_run_id"] for c in items} == {out["id"]}
    assert all(c["status"] == "ok" for c in items)


def test_a_workflow_run_holds_no_transaction_while_its_tool_works(api, dev, probe):
    tool_id = _probe_tool(api, dev.headers, probe.url)
    definition = {
        "inputs": [],
        "nodes": [
            {"id": "start", "type": "input", "label": "start", "position": {"x": 0, "y": 0}, "config": {}},
            {
                "id": "p",
                "type": "tool",
                "label": "p",
                "position": {"x": 0, "y": 0},
                "config": {"tool_id": tool_id, "arguments": {}},
            },
            {
                "id": "done",
                "type": "output",
                "label": "done",
                "position": {"x": 0, "y": 0},
                "config": {"template": "{{ p }}"},
            },
        ],
        "edges": [
            {"id": "a", "source": "start", "target": "p"},
            {"id": "b", "source": "p", "target": "done"},
        ],
    }
    wf = api.post(
        "/api/agent/workflows", json={"name": "conn-wf", "version": {"definition": definition}}, headers=dev.headers
    )
    assert wf.status_code == 201, wf.text
    r = api.post(f"/api/agent/workflows/{wf.json()['id']}/runs", json={"input": {}}, headers=dev.headers, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded", r.json()
    assert probe.calls == 1
    assert probe.seen == []


def _model_workflow_runs(api, headers) -> list[str]:
    """Two finished runs of a workflow with a model node, each with its own gateway key."""
    node = {"label": "n", "position": {"x": 0, "y": 0}}
    definition = {
        "inputs": [],
        "nodes": [
            {**node, "id": "start", "type": "input", "config": {}},
            {
                **node,
                "id": "ask",
                "type": "model",
                "config": {"route": "conn-model", "messages": [{"role": "user", "content": "hi"}]},
            },
            {**node, "id": "done", "type": "output", "config": {"template": "{{ ask }}"}},
        ],
        "edges": [{"id": "a", "source": "start", "target": "ask"}, {"id": "b", "source": "ask", "target": "done"}],
    }
    wf = api.post(
        "/api/agent/workflows", json={"name": "stale-wf", "version": {"definition": definition}}, headers=headers
    )
    assert wf.status_code == 201, wf.text
    ids = []
    for _ in range(2):
        r = api.post(f"/api/agent/workflows/{wf.json()['id']}/runs", json={"input": {}}, headers=headers)
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
        ids.append(r.json()["id"])
    return ids


async def test_stale_runs_are_failed_and_their_keys_revoked(api, dev, upstream, database, database_url):
    agent = api.post(
        "/api/agent/agents", json={"name": "stale-agent", "version": {"route": "conn-model"}}, headers=dev.headers
    )
    assert agent.status_code == 201, agent.text
    upstream.script = [{"content": "hi"}]
    runs = []
    for _ in range(2):
        r = api.post(f"/api/agent/agents/{agent.json()['id']}/runs", json={"input": "x"}, headers=dev.headers)
        assert r.status_code == 201, r.text
        runs.append(r.json()["id"])
    stale, fresh = runs
    wf_stale, wf_fresh = _model_workflow_runs(api, dev.headers)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        # as a process that died mid-run leaves them: running, the key not yet revoked
        conn.execute(
            "UPDATE api_keys SET revoked_at = NULL"
            " WHERE id IN (SELECT api_key_id FROM workflow_runs WHERE id = ANY(%s))",
            [[wf_stale, wf_fresh]],
        )
        conn.execute(
            "UPDATE workflow_runs SET status = 'running', finished_at = NULL, started_at = now() - interval '3 hours'"
            " WHERE id = %s",
            [wf_stale],
        )
        conn.execute(
            "UPDATE workflow_runs SET status = 'running', finished_at = NULL, started_at = now() - interval '1 minute'"
            " WHERE id = %s",
            [wf_fresh],
        )
        conn.execute(
            "UPDATE api_keys SET revoked_at = NULL WHERE id IN (SELECT api_key_id FROM agent_runs WHERE id = ANY(%s))",
            [runs],
        )
        conn.execute(
            "UPDATE agent_runs SET status = 'running', finished_at = NULL, created_at = now() - interval '3 hours'"
            " WHERE id = ANY(%s)",
            [runs],
        )
        conn.execute("UPDATE agent_steps SET started_at = now() - interval '3 hours' WHERE run_id = %s", [stale])
        conn.execute("UPDATE agent_steps SET started_at = now() - interval '1 minute' WHERE run_id = %s", [fresh])
    started = time.monotonic()
    done = await agent_tasks.fail_stale_runs(SimpleNamespace(db=database), stale_after=timedelta(hours=2))
    assert time.monotonic() - started < 30
    assert done["agent_runs"] == 1 and done["workflow_runs"] == 1
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        rows = dict(
            conn.execute(
                "SELECT r.id::text, r.status || ':' || (k.revoked_at IS NOT NULL)::text FROM agent_runs r"
                " JOIN api_keys k ON k.id = r.api_key_id WHERE r.id = ANY(%s)",
                [runs],
            ).fetchall()
        )
    assert rows == {stale: "failed:true", fresh: "running:false"}
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        wf_rows = dict(
            conn.execute(
                "SELECT r.id::text, r.status || ':' || (k.revoked_at IS NOT NULL)::text FROM workflow_runs r"
                " JOIN api_keys k ON k.id = r.api_key_id WHERE r.id = ANY(%s)",
                [[wf_stale, wf_fresh]],
            ).fetchall()
        )
    assert wf_rows == {wf_stale: "failed:true", wf_fresh: "running:false"}
    detail = api.get(f"/api/agent/runs/{stale}", headers=dev.headers).json()
    assert detail["status"] == "failed" and "stopped" in detail["stop_reason"]
    assert detail["trace"], "the steps it wrote are kept"


def test_a_fault_in_the_loop_fails_the_run_and_revokes_its_key_at_once(api, dev, database_url, monkeypatch):
    from axops.agents import runner

    agent = api.post(
        "/api/agent/agents", json={"name": "fault-agent", "version": {"route": "conn-model"}}, headers=dev.headers
    )
    assert agent.status_code == 201, agent.text

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(runner.llm, "chat", broken)
    r = api.post(f"/api/agent/agents/{agent.json()['id']}/runs", json={"input": "x"}, headers=dev.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "failed" and out["stop_reason"] == "internal error: RuntimeError", out
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        revoked = conn.execute(
            "SELECT k.revoked_at IS NOT NULL FROM agent_runs r JOIN api_keys k ON k.id = r.api_key_id WHERE r.id = %s",
            [out["id"]],
        ).fetchone()
    assert revoked == (True,)
