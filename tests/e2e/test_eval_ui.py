"""Evaluation in the browser, in Korean: an Admin with two gateway routes on a mock upstream whose answers are
known (qa-good answers every question right, qa-bad half of them), an approved dataset and an evaluation set.
The Admin creates a suite in the UI (exact match >= 0.75, attached to a model, target qa-good), runs it now on
qa-bad for version 1 (the worker runs it: exact match 0.5, below the bar), sees the verdict and the mean on the
suite page; moving v1 to production is refused with the reason (the suite, 0.500 against >= 0.75) and promoted
with the audited override; the model page's Evaluation tab shows the gate per version. Then a run of both routes
is started from the suite page, its page reaches done with the known scores, and the comparison report's figures are the
known ones. Each main screen passes check_screen (no English in the Korean UI, axe)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, pick, ui_login
from tests.factories import (
    PASSWORD,
    approve_dataset,
    make_team,
    make_user,
    register_model,
    upload_dataset,
    upload_model,
)
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there
QA = [
    ("서울은 어느 나라의 수도인가요?", "대한민국"),
    ("도쿄는 어느 나라의 수도인가요?", "일본"),
    ("파리는 어느 나라의 수도인가요?", "프랑스"),
    ("베를린은 어느 나라의 수도인가요?", "독일"),
]
ANSWERS = dict(QA)
# qa-bad answers the first two questions right and the last two wrong: exact match 0.5.
WRONG = {QA[2][0]: "이탈리아", QA[3][0]: "스페인"}
# The test's own data, shown verbatim.
ALLOW = ("evals", "eval.admin", "qa-good", "qa-bad", "qa-ko", "qa-gate", "qa-model", "tiny-good", "tiny-bad", "mock")
# A run's targets are keyed A and B (names, like the run's own); its report downloads as HTML.
RUN_ALLOW = (*ALLOW, "good-vs-bad", "A", "B", "HTML")


@pytest.fixture
def upstream():
    mock = MockUpstream("mock")

    def answer(body: dict) -> str:
        question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if body["model"] == "tiny-bad" and question in WRONG:
            return WRONG[question]
        return ANSWERS.get(question, "모름")

    mock.answer_for = answer
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=f"{SHOTS}/eval-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _wait(get, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting: {value}"
        time.sleep(0.2)


def _setup(api, admin, upstream) -> dict:
    """Two routes on the mock, an approved dataset with an evaluation set, a model with a ready version."""
    team = make_team(api, admin, "evals")
    make_user(api, admin, "eval.admin", "admin", [team["id"]])
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    for route, model in (("qa-good", "tiny-good"), ("qa-bad", "tiny-bad")):
        r = api.post(
            "/api/gateway/routes",
            json={"model_name": route, "targets": [{"provider_id": provider.json()["id"], "model": model}]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    csv = "question,answer\n" + "".join(f"{q},{a}\n" for q, a in QA)
    r = upload_dataset(api, admin, csv.encode(), "qa.csv", name="qa-ko", team_id=team["id"])
    assert r.status_code == 201, r.text
    dataset_version = r.json()["id"]
    _wait(
        lambda: api.get(f"/api/dataset/version/{dataset_version}", headers=admin).json(),
        lambda v: v["review_status"] == "scanned",
    )
    approve_dataset(api, admin, dataset_version)
    r = api.post(
        "/api/eval/sets",
        json={
            "name": "qa-ko",
            "dataset_version_id": dataset_version,
            "mapping": {"input": "question", "references": ["answer"]},
            "team_id": team["id"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    model = register_model(api, admin, "qa-model", team_id=team["id"])
    r = upload_model(api, admin, model["id"], {"config.json": b'{"model_type": "gpt2"}'})
    assert r.status_code == 201 and r.json()["status"] == "ready", r.text
    return {"team": team, "model": model, "version": r.json()}


def test_suite_run_gate_and_comparison(browser_page: Page, api, admin, upstream, task_worker):
    made = _setup(api, admin, upstream)
    model = made["model"]
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    ui_login(page, "eval.admin", PASSWORD)

    # --- a suite, created in the UI -------------------------------------------------------------------------------
    page.get_by_test_id("nav-evaluation").click()
    page.get_by_test_id("eval-tab-suites").click()
    expect(page.get_by_test_id("eval-suites").get_by_test_id("state-empty")).to_be_visible()
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("suite-new").click()
    expect(page.get_by_test_id("suite-form-submit")).to_be_disabled()
    expect(page.get_by_test_id("suite-form-missing")).to_have_text("이름을 입력하세요")
    field(page, "suite-form-name").fill("qa-gate")
    pick(page, "suite-form-set", "qa-ko")
    pick(page, "suite-form-picker-metrics", "정확 일치", multiple=True)
    page.get_by_test_id("suite-form-bar-add").click()
    expect(page.get_by_test_id("suite-form-missing")).to_have_text("각 기준의 값을 숫자로 입력하세요")
    field(page, "suite-form-bar-value-0").fill("0.75")
    pick(page, "suite-form-model", "qa-model")
    pick(page, "suite-form-target", "qa-good")
    page.get_by_test_id("suite-form-on-version").locator("input").check()
    expect(page.get_by_test_id("suite-form-missing")).to_have_count(0)
    check_screen(page, allow=ALLOW)
    _shoot(page, "suite-form")
    page.get_by_test_id("suite-form-submit").click()

    expect(page.get_by_test_id("suite-name")).to_have_text("qa-gate")
    suite = api.get("/api/eval/suites", params={"name": "qa-gate"}, headers=admin).json()["items"][0]
    assert suite["thresholds"] == [{"metric": "exact_match", "op": ">=", "value": 0.75}]
    assert suite["target"]["route"] == "qa-good" and suite["model_id"] == model["id"]
    assert suite["run_on_new_version"] is True
    expect(page.get_by_test_id("suite-verdict")).to_have_attribute("data-verdict", "missing")
    check_screen(page, allow=ALLOW)

    # --- Run now on qa-bad for v1: the worker runs it, the page follows it to its verdict ---------------------------
    page.get_by_test_id("suite-run").click()
    pick(page, "suite-run-route", "qa-bad")
    pick(page, "suite-run-version", "v1")
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("suite-run-submit").click()
    runs = page.get_by_test_id("suite-runs")
    expect(runs.get_by_test_id("verdict-chip")).to_have_attribute("data-verdict", "failed", timeout=60_000)
    expect(runs.get_by_test_id("suite-actual-0")).to_have_text("0.500")
    expect(page.get_by_test_id("suite-verdict")).to_have_attribute("data-verdict", "failed")
    expect(page.get_by_test_id("suite-chart")).to_have_count(1)
    check_screen(page, allow=ALLOW)
    _shoot(page, "suite")
    page.get_by_test_id("breadcrumbs").get_by_role("link", name="스위트").click()  # the list: the last verdict
    expect(page.get_by_test_id("suites-table").get_by_test_id("verdict-chip")).to_have_attribute(
        "data-verdict", "failed"
    )
    check_screen(page, allow=ALLOW)
    _shoot(page, "suites")

    # --- the gate: production refused with the reason, then the Admin's audited override ----------------------------
    page.goto(f"/models/{model['id']}")
    page.get_by_test_id("tab-versions").click()
    pick(page, "stage-1", "운영")
    dialog = page.get_by_test_id("gate-refusal")
    expect(dialog).to_contain_text("v1을(를) 운영으로 올릴 수 없습니다")
    expect(dialog.get_by_test_id("gate-message")).to_contain_text("평가 기준을 통과하지 못했습니다")
    expect(dialog.get_by_test_id("gate-miss")).to_have_text("정확 일치: 0.500 (기준 ≥ 0.75)")
    expect(dialog.get_by_role("link", name="qa-gate")).to_have_attribute("href", f"/evaluation/suites/{suite['id']}")
    check_screen(page, allow=ALLOW)
    _shoot(page, "gate")
    expect(page.get_by_test_id("gate-override")).to_be_disabled()
    page.get_by_test_id("gate-override-confirm").locator("input").check()
    page.get_by_test_id("gate-override").click()
    expect(dialog).to_have_count(0)
    _wait(
        lambda: api.get(f"/api/model/version/{made['version']['id']}", headers=admin).json(),
        lambda v: v["stage"] == "production",
    )
    events = api.get("/api/audit/logs", params={"action": "model.version_stage_override"}, headers=admin).json()
    assert [e["resource_id"] for e in events["items"]] == [model["id"]], events

    page.get_by_test_id("tab-evaluation").click()
    expect(page.get_by_test_id("model-gate")).to_have_attribute("data-verdict", "failed")
    expect(page.get_by_test_id("model-eval-table")).to_contain_text("0.500")
    check_screen(page, allow=ALLOW)
    _shoot(page, "model")

    # --- the two routes side by side: a run started from the suite page, followed to done, its comparison report ---
    page.goto(f"/evaluation/suites/{suite['id']}")
    page.get_by_test_id("suite-compare").click()  # the runs' dialog on the suite's set
    expect(page.get_by_test_id("eval-run-set")).to_contain_text("qa-ko")
    field(page, "eval-run-name").fill("good-vs-bad")
    pick(page, "eval-run-route-A", "qa-good")
    page.get_by_test_id("eval-run-add-target").click()
    pick(page, "eval-run-route-B", "qa-bad")
    pick(page, "eval-run-metrics-metrics", "정확 일치", multiple=True)
    expect(page.get_by_test_id("eval-run-estimate-cost")).to_be_visible()
    check_screen(page, allow=RUN_ALLOW)
    page.get_by_test_id("eval-run-start").click()

    expect(page.get_by_test_id("eval-run-page")).to_be_visible()
    expect(page.get_by_test_id("eval-run-status")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_test_id("eval-run-progress-text")).to_contain_text("4 / 4")
    expect(page.get_by_test_id("eval-summary-exact_match-A")).to_have_text("1.000")
    expect(page.get_by_test_id("eval-summary-exact_match-B")).to_have_text("0.500")
    check_screen(page, allow=RUN_ALLOW)
    _shoot(page, "run")

    page.get_by_test_id("eval-run-report").click()
    expect(page.get_by_test_id("eval-report-page")).to_be_visible()
    # A answers all four right (every resample 1.0); B two of four; A wins the two B misses, ties the rest.
    expect(page.get_by_test_id("eval-report-ci-exact_match-A")).to_contain_text("1.000 [1.000, 1.000]")
    expect(page.get_by_test_id("eval-report-ci-exact_match-B")).to_contain_text("0.500 [")
    expect(page.get_by_test_id("eval-report-diff-table")).to_contain_text("2 / 2 / 0")
    expect(page.get_by_test_id("eval-report-diff-table")).to_contain_text("0.500")
    check_screen(page, allow=RUN_ALLOW)
    _shoot(page, "report")

    # --- human review (H7): annotate three rows of this run --------------------------------------------------------
    # The annotation steps go here: a review queue from this run's rows, three rows annotated with the keyboard.
