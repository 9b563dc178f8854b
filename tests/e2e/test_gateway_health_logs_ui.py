"""Health where people look and the request log, in the browser: an upstream that is really dead (a
provider at a closed port) shows in the routes list and the Playground; a developer goes from the
Usage page's error count to the failing request in the request log and opens its drawer."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_a11y, check_page, ui_login, ui_logout
from tests.factories import PASSWORD, flush_gateway, live_and_dead_routes, login_headers, make_key, make_team, make_user
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there


@pytest.fixture
def upstream():
    mock = MockUpstream("mock")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _check_health(live_server, rounds: int) -> None:
    """What the background loop does every AXOPS_GATEWAY_HEALTH_INTERVAL_S (0 in tests: run here)."""
    gw = live_server.app.state.axops.gateway

    async def run():
        await gw.table.ensure(gw.db, gw.secret)
        return await gw.check_health()

    for _ in range(rounds):
        asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)


def check_screen(page: Page, allow: list[str]) -> None:
    """No English in the Korean UI, and axe-core on the page's content and any open drawer or menu
    (the sidebar's own list is the navigation's to check)."""
    check_page(page, allow)
    check_a11y(page, include="main")
    for overlay in (".v-navigation-drawer--temporary.v-navigation-drawer--active", ".v-overlay--active .v-list"):
        if page.locator(overlay).count():
            check_a11y(page, include=overlay)


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.fixture
def scene(api, admin, upstream, live_server):
    team = make_team(api, admin, "apps")
    make_user(api, admin, "ops.kim", "operator", [team["id"]])
    make_user(api, admin, "dev.lee", "developer", [team["id"]])
    live_and_dead_routes(api, admin, upstream.url)
    dev = login_headers(api, "dev.lee")
    key = make_key(api, dev, "logged", log_content=True)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
    client.chat.completions.create(
        model="chat-live", messages=[{"role": "user", "content": "전화 010-2345-6789 로 줘"}]
    )
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="chat-dead", messages=[{"role": "user", "content": "kim@example.com 에게 답장"}]
        )
    flush_gateway(live_server)
    _check_health(live_server, rounds=3)  # three failed probes in a row: the dead upstream's circuit opens
    return {"key": key}


def test_dead_upstream_in_routes_and_playground(browser_page: Page, scene):
    page = browser_page
    ui_login(page, "ops.kim", PASSWORD)
    page.get_by_test_id("nav-routes").click()
    table = page.get_by_test_id("routes-table")
    dead_row = table.locator("tr", has_text="chat-dead")
    expect(dead_row.get_by_test_id("route-health")).to_have_attribute("data-health", "down")
    expect(dead_row.get_by_test_id("route-health")).to_contain_text("중단")
    line = dead_row.get_by_test_id("upstream-line")
    expect(line).to_have_attribute("data-health", "open")
    expect(line).to_contain_text("서킷 열림")
    expect(dead_row.get_by_test_id("upstream-last-error")).to_contain_text("연결 실패")
    live_row = table.locator("tr", has_text="chat-live")
    expect(live_row.get_by_test_id("route-health")).to_have_attribute("data-health", "healthy")
    expect(live_row.get_by_test_id("upstream-line")).to_have_attribute("data-health", "healthy")
    check_screen(page, allow=["chat-dead", "chat-live", "dead/gone", "alive/tiny"])
    _shoot(page, "routes-health")
    ui_logout(page)

    ui_login(page, "dev.lee", PASSWORD)
    page.get_by_test_id("nav-playground").click()
    # the live model is picked first; the dead one is marked in the list
    expect(page.get_by_test_id("playground-model")).to_contain_text("chat-live")
    page.get_by_test_id("playground-model").click()
    option = page.get_by_test_id("playground-model-chat-dead")
    expect(option).to_have_attribute("data-dead", "true")
    expect(option).to_contain_text("중단")
    check_screen(page, allow=["chat-dead", "chat-live"])
    option.click()
    expect(page.get_by_test_id("playground-model-dead")).to_be_visible()
    page.get_by_test_id("playground-input").fill("누구 있어요?")
    page.get_by_test_id("playground-send").click()
    error = page.get_by_test_id("playground-error")
    expect(error).to_have_attribute("data-code", "upstream_error")
    expect(error).to_contain_text("응답할 수 있는 업스트림 서버가 없습니다")
    expect(error).not_to_contain_text("No upstream")  # not the server's English
    check_screen(page, allow=["chat-dead", "chat-live"])
    _shoot(page, "playground-dead")


def test_usage_errors_open_the_failing_requests_and_a_drawer(browser_page: Page, scene):
    page = browser_page
    ui_login(page, "dev.lee", PASSWORD)
    page.get_by_test_id("nav-usage").click()
    link = page.get_by_test_id("usage-errors-link")
    expect(link).to_contain_text("1")
    expect(page.get_by_test_id("usage-stat-cost")).to_contain_text("USD")
    check_screen(page, allow=["chat-dead", "chat-live"])
    _shoot(page, "usage")
    link.click()
    expect(page).to_have_url(re.compile(r"/gateway/logs\?.*outcome=error"))
    table = page.get_by_test_id("logs-table")
    expect(table.get_by_test_id("log-status")).to_have_count(1)
    expect(table.get_by_test_id("log-status")).to_have_attribute("data-status", "502")
    expect(table.get_by_test_id("log-model")).to_have_text("chat-dead")
    expect(page.get_by_test_id("table-count")).to_contain_text("1")
    check_screen(page, allow=["chat-dead", "dead/gone", "logged"])
    _shoot(page, "logs-errors")

    # the totals row of the dead model links to the same failing requests
    page.go_back()
    page.get_by_test_id("usage-row-errors").first.click()
    expect(page).to_have_url(re.compile(r"model=chat-dead"))
    expect(page.get_by_test_id("logs-model")).to_contain_text("chat-dead")
    expect(table.get_by_test_id("log-status")).to_have_count(1)

    table.get_by_test_id("log-open").first.click()
    drawer = page.get_by_test_id("log-drawer")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_test_id("log-drawer-error")).to_contain_text("502")
    expect(drawer.get_by_test_id("log-fact-upstream")).to_have_text("dead/gone")
    expect(drawer.get_by_test_id("log-fact-cost")).to_contain_text("USD")
    messages = drawer.get_by_test_id("log-message")
    expect(messages.first).to_contain_text("에게 답장")
    expect(messages.first).not_to_contain_text("kim@example.com")  # masked before it was stored
    expect(drawer.get_by_test_id("log-masked-note")).to_be_visible()
    check_screen(page, allow=["chat-dead", "dead/gone", "logged", "chat/completions"])
    _shoot(page, "logs-drawer")
    page.keyboard.press("Escape")

    # the URL is the filter: all requests, then the successful one, its text masked too
    page.goto("/gateway/logs?outcome=ok")
    expect(page.get_by_test_id("logs-outcome")).to_contain_text("성공")
    expect(table.get_by_test_id("log-model")).to_have_text("chat-live")
    table.get_by_test_id("log-open").first.click()
    expect(drawer.get_by_test_id("log-message").first).not_to_contain_text("2345-6789")
    expect(drawer.get_by_test_id("log-response")).to_contain_text("hello from mock")
    page.keyboard.press("Escape")

    # a filter that matches nothing says so and offers to clear it; a bad status is explained, not sent
    page.goto("/gateway/logs?model=nothing-here")
    expect(page.get_by_test_id("state-no-match")).to_be_visible()
    page.get_by_test_id("logs-status").locator("input").fill("99")
    expect(page.get_by_text("100부터 599까지의 상태 코드를 입력하세요")).to_be_visible()
    assert "status=" not in page.url
    _shoot(page, "logs-no-match")
