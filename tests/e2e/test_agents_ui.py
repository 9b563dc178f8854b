"""Agents in the browser: an HTTP tool made through the API (a weather service started by the test), an agent
defined in the UI on a route to a scripted mock upstream with that tool, a chat with it (the tool call, its result
and the answer streamed in), and the run's trace as a timeline; then the tool's page test-runs it and the tool
analytics count the calls. In Korean, with the no-English and accessibility checks on each screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, login_headers, make_route, make_team, make_user
from tests.mocks import MockUpstream
from tests.tool_server import LoopbackServer

SHOTS = os.environ.get("AXOPS_SHOTS")
# The test's own data, shown verbatim.
ALLOW = ("agents-ui", "dev.kim", "weather", "forecaster", "agent-chat", "production", "Seoul", "tiny", "city")


class WeatherApi(LoopbackServer):
    """GET /weather?city= → {"city", "sky": "맑음"} on 127.0.0.1, counting its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/weather", self.weather)

    async def weather(self, request: web.Request) -> web.Response:
        self.calls.append(request.query["city"])
        return web.json_response({"city": request.query["city"], "sky": "맑음"})


@pytest.fixture
def upstream():
    mock = MockUpstream("agents-ui")
    yield mock
    mock.stop()


@pytest.fixture
def weather_api():
    server = WeatherApi()
    yield server
    server.close()


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/agents-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_define_an_agent_chat_with_it_and_read_the_trace(browser_page: Page, api, admin, upstream, weather_api):
    team = make_team(api, admin, "agents-ui")
    make_user(api, admin, "dev.kim", "developer", [team["id"]])
    make_route(api, admin, "agent-chat", upstream.url, input_price=1000.0, output_price=1000.0)
    dev = login_headers(api, "dev.kim", PASSWORD)
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "weather",
            "kind": "http",
            "description": "도시의 날씨",
            "team_id": team["id"],
            "allow_hosts": [f"127.0.0.1:{weather_api.port}"],
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "spec": {
                "method": "GET",
                "base_url": weather_api.url,
                "path": "/weather",
                "params": {"city": {"in": "query"}},
            },
        },
        headers=dev,
    )
    assert r.status_code == 201, r.text
    tool = r.json()
    upstream.script = [
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Seoul"}, "id": "call_1"}]},
        {"content": "서울은 맑습니다."},
    ]
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "dev.kim", PASSWORD)

    # Define the agent: the route, a system prompt, the tool.
    page.get_by_test_id("nav-agents").click()
    expect(page.get_by_test_id("agents-page").get_by_test_id("state-empty")).to_be_visible()
    page.get_by_test_id("agents-new").click()
    expect(page.get_by_test_id("agent-form-submit")).to_be_disabled()
    field(page, "agent-form-name").fill("forecaster")
    field(page, "agent-form-route").fill("agent-chat")
    page.locator('[data-testid="agent-form-system"] textarea').first.fill("너는 날씨 안내원이다.")
    pick(page, "agent-form-tools", "weather", multiple=True)
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("agent-form-submit").click()
    expect(page.get_by_test_id("agent-name")).to_have_text("forecaster")
    expect(page.get_by_test_id("agent-route")).to_contain_text("agent-chat")
    agents = api.get("/api/agent/agents", headers=dev).json()["items"]
    assert [a["name"] for a in agents] == ["forecaster"]
    assert agents[0]["current"]["tool_ids"] == [tool["id"]]

    # Chat: the tool call and its result stream in, then the answer; the trace follows.
    page.locator('[data-testid="chat-input"] textarea').first.fill("서울 날씨 알려 줘")
    page.get_by_test_id("chat-send").click()
    expect(page.get_by_test_id("chat-answer")).to_contain_text("서울은 맑습니다.")
    expect(page.get_by_test_id("chat-tool-call")).to_contain_text("weather")
    expect(page.get_by_test_id("chat-tool-result")).to_contain_text("성공")
    expect(page.get_by_test_id("chat-status")).to_contain_text("성공")
    assert weather_api.calls == ["Seoul"]
    timeline = page.get_by_test_id("run-timeline")
    expect(timeline).to_be_visible()
    rows = timeline.get_by_test_id("trace-row")
    expect(rows).to_have_count(4)  # model → tool → model → answer
    expect(rows.nth(1)).to_have_attribute("data-kind", "tool")
    expect(timeline.get_by_test_id("trace-totals")).to_contain_text("4단계")
    check_screen(page, allow=ALLOW)
    _shoot(page, "chat")

    # The runs tab lists the run; opening it shows the same trace.
    page.get_by_test_id("tab-runs").click()
    page.get_by_test_id("run-open").first.click()
    expect(page.get_by_test_id("agent-runs").get_by_test_id("trace-row")).to_have_count(4)

    # The tool's page: a test run, and the analytics count both calls.
    page.goto(f"/tools/{tool['id']}")
    page.locator('[data-testid="tool-test-arguments"] textarea').first.fill('{"city": "Busan"}')
    page.get_by_test_id("tool-test-run").click()
    expect(page.get_by_test_id("tool-test-status")).to_contain_text("성공")
    expect(page.get_by_test_id("tool-test-output")).to_contain_text("맑음")
    check_screen(page, allow=(*ALLOW, "Busan"))
    _shoot(page, "tool-test")
    page.goto("/tools?tab=analytics")
    table = page.get_by_test_id("tool-analytics-table")
    expect(table).to_contain_text("weather")
    expect(table).to_contain_text("100%")
    expect(page.locator('[data-testid="tool-latency-chart"] canvas')).to_be_visible()
    check_screen(page, allow=ALLOW)
    _shoot(page, "tool-analytics")
