"""A/B tests in the browser: an experiment on support-bot@production with three hours of traffic and user
feedback (usage records and feedback written in SQL: no call makes history at past hours) shows its verdict in
plain Korean, the per-variant table and charts on the prompt page's Experiments tab; the setup dialog splits
traffic live; Promote moves the label, and the page shows it. "Suggest an improvement" asks a mocked route from
the editor, shows the candidate as a diff and saves it as a new version with the same variables and binding."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from axops.core.db import libpq_url
from axops.gateway.models import UsageRecord
from axops.prompts.models import RequestFeedback
from tests.browser import check_screen, field, ui_login
from tests.factories import PASSWORD, add_prompt_version, insert_rows, make_account, make_prompt
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there
# The test's own data, and the statistical notation the Korean UI keeps as symbols: the variants A/B,
# "p-값" (p-value), "t-검정" (t-test).
ALLOW = ("apps", "dev.lee", "support-bot", "production", "question", "chat", "A", "p", "t")
HOURS = 3
PER_VARIANT = 120


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
        page.wait_for_timeout(400)
        page.screenshot(path=f"{SHOTS}/prompt-ab-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _seed_traffic(database_url: str, exp_id: str, user_id: str) -> None:
    """Three hours of requests for v1 (the control) and v2, a few failures, and feedback on most of them:
    v2's answers score clearly higher (≈0.82 against ≈0.54), so the test finds B better."""
    start = datetime.now(UTC) - timedelta(hours=HOURS)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE prompt_experiments SET started_at = %s WHERE id = %s", (start, exp_id))
    scores = {1: [0.4, 0.5, 0.6, 0.7, 0.5], 2: [0.7, 0.8, 0.9, 0.8, 0.9]}
    usage, feedback = [], []
    for version in (1, 2):
        for i in range(PER_VARIANT):
            request_id = uuid.uuid4().hex
            usage.append(
                {
                    "created_at": start + timedelta(minutes=1 + i * (HOURS * 60 - 2) / PER_VARIANT),
                    "request_id": request_id,
                    "user_id": uuid.UUID(user_id),
                    "endpoint": "chat",
                    "model": "chat",
                    "status": 500 if i % 40 == 7 else 200,
                    "prompt_tokens": 40,
                    "completion_tokens": 20 if version == 2 else 35,
                    "cost": 0.002,
                    "latency_ms": (300 if version == 2 else 420) + (i % 10) * 25,
                    "prompt_name": "support-bot",
                    "prompt_version": version,
                    "prompt_experiment_id": uuid.UUID(exp_id),
                }
            )
            if i % 6:  # five in six requests got a rating
                feedback.append(
                    {
                        "request_id": request_id,
                        "name": "user",
                        "score": scores[version][i % 5],
                        "user_id": uuid.UUID(user_id),
                    }
                )
    insert_rows(database_url, UsageRecord, usage)
    insert_rows(database_url, RequestFeedback, feedback)


