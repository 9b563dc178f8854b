"""The gateway in the browser: an operator adds a provider and a route in the UI and tests it; a
developer chats with the model in the Playground and sees the reply stream in with its stats."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login, ui_logout
from tests.factories import PASSWORD, login_headers, make_team, make_user
from tests.mocks import MockUpstream


@pytest.fixture
def upstream():
    mock = MockUpstream("mock")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


ALLOW = ("apps", "ops.kim", "dev.lee", "local-mock", "chat", "tiny", "hello from mock")  # the test's own data


def test_route_in_the_ui_then_stream_in_the_playground(browser_page: Page, api, admin, upstream):
    team = make_team(api, admin, "apps")
    make_user(api, admin, "ops.kim", "operator", [team["id"]])
    make_user(api, admin, "dev.lee", "developer", [team["id"]])
    page = browser_page

    ui_login(page, "ops.kim", PASSWORD)
    page.get_by_test_id("nav-routes").click()
    page.get_by_test_id("tab-providers").click()
    page.get_by_test_id("provider-new").click()
    expect(page.get_by_test_id("provider-form-submit")).to_be_disabled()
    expect(page.get_by_test_id("provider-form-missing")).to_contain_text("계속하려면: 이름")  # why it is disabled
    field(page, "provider-form-name").fill("local-mock")
    field(page, "provider-form-url").fill(upstream.url)
    page.get_by_test_id("provider-form-submit").click()
    expect(page.get_by_test_id("providers-table")).to_contain_text("local-mock")
    check_screen(page, allow=ALLOW)

    page.get_by_test_id("tab-routes").click()
    page.get_by_test_id("route-new").click()
    field(page, "route-form-model").fill("chat")
    pick(page, "route-targets-provider", "local-mock")  # the form opens with one target row
    field(page, "route-targets-model").fill("tiny")
    # An internal model priced by GPU time: 3.6 per GPU-hour, one GPU, 1 token/s -> 1,000 per 1M tokens.
    field(page, "route-targets-gpu-price").fill("3.6")
    field(page, "route-targets-gpus").fill("1")
    expect(page.get_by_test_id("route-form-submit")).to_be_disabled()  # all three figures or none
    expect(page.get_by_test_id("route-form-missing")).to_contain_text("GPU 시간당 가격, GPU 수, 토큰/초")  # and says so
    field(page, "route-targets-throughput").fill("1")
    expect(page.get_by_test_id("route-targets-gpu-derived")).to_contain_text("1,000")
    check_screen(page, allow=ALLOW)
    pick(page, "route-form-audience", "apps")  # only the team's members (and Admins) may call it
    page.get_by_test_id("route-form-submit").click()
    expect(page.get_by_test_id("routes-table")).to_contain_text("chat")
    route = next(r for r in api.get("/api/gateway/routes", headers=admin).json() if r["model_name"] == "chat")
    assert route["team_id"] == team["id"]
    page.get_by_test_id("route-test").first.click()
    expect(page.get_by_test_id("route-plan")).to_contain_text("local-mock/tiny")
    expect(page.get_by_test_id("route-plan-price")).to_have_text("1,000 / 1,000")
    check_screen(page, allow=ALLOW)
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("route-plan")).to_be_hidden()
    ui_logout(page)

    ui_login(page, "dev.lee", PASSWORD)
    page.get_by_test_id("nav-playground").click()
    page.get_by_test_id("playground-input").fill("안녕? 짧게 답해 줘")
    page.get_by_test_id("playground-send").click()
    reply = page.locator('[data-testid="playground-message"][data-role="assistant"]')
    expect(reply).to_have_attribute("data-streaming", "false")
    expect(reply).to_contain_text("hello from mock")
    stats = reply.get_by_test_id("playground-stats")
    expect(stats).to_contain_text("local-mock/tiny")
    expect(stats).to_contain_text("ms")
    expect(stats.get_by_test_id("playground-cost")).to_contain_text("0.007")  # 4 + 3 tokens at 1,000 per 1M
    check_screen(page, allow=ALLOW)
    assert upstream.requests[-1]["stream"] is True and upstream.requests[-1]["model"] == "tiny"

    # The call went through the gateway like any other: it is in the developer's usage.
    dev = login_headers(api, "dev.lee")
    for _ in range(40):
        totals = api.get("/api/metrics/usage", headers=dev).json()["totals"]
        if totals:
            break
        page.wait_for_timeout(100)
    assert (
        totals[0]["group"] == "chat"
        and totals[0]["completion_tokens"] == 3
        and totals[0]["cost"] == pytest.approx(0.007)
    )
