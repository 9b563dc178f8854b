"""The tool registry's refusals: server-side request forgery through a tool's base URL, a redirect or a
name resolving to a private address; path traversal smuggled in arguments; remote `$ref`s in OpenAPI
documents (never fetched); oversized documents and answers; credentials never shown in responses,
audit events or logs."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import make_account
from tests.tool_server import TOKEN, ToolServer


def _code(r: httpx.Response) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


@pytest.fixture
def shop():
    server = ToolServer()
    yield server
    server.close()


def _tool(api, headers, name, base_url, path="/", allow_hosts=(), params=None, **extra) -> dict:
    r = api.post(
        "/api/tool/tools",
        json={
            "name": name,
            "kind": "http",
            "allow_hosts": list(allow_hosts),
            "parameters": {"type": "object", "properties": {k: {"type": "string"} for k in params or {}}},
            "spec": {"method": "GET", "base_url": base_url, "path": path, "params": params or {}},
            **extra,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _test(api, headers, tool, arguments=None) -> dict:
    r = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": arguments or {}}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_private_addresses_are_refused_unless_explicitly_allowed(api, admin, shop):
    dev = make_account(api, admin, "ssrf", "developer", new_team="ssrf").headers
    refused = [
        _tool(api, dev, "pg", "http://127.0.0.1:5432"),  # the base URL's host is the default allowlist: not enough
        _tool(api, dev, "metadata", "http://169.254.169.254", "/latest/meta-data/"),
        _tool(api, dev, "local", "http://localhost:5432"),
        _tool(api, dev, "v6", "http://[::1]:5432"),
        _tool(api, dev, "mapped", "http://[::ffff:127.0.0.1]:5432"),
        _tool(api, dev, "shop_default", shop.url, "/items/1"),  # a live loopback server, not named in allow_hosts
        _tool(api, dev, "wrong_port", shop.url, "/items/1", allow_hosts=["127.0.0.1:1"]),
        _tool(api, dev, "other_host", "https://example.com", "/", allow_hosts=["example.org"]),
    ]
    for tool in refused:
        out = _test(api, dev, tool)
        assert out["ok"] is False and out["error_kind"] == "network_refused", (tool["name"], out)
    assert shop.requests == []

    # named explicitly (host:port), the same loopback server is reached
    ok = _tool(api, dev, "shop_allowed", shop.url, "/items/1", allow_hosts=[f"127.0.0.1:{shop.port}"])
    assert _test(api, dev, ok)["ok"] is True and len(shop.requests) == 1

    # a redirect to another host (the cloud metadata address) is not followed
    jump = _tool(api, dev, "jump", shop.url, "/redirect", allow_hosts=[f"127.0.0.1:{shop.port}"])
    out = _test(api, dev, jump)
    assert out["ok"] is False and out["error_kind"] == "network_refused" and out["detail"]["status"] == 302


def test_path_parameters_cannot_traverse_or_smuggle_urls(api, admin, shop):
    dev = make_account(api, admin, "trav", "developer", new_team="trav").headers
    tool = _tool(
        api,
        dev,
        "item",
        shop.url,
        "/items/{item_id}",
        allow_hosts=[f"127.0.0.1:{shop.port}"],
        params={"item_id": {"in": "path"}},
    )
    for value in ("../orders", "..", "a/../../orders", "/etc/passwd", "http://169.254.169.254/", "a\\..\\b", ""):
        out = _test(api, dev, tool, {"item_id": value})
        assert out["ok"] is False and out["error_kind"] == "invalid_arguments", (value, out)
    assert shop.requests == []
    # '?' and '#' in a value stay inside the segment ('=' needs no quoting in a path)
    out = _test(api, dev, tool, {"item_id": "a?b=c#d"})
    assert out["ok"] is True and shop.requests[-1]["path"] == "/items/a%3Fb=c%23d"


def test_openapi_remote_refs_are_not_fetched_and_huge_documents_refused(api, admin, shop):
    dev = make_account(api, admin, "refs", "developer", new_team="refs").headers
    doc = shop.document()
    doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": f"{shop.url}/schemas/order.json"
    }
    r = api.post("/api/tool/tools/import-openapi", json={"document": doc}, headers=dev)
    assert r.status_code == 422 and _code(r) == "openapi_invalid" and "remote" in r.json()["detail"]
    doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "other.yaml#/Order"
    }
    r = api.post("/api/tool/tools/import-openapi", json={"document": doc}, headers=dev)
    assert r.status_code == 422 and _code(r) == "openapi_invalid"
    assert shop.requests == []  # nothing was fetched
    assert api.get("/api/tool/tools", headers=dev).json()["total"] == 0  # all or nothing

    # a self-referencing schema does not loop
    doc = shop.document()
    doc["components"]["schemas"]["Order"]["properties"]["parent"] = {"$ref": "#/components/schemas/Order"}
    r = api.post("/api/tool/tools/import-openapi", json={"document": doc, "prefix": "cyc"}, headers=dev)
    assert r.status_code == 201, r.text

    huge = "openapi: 3.0.0\n" + "# padding\n" * 300_000
    r = api.post("/api/tool/tools/import-openapi", json={"document": huge}, headers=dev)
    assert r.status_code in (413, 422), r.status_code
    assert api.get("/api/tool/tools", headers=dev).json()["total"] == 3


def test_oversized_answers_are_cut_off(api, admin, shop):
    dev = make_account(api, admin, "big", "developer", new_team="big").headers
    tool = _tool(api, dev, "big", shop.url, "/big", allow_hosts=[f"127.0.0.1:{shop.port}"])
    out = _test(api, dev, tool)
    assert out["ok"] is False and out["error_kind"] == "output_too_large" and out["output"] is None


def test_credentials_never_leave(api, admin, shop, caplog):
    dev = make_account(api, admin, "creds", "developer", new_team="creds").headers
    with caplog.at_level("DEBUG"):
        r = api.post(
            "/api/tool/tools/import-openapi",
            json={"document": shop.document(), "credential": TOKEN, "allow_hosts": [f"127.0.0.1:{shop.port}"]},
            headers=dev,
        )
        assert r.status_code == 201 and TOKEN not in r.text
        tools = {t["name"]: t for t in r.json()["items"]}
        order = tools["createOrder"]
        out = _test(api, dev, order, {"product": "x", "quantity": 1})
        assert out["ok"] is True and shop.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in str(out)  # the server echoed it; the answer is masked
        r = api.patch(f"/api/tool/tools/{order['id']}", json={"credential": TOKEN + "-2"}, headers=dev)
        assert r.status_code == 200 and TOKEN not in r.text and r.json()["has_credential"] is True
        reads = [
            api.get("/api/tool/tools", headers=dev),
            api.get(f"/api/tool/tools/{order['id']}", headers=dev),
            api.get(f"/api/tool/tools/{order['id']}/versions", headers=dev),
            api.get("/api/audit/logs", params={"limit": 200}, headers=admin),
        ]
        for read in reads:
            assert read.status_code == 200 and TOKEN not in read.text
        r = api.patch(f"/api/tool/tools/{order['id']}", json={"clear_credential": True}, headers=dev)
        assert r.json()["has_credential"] is False
    logged = "\n".join(f"{rec.getMessage()} {rec.__dict__}" for rec in caplog.records)
    assert TOKEN not in logged
