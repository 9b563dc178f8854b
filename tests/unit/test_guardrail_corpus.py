"""Precision and recall of the built-in detectors on a held-out Korean/English corpus
(tests/data/guardrails_corpus.jsonl: blocked cases with obfuscations, allowed cases and
false-positive traps). The corpus was written by hand by the same engineer as the detectors, with
phrasings chosen to differ from the rules; it is small (~90 rows), so the floors are a regression
guard, not a quality claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from axops.guardrails import checks

CORPUS = Path(__file__).parent.parent / "data" / "guardrails_corpus.jsonl"
BANNED_LIST = [
    "시발",
    "씨발",
    "병신",
    "개새끼",
    "fuck",
    "shit",
    "bitch",
    "대외비",
    "confidential",
    "!시발점",
    "!시발역",
]
FLOORS = {"banned_words": (0.95, 0.9), "harmful": (0.95, 0.85), "injection": (0.95, 0.85)}  # (precision, recall)


def _flagged(check: str, text: str) -> bool:
    if check == "banned_words":
        return bool(checks.banned_words(text, BANNED_LIST))
    if check == "harmful":
        return bool(checks.harmful(text))
    return bool(checks.injection(text))


def _rows() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("check", sorted(FLOORS))
def test_corpus_precision_and_recall(check: str) -> None:
    rows = [r for r in _rows() if r["check"] == check]
    assert sum(r["expect"] == "block" for r in rows) >= 10 and sum(r["expect"] == "allow" for r in rows) >= 10
    tp = fp = fn = 0
    misses = []
    for r in rows:
        got = _flagged(check, r["text"])
        want = r["expect"] == "block"
        tp += got and want
        fp += got and not want
        fn += want and not got
        if got != want:
            misses.append(r["note"] or r["text"][:40])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"{check}: precision {precision:.3f} recall {recall:.3f} on {len(rows)} rows; misses: {misses}")
    floor_p, floor_r = FLOORS[check]
    assert precision >= floor_p and recall >= floor_r, misses
