"""Agent templates in the browser (issue 21): the gallery in Korean, the SQL analyst installed in one click on a
route to a scripted mock upstream with a CSV dataset version uploaded through the API, the new agent's page, a chat
whose model calls `run_sql` with a real query (DuckDB in the sandbox reads the uploaded version), the trace showing
the rows the tool returned, then the agent shared back to the gallery from its page. Korean and English screens,
with the no-English and accessibility checks on the Korean ones."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, login_headers, make_route, make_team, make_user, run_tasks, upload_dataset
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")
TICKETS = (
    "id,subject,category\n"
    "1,Refund please,billing\n"
    "2,Login fails,account\n"
    "3,Charged twice,billing\n"
    "4,App crashes,bug\n"
    "5,환불 요청,billing\n"
    "6,Cannot log in,account\n"
)
QUERY = "SELECT category, count(*) AS n FROM data GROUP BY category ORDER BY n DESC, category"
# The test's own data, shown verbatim.
ALLOW = ("tpl-ui", "ana.lee", "sql-chat", "tickets", "tickets.csv", "sql-analyst", "run_sql", "billing", "account")


@pytest.fixture
def upstream():
    mock = MockUpstream("tpl-ui")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/templates-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_install_the_sql_analyst_chat_over_a_csv_and_share_it(browser_page: Page, api, admin, upstream, live_server):
    team = make_team(api, admin, "tpl-ui")
    make_user(api, admin, "ana.lee", "developer", [team["id"]])
    make_route(api, admin, "sql-chat", upstream.url)
    dev = login_headers(api, "ana.lee", PASSWORD)
    r = upload_dataset(api, dev, TICKETS.encode(), "tickets.csv", name="tickets")
    assert r.status_code == 201, r.text
    run_tasks(live_server)
    version = api.get(f"/api/dataset/version/{r.json()['id']}", headers=dev).json()
    assert version["status"] == "ready", version
    upstream.script = [
        {"tool_calls": [{"name": "run_sql", "arguments": {"query": QUERY}, "id": "call_sql"}]},
        {"content": "카테고리별로 billing 3건, account 2건, bug 1건입니다."},
    ]
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "ana.lee", PASSWORD)

    # The gallery: the built-ins in Korean.
    page.get_by_test_id("nav-templates").click()
    card = page.get_by_test_id("template-sql-analyst")
    expect(card.get_by_test_id("template-title")).to_have_text("데이터셋 SQL 분석가 (DuckDB)")
    expect(card).to_contain_text("설치 0회")
    expect(page.get_by_test_id("template-ko-summariser")).to_be_visible()
    check_screen(page, allow=ALLOW)
    _shoot(page, "gallery-ko")

    # Install: the route, the dataset (its newest ready version is picked), the suggested name.
    page.get_by_test_id("template-install-sql-analyst").click()
    dialog = page.get_by_test_id("template-install-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("template-install-submit")).to_be_disabled()
    expect(field(page, "template-install-name")).to_have_value("sql-analyst")
    field(page, "template-install-route").fill("sql-chat")
    pick(page, "template-install-dataset", "tickets")
    expect(page.get_by_test_id("template-install-version")).to_contain_text("tickets.csv")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("template-install-submit").click()

    # The new agent's page; its tool reads the picked version.
    expect(page.get_by_test_id("agent-name")).to_have_text("sql-analyst")
    expect(page.get_by_test_id("agent-route")).to_contain_text("sql-chat")
    agent_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    agent = api.get(f"/api/agent/agents/{agent_id}", headers=dev).json()
    assert agent["team_id"] == team["id"] and agent["current"]["route"] == "sql-chat"
    assert agent["description"].startswith("질문을 SQL로 바꾸어")  # the built-in's text in the installer's language
    (tool_id,) = agent["current"]["tool_ids"]
    tool = api.get(f"/api/tool/tools/{tool_id}", headers=dev).json()
    assert tool["name"] == "run_sql" and tool["kind"] == "python"

    # Chat: the model asks for run_sql, DuckDB in the sandbox answers from the CSV, the model answers.
    page.locator('[data-testid="chat-input"] textarea').first.fill("카테고리별 티켓 수를 알려 줘")
    page.get_by_test_id("chat-send").click()
    expect(page.get_by_test_id("chat-answer")).to_contain_text("billing 3건", timeout=90_000)
    expect(page.get_by_test_id("chat-tool-call")).to_contain_text("run_sql")
    expect(page.get_by_test_id("chat-tool-result")).to_contain_text("성공")
    expect(page.get_by_test_id("chat-status")).to_contain_text("성공")
    (tool_message,) = [m for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_message["content"]) == {
        "columns": ["category", "n"],
        "rows": [["billing", 3], ["account", 2], ["bug", 1]],
        "truncated": False,
    }

    # The trace: model → run_sql → model → answer; the tool's row opens on its query and the rows DuckDB returned.
    timeline = page.get_by_test_id("run-timeline")
    rows = timeline.get_by_test_id("trace-row")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_have_attribute("data-kind", "tool")
    detail = timeline.get_by_test_id("trace-tool-detail")
    expect(detail).to_have_count(1)
    detail.locator("summary").click()
    expect(detail).to_contain_text("GROUP BY category")
    table = detail.get_by_test_id("trace-tool-table")
    expect(table.locator("th")).to_have_text(["category", "n"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["billing", "3"])
    expect(table.locator("tbody tr").nth(2).locator("td")).to_have_text(["bug", "1"])
    check_screen(page, allow=(*ALLOW, "bug", "category", "GROUP BY", "DESC"))
    _shoot(page, "trace-ko")

    # Share it back from its page: the gallery's dialog with this agent picked.
    page.get_by_test_id("agent-share-template").click()
    share = page.get_by_test_id("template-share-dialog")
    expect(share).to_contain_text("sql-analyst")
    share.locator("textarea").first.fill("팀의 티켓 분석가")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("template-share-submit").click()
    expect(page.get_by_test_id("snackbar")).to_contain_text("템플릿으로 공유했습니다")
    shared = [t for t in api.get("/api/agent/templates", headers=dev).json()["items"] if not t["builtin"]]
    assert [(t["name"], t["description"], t["source_agent_id"]) for t in shared] == [
        ("sql-analyst", "팀의 티켓 분석가", agent_id)
    ]

    expect(page.get_by_text("템플릿으로 공유했습니다")).to_be_hidden(timeout=10_000)

    # The same screens in English.
    page.get_by_test_id("locale-switch").click()
    expect(page.get_by_test_id("tab-chat")).to_contain_text("Chat")
    expect(timeline.get_by_test_id("trace-tool-detail").locator("summary")).to_contain_text("arguments and result")
    _shoot(page, "trace-en")
    page.get_by_test_id("nav-templates").click()
    card = page.get_by_test_id("template-sql-analyst")
    expect(card.get_by_test_id("template-title")).to_have_text("SQL analyst over a dataset (DuckDB)")
    expect(card).to_contain_text("Installs: 1")
    expect(page.get_by_test_id(f"template-{shared[0]['id']}")).to_contain_text("팀의 티켓 분석가")
    _shoot(page, "gallery-en")
