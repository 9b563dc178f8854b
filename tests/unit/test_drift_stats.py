"""Drift statistics against hand-computed values, and the per-request prompt features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from axops.gateway.usage_writer import prompt_features
from axops.monitoring import anomalies, drift
from axops.monitoring.drift_features import BINS, compare_usage


def test_psi_by_hand():
    edges = [0, 10, 20, math.inf]
    # current shares 0.5 / 0.25 / 0.25, reference 0.25 / 0.5 / 0.25:
    # 0.25 ln 2 + (-0.25) ln 0.5 + 0 = 0.5 ln 2
    assert drift.psi([5, 5, 15, 25], [5, 15, 15, 25], edges) == pytest.approx(0.5 * math.log(2))
    assert drift.psi([1, 12, 30], [2, 13, 99], edges) == pytest.approx(0.0)
    # empty bins count as 0.0001: (1 - .5) ln(1 / .5) + (1e-4 - .5) ln(1e-4 / .5) + 0
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert drift.psi([5, 5], [5, 15], edges) == pytest.approx(expected)


def test_bins_are_closed_left_and_the_last_is_open_ended():
    shares = drift.shares([0, 9.99, 10, 19.99, 20, 1e9, -1], [0, 10, 20, math.inf])
    assert shares.tolist() == pytest.approx([3 / 7, 2 / 7, 2 / 7])


def test_ks_statistic_and_p_value_by_hand():
    d, p = drift.ks_test([1, 2, 3, 4], [3, 4, 5, 6])
    assert d == 0.5
    lam = (math.sqrt(2) + 0.12 + 0.11 / math.sqrt(2)) * 0.5
    by_hand = 2 * (math.exp(-2 * lam**2) - math.exp(-8 * lam**2) + math.exp(-18 * lam**2))
    assert p == pytest.approx(by_hand, abs=1e-6)  # three terms of the series
    assert drift.ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert drift.ks_statistic([1, 2], [10, 20]) == 1.0
    # the Kolmogorov distribution's tabulated critical values: 5 % at 1.3581, 1 % at 1.6276
    assert drift.kolmogorov_sf(1.3581) == pytest.approx(0.05, abs=2e-4)
    assert drift.kolmogorov_sf(1.6276) == pytest.approx(0.01, abs=2e-4)
    assert drift.kolmogorov_sf(0.1) == 1.0


def test_total_variation_and_severities():
    assert drift.total_variation([0.9, 0.1, 0.0], [0.1, 0.9, 0.0]) == pytest.approx(0.8)
    assert [drift.severity_of_psi(v) for v in (0.05, 0.1, 0.25, 0.26)] == ["stable", "moderate", "moderate", "drifted"]
    assert drift.severity_of_ks(0.5, 0.2) == "stable"  # not significant
    assert drift.severity_of_ks(0.05, 1e-9) == "stable"  # significant but tiny
    assert drift.severity_of_ks(0.15, 1e-9) == "moderate"
    assert drift.severity_of_ks(0.3, 1e-9) == "drifted"


def _stream(rng, mean: float, korean: float, n: int = 500) -> np.ndarray:
    chars = rng.normal(mean, 30, n)
    hangul = np.where(rng.random(n) < korean, 0.95, 0.05)
    return np.column_stack([chars, chars / 3, hangul, 1 - hangul])


def test_compare_usage_flags_a_shift_and_not_noise():
    rng = np.random.default_rng(1)
    reference = _stream(rng, 200, 0.9)
    same = {(r["feature"], r["test"]): r for r in compare_usage(_stream(np.random.default_rng(2), 200, 0.9), reference)}
    assert {r["severity"] for r in same.values()} == {"stable"}
    shifted = {(r["feature"], r["test"]): r for r in compare_usage(_stream(rng, 400, 0.1), reference)}
    assert shifted["prompt_chars", "psi"]["severity"] == "drifted"
    assert shifted["prompt_chars", "ks"]["statistic"] > 0.9 and shifted["prompt_chars", "ks"]["p_value"] < 1e-6
    assert shifted["hangul_ratio", "psi"]["severity"] == "drifted"
    assert shifted["language_mix", "tv"]["statistic"] == pytest.approx(0.8 * 0.9, abs=0.06)
    assert len(BINS["prompt_chars"]) == 11


def test_prompt_features():
    ko = {"messages": [{"role": "user", "content": "안녕하세요 서울"}]}
    assert prompt_features(ko) == (8, 1.0, 0.0)
    mixed = {
        "messages": [
            {"role": "system", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "가나"}]},
        ]
    }
    chars, hangul, latin = prompt_features(mixed)
    assert (chars, hangul, latin) == (5, 0.5, 0.5)  # "Hi\n가나"
    assert prompt_features({"prompt": "Café ÉTÉ 123"}) == (12, 0.0, 1.0)
    other = prompt_features({"input": ["Привет", "日本"]})
    assert other[0] == 9 and other[1] == 0.0 and other[2] == 0.0
    assert prompt_features({"messages": []}) == (0, None, None)
    assert prompt_features({"prompt": "12345 !?"}) == (8, None, None)


def test_baseline_median_and_robust_spread():
    median, spread = anomalies.baseline(np.full(168, 10.0))
    assert median == 10 and spread == pytest.approx(math.sqrt(10))
    median, spread = anomalies.baseline(np.array([0.0] * 84 + [100.0] * 84))
    assert median == 50 and spread == pytest.approx(1.4826 * 50)
    assert anomalies.usual_hours({3: 5, 4: 1}, active_days=3) == set(range(8, 20))
    assert anomalies.usual_hours({3: 5, 4: 1, 10: 2}, active_days=7) == {3, 10}


def test_cosine_distance_and_its_severity():
    assert drift.cosine_distance(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(0.0)
    assert drift.cosine_distance(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(1.0)
    # cos 60° = 0.5
    assert drift.cosine_distance(np.array([1.0, 0.0]), np.array([0.5, math.sqrt(3) / 2])) == pytest.approx(0.5)
    assert drift.cosine_distance(np.zeros(2), np.array([1.0, 0.0])) == 1.0
    assert [drift.severity_of_cosine(v) for v in (0.01, 0.05, 0.15, 0.2)] == [
        "stable",
        "moderate",
        "moderate",
        "drifted",
    ]
