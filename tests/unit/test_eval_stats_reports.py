"""The evaluation report's statistics against hand-computed and textbook values, and the report (JSON,
CSV, HTML) from a hand-built run whose every figure is known."""

import csv
import io
import random
import re

import pytest

from axops.evaluation import reports, stats

# --- statistics ---------------------------------------------------------------------------------------


def test_bootstrap_interval_holds_the_mean_repeats_by_seed_and_narrows_with_n():
    rng = random.Random(7)
    small = [rng.random() for _ in range(50)]
    large = [rng.random() for _ in range(5000)]
    ci = stats.bootstrap_ci([*small, None], seed=3)
    assert ci["n"] == 50 and ci["mean"] == pytest.approx(sum(small) / 50)
    assert ci["lo"] < ci["mean"] < ci["hi"]
    assert stats.bootstrap_ci(small, seed=3) == ci
    assert stats.bootstrap_ci(small, seed=4)["lo"] != ci["lo"]
    wide = stats.bootstrap_ci(large, seed=3)
    # the interval of a mean shrinks as 1/sqrt(n): 10x narrower for 100x the rows, give or take
    assert (wide["hi"] - wide["lo"]) < (ci["hi"] - ci["lo"]) / 5
    assert stats.bootstrap_ci([None, None]) == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert stats.bootstrap_ci([0.5]) == {"mean": 0.5, "lo": 0.5, "hi": 0.5, "n": 1}


def test_many_columns_at_once_give_each_columns_own_interval():
    rng = random.Random(2)
    full = [rng.random() for _ in range(300)]
    other = [rng.random() for _ in range(300)]
    holes = [None if i % 7 == 0 else v for i, v in enumerate(other)]
    together = stats.bootstrap_many([full, holes, other, [None] * 300], seed=5)
    alone = [stats.bootstrap_ci(c, seed=5) for c in (full, holes, other)]
    for got, want in zip(together, alone, strict=False):
        assert got["n"] == want["n"]
        assert (got["mean"], got["lo"], got["hi"]) == pytest.approx((want["mean"], want["lo"], want["hi"]), abs=1e-12)
    assert together[3] == {"mean": None, "lo": None, "hi": None, "n": 0}


def test_paired_difference_resamples_rows_together():
    rng = random.Random(1)
    a = [rng.random() for _ in range(200)]
    b = [x - 0.1 for x in a]
    d = stats.paired_difference_ci(a, b)
    # every row differs by exactly 0.1, so every resample does too: resampling a and b apart would not
    assert (d["mean"], d["lo"], d["hi"]) == pytest.approx((0.1, 0.1, 0.1))
    assert stats.paired_difference_ci([1.0, None, 0.0], [0.0, 1.0, None])["n"] == 1


def test_win_rate_skips_missing_and_knows_lower_is_better():
    a, b = [0.9, 0.5, None, 0.2, 0.3], [0.1, 0.5, 0.4, 0.6, None]
    assert stats.win_rate(a, b) == {"wins": 1, "losses": 1, "ties": 1, "n": 3}
    assert stats.win_rate([1.0, 3.0], [2.0, 2.0], higher_is_better=False) == {"wins": 1, "losses": 1, "ties": 0, "n": 2}


def test_cohen_kappa_against_a_textbook_value_and_a_hand_computed_one():
    # Wikipedia's grant example: 50 proposals, both yes 20, both no 15, yes/no 5, no/yes 10:
    # p_o = 35/50 = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    x = ["yes"] * 25 + ["no"] * 25
    y = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert stats.cohen_kappa(x, y) == pytest.approx(0.4)
    assert stats.percent_agreement(x, y) == pytest.approx(0.7)

    # x = [1, 2, 3], y = [1, 3, 3]; marginals x: 1,2,3 once each; y: 1 once, 3 twice.
    # plain: p_o = 2/3, p_e = (1·1 + 1·0 + 1·2) / 9 = 1/3, kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5
    # quadratic, w = (i - j)²: observed = (0 + 1 + 0) / 3 = 1/3;
    #   expected = [x=1: 4·1·2] + [x=2: 1·1·1 + 1·1·2] + [x=3: 4·1·1] = 8 + 3 + 4 = 15, / 9 = 5/3;
    #   kappa = 1 - (1/3) / (5/3) = 0.8
    assert stats.cohen_kappa([1, 2, 3], [1, 3, 3]) == pytest.approx(0.5)
    assert stats.cohen_kappa([1, 2, 3, None], [1, 3, 3, 5], weights="quadratic") == pytest.approx(0.8)
    # Likert weights use the scores themselves: 1 vs 5 is a worse disagreement than 4 vs 5
    near = stats.cohen_kappa([4, 5, 5, 1], [5, 5, 5, 1], weights="quadratic")
    far = stats.cohen_kappa([1, 5, 5, 4], [5, 5, 5, 4], weights="quadratic")
    assert near > far


