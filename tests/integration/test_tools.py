"""The tool registry over real HTTP and PostgreSQL: an OpenAPI 3 document describing a live loopback
server imported as one tool per operation, calls with the credential injected (and never returned),
schema refusals that never reach the server, injection in an answer withheld, a Python tool run in
the sandbox, versions, analytics, and another team's tools answering 404."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.factories import make_account, make_team
from tests.tool_server import TOKEN, ToolServer


def _code(r: httpx.Response) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


@pytest.fixture
def shop():
    server = ToolServer()
    yield server
    server.close()


def _import(api, headers, shop, **extra) -> dict[str, dict]:
    r = api.post(
        "/api/tool/tools/import-openapi",
        json={
            "document": shop.document(),
            "credential": TOKEN,
            "allow_hosts": [f"127.0.0.1:{shop.port}"],
            **extra,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return {t["name"]: t for t in r.json()["items"]}


def test_openapi_tools_journey(api, admin, shop):
    team = make_team(api, admin, "shopping")
    dev = make_account(api, admin, "tooldev", "developer", team).headers
    viewer = make_account(api, admin, "toolview", "viewer", team).headers

    tools = _import(api, dev, shop)
    assert set(tools) == {"getItem", "createOrder", "get_notes"}
    order = tools["createOrder"]
    assert order["kind"] == "http" and order["has_credential"] is True and order["team_id"] == team["id"]
    assert order["current"]["parameters"] == {
        "type": "object",
        "properties": {
            "product": {"type": "string", "description": "What to buy"},
            "quantity": {"type": "integer", "minimum": 1},
        },
        "required": ["product", "quantity"],
    }
    assert order["current"]["spec"]["auth"] == {"type": "bearer"}
    item = tools["getItem"]
    assert item["current"]["parameters"]["required"] == ["item_id"]
    assert item["current"]["parameters"]["properties"]["verbose"] == {"type": "boolean"}
    assert item["description"] == "Get an item"

    # a call: the credential reaches the server as configured; the server's echo of it is masked
    r = api.post(
        f"/api/tool/tools/{order['id']}/test", json={"arguments": {"product": "pen", "quantity": 3}}, headers=dev
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ok"] is True and out["output"]["order"] == 17 and out["output"]["quantity"] == 3
    assert out["detail"]["status"] == 201
    assert shop.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert shop.requests[-1]["body"] == {"product": "pen", "quantity": 3}
    assert TOKEN not in r.text and out["output"]["seen"] == "Bearer ***"

    # path and query parameters
    r = api.post(
        f"/api/tool/tools/{item['id']}/test", json={"arguments": {"item_id": "a b", "verbose": True}}, headers=dev
    )
    assert r.json()["ok"] is True, r.text
    assert r.json()["output"] == {"id": "a b", "verbose": "true", "name": "연필"}
    assert shop.requests[-1]["path"] == "/items/a%20b?verbose=true"
    assert "Authorization" not in shop.requests[-1]["headers"]  # only the bearer-protected operation carries it

    # arguments that don't match the schema: the model is told which field, the server is never called
    calls_before = len(shop.requests)
    r = api.post(
        f"/api/tool/tools/{order['id']}/test", json={"arguments": {"product": "pen", "quantity": 0}}, headers=dev
    )
    assert r.json()["ok"] is False and r.json()["error_kind"] == "invalid_arguments"
    assert r.json()["error"].startswith("quantity:")
    r = api.post(f"/api/tool/tools/{order['id']}/test", json={"arguments": {"quantity": 2}}, headers=dev)
    assert r.json()["error_kind"] == "invalid_arguments" and "product" in r.json()["error"]
    assert len(shop.requests) == calls_before

    # prompt injection in a tool's answer is withheld
    r = api.post(f"/api/tool/tools/{tools['get_notes']['id']}/test", json={"arguments": {}}, headers=dev)
    out = r.json()
    assert out["ok"] is False and out["error_kind"] == "blocked" and out["output"] is None
    assert "ignore_instructions" in out["detail"]["signals"]

    # the credential is never returned by any read, and a viewer may read but not test
    for path in ("/api/tool/tools", f"/api/tool/tools/{order['id']}", f"/api/tool/tools/{order['id']}/versions"):
        r = api.get(path, headers=viewer)
        assert r.status_code == 200 and TOKEN not in r.text
    r = api.post(f"/api/tool/tools/{order['id']}/test", json={"arguments": {}}, headers=viewer)
    assert r.status_code == 403

    # a new version changes what the model is offered; versions are listed newest first
    params = {"type": "object", "properties": {"item_id": {"type": "string", "maxLength": 3}}, "required": ["item_id"]}
    spec = {**item["current"]["spec"]}
    r = api.post(f"/api/tool/tools/{item['id']}/versions", json={"parameters": params, "spec": spec}, headers=dev)
    assert r.status_code == 201 and r.json()["version"] == 2
    r = api.post(f"/api/tool/tools/{item['id']}/test", json={"arguments": {"item_id": "long"}}, headers=dev)
    assert r.json()["error_kind"] == "invalid_arguments"
    assert [v["version"] for v in api.get(f"/api/tool/tools/{item['id']}/versions", headers=dev).json()["items"]] == [
        2,
        1,
    ]

    # update: timeout, approval, a new credential (still never shown); then the old token is refused upstream
    r = api.patch(
        f"/api/tool/tools/{order['id']}",
        json={"timeout_s": 5, "requires_approval": True, "credential": "other-token-123"},
        headers=dev,
    )
    assert r.status_code == 200 and r.json()["requires_approval"] is True and r.json()["timeout_s"] == 5
    assert "other-token-123" not in r.text
    r = api.post(
        f"/api/tool/tools/{order['id']}/test", json={"arguments": {"product": "pen", "quantity": 1}}, headers=dev
    )
    assert r.json()["error_kind"] == "tool_error" and r.json()["detail"]["status"] == 401

    # analytics reflect the calls (the invalid ones count as errors of their kind)
    r = api.get("/api/tool/analytics?days=1", headers=viewer)
    assert r.status_code == 200
    stats = {s["name"]: s for s in r.json()["items"]}
    assert stats["createOrder"]["calls"] == 4 and stats["createOrder"]["ok"] == 1
    assert stats["createOrder"]["error_kinds"] == {"invalid_arguments": 2, "tool_error": 1}
    assert stats["createOrder"]["success_rate"] == 0.25
    assert stats["get_notes"]["error_kinds"] == {"blocked": 1}
    assert stats["getItem"]["calls"] == 2 and stats["getItem"]["p50_ms"] is not None

    # the audit log names the changes, never the credential
    r = api.get("/api/audit/logs", params={"resource_type": "tool", "limit": 200}, headers=admin)
    assert r.status_code == 200
    actions = [e["action"] for e in r.json()["items"]]
    assert actions.count("tool.create") >= 3 and "tool.update" in actions and "tool.version" in actions
    assert TOKEN not in r.text and "other-token-123" not in r.text

    # archive: listed no more, calls refused
    assert api.delete(f"/api/tool/tools/{order['id']}", headers=dev).json()["archived_at"] is not None
    assert order["id"] not in {t["id"] for t in api.get("/api/tool/tools", headers=dev).json()["items"]}
    r = api.post(
        f"/api/tool/tools/{order['id']}/test", json={"arguments": {"product": "pen", "quantity": 1}}, headers=dev
    )
    assert r.status_code == 409 and _code(r) == "tool_archived"


def test_another_teams_tool_is_not_found(api, admin, shop):
    mine = make_account(api, admin, "tool-a", "developer", new_team="tools-a").headers
    other = make_account(api, admin, "tool-b", "developer", new_team="tools-b").headers
    tool = _import(api, mine, shop)["getItem"]
    calls = len(shop.requests)
    for r in (
        api.get(f"/api/tool/tools/{tool['id']}", headers=other),
        api.get(f"/api/tool/tools/{tool['id']}/versions", headers=other),
        api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": "1"}}, headers=other),
        api.patch(f"/api/tool/tools/{tool['id']}", json={"description": "mine now"}, headers=other),
        api.delete(f"/api/tool/tools/{tool['id']}", headers=other),
    ):
        assert r.status_code == 404 and _code(r) == "tool_not_found", r.text
    assert len(shop.requests) == calls
    assert api.get("/api/tool/tools", headers=other).json()["items"] == []
    assert api.get("/api/tool/analytics", headers=other).json()["items"] == []
    # the same name in another team is fine; twice in one team is not
    assert len(_import(api, other, shop)) == 3
    r = api.post(
        "/api/tool/tools/import-openapi",
        json={"document": json.dumps(shop.document()), "allow_hosts": [f"127.0.0.1:{shop.port}"]},
        headers=other,
    )
    assert r.status_code == 409 and _code(r) == "tool_name_taken"


def test_python_tool_runs_in_the_sandbox(api, admin):
    dev = make_account(api, admin, "pydev", "developer", new_team="py-tools").headers
    source = "def add(a, b):\n    return {'sum': a + b}\n"
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "add",
            "kind": "python",
            "description": "Adds two numbers",
            "timeout_s": 20,
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
            "spec": {"source": source, "function": "add"},
        },
        headers=dev,
    )
    assert r.status_code == 201, r.text
    tool = r.json()
    r = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"a": 2, "b": 40}}, headers=dev)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert r.json()["output"] == {"sum": 42}
    r = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"a": "2", "b": 40}}, headers=dev)
    assert r.json()["error_kind"] == "invalid_arguments" and r.json()["error"].startswith("a:")
    # a tool that raises is a tool_error, not a server error
    r = api.post(
        f"/api/tool/tools/{tool['id']}/versions",
        json={
            "parameters": tool["current"]["parameters"],
            "spec": {"source": "def add(a, b):\n    raise ValueError('no')\n", "function": "add"},
        },
        headers=dev,
    )
    assert r.status_code == 201
    r = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"a": 1, "b": 1}}, headers=dev)
    assert r.json()["ok"] is False and r.json()["error_kind"] == "tool_error"


def test_bad_definitions_are_refused(api, admin):
    dev = make_account(api, admin, "baddev", "developer", new_team="bad-tools").headers
    base = {"name": "t1", "kind": "http", "spec": {"method": "GET", "base_url": "https://example.com", "path": "/x"}}
    r = api.post("/api/tool/tools", json={**base, "parameters": {"type": "array"}}, headers=dev)
    assert r.status_code == 422 and _code(r) == "tool_parameters_invalid"
    r = api.post(
        "/api/tool/tools",
        json={**base, "parameters": {"type": "object", "properties": {"a": {"type": 5}}}},
        headers=dev,
    )
    assert r.status_code == 422 and _code(r) == "tool_parameters_invalid"
    r = api.post(
        "/api/tool/tools", json={**base, "spec": {"method": "GET", "base_url": "ftp://x/", "path": "/"}}, headers=dev
    )
    assert r.status_code == 422 and _code(r) == "tool_spec_invalid"
    r = api.post(
        "/api/tool/tools", json={**base, "kind": "python", "spec": {"source": "def f(:", "function": "f"}}, headers=dev
    )
    assert r.status_code == 422 and _code(r) == "tool_spec_invalid"
    r = api.post("/api/tool/tools", json={**base, "name": "bad name!"}, headers=dev)
    assert r.status_code == 422
    for doc in ("not: [valid", {"openapi": "2.0", "paths": {"/a": {"get": {}}}}, {"openapi": "3.0.0", "paths": {}}):
        r = api.post("/api/tool/tools/import-openapi", json={"document": doc}, headers=dev)
        assert r.status_code == 422 and _code(r) == "openapi_invalid", r.text
    assert api.get("/api/tool/tools", headers=dev).json()["total"] == 0
