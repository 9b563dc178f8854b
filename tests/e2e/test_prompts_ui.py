"""Prompts in the browser: a developer creates a chat prompt with one variable (v1), labels it production,
runs it on a gateway route from the Test tab (streamed from a mock upstream with tokens and cost), edits it in
the code editor (a second variable declared from the template) into v2, moves the label, and reads the diff."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import PASSWORD, make_team, make_user
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there
# The test's own data, shown verbatim: names, the route, the label, the mock's answer.
ALLOW = (
    "apps",
    "dev.lee",
    "support-bot",
    "chat",
    "tiny",
    "production",
    "question",
    "tone",
    "hello from mock",
    "local-mock",
)


@pytest.fixture
def upstream():
    mock = MockUpstream("mock")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/prompts-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _type_in_editor(page: Page, testid: str, text: str, *, replace: bool = False) -> None:
    """Type into a CodeMirror editor (its contenteditable), optionally replacing what it holds."""
    content = page.locator(f'[data-testid="{testid}"] .cm-content').first
    content.click()
    if replace:
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_create_label_test_edit_move_and_diff(browser_page: Page, api, admin, upstream):
    team = make_team(api, admin, "apps")
    make_user(api, admin, "dev.lee", "developer", [team["id"]])
    provider = api.post(
        "/api/gateway/providers", json={"name": "local-mock", "base_url": upstream.url}, headers=admin
    ).json()
    r = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "chat",
            "targets": [
                {"provider_id": provider["id"], "model": "tiny", "input_price": 1000.0, "output_price": 1000.0}
            ],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "chat-2", "targets": [{"provider_id": provider["id"], "model": "tiny-2"}]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})

    # The list, empty, then the new prompt: a chat template whose one variable is declared from the template.
    ui_login(page, "dev.lee", PASSWORD)
    page.get_by_test_id("nav-prompts").click()
    expect(page.get_by_test_id("prompts-page").get_by_test_id("state-empty")).to_be_visible()
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("prompts-new").click()
    expect(page.get_by_test_id("prompt-form-submit")).to_be_disabled()
    field(page, "prompt-form-name").fill("support bot")
    expect(page.get_by_test_id("prompt-form-missing")).to_contain_text("이름 형식이 올바르지 않습니다")
    field(page, "prompt-form-name").fill("support-bot")
    _type_in_editor(page, "prompt-form-system", "너는 친절한 상담원이다.")
    _type_in_editor(page, "prompt-form-user", "{{ question }}에 답해 줘")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("prompt-form-submit").click()

    expect(page.get_by_test_id("prompt-name")).to_have_text("support-bot")
    expect(page.get_by_test_id("prompt-message")).to_have_count(2)
    expect(page.get_by_test_id("prompt-variable-row")).to_have_count(1)
    expect(page.get_by_test_id("prompt-variable-row")).to_have_attribute("data-name", "question")
    expect(page.get_by_test_id("prompt-check")).to_have_attribute("data-ok", "true")
    check_screen(page, allow=ALLOW)
    _shoot(page, "editor")
    v1 = api.get("/api/prompts/support-bot/versions/1", headers=admin).json()
    assert v1["template"][1] == {"role": "user", "content": "{{ question }}에 답해 줘"}
    assert [v["name"] for v in v1["variables"]] == ["question"]

    # Label v1 production from the Labels tab.
    page.get_by_test_id("tab-labels").click()
    page.get_by_role("button", name="production 라벨 붙이기").click()
    page.get_by_test_id("prompt-label-form-submit").click()
    expect(page.get_by_test_id("prompt-label-production")).to_have_attribute("data-version", "1")
    expect(page.get_by_test_id("prompt-label-history-move")).to_have_text("— → v1")
    check_screen(page, allow=ALLOW)

    # Test v1 on the route: rendered by the server, streamed from the mock, with tokens, latency and cost.
    page.get_by_test_id("tab-test").click()
    expect(page.get_by_test_id("prompt-test-run")).to_be_disabled()  # the required value is missing
    expect(page.get_by_test_id("prompt-test-blocked")).to_contain_text("question")
    page.locator('[data-testid="prompt-test-var-question"] textarea').first.fill("환불은 어떻게 하나요?")
    pick(page, "prompt-test-routes", "chat-2", multiple=True)  # side by side with the first
    page.get_by_test_id("prompt-test-run").click()
    expect(page.get_by_test_id("prompt-test-column")).to_have_count(2)
    second = page.locator('[data-testid="prompt-test-column"][data-route="chat-2"]')
    expect(second).to_have_attribute("data-streaming", "false")
    expect(second.get_by_test_id("prompt-test-output")).to_contain_text("hello from mock")
    column = page.locator('[data-testid="prompt-test-column"][data-route="chat"]')
    expect(column).to_have_attribute("data-streaming", "false")
    expect(column.get_by_test_id("prompt-test-output")).to_contain_text("hello from mock")
    expect(column.get_by_test_id("prompt-test-tokens")).to_contain_text("출력 3")
    expect(column.get_by_test_id("prompt-test-latency")).to_contain_text("ms")
    expect(column.get_by_test_id("prompt-test-cost")).to_be_visible()
    sent = next(r for r in upstream.requests if r["model"] == "tiny")
    assert sent["stream"] is True and any(r["model"] == "tiny-2" for r in upstream.requests)
    assert sent["messages"] == [
        {"role": "system", "content": "너는 친절한 상담원이다."},
        {"role": "user", "content": "환불은 어떻게 하나요?에 답해 줘"},
    ]
    check_screen(page, allow=ALLOW)
    _shoot(page, "test")

    # Edit: a second variable in the system message, declared from what the template uses; save as v2.
    page.get_by_test_id("tab-editor").click()
    system = page.get_by_test_id("prompt-message").first
    _type_in_editor(page, "prompt-message-content", "너는 {{ tone 말투로", replace=True)  # a syntax error
    expect(system.locator(".cm-ax-error-line")).to_be_visible()  # marked at its line and column
    expect(system.get_by_test_id("code-editor-error")).to_contain_text("1행")
    _shoot(page, "editor-error")
    _type_in_editor(page, "prompt-message-content", "너는 {{ tone }} 말투로 짧게 답하는 상담원이다.", replace=True)
    expect(system.locator(".cm-content")).to_contain_text("{{ tone }}")
    expect(page.get_by_test_id("prompt-dirty")).to_be_visible()
    expect(page.get_by_test_id("prompt-undeclared")).to_contain_text("tone")
    expect(page.get_by_test_id("prompt-check")).to_have_attribute("data-ok", "false")  # used but not declared
    expect(system.get_by_test_id("code-editor-error")).to_be_visible()  # said under the message that uses it
    page.get_by_test_id("prompt-declare-used").click()
    # Declared variables complete after "{{" in the editor.
    user = page.locator('[data-testid="prompt-message-content"] .cm-content').nth(1)
    user.click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text(" {{ to")
    page.locator(".cm-tooltip-autocomplete li", has_text="tone").click()
    expect(user).to_contain_text("{{ question }}에 답해 줘 {{ tone")
    page.keyboard.insert_text(" }}")
    row = page.locator('[data-testid="prompt-variable-row"][data-name="tone"]')
    row.locator('[data-testid="prompt-variable-default"] input').fill("정중한")
    expect(page.get_by_test_id("prompt-check")).to_have_attribute("data-ok", "true")
    field(page, "prompt-commit-message").fill("말투 변수 추가")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("prompt-save-version").click()
    expect(page.get_by_test_id("tab-versions")).to_contain_text("(2)")
    expect(page.get_by_test_id("prompt-dirty")).to_have_count(0)
    # "Suggest an improvement" opens on the saved version (its journey is the A/B tests' own).
    page.get_by_test_id("prompt-suggest").click()
    expect(page.get_by_test_id("suggest-dialog")).to_be_visible()
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("suggest-cancel").click()
    expect(page.get_by_test_id("suggest-dialog")).to_be_hidden()
    v2 = api.get("/api/prompts/support-bot/versions/2", headers=admin).json()
    assert v2["message"] == "말투 변수 추가"
    assert {v["name"]: v["default"] for v in v2["variables"]} == {"question": None, "tone": "정중한"}
    assert v2["template"][1]["content"] == "{{ question }}에 답해 줘 {{ tone }}"

    # Move production to v2; the history keeps both moves.
    page.get_by_test_id("tab-labels").click()
    page.get_by_test_id("prompt-label-move-production").click()
    page.get_by_test_id("prompt-label-form-version").click()
    page.get_by_role("option", name="v2 · 말투 변수 추가").click()
    field(page, "prompt-label-form-reason").fill("말투를 맞춤")
    page.get_by_test_id("prompt-label-form-submit").click()
    expect(page.get_by_test_id("prompt-label-production")).to_have_attribute("data-version", "2")
    expect(page.get_by_test_id("prompt-label-history-move").first).to_have_text("v1 → v2")
    expect(page.get_by_test_id("prompt-label-chip")).to_have_text("production → v2")
    assert api.get("/api/prompts/resolve?ref=support-bot@production", headers=admin).json()["version"] == 2
    check_screen(page, allow=ALLOW)
    _shoot(page, "labels")

    # The versions list compares v1 and v2 by default: the system line changed, tone added.
    page.get_by_test_id("tab-versions").click()
    expect(page.get_by_test_id("prompt-version-2")).to_be_visible()
    diff = page.get_by_test_id("prompt-diff")
    expect(diff.locator('[data-op="-"]')).to_contain_text(["너는 친절한 상담원이다.", "{{ question }}에 답해 줘"])
    expect(diff.locator('[data-op="+"]')).to_contain_text(
        ["너는 {{ tone }} 말투로 짧게 답하는 상담원이다.", "{{ question }}에 답해 줘 {{ tone }}"]
    )
    expect(page.get_by_test_id("prompt-diff-variables")).to_contain_text("tone")
    check_screen(page, allow=ALLOW)
    _shoot(page, "versions")

    # The YAML export (what `axops prompt pull` writes) downloads as a file.
    with page.expect_download() as download:
        page.get_by_test_id("prompt-export").click()
    assert download.value.suggested_filename == "support-bot.yaml"
    assert "support-bot" in Path(download.value.path()).read_text(encoding="utf-8")

    # The list shows the label and the latest version.
    page.get_by_test_id("nav-prompts").click()
    table = page.get_by_test_id("prompts-table")
    expect(table).to_contain_text("support-bot")
    expect(table.get_by_test_id("prompt-labels")).to_contain_text("production → v2")
    check_screen(page, allow=ALLOW)
    _shoot(page, "list")