def test_agreement_is_none_when_undefined():
    assert stats.cohen_kappa([3, 3, 3], [3, 3, 3]) is None  # one category only: chance agreement is complete
    assert stats.cohen_kappa([None], [1]) is None
    assert stats.percent_agreement([], []) is None
    assert stats.cohen_kappa(["a", "b"], ["a", "b"]) == 1.0
    with pytest.raises(ValueError):
        stats.cohen_kappa([1], [1, 2])


# --- reports ----------------------------------------------------------------------------------------------


def _res(output, em, f1, judge, latency, cost, error=None):
    verdict = {"score": judge, "raw": None, "reasoning": "근거", "error": None if judge is not None else "unreadable"}
    return {
        "output": output,
        "error": error,
        "latency_ms": latency,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": cost,
        "scores": {} if error else {"exact_match": em, "token_f1": f1},
        "judges": {} if error else {"correctness": verdict},
    }


RUN = {
    "id": "0190-run",
    "name": "지원봇 <비교>",
    "targets": [
        {"key": "A", "label": "<b>new</b>", "kind": "route", "route": "chat-new"},
        {"key": "B", "label": "old", "kind": "route", "route": "chat-old"},
    ],
    "metrics": [{"name": "exact_match", "params": {}}, {"name": "token_f1", "params": {}}],
    "judges": [
        {"name": "correctness", "route": "judge", "mode": "single", "scale": 5},
        {"name": "correctness", "route": "judge", "mode": "pairwise", "scale": 5},
    ],
    "tokenizer": "auto",
    "currency": "KRW",
}


def _pw(winner, consistent=True, error=None):
    return {"A|B": {"correctness": {"winner": winner, "consistent": consistent, "reasoning": ["", ""], "error": error}}}


ROWS = [
    {
        "row_index": 0,
        "input": "<script>alert(1)</script>",
        "references": ["=1+1", "둘"],
        "context": None,
        "metadata": {},
        "results": {
            "A": _res("2", 1.0, 0.8, 1.0, 100.0, 0.001),
            "B": _res("<img src=x onerror=alert(1)>", 0.0, 0.5, 0.5, 150.0, 0.002),
        },
        "pairwise": _pw("A"),
    },
    {
        "row_index": 1,
        "input": "수도는?",
        "references": ["서울"],
        "results": {"A": _res("서울", 1.0, 1.0, 0.75, 200.0, 0.002), "B": _res("서울", 1.0, 1.0, 0.75, 150.0, 0.002)},
        "pairwise": _pw("tie", consistent=False),
    },
    {
        "row_index": 2,
        "input": "@SUM(A1)",
        "references": ["x"],
        "results": {
            "A": _res(None, None, None, None, 5000.0, None, error="timeout"),
            "B": _res("-5 + 3", 0.0, 0.2, 0.25, 150.0, 0.002),
        },
        "pairwise": _pw(None, consistent=False, error="B failed"),
    },
    {
        "row_index": 3,
        "input": "q",
        "references": ["r"],
        "results": {"A": _res("r?", 0.0, 0.4, None, 300.0, 0.003), "B": _res("r!", 0.0, 0.6, 0.0, 150.0, 0.002)},
        "pairwise": _pw("A"),
    },
]


@pytest.fixture(scope="module")
def report():
    return reports.build_report(RUN, ROWS, seed=1)


