"""The what-if simulator's arithmetic, computed by hand (prices per 1M tokens, as the gateway charges)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from axops.core.errors import Invalid
from axops.monitoring.cost_forecast import project
from axops.monitoring.cost_simulator import RoutePrices, Target, Usage, simulate

ROUTES = {
    "big": RoutePrices(targets=[Target("p/big", 10.0, 30.0)]),
    "small": RoutePrices(targets=[Target("p/small", 1.0, 2.0)]),
}
# big: (1M × 10 + 0.5M × 30) / 1M = 25.0;  small: (0.2M × 1 + 0.1M × 2) / 1M = 0.4
USAGE = [
    Usage("big", "p/big", 100, 1_000_000, 500_000, 25.0),
    Usage("small", "p/small", 50, 200_000, 100_000, 0.4),
]


def by_route(result: dict) -> dict[str, float]:
    return {r["route"]: round(r["projected"], 9) for r in result["routes"]}


def test_no_scenario_projects_the_recorded_cost():
    r = simulate(USAGE, ROUTES, [], 30)
    assert r["baseline_monthly"] == pytest.approx(25.4)
    assert r["projected_monthly"] == pytest.approx(25.4)
    assert r["delta"] == pytest.approx(0)


def test_shift_part_of_a_route_to_a_cheaper_one():
    # 60 % stays: 15.0; 40 % of big's tokens at small's prices: 0.4 × (1M × 1 + 0.5M × 2) / 1M = 0.8
    r = simulate(USAGE, ROUTES, [{"kind": "shift", "route": "big", "percent": 40, "to_route": "small"}], 30)
    assert by_route(r) == {"big": pytest.approx(15.8), "small": pytest.approx(0.4)}
    assert r["projected_monthly"] == pytest.approx(16.2)
    assert r["delta"] == pytest.approx(-9.2)
    assert r["delta_percent"] == pytest.approx(-9.2 / 25.4 * 100)


def test_edges_zero_and_hundred_percent():
    zero = simulate(USAGE, ROUTES, [{"kind": "shift", "route": "big", "percent": 0, "to_route": "small"}], 30)
    assert zero["projected_monthly"] == pytest.approx(25.4)
    all_moved = simulate(USAGE, ROUTES, [{"kind": "shift", "route": "big", "percent": 100, "to_route": "small"}], 30)
    assert by_route(all_moved)["big"] == pytest.approx(2.0)
    cached = simulate(USAGE, ROUTES, [{"kind": "cache", "route": "big", "hit_rate": 100}], 30)
    assert by_route(cached) == {"big": 0.0, "small": pytest.approx(0.4)}
    half = simulate(USAGE, ROUTES, [{"kind": "cache", "route": "big", "hit_rate": 50}], 30)
    assert half["projected_monthly"] == pytest.approx(12.9)


def test_combined_price_change_shift_and_cache():
    scenarios = [
        {"kind": "price", "upstream": "p/small", "input_price": 2.0, "output_price": 4.0},
        {"kind": "shift", "route": "big", "percent": 100, "to_route": "small"},
        {"kind": "cache", "route": "small", "hit_rate": 25},
    ]
    # small at new prices: (0.2M × 2 + 0.1M × 4) / 1M = 0.8, 25 % hits → 0.6
    # big moved whole to small at new prices: (1M × 2 + 0.5M × 4) / 1M = 4.0, small's 25 % hits → 3.0
    r = simulate(USAGE, ROUTES, scenarios, 30)
    assert by_route(r) == {"big": pytest.approx(3.0), "small": pytest.approx(0.6)}
    assert r["projected_monthly"] == pytest.approx(3.6)
    assert r["baseline_monthly"] == pytest.approx(25.4)


def test_existing_cache_hits_and_the_month_scale():
    # a hit row: cost 0, saved 25 → big's gross 50, current hit share 0.5
    usage = [*USAGE, Usage("big", None, 100, 1_000_000, 500_000, 0.0, 25.0)]
    same = simulate(usage, ROUTES, [], 10)  # 10 days → × 3 for a 30-day month
    assert by_route(same)["big"] == pytest.approx(75.0)
    assert same["baseline_monthly"] == pytest.approx(76.2)
    more = simulate(usage, ROUTES, [{"kind": "cache", "route": "big", "hit_rate": 80}], 10)
    assert by_route(more)["big"] == pytest.approx(50 * 0.2 * 3)
    big = next(r for r in same["routes"] if r["route"] == "big")
    assert big["hit_rate"] == pytest.approx(0.5) and big["requests"] == 200


def test_shift_to_a_named_target_of_a_route_with_several():
    routes = {**ROUTES, "pool": RoutePrices(targets=[Target("p/a", 5.0, 5.0), Target("p/b", 0.0, 0.0, priority=1)])}
    first = simulate(USAGE, routes, [{"kind": "shift", "route": "small", "percent": 50, "to_route": "pool"}], 30)
    # 0.2 stays; half of small's tokens at p/a: 0.5 × (0.3M × 5) / 1M = 0.75
    assert by_route(first)["small"] == pytest.approx(0.95)
    free = [{"kind": "shift", "route": "small", "percent": 50, "to_route": "pool", "to_upstream": "p/b"}]
    assert by_route(simulate(USAGE, routes, free, 30))["small"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ({"kind": "cache", "route": "nope", "hit_rate": 10}, "cost_unknown_route"),
        ({"kind": "shift", "route": "big", "percent": 101, "to_route": "small"}, "cost_bad_scenario"),
        ({"kind": "shift", "route": "big", "percent": -1, "to_route": "small"}, "cost_bad_scenario"),
        ({"kind": "shift", "route": "big", "percent": 10, "to_route": "nope"}, "cost_unknown_route"),
        ({"kind": "shift", "route": "big", "percent": 10, "to_route": "big"}, "cost_bad_scenario"),
        ({"kind": "price", "upstream": "p/big", "input_price": -1, "output_price": 1}, "cost_bad_scenario"),
        ({"kind": "price", "upstream": "p/none", "input_price": 1, "output_price": 1}, "cost_unknown_target"),
        ({"kind": "cache", "route": "big", "hit_rate": 100.5}, "cost_bad_scenario"),
    ],
)
def test_bad_scenarios_are_refused(scenario, code):
    with pytest.raises(Invalid) as refused:
        simulate(USAGE, ROUTES, [scenario], 30)
    assert refused.value.code == code


def test_shares_moved_off_a_route_cannot_pass_100_percent():
    moves = [{"kind": "shift", "route": "big", "percent": 60, "to_route": "small"}] * 2
    with pytest.raises(Invalid):
        simulate(USAGE, ROUTES, moves, 30)


def test_forecast_arithmetic():
    as_of = datetime(2026, 3, 15, tzinfo=UTC)  # 17 days left in March
    daily = {date(2026, 3, d): float(d) for d in range(1, 15)}  # 1 + 2 + ... + 14 = 105
    daily[date(2026, 2, 28)] = 100.0  # before the month: not spent this month
    p = project(daily, as_of, budget=200.0)
    assert p["spent"] == pytest.approx(105)
    assert p["rate_per_day"] == pytest.approx((8 + 9 + 10 + 11 + 12 + 13 + 14) / 7)  # 11
    assert p["remaining_days"] == pytest.approx(17)
    assert p["projected"] == pytest.approx(105 + 11 * 17)
    assert p["rate_stdev"] == pytest.approx(2.160246899)
    assert p["status"] == "at_risk"
    assert p["runs_out_on"] == date(2026, 3, 23)  # 95 left / 11 a day = 8.6 days
    over = project(daily, as_of, budget=50.0)
    assert over["status"] == "over" and over["runs_out_on"] == date(2026, 3, 10)  # 1..10 sums to 55
    assert project(daily, as_of, budget=1000.0)["status"] == "on_track"