def test_verdict_table_charts_and_promote(browser_page: Page, api, admin, database_url):
    dev = make_account(api, admin, "dev.lee", new_team="apps")
    make_prompt(api, dev.headers, "support-bot", template="{{ question }}에 답해 줘")
    add_prompt_version(
        api,
        dev.headers,
        "support-bot",
        "{{ question }}에 짧고 공손하게 답해 줘",
        [{"name": "question", "type": "string"}],
        message="짧고 공손하게",
    )
    r = api.post(
        "/api/prompts/support-bot/experiments",
        json={
            "label": "production",
            "name": "말투 비교",
            "variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
            "metric": "feedback",
            "max_duration_s": 7 * 86400,
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    exp_id = r.json()["id"]
    _seed_traffic(database_url, exp_id, dev.user_id)

    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "dev.lee", PASSWORD)
    page.goto("/prompts/support-bot?tab=experiments")

    # The list: the running test, with its split.
    experiments = page.get_by_test_id("prompt-experiments")
    row = experiments.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("말투 비교")
    expect(row).to_contain_text("v1 50%")
    expect(row.locator('[data-status="running"]')).to_be_visible()
    expect(experiments.get_by_test_id("ab-running-note")).to_contain_text("production")
    check_screen(page, allow=ALLOW)
    _shoot(page, "list")

    # The setup dialog: A is production's version, B the newest; the split bar follows the weights.
    page.get_by_test_id("ab-new").click()
    dialog = page.get_by_test_id("ab-setup")
    expect(field(page, "ab-setup-name")).to_have_value("production: v1 대 v2")
    field(page, "ab-setup-weight-1").fill("150")
    expect(dialog.get_by_test_id("ab-setup-percent-0")).to_have_text("25%")
    expect(dialog.get_by_test_id("ab-setup-percent-1")).to_have_text("75%")
    field(page, "ab-setup-weight-1").fill("0")
    expect(dialog.get_by_test_id("ab-setup-submit")).to_be_disabled()
    expect(dialog.get_by_test_id("form-why")).to_contain_text("비중은 모두 0보다 커야 합니다")
    expect(dialog.get_by_test_id("form-why")).to_contain_text("이미 진행 중인 테스트가 있습니다")  # one per label
    check_screen(page, allow=ALLOW)
    _shoot(page, "setup")
    dialog.get_by_role("button", name="취소").click()
    expect(dialog).to_be_hidden()

    # The results: B better, in plain words, with the test, the interval and the p-value explained.
    row.get_by_test_id(f"ab-open-{exp_id}").click()
    expect(page).to_have_url(re.compile(f"/prompts/support-bot\\?tab=experiments&experiment={exp_id}$"))
    verdict = page.get_by_test_id("ab-verdict")
    expect(verdict).to_have_attribute("data-verdict", "b_better")
    expect(page.get_by_test_id("ab-verdict-title")).to_have_text("B · v2가 더 좋습니다")
    expect(page.get_by_test_id("ab-verdict-difference")).to_contain_text("웰치 t-검정")
    expect(page.get_by_test_id("ab-verdict-difference")).to_contain_text("95% 확률로")
    expect(page.get_by_test_id("ab-verdict-p")).to_contain_text("p-값 < 0.001")
    expect(page.get_by_test_id("ab-verdict-p")).to_contain_text("가능성이 1% 미만입니다")
    table = page.get_by_test_id("ab-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(f"{PER_VARIANT}")
    expect(rows.nth(0)).to_contain_text("2.50%")  # 3 failures in 120
    expect(rows.nth(1)).to_contain_text("0.82")
    for chart in ("requests", "errors", "feedback", "latency"):
        expect(page.get_by_test_id(f"ab-chart-{chart}").locator("canvas")).to_be_visible()
    check_screen(page, allow=ALLOW)
    _shoot(page, "results")

    # Promote the winner: the confirmation names the label and the version; the label moves.
    page.get_by_test_id("ab-promote").click()
    expect(page.get_by_role("dialog")).to_contain_text("라벨 production을(를) v2(으)로 옮기고 테스트를 끝냅니다")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("ab-promoted")).to_contain_text("라벨 production이(가) v2(으)로 승격되었습니다")
    expect(page.locator('[data-testid="ab-results"] [data-status="promoted"]')).to_be_visible()
    expect(page.get_by_test_id("ab-promote")).to_have_count(0)
    expect(page.get_by_test_id("ab-meta")).to_contain_text("종료 사유: 직접 승격")
    expect(page.get_by_test_id("prompt-label-chip")).to_have_text("production → v2")
    assert api.get("/api/prompts/resolve?ref=support-bot@production", headers=admin).json()["version"] == 2
    moves = api.get("/api/prompts/support-bot/labels/history?label=production", headers=admin).json()["items"]
    assert (moves[0]["from_version"], moves[0]["to_version"]) == (1, 2)
    check_screen(page, allow=ALLOW)
    _shoot(page, "promoted")


def test_suggest_an_improvement_and_accept_it(browser_page: Page, api, admin, upstream):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    route = {"provider_id": provider.json()["id"], "model": "tiny", "input_price": 1.0, "output_price": 2.0}
    r = api.post("/api/gateway/routes", json={"model_name": "chat", "targets": [route]}, headers=admin)
    assert r.status_code == 201, r.text
    dev = make_account(api, admin, "dev.lee", new_team="apps")
    variables = [{"name": "question", "type": "string", "description": "고객 질문"}]
    binding = {"route": "chat", "parameters": {"temperature": 0.3}}
    make_prompt(
        api, dev.headers, "support-bot", template="{{ question }}에 답해 줘", variables=variables, binding=binding
    )
    better = "다음 고객 질문에 공손하고 짧게 답해 주세요.\n질문: {{ question }}"
    body = json.dumps({"template": better, "explanation": "공손한 말투와 길이를 정했습니다."}, ensure_ascii=False)
    upstream.answer = f"```json\n{body}\n```"

    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "dev.lee", PASSWORD)
    page.goto("/prompts/support-bot")
    page.get_by_test_id("prompt-suggest").click()
    dialog = page.get_by_test_id("suggest-dialog")
    expect(dialog.get_by_test_id("suggest-route")).to_contain_text("chat")  # the version's bound route
    expect(dialog.get_by_test_id("suggest-accept")).to_be_disabled()
    field(page, "suggest-goal").fill("더 공손하게")
    check_screen(page, allow=ALLOW)
    dialog.get_by_test_id("suggest-ask").click()
    expect(dialog.get_by_test_id("suggest-explanation")).to_have_text("공손한 말투와 길이를 정했습니다.")
    diff = dialog.get_by_test_id("prompt-diff")
    expect(diff.locator('[data-op="-"]')).to_contain_text("{{ question }}에 답해 줘")
    expect(diff.locator('[data-op="+"]')).to_have_count(2)
    sent = upstream.requests[-1]
    assert sent["model"] == "tiny" and "더 공손하게" in sent["messages"][1]["content"]
    check_screen(page, allow=ALLOW)
    _shoot(page, "suggest")

    dialog.get_by_test_id("suggest-accept").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("tab-versions")).to_contain_text("(2)")
    v2 = api.get("/api/prompts/support-bot/versions/2", headers=admin).json()
    v1 = api.get("/api/prompts/support-bot/versions/1", headers=admin).json()
    assert v2["template"] == better and v2["message"] == "개선 제안 반영: 더 공손하게"
    assert v2["variables"] == v1["variables"] and v2["binding"] == v1["binding"]
    assert v2["labels"] == []  # accepting saves a version; the label stays where it was
