"""The tool registry's newer screens in the browser, in Korean and in English: the tools list's MCP servers tab (a
ready server and an unreachable one with its error, a refresh), a tool page's recent calls (a test run's failure,
an agent run's call linking to its run), the workflows list with each one's last run, an agent's run opened from a
tool call, and a dataset version's Runs tab (runs that logged it with mlflow.log_input). Each Korean screen passes
check_screen; AXOPS_SHOTS=DIR saves screenshots at desktop and phone widths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, ui_login
from tests.factories import PASSWORD, TRACKING_SCOPES, free_port, make_account, make_route, upload_dataset
from tests.integration.test_mcp_tools import SERVER_SCRIPT, _start
from tests.integration.test_workflows import BASE, create, edge, node, run
from tests.mocks import MockUpstream
from tests.tool_server import ToolServer

SHOTS = os.environ.get("AXOPS_SHOTS")
SCOPES = ["agents:read", "agents:write", "tools:read", "tools:write", "gateway:invoke", *TRACKING_SCOPES]
# The test's own data, shown verbatim.
ALLOW = ("look.dev", "look-team", "getItem", "createOrder", "get_notes", "docs-mcp", "gone-mcp", "triage", "echo")
ALLOW += ("shopper", "look-chat", "add", "hangul_stats", "whoami", "reviews", "look-train", "item_id", "look-exp")


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/look-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.fixture
def mcp_url():
    port = free_port()
    proc = _start(port)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.kill()
    proc.wait()


@pytest.fixture
def shop():
    server = ToolServer()
    yield server
    server.close()


def test_tools_mcp_calls_workflows_and_dataset_runs_look(
    browser_page: Page, api, admin, settings, monkeypatch, live_server, mcp_url, shop
):
    assert Path(SERVER_SCRIPT).exists() and sys.executable
    monkeypatch.setattr(settings, "mcp_allowed_networks", "127.0.0.0/8")
    dev = make_account(api, admin, "look.dev", new_team="look-team", key_scopes=SCOPES)
    h = dev.headers
    # tools: OpenAPI imports, a failing and a passing test run
    r = api.post(
        "/api/tool/tools/import-openapi",
        json={"document": shop.document(), "allow_hosts": [f"127.0.0.1:{shop.port}"], "credential": "t0ken"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    tool = next(t for t in r.json()["items"] if t["name"] == "getItem")
    api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": 7}}, headers=h)
    api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": "1"}}, headers=h)
    # MCP servers: one that answers, one that does not
    for name, url in (("docs-mcp", mcp_url), ("gone-mcp", f"http://127.0.0.1:{free_port()}/mcp")):
        r = api.post("/api/tool/mcp-servers", json={"name": name, "transport": "http", "url": url}, headers=h)
        assert r.status_code == 201, r.text
    # an agent whose run calls the tool
    upstream = MockUpstream("look-up")
    make_route(api, admin, "look-chat", upstream.url)
    upstream.script = [{"tool_calls": [{"name": "getItem", "arguments": {"item_id": "2"}}]}, {"content": "있어요"}]
    r = api.post(
        "/api/agent/agents",
        json={"name": "shopper", "version": {"route": "look-chat", "tool_ids": [tool["id"]]}},
        headers=h,
    )
    assert r.status_code == 201, r.text
    agent = r.json()
    r = api.post(f"/api/agent/agents/{agent['id']}/runs", json={"input": "2번 상품?"}, headers=h, timeout=60)
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    # workflows: one run, one never run
    echo = {
        "inputs": [{"name": "n", "type": "integer"}],
        "nodes": [node("start", "input"), node("done", "output", template="n={{ input.n }}")],
        "edges": [edge("start", "done")],
    }
    wf = create(api, h, "triage", echo)
    create(api, h, "echo", echo)
    run(api, h, wf["id"], {"n": 1})
    assert api.get(f"{BASE}/{wf['id']}/runs", headers=h).json()["items"]
    # a dataset version a run logged as its input
    r = upload_dataset(api, h, b"text,label\nhello,1\nworld,0\n", "reviews.csv", name="reviews")
    assert r.status_code == 201, r.text
    version = r.json()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", dev.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment("look-exp")
    df = pd.DataFrame({"text": ["hello", "world"], "label": [1, 0]})
    source = f"{live_server.url}/api/dataset/version/{version['id']}/download"
    with mlflow.start_run(run_name="look-train"):
        mlflow.log_input(mlflow.data.from_pandas(df, source=source, name="reviews"), context="training")

    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "look.dev", PASSWORD)
    for lang in ("ko", "en"):
        if lang == "en":
            page.evaluate("() => localStorage.setItem('axops.locale', 'en')")
        page.goto("/tools?tab=servers")
        expect(page.get_by_test_id("mcp-servers")).to_contain_text("docs-mcp")
        expect(page.get_by_test_id("mcp-error")).to_be_visible()
        if lang == "ko":
            check_screen(page, ALLOW)
        _shoot(page, f"{lang}-mcp-servers")
        page.get_by_test_id("mcp-refresh").first.click()
        expect(page.get_by_test_id("mcp-refresh-result")).to_be_visible()
        _shoot(page, f"{lang}-mcp-refreshed")

        page.goto(f"/tools/{tool['id']}?tab=calls")
        expect(page.get_by_test_id("tool-call-error")).to_be_visible()
        if lang == "ko":
            check_screen(page, ALLOW)
        _shoot(page, f"{lang}-tool-calls")
        page.get_by_test_id("tool-call-run").first.click()
        expect(page).to_have_url(f"{live_server.url}/agents/{agent['id']}?tab=runs&run={r_id(api, h, agent)}")
        expect(page.get_by_test_id("trace-row").first).to_be_visible()
        if lang == "ko":
            check_screen(page, ALLOW)
        _shoot(page, f"{lang}-agent-run")

        page.goto("/workflows")
        expect(page.get_by_test_id("wf-last-run-at")).to_have_count(1)
        if lang == "ko":
            check_screen(page, ALLOW)
        _shoot(page, f"{lang}-workflows")

        page.goto(f"/datasets/{version['dataset_id']}?tab=runs")
        expect(page.get_by_text("look-train")).to_be_visible()
        if lang == "ko":
            check_screen(page, ALLOW)
        _shoot(page, f"{lang}-dataset-runs")


def r_id(api, headers, agent) -> str:
    return api.get("/api/agent/runs", params={"agent_id": agent["id"]}, headers=headers).json()["items"][0]["id"]
