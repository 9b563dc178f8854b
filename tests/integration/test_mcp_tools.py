"""MCP servers as tools over real HTTP and PostgreSQL, against a real MCP server (tests/mcp_server.py)
started by the test: register, discovery into versioned tools, calls through the tool service, a
server that goes away, private addresses refused unless allowed, stdio servers in the sandbox (admins
only), another team's server hidden."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from axops.sandbox.isolation import DEFAULT_POOL
from tests.factories import make_account

SERVER_SCRIPT = str(Path(__file__).resolve().parents[1] / "mcp_server.py")


def _code(r: httpx.Response) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, SERVER_SCRIPT, "http", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the MCP test server did not start"
            time.sleep(0.05)


@pytest.fixture
def mcp_http():
    """A streamable-HTTP MCP server on 127.0.0.1; yields (url, process)."""
    port = _free_port()
    proc = _start(port)
    yield f"http://127.0.0.1:{port}/mcp", proc
    proc.kill()
    proc.wait()


@pytest.fixture
def loopback_allowed(settings, monkeypatch):
    monkeypatch.setattr(settings, "mcp_allowed_networks", "127.0.0.0/8")


def _test_call(api, headers, tool_id, arguments) -> dict:
    r = api.post(f"/api/tool/tools/{tool_id}/test", json={"arguments": arguments}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_http_server_journey(api, admin, mcp_http, loopback_allowed):
    url, proc = mcp_http
    dev = make_account(api, admin, "dana", new_team="alpha")
    other = make_account(api, admin, "omar", new_team="beta")

    body = {"name": "demo", "transport": "http", "url": url, "headers": {"X-Api-Key": "s3cret-header"}}
    r = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers)
    assert r.status_code == 201, r.text
    server = r.json()
    assert "s3cret-header" not in r.text
    assert server["header_names"] == ["X-Api-Key"]
    assert server["status"] == "ready" and server["last_error"] is None
    schemas = {t["name"]: t["input_schema"] for t in server["tools"]}
    assert set(schemas) == {"add", "hangul_stats", "whoami"}
    assert schemas["add"]["properties"] == {
        "a": {"title": "A", "type": "integer"},
        "b": {"title": "B", "type": "integer"},
    }
    assert schemas["add"]["required"] == ["a", "b"]
    assert set(server["tool_ids"]) == {"add", "hangul_stats", "whoami"}

    # Each server tool is a registry tool of kind mcp, named after the server, with the schema as parameters.
    tool = api.get(f"/api/tool/tools/{server['tool_ids']['add']}", headers=dev.headers).json()
    assert tool["kind"] == "mcp" and tool["name"] == "demo_add" and tool["mcp_server_id"] == server["id"]
    assert tool["current"]["parameters"] == schemas["add"]
    assert tool["current"]["spec"] == {"tool_name": "add"}

    add_id, stats_id = server["tool_ids"]["add"], server["tool_ids"]["hangul_stats"]
    out = _test_call(api, dev.headers, add_id, {"a": 2, "b": 40})
    assert out["ok"] is True and out["output"] == 42
    out = _test_call(api, dev.headers, stats_id, {"text": "안녕하세요 세계"})
    assert out["ok"] is True and out["output"] == {"syllables": 7, "words": 2}
    out = _test_call(api, dev.headers, stats_id, {"text": "   "})
    assert out["ok"] is False and out["error_kind"] == "tool_error" and "빈 텍스트입니다" in out["error"]
    out = _test_call(api, dev.headers, add_id, {"a": "two", "b": 1})
    assert out["ok"] is False and out["error_kind"] == "invalid_arguments"

    # Another team sees none of it.
    sid = server["id"]
    assert api.get(f"/api/tool/mcp-servers/{sid}", headers=other.headers).status_code == 404
    assert api.post(f"/api/tool/mcp-servers/{sid}/refresh", headers=other.headers).status_code == 404
    assert api.delete(f"/api/tool/mcp-servers/{sid}", headers=other.headers).status_code == 404
    assert api.post(f"/api/tool/tools/{add_id}/test", json={"arguments": {}}, headers=other.headers).status_code == 404
    assert api.get("/api/tool/mcp-servers", headers=other.headers).json()["items"] == []
    listed = api.get("/api/tool/mcp-servers", headers=dev.headers).json()["items"]
    assert [s["id"] for s in listed] == [sid]

    r = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers)
    assert r.status_code == 409 and _code(r) == "mcp_server_name_taken"

    # Refreshing an unchanged server adds no version.
    r = api.post(f"/api/tool/mcp-servers/{sid}/refresh", headers=dev.headers)
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert api.get(f"/api/tool/tools/{add_id}", headers=dev.headers).json()["latest_version"] == 1

    # The server goes away: a call is `unavailable` at once, not a hang until the timeout.
    proc.kill()
    proc.wait()
    started = time.monotonic()
    out = _test_call(api, dev.headers, add_id, {"a": 1, "b": 1})
    assert out["ok"] is False and out["error_kind"] == "unavailable"
    assert time.monotonic() - started < 10
    r = api.post(f"/api/tool/mcp-servers/{sid}/refresh", headers=dev.headers)
    assert r.status_code == 200 and r.json()["status"] == "unavailable" and r.json()["last_error"]
    assert set(r.json()["tool_ids"]) == {"add", "hangul_stats", "whoami"}  # kept while the server is away

    # Deleting the server archives its tools; their history stays.
    assert api.delete(f"/api/tool/mcp-servers/{sid}", headers=dev.headers).status_code == 204
    assert api.get(f"/api/tool/mcp-servers/{sid}", headers=dev.headers).status_code == 404
    tool = api.get(f"/api/tool/tools/{add_id}", headers=dev.headers).json()
    assert tool["archived_at"] is not None and tool["mcp_server_id"] is None

    events = api.get("/api/audit/logs", params={"resource_type": "mcp_server"}, headers=admin).json()
    actions = sorted(e["action"] for e in events["items"])
    assert actions.count("tool.mcp_server.create") == 1 and "tool.mcp_server.delete" in actions
    assert "s3cret-header" not in str(events)


def test_refresh_versions_changed_tools_and_archives_gone_ones(api, admin, loopback_allowed):
    port = _free_port()
    proc = _start(port)
    try:
        dev = make_account(api, admin, "dana", new_team="alpha")
        body = {"name": "calc", "transport": "http", "url": f"http://127.0.0.1:{port}/mcp"}
        server = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers).json()
        ids = server["tool_ids"]
        proc.kill()
        proc.wait()
        proc = _start(port, "v2")  # the server upgraded: add takes c, whoami is gone
        r = api.post(f"/api/tool/mcp-servers/{server['id']}/refresh", headers=dev.headers)
        assert r.status_code == 200 and r.json()["status"] == "ready"
        assert set(r.json()["tool_ids"]) == {"add", "hangul_stats"}

        add = api.get(f"/api/tool/tools/{ids['add']}", headers=dev.headers).json()
        assert add["latest_version"] == 2 and add["description"] == "Add three integers."
        assert add["current"]["parameters"]["required"] == ["a", "b", "c"]
        versions = api.get(f"/api/tool/tools/{ids['add']}/versions", headers=dev.headers).json()["items"]
        assert sorted(v["version"] for v in versions) == [1, 2]
        assert _test_call(api, dev.headers, ids["add"], {"a": 1, "b": 2, "c": 3})["output"] == 6
        stats = api.get(f"/api/tool/tools/{ids['hangul_stats']}", headers=dev.headers).json()
        assert stats["latest_version"] == 1 and stats["archived_at"] is None
        whoami = api.get(f"/api/tool/tools/{ids['whoami']}", headers=dev.headers).json()
        assert whoami["archived_at"] is not None

        proc.kill()
        proc.wait()
        proc = _start(port)  # back to the first release: whoami returns, add's old schema is a new version
        r = api.post(f"/api/tool/mcp-servers/{server['id']}/refresh", headers=dev.headers)
        assert r.json()["tool_ids"] == ids
        assert api.get(f"/api/tool/tools/{ids['whoami']}", headers=dev.headers).json()["archived_at"] is None
        assert api.get(f"/api/tool/tools/{ids['add']}", headers=dev.headers).json()["latest_version"] == 3
    finally:
        proc.kill()
        proc.wait()


def test_private_address_refused_unless_allowed(api, admin, mcp_http, settings, monkeypatch):
    url, _ = mcp_http
    monkeypatch.setattr(settings, "mcp_allowed_networks", "")
    dev = make_account(api, admin, "dana", new_team="alpha")
    r = api.post("/api/tool/mcp-servers", json={"name": "local", "transport": "http", "url": url}, headers=dev.headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "unavailable" and r.json()["tools"] == []
    assert "AXOPS_MCP_ALLOWED_NETWORKS" in r.json()["last_error"]
    monkeypatch.setattr(settings, "mcp_allowed_networks", "127.0.0.0/8")
    r = api.post(f"/api/tool/mcp-servers/{r.json()['id']}/refresh", headers=dev.headers)
    assert r.json()["status"] == "ready" and len(r.json()["tools"]) == 3

    bad = {"name": "x", "transport": "http", "url": "http://user:pw@example.com/mcp"}
    assert api.post("/api/tool/mcp-servers", json=bad, headers=dev.headers).status_code == 422
    bad = {"name": "x", "transport": "http", "url": "file:///etc/passwd"}
    assert api.post("/api/tool/mcp-servers", json=bad, headers=dev.headers).status_code == 422


def test_stdio_server_runs_in_the_sandbox_admins_only(api, admin):
    dev = make_account(api, admin, "dana", new_team="alpha")
    body = {"name": "local", "transport": "stdio", "command": ["python", SERVER_SCRIPT, "stdio"]}
    r = api.post("/api/tool/mcp-servers", json=body, headers=dev.headers)
    assert r.status_code == 403 and _code(r) == "permission_denied"

    r = api.post("/api/tool/mcp-servers", json={**body, "team_id": dev.team["id"]}, headers=admin)
    assert r.status_code == 201, r.text
    server = r.json()
    assert server["status"] == "ready", server["last_error"]
    assert {t["name"] for t in server["tools"]} == {"add", "hangul_stats", "whoami"}

    # A member of the team may call it; it runs without axops's files, secrets or root.
    out = _test_call(api, dev.headers, server["tool_ids"]["whoami"], {})
    assert out["ok"] is True, out
    out_boot = out["output"]["boot"]
    assert out["output"]["visible"] == [] and out["output"]["env"] == []
    if os.geteuid() == 0:
        assert out["output"]["uid"] in DEFAULT_POOL  # a uid of its own, not root's nor another sandbox's
    out = _test_call(api, dev.headers, server["tool_ids"]["hangul_stats"], {"text": "한국어 문서 요약"})
    assert out["ok"] is True and out["output"] == {"syllables": 7, "words": 3}
    # Calls share a kept session: the same sandboxed process answers again.
    again = _test_call(api, dev.headers, server["tool_ids"]["whoami"], {})
    first = api.post(f"/api/tool/tools/{server['tool_ids']['whoami']}/test", json={"arguments": {}}, headers=admin)
    assert again["output"]["boot"] == first.json()["output"]["boot"] == out_boot

    # A developer cannot remove (or re-point) an admin's local command either.
    assert api.delete(f"/api/tool/mcp-servers/{server['id']}", headers=dev.headers).status_code == 403
