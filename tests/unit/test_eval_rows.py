"""How an evaluation run reads a set's rows: the seeded sample, chat-message inputs, references and
metadata (evaluation/service.py)."""

from __future__ import annotations

import random

import pytest

from axops.evaluation.service import build_row, sample_indices


def test_the_sample_is_seeded_sorted_and_all_rows_without_a_size():
    assert sample_indices(5, None, 1) == [0, 1, 2, 3, 4] and sample_indices(5, 9, 1) == [0, 1, 2, 3, 4]
    picked = sample_indices(1000, 10, 42)
    assert picked == sorted(random.Random(42).sample(range(1000), 10)) == sample_indices(1000, 10, 42)
    assert picked != sample_indices(1000, 10, 43) and len(set(picked)) == 10


def test_rows_in_text_and_message_formats():
    mapping = {"input": "q", "references": ["a1", "a2"], "context": "ctx", "metadata": ["id"]}
    row = build_row(mapping, {"q": "안녕?", "a1": "네", "a2": None, "ctx": 7, "id": 3}, ["a1"])
    assert row["messages"] == [{"role": "user", "content": "안녕?"}] and row["references"] == ["네"]
    assert (row["context"], row["metadata"], row["columns"]) == ("7", {"id": 3}, {"a1": "네"})
    listed = build_row({"input": "q", "references": ["refs"]}, {"q": "x", "refs": ["하나", None, "둘"]})
    assert listed["references"] == ["하나", "둘"]  # a list column: one reference per item

    chat = {"input": "m", "input_format": "messages", "references": []}
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi", "name": "x"}]
    for value in (messages, '[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]'):
        assert build_row(chat, {"m": value})["messages"] == [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ]
    for bad in ("not json", '{"role": "user"}', "[1, 2]"):
        with pytest.raises(ValueError, match="chat messages"):
            build_row(chat, {"m": bad})