def test_report_means_wins_pairwise_and_usage(report):
    m = report["metrics"]
    assert list(m) == ["exact_match", "token_f1", "judge:correctness"]
    assert m["exact_match"]["by_target"]["A"]["mean"] == pytest.approx(2 / 3)  # the failed row is left out
    assert m["exact_match"]["by_target"]["A"]["n"] == 3
    assert m["exact_match"]["by_target"]["B"]["mean"] == pytest.approx(0.25)
    assert m["token_f1"]["by_target"]["A"]["mean"] == pytest.approx(2.2 / 3)
    assert m["judge:correctness"]["by_target"]["A"]["n"] == 2  # a judge error is not a zero
    assert m["judge:correctness"]["by_target"]["B"]["mean"] == pytest.approx(0.375)
    (c,) = report["comparisons"]
    assert (c["a"], c["b"]) == ("A", "B")
    em = c["metrics"]["exact_match"]
    assert {k: em[k] for k in ("wins", "losses", "ties", "n")} == {"wins": 1, "losses": 0, "ties": 2, "n": 3}
    assert em["diff"]["mean"] == pytest.approx(1 / 3)
    f1 = c["metrics"]["token_f1"]
    assert (f1["wins"], f1["losses"], f1["ties"]) == (1, 1, 1) and f1["diff"]["mean"] == pytest.approx(0.1 / 3)
    assert c["pairwise"]["correctness"] == {"a_wins": 2, "b_wins": 0, "ties": 1, "inconsistent": 1, "errors": 1, "n": 3}
    ua = report["usage"]["A"]
    # latencies 100, 200, 300, 5000: p50 = 250, p95 = 300 + 0.85·4700 (linear interpolation)
    assert (ua["rows"], ua["errors"], ua["latency_p50_ms"]) == (4, 1, 250.0)
    assert ua["latency_p95_ms"] == pytest.approx(4295.0)
    assert (ua["prompt_tokens"], ua["completion_tokens"], ua["cost"]) == (40, 20, pytest.approx(0.006))
    assert ua["judge_errors"] == {"correctness": 1}
    assert report["currency"] == "KRW"


def test_report_against_a_baseline_reads_pairwise_verdicts_the_other_way_round():
    r = reports.build_report(RUN, ROWS, baseline="B")
    (c,) = r["comparisons"]
    assert (c["a"], c["b"]) == ("B", "A")
    assert (c["pairwise"]["correctness"]["a_wins"], c["pairwise"]["correctness"]["b_wins"]) == (0, 2)
    assert c["metrics"]["exact_match"]["losses"] == 1
    with pytest.raises(ValueError, match="baseline 'C'"):
        reports.build_report(RUN, ROWS, baseline="C")


def test_row_differences_list_rows_where_the_targets_differ(report):
    diffs = reports.row_differences(report, ROWS)
    assert [d["row_index"] for d in diffs] == [0, 2, 3]  # row 1: same scores, an order-dependent tie
    assert diffs[2]["diffs"] == {"token_f1": pytest.approx(-0.2)} and diffs[2]["pairwise"] == {"correctness": "A"}


def test_csv_has_a_line_per_row_and_cannot_run_formulas(report):
    text = reports.report_csv(report, ROWS)
    assert text.startswith("\ufeff")
    lines = list(csv.DictReader(io.StringIO(text[1:])))
    assert len(lines) == 4
    assert lines[0]["references"] == '["=1+1", "둘"]'  # a JSON list: it starts with "[", nothing to escape
    assert lines[2]["input"] == "'@SUM(A1)" and lines[2]["B.output"] == "'-5 + 3"
    assert lines[2]["A.error"] == "timeout" and lines[2]["A.exact_match"] == ""
    assert lines[0]["A.judge:correctness"] == "1.0" and lines[0]["B.judge:correctness.reasoning"] == "근거"
    assert [ln["pairwise:A|B:correctness"] for ln in lines] == ["A", "tie", "error", "A"]
    formula = reports.report_csv(report, [{**ROWS[1], "input": '=HYPERLINK("http://x")'}])
    assert next(csv.DictReader(io.StringIO(formula[1:])))["input"].startswith("'=HYPERLINK")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_html_is_self_contained_and_escapes_everything(report, lang):
    html = reports.report_html(report, ROWS, lang=lang)
    assert ("평가 비교 리포트" if lang == "ko" else "Evaluation comparison report") in html
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>new</b>" not in html and "&lt;b&gt;new&lt;/b&gt;" in html
    assert "지원봇 &lt;비교&gt;" in html
    assert not re.search(r"<[^>]+\s(src|href)=", html) and "<link" not in html  # nothing fetched from outside
    assert html.count("<svg") == 3 and "0.667" in html and "(KRW)" in html
