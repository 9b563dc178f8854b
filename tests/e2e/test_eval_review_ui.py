"""Human review in the browser: a queue over a finished run's three rows (set up over the API; the run's rows
written straight into the evaluation tables), annotated with the keyboard alone — digits score the focused
criterion, `c` opens the comment, Enter saves and moves on — then the labels stored are read back, and the
queue page shows the annotator's progress. Every screen passes the Korean-text and axe checks."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, insert

from axops.core.db import libpq_url
from axops.evaluation.models import EvalResult, EvalRow, EvalRun, EvalSet
from tests.browser import check_screen, ui_login
from tests.factories import PASSWORD, make_account, upload_dataset

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there
ROWS = [
    ("대한민국의 수도는 어디인가요?", "대한민국의 수도는 서울입니다.", "서울"),
    ("김치를 만드는 주재료는 무엇인가요?", "배추와 고춧가루, 마늘, 젓갈이 주재료입니다.", "배추"),
    ("존댓말로 인사해 주세요.", "안녕하세요, 만나서 반갑습니다.", "안녕하세요"),
]
SCORES = [(5, 3), (3, 2), (4, 1)]  # (correctness 1-5, fluency 1-3) pressed for each row
ALLOW = ("rv-ui", "correctness", "fluency", "review-set", "run-ui")


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(400)
        page.screenshot(path=f"{SHOTS}/review-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _finished_run(api, database_url: str, owner) -> str:
    r = upload_dataset(api, owner.headers, b"q,a\nx,y\n", "qa.csv", name="review-set")
    assert r.status_code == 201, r.text
    set_id, run_id, team_id = uuid.uuid4(), uuid.uuid4(), uuid.UUID(owner.team["id"])
    rows = [
        (
            EvalSet,
            dict(
                id=set_id,
                team_id=team_id,
                name="qa",
                dataset_version_id=uuid.UUID(r.json()["id"]),
                mapping={"input": "q", "references": ["a"]},
            ),
        ),
        (
            EvalRun,
            dict(
                id=run_id,
                team_id=team_id,
                name="run-ui",
                eval_set_id=set_id,
                targets=[{"key": "A", "kind": "column", "column": "a", "label": "model-a"}],
                status="succeeded",
                created_by=uuid.UUID(owner.user_id),
            ),
        ),
    ]
    for i, (question, answer, reference) in enumerate(ROWS):
        rows.append((EvalRow, dict(run_id=run_id, row_index=i, input=question, references=[reference])))
        rows.append((EvalResult, dict(run_id=run_id, row_index=i, target_key="A", output=answer)))
    engine = create_engine(libpq_url(database_url).replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            for model, values in rows:
                conn.execute(insert(model).values(**values))
    finally:
        engine.dispose()
    return str(run_id)


def test_annotate_three_rows_with_the_keyboard(api, admin, database_url, browser_page: Page):
    page = browser_page
    owner = make_account(api, admin, "rv-ui", new_team="rv-ui-team")
    run_id = _finished_run(api, database_url, owner)
    r = api.post(
        "/api/eval/reviews",
        json={
            "name": "답변-품질",
            "criteria": [
                {"name": "correctness", "description": "참조 답변과 내용이 맞는가", "scale": 5},
                {"name": "fluency", "description": "자연스러운 한국어인가", "scale": 3},
            ],
            "run": {"run_id": run_id},
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    queue = r.json()

    ui_login(page, "rv-ui", PASSWORD)
    page.goto("/evaluation?tab=reviews")
    expect(page.get_by_test_id("review-progress-답변-품질")).to_have_text("0 / 3")
    check_screen(page, ALLOW)
    _shoot(page, "list")

    page.get_by_test_id("review-annotate-답변-품질").click()
    expect(page.get_by_test_id("annotate-progress")).to_have_text("0 / 3")
    expect(page.get_by_test_id("annotate-legend")).to_contain_text("저장하고 다음 항목")
    check_screen(page, ALLOW)
    _shoot(page, "annotate")

    for n in range(3):
        expect(page.get_by_test_id("annotate-position")).to_contain_text(f"{n + 1}번째")
        question = page.get_by_test_id("annotate-input").inner_text().strip()
        row = next(i for i, r in enumerate(ROWS) if r[0] == question)
        correctness, fluency = SCORES[row]
        page.keyboard.press(str(correctness))
        page.keyboard.press(str(fluency))
        if n == 1:
            page.keyboard.press("c")
            expect(page.get_by_test_id("annotate-comment").locator("textarea")).to_be_focused()
            page.keyboard.type("젓갈 종류가 빠졌음")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("annotate-progress")).to_have_text(f"{n + 1} / 3")
    expect(page.get_by_test_id("annotate-done")).to_be_visible()
    check_screen(page, ALLOW)

    # ← reopens the last item with its label.
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("annotate-position")).to_contain_text("3번째")
    expect(page.get_by_test_id("score-correctness-1")).to_be_visible()

    lines = api.get(f"/api/eval/reviews/{queue['id']}/export", params={"format": "jsonl"}, headers=owner.headers)
    docs = [orjson.loads(x) for x in lines.text.splitlines()]
    stored = {d["source"]["row_index"]: d["labels"] for d in docs}
    for row, (correctness, fluency) in enumerate(SCORES):
        assert [lb["reviewer"] for lb in stored[row]] == ["rv-ui"]
        assert stored[row][0]["scores"] == {"correctness": correctness, "fluency": fluency}
    assert stored[1][0]["comment"] == "젓갈 종류가 빠졌음" and stored[0][0]["comment"] == ""

    page.goto(f"/evaluation/reviews/{queue['id']}")
    expect(page.get_by_test_id("review-progress")).to_contain_text("3개 중 3개")
    expect(page.get_by_test_id("annotator-rv-ui")).to_contain_text("3 / 3")
    expect(page.get_by_test_id("agreement-judge-correctness")).to_contain_text("같은 이름의 심판이 없습니다")
    check_screen(page, ALLOW)
    _shoot(page, "queue")
