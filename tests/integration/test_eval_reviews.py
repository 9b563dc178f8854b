"""Human review queues over HTTP: a queue from a finished run (its rows written straight into the
evaluation tables with known outputs and judge grades), two annotators labelling, agreement figures
checked against values worked out by hand, the blind pairwise mapping, export, scoping, closing and
deleting; and a queue sampled from gateway traffic (masked, only the creator's requests)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import openai
import orjson
import pytest
from sqlalchemy import create_engine, insert

from axops.core.db import libpq_url
from axops.evaluation.models import EvalResult, EvalRow, EvalRun, EvalSet
from tests.factories import flush_gateway, live_and_dead_routes, make_account, make_key, upload_dataset
from tests.mocks import MockUpstream

INPUTS = ["서울의 수도는?", "2+2는?", "한국어로 인사해 줘", "=1+1 계산"]
A_OUT = ["서울은 한국의 수도입니다.", "4", "안녕하세요!", '=HYPERLINK("http://x")']
B_OUT = ["모르겠습니다.", "5", "Hello", "2"]
JUDGE_A = [5, 4, 3, 1]  # correctness (scale 5) of target A per row
JUDGE_PAIR = ["A", "A", "B", "tie"]  # pairwise judge "preference" per row


def _insert(database_url: str, rows: list[tuple]) -> None:
    engine = create_engine(libpq_url(database_url).replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            for model, values in rows:
                conn.execute(insert(model).values(**values))
    finally:
        engine.dispose()


def _finished_run(api, database_url, owner) -> str:
    r = upload_dataset(api, owner.headers, b"q,a\nx,y\n", "qa.csv", name="review-set")
    assert r.status_code == 201, r.text
    set_id, run_id = uuid.uuid4(), uuid.uuid4()
    team_id = uuid.UUID(owner.team["id"])
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
                name="run-for-review",
                eval_set_id=set_id,
                targets=[
                    {"key": "A", "kind": "column", "column": "a", "label": "secret-model-alpha"},
                    {"key": "B", "kind": "column", "column": "b", "label": "secret-model-beta"},
                ],
                judges=[
                    {"name": "correctness", "route": "judge", "mode": "single", "scale": 5},
                    {"name": "preference", "route": "judge", "mode": "pairwise"},
                ],
                status="succeeded",
                progress={"done": 4, "total": 4, "errors": 0},
                created_by=uuid.UUID(owner.user_id),
            ),
        ),
    ]
    for i in range(4):
        pair = {"A|B": {"preference": {"winner": JUDGE_PAIR[i], "consistent": True, "reasoning": ["", ""]}}}
        rows.append(
            (EvalRow, dict(run_id=run_id, row_index=i, input=INPUTS[i], references=[f"ref {i}"], pairwise=pair))
        )
        judged = {"correctness": {"score": (JUDGE_A[i] - 1) / 4, "raw": JUDGE_A[i], "reasoning": "", "error": None}}
        rows.append((EvalResult, dict(run_id=run_id, row_index=i, target_key="A", output=A_OUT[i], judges=judged)))
        rows.append((EvalResult, dict(run_id=run_id, row_index=i, target_key="B", output=B_OUT[i])))
    _insert(database_url, rows)
    return str(run_id)


def _annotate(api, headers, queue_id: str, label_for) -> list[dict]:
    """Label every item the server hands out as next; returns the items seen, in order."""
    seen, after = [], None
    while True:
        r = api.get(
            f"/api/eval/reviews/{queue_id}/next", params={} if after is None else {"after": after}, headers=headers
        )
        assert r.status_code == 200, r.text
        item = r.json()["item"]
        if item is None:
            return seen
        seen.append(item)
        body = label_for(item)
        r = api.put(f"/api/eval/reviews/{queue_id}/items/{item['id']}/label", json=body, headers=headers)
        assert r.status_code == 200, r.text
        after = item["position"]


def test_review_queues_from_a_run(api, admin, database_url):
    owner = make_account(api, admin, "rv-owner", new_team="rv-team")
    ann1 = make_account(api, admin, "rv-ann1", team=owner.team)
    ann2 = make_account(api, admin, "rv-ann2", team=owner.team)
    bystander = make_account(api, admin, "rv-bystander", team=owner.team)
    stranger = make_account(api, admin, "rv-stranger", new_team="rv-other")
    run_id = _finished_run(api, database_url, owner)

    # --- Likert: target A's outputs, two criteria, two assigned annotators ---
    body = {
        "name": "정확성-검토",
        "mode": "likert",
        "criteria": [{"name": "correctness", "scale": 5}, {"name": "fluency", "scale": 3}],
        "assignees": [ann1.user_id, ann2.user_id],
        "run": {"run_id": run_id, "targets": ["A"]},
    }
    names = [u["username"] for u in api.get("/api/eval/reviews/reviewers", headers=owner.headers).json()["items"]]
    assert names == ["rv-ann1", "rv-ann2", "rv-bystander", "rv-owner"]
    r = api.post("/api/eval/reviews", json={**body, "assignees": [stranger.user_id]}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["users"] == [stranger.user_id]
    r = api.post("/api/eval/reviews", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    likert = r.json()
    assert likert["progress"] == {"total": 4, "labelled": 0, "mine": 0} and not likert["may_annotate"]
    qid = likert["id"]
    assert (
        api.post("/api/eval/reviews", json=body, headers=owner.headers)
        .json()["type"]
        .endswith("review_queue_name_taken")
    )

    # Scores by row (found through the input shown), as worked out below.
    s1 = {"correctness": [5, 4, 2, 1], "fluency": [3, 3, 3, 3]}
    s2 = {"correctness": [5, 3, 2, 2], "fluency": [3, 3, 3, 2]}

    def likert_label(scores):
        def label(item):
            row = INPUTS.index(item["input"])
            assert item["outputs"] == {"1": A_OUT[row]} and item["reference"] == [f"ref {row}"]
            return {"scores": {k: v[row] for k, v in scores.items()}, "comment": f"row {row}"}

        return label

    assert len(_annotate(api, ann1.headers, qid, likert_label(s1))) == 4
    mid = api.get(f"/api/eval/reviews/{qid}", headers=ann2.headers).json()
    assert mid["progress"] == {"total": 4, "labelled": 4, "mine": 0} and mid["may_annotate"]
    assert len(_annotate(api, ann2.headers, qid, likert_label(s2))) == 4
    # Going back: the item at position 0 carries my label; changing it replaces it.
    first = api.get(f"/api/eval/reviews/{qid}/items/0", headers=ann1.headers).json()
    assert first["label"]["scores"] == {k: v[INPUTS.index(first["input"])] for k, v in s1.items()}
    bad = api.put(
        f"/api/eval/reviews/{qid}/items/{first['id']}/label", json={"scores": {"correctness": 6}}, headers=ann1.headers
    )
    assert bad.status_code == 422 and bad.json()["type"].endswith("review_label_invalid")

    done = api.get(f"/api/eval/reviews/{qid}", headers=owner.headers).json()
    assert [(a["username"], a["labelled"]) for a in done["annotators"]] == [("rv-ann1", 4), ("rv-ann2", 4)]

    figures = {
        c["criterion"]: c
        for c in api.get(f"/api/eval/reviews/{qid}/agreement", headers=owner.headers).json()["criteria"]
    }
    # correctness: agree on rows 0 and 2 → 0.5. Quadratic kappa: observed Σw = (0+1+0+1)/4 = 0.5; expected
    # Σ px·py·(i-j)² over the marginals (ann1 5,4,2,1 each ¼; ann2 5 ¼, 3 ¼, 2 ½) = 4.0 → 1 - 0.5/4 = 0.875.
    pair = figures["correctness"]["annotators"][0]
    assert (pair["a"], pair["b"], pair["n"], pair["percent_agreement"]) == ("rv-ann1", "rv-ann2", 4, 0.5)
    assert pair["kappa"] == pytest.approx(0.875)
    # Humans vs the run's judge (every label paired with the judge's 5,4,3,1): 4 of 8 agree; observed Σw = 4/8,
    # expected 4.25 → 1 - 0.5/4.25 = 15/17.
    judge = figures["correctness"]["judge"]
    assert (judge["n"], judge["percent_agreement"]) == (8, 0.5) and judge["kappa"] == pytest.approx(15 / 17)
    # fluency: 3 of 4 agree; ann1 always 3, so chance agreement equals observed → kappa 0. No judge of that name.
    flu = figures["fluency"]
    assert flu["annotators"][0]["percent_agreement"] == 0.75 and flu["annotators"][0]["kappa"] == pytest.approx(0.0)
    assert flu["judge"] is None and flu["judge_note"] == "no_judge"

    # --- scoping: a team member not assigned 403, another team 404, no eval:write no export ---
    r = api.get(f"/api/eval/reviews/{qid}/next", headers=bystander.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("review_not_assignee")
    for path in ("", "/next", "/agreement"):
        r = api.get(f"/api/eval/reviews/{qid}{path}", headers=stranger.headers)
        assert r.status_code == 404 and r.json()["type"].endswith("review_queue_not_found"), path
    assert api.get("/api/eval/reviews", headers=stranger.headers).json()["items"] == []

    # --- pairwise: A vs B, blind; annotators pick by the text they read ---
    r = api.post(
        "/api/eval/reviews",
        json={"name": "pair", "mode": "pairwise", "criteria": [{"name": "preference"}], "run": {"run_id": run_id}},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    # An item of one queue is not reachable through another's path.
    other_item = api.get(f"/api/eval/reviews/{pid}/items/0", headers=ann1.headers).json()["id"]
    r = api.put(
        f"/api/eval/reviews/{qid}/items/{other_item}/label",
        json={"scores": {"correctness": 1, "fluency": 1}},
        headers=ann1.headers,
    )
    assert r.status_code == 404 and r.json()["type"].endswith("review_item_not_found")
    want1, want2 = ["A", "A", "B", "A"], ["A", "B", "B", "tie"]  # the target each annotator prefers, by row
    raw_answers: list[bytes] = []

    def pair_label(wanted):
        def label(item):
            row = INPUTS.index(item["input"])
            assert set(item["outputs"]) == {"1", "2"} and {*item["outputs"].values()} == {A_OUT[row], B_OUT[row]}
            if wanted[row] == "tie":
                return {"choices": {"preference": "tie"}}
            text = A_OUT[row] if wanted[row] == "A" else B_OUT[row]
            return {"choices": {"preference": next(k for k, v in item["outputs"].items() if v == text)}}

        return label

    seen = _annotate(api, ann1.headers, pid, pair_label(want1)) + _annotate(api, ann2.headers, pid, pair_label(want2))
    assert len(seen) == 8
    # The screen order is fixed per item (both annotators saw the same "1" and "2"), and nothing an
    # annotator receives names a target.
    shown = {}
    for item in seen:
        assert shown.setdefault(item["id"], item["outputs"]) == item["outputs"]
    for path in ("/next", "/items", "/items/0"):
        raw = api.get(f"/api/eval/reviews/{pid}{path}", headers=ann1.headers).content
        raw_answers.append(raw)
    for raw in [*raw_answers, orjson.dumps(seen)]:
        for secret in (b"secret-model", b'"A"', b'"B"', b"blind", b"target"):
            assert secret not in raw, (secret, raw[:300])

    figures = api.get(f"/api/eval/reviews/{pid}/agreement", headers=owner.headers).json()["criteria"][0]
    assert figures["weights"] == "none"
    # ann1 A,A,B,A vs ann2 A,B,B,tie: po = 2/4; pe = ¾·¼ (A) + ¼·½ (B) = 0.3125 → (0.5-0.3125)/0.6875 = 3/11.
    pair = figures["annotators"][0]
    assert pair["percent_agreement"] == 0.5 and pair["kappa"] == pytest.approx(3 / 11)
    # Against the judge's A,A,B,tie: 6 of 8 agree; pe = ½·½ + ⅜·¼ + ⅛·¼ = 0.375 → (0.75-0.375)/0.625 = 0.6.
    judge = figures["judge"]
    assert (judge["n"], judge["percent_agreement"]) == (8, 0.75) and judge["kappa"] == pytest.approx(0.6)

    # --- export: targets named, formula cells defused ---
    assert api.get(f"/api/eval/reviews/{pid}/export", headers=ann1.headers).status_code == 200  # developers may
    r = api.get(f"/api/eval/reviews/{pid}/export", params={"format": "csv"}, headers=owner.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert len(table) == 8
    by = {(t["reviewer"], int(t["row_index"])): t for t in table}
    assert [by[("rv-ann1", i)]["winner:preference"] for i in range(4)] == want1
    assert [by[("rv-ann2", i)]["winner:preference"] for i in range(4)] == want2
    formula = by[("rv-ann1", 3)]
    assert formula["input"] == "'=1+1 계산" and "'=HYPERLINK" in (formula["output_1"] + formula["output_2"])
    lines = api.get(f"/api/eval/reviews/{pid}/export", params={"format": "jsonl"}, headers=owner.headers).text
    docs = [orjson.loads(x) for x in lines.splitlines()]
    assert len(docs) == 4 and all(set(d["outputs"]) == {"A", "B"} for d in docs)
    row0 = next(d for d in docs if d["source"]["row_index"] == 0)
    assert row0["outputs"]["A"] == A_OUT[0] and {lb["choices"]["preference"] for lb in row0["labels"]} == {"A"}

    # --- close, then delete; audited ---
    closed = api.post(f"/api/eval/reviews/{qid}/close", headers=owner.headers).json()
    assert closed["status"] == "closed"
    r = api.put(
        f"/api/eval/reviews/{qid}/items/{first['id']}/label",
        json={"scores": {"correctness": 1, "fluency": 1}},
        headers=ann1.headers,
    )
    assert r.status_code == 409 and r.json()["type"].endswith("review_queue_closed")
    assert api.delete(f"/api/eval/reviews/{qid}", headers=ann1.headers).status_code == 204  # ann1 is a developer
    assert api.get(f"/api/eval/reviews/{qid}", headers=owner.headers).status_code == 404
    events = api.get("/api/audit/logs", params={"resource_type": "review_queue"}, headers=admin).json()["items"]
    assert sorted(e["action"] for e in events) == [
        "review_queue.close",
        "review_queue.create",
        "review_queue.create",
        "review_queue.delete",
    ]


@pytest.fixture
def upstream():
    a = MockUpstream("A")
    yield a
    if a.runner:
        asyncio.run_coroutine_threadsafe(a.runner.cleanup(), a.loop).result(10)


def test_review_queue_from_gateway_traffic(api, admin, upstream, live_server):
    live_and_dead_routes(api, admin, upstream.url)
    one = make_account(api, admin, "rvt-dev1", new_team="rvt-a")
    two = make_account(api, admin, "rvt-dev2", new_team="rvt-b")
    for account, text in ((one, "내 번호는 010-2345-6789 입니다"), (one, "두 번째 질문"), (two, "team two here")):
        key = make_key(api, account.headers, f"logged-{uuid.uuid4().hex[:6]}", log_content=True)
        client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
        client.chat.completions.create(
            model="chat-live", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
        )
    flush_gateway(live_server)

    r = api.post(
        "/api/eval/reviews",
        json={
            "name": "traffic",
            "criteria": [{"name": "helpfulness", "scale": 4}],
            "traffic": {"model": "chat-live", "size": 10, "seed": 1},
        },
        headers=one.headers,
    )
    assert r.status_code == 201, r.text
    queue = r.json()
    assert queue["source"] == "traffic" and queue["progress"]["total"] == 2  # dev1's requests only
    items = api.get(f"/api/eval/reviews/{queue['id']}/items", headers=one.headers).json()
    assert items["total"] == 2
    inputs = sorted(i["input"] for i in items["items"])
    assert "010-2345-6789" not in "".join(inputs) and "두 번째 질문" in inputs
    assert all(i["context"] == "system: be brief" and i["outputs"]["1"] for i in items["items"])
    r = api.post(
        "/api/eval/reviews",
        json={"name": "t2", "mode": "pairwise", "criteria": [{"name": "x"}], "traffic": {"size": 5}},
        headers=one.headers,
    )
    assert r.status_code == 422 and r.json()["type"].endswith("review_pairwise_needs_run")
