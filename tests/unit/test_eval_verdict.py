"""A suite run's verdict: each threshold against the run's mean for the suite's target (key "A"); a
metric no row could score fails its bar, and a run that did not succeed fails as a whole."""

from __future__ import annotations

import uuid

import pytest

from axops.core.errors import Invalid
from axops.evaluation.gates import _failures
from axops.evaluation.models import EvalRun
from axops.evaluation.suite_schemas import GateSuite, VerdictItem
from axops.evaluation.suites import check_thresholds, verdict_of

THRESHOLDS = [
    {"metric": "bleu", "op": ">=", "value": 0.3},
    {"metric": "length", "op": "<=", "value": 0.5},
    {"metric": "judge:correctness", "op": ">=", "value": 0.6},
]


def _run(status: str, summary: dict) -> EvalRun:
    return EvalRun(status=status, summary=summary)


def test_each_threshold_is_held_against_target_a():
    summary = {"bleu": {"A": 0.3, "B": 0.9}, "length": {"A": 0.75}, "judge:correctness": {"A": None, "B": 1.0}}
    items, passed = verdict_of(_run("succeeded", summary), THRESHOLDS)
    assert [(i["metric"], i["actual"], i["passed"]) for i in items] == [
        ("bleu", 0.3, True),  # >= is inclusive
        ("length", 0.75, False),  # <= bar missed
        ("judge:correctness", None, False),  # no score for A: B's is not A's
    ]
    assert passed is False
    items, passed = verdict_of(_run("succeeded", {"bleu": {"A": 0.31}}), THRESHOLDS[:1])
    assert passed is True and items[0]["passed"] is True
    items, passed = verdict_of(_run("stopped", {"bleu": {"A": 0.9}}), THRESHOLDS[:1])
    assert items[0]["passed"] is True and passed is False  # a partial run never passes


def test_thresholds_name_the_suites_scores_as_fractions():
    metrics = [{"name": "bleu", "params": {}}]
    judges = [{"name": "correctness", "mode": "single"}, {"name": "preference", "mode": "pairwise"}]
    check_thresholds([{"metric": "judge:correctness", "op": ">=", "value": 0.5}], metrics, judges)
    for bad, code in (
        ({"metric": "judge:preference", "op": ">=", "value": 0.5}, "eval_threshold_unknown_metric"),
        ({"metric": "rougeL", "op": ">=", "value": 0.5}, "eval_threshold_unknown_metric"),
        ({"metric": "bleu", "op": ">=", "value": 41}, "eval_threshold_out_of_range"),
    ):
        with pytest.raises(Invalid) as exc:
            check_thresholds([bad], metrics, judges)
        assert exc.value.code == code


def test_the_refusal_says_what_missed_in_no_language():
    missed = VerdictItem(metric="exact_match", op=">=", value=0.9, actual=0.5, passed=False)
    unscored = VerdictItem(metric="length", op="<=", value=0.2, actual=None, passed=False)
    suites = [
        GateSuite(suite_id=uuid.uuid4(), suite_name="qa", status="failed", failed=[missed, unscored]),
        GateSuite(suite_id=uuid.uuid4(), suite_name="tone", status="failed", run_status="stopped"),
        GateSuite(suite_id=uuid.uuid4(), suite_name="ok", status="passed"),
    ]
    assert _failures(suites) == ["qa: exact_match 0.5 < 0.9", "qa: length — ≤ 0.2", "tone: stopped"]
