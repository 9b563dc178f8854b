"""The A/B statistics against reference values: textbook tables, Wikipedia's worked Welch examples
and figures computed by hand."""

import math

import pytest

from axops.prompts import stats
from axops.prompts.experiments import choose
from axops.prompts.stats import Summary


def test_regularized_incomplete_beta_closed_forms():
    # I_x(2, 3) = sum_{j=2..4} C(4, j) x^j (1-x)^(4-j) = 0.3456 + 0.1536 + 0.0256 at x = 0.4
    assert stats.reg_inc_beta(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)
    assert stats.reg_inc_beta(7, 7, 0.5) == pytest.approx(0.5, abs=1e-12)  # symmetry
    assert stats.reg_inc_beta(3, 1, 0.3) == pytest.approx(0.3**3, abs=1e-12)  # I_x(a, 1) = x^a
    assert stats.reg_inc_beta(1, 4, 0.3) == pytest.approx(1 - 0.7**4, abs=1e-12)  # I_x(1, b)
    assert stats.reg_inc_beta(0.5, 0.5, 0.25) == pytest.approx(2 / math.pi * math.asin(0.5), abs=1e-10)
    assert stats.reg_inc_beta(2, 3, 0.0) == 0.0
    assert stats.reg_inc_beta(2, 3, 1.0) == 1.0


@pytest.mark.parametrize(
    ("df", "t975"),
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (120, 1.980)],  # the t table
)
def test_t_quantiles_match_the_table(df, t975):
    assert stats.t_ppf(0.975, df) == pytest.approx(t975, abs=5e-4)
    assert stats.t_sf2(t975, df) == pytest.approx(0.05, abs=2e-4)


def test_t_cdf_of_one_degree_of_freedom_is_cauchy():
    for t in (-3.0, -0.5, 0.0, 1.0, 4.0):
        assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)


def test_normal_quantiles():
    assert stats.norm_ppf(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert stats.norm_ppf(0.8) == pytest.approx(0.841621, abs=1e-6)
    assert stats.norm_ppf(0.5) == pytest.approx(0.0, abs=1e-12)


def test_welch_matches_wikipedia_example_1():
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    r = stats.welch(Summary.of(a2), Summary.of(a1))  # difference = mean(a1) - mean(a2)
    assert r.statistic == pytest.approx(-2.46, abs=0.005)
    assert stats.welch_df(Summary.of(a2), Summary.of(a1)) == pytest.approx(24.99, abs=0.005)
    assert r.p_value == pytest.approx(0.021, abs=0.0005)
    assert r.ci is not None and r.ci[0] < r.difference < r.ci[1] < 0  # significant: the CI excludes 0


def test_welch_matches_wikipedia_example_2_unequal_sizes():
    a1 = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8]
    a2 = [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8]
    a2 += [20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8]
    r = stats.welch(Summary.of(a2), Summary.of(a1))
    assert r.statistic == pytest.approx(-1.57, abs=0.005)
    assert stats.welch_df(Summary.of(a2), Summary.of(a1)) == pytest.approx(9.90, abs=0.01)
    assert r.p_value == pytest.approx(0.149, abs=0.0005)
    assert r.ci is not None and r.ci[0] < 0 < r.ci[1]


def test_welch_needs_two_observations_per_side():
    r = stats.welch(Summary(1, 0.5, 0.0), Summary(10, 0.7, 0.1))
    assert r.p_value is None and r.ci is None


def test_two_proportions_by_hand():
    # 45/100 vs 55/100: pooled p 0.5, se sqrt(0.25 * 0.02) = 0.0707, z = sqrt(2), p = erfc(1) = 0.1573
    r = stats.two_proportions(45, 100, 55, 100)
    assert r.statistic == pytest.approx(math.sqrt(2), abs=1e-9)
    assert r.p_value == pytest.approx(0.157299, abs=1e-6)
    # Wald interval: 0.1 +- 1.96 * sqrt(0.45*0.55/100 * 2) = 0.1 +- 0.1379
    assert r.ci == pytest.approx((0.1 - 0.137896, 0.1 + 0.137896), abs=1e-5)
    assert stats.two_proportions(0, 50, 0, 50).p_value == 1.0


def test_mann_whitney_by_hand():
    # Complete separation of 5 and 5: U = 25 (or 0), mean 12.5, sd sqrt(5*5*11/12) = 4.787,
    # z = (12.5 - 0.5) / 4.787 = 2.5067, p = 0.0122 (continuity-corrected, as R's wilcox.test exact=FALSE)
    u, p = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert u == 25
    assert p == pytest.approx(0.012186, abs=1e-5)
    u, p = stats.mann_whitney([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])
    assert u == 0 and p == pytest.approx(0.012186, abs=1e-5)
    # Ties: all equal is no evidence at all
    assert stats.mann_whitney([3, 3, 3], [3, 3, 3])[1] == 1.0


def test_mann_whitney_tie_correction_by_hand():
    # a = [1, 2, 2], b = [2, 3, 4]: ranks 1, 3, 3 | 3, 5, 6; R_b = 14, U_b = 8, mu = 4.5,
    # tie term 3^3 - 3 = 24, var = 9/12 * (7 - 24/30) = 4.65, z = (3.5 - 0.5)/2.1564 = 1.3912
    u, p = stats.mann_whitney([1, 2, 2], [2, 3, 4])
    assert u == 8
    assert p == pytest.approx(math.erfc(3 / math.sqrt(4.65) / math.sqrt(2)), abs=1e-12)
    assert p == pytest.approx(0.16417, abs=1e-4)


def test_sample_sizes_match_the_textbook():
    # Half a standard deviation at alpha 0.05, power 0.8: 2 * (1.96 + 0.8416)^2 / 0.25 = 62.8 -> 63
    assert stats.n_for_means(1.0, 0.5) == 63
    assert stats.n_for_means(10.0, 2.0) == 393  # 2 * 7.849 * 25 = 392.4
    # 0.5 vs 0.6: (1.96 * sqrt(2 * .55 * .45) + 0.8416 * sqrt(.25 + .24))^2 / 0.01 = 387.3 -> 388
    assert stats.n_for_proportions(0.5, 0.6) == 388
    assert stats.n_for_ranks(1.0, 0.5) == 66  # 63 * pi / 3 = 65.97
    assert stats.n_for_means(1.0, 0.0) is None
    assert stats.n_for_proportions(0.2, 0.2) is None


def test_mean_ci():
    # n 16, mean 10, sd 2: 10 +- t(.975, 15) * 0.5 = 10 +- 2.1314 * 0.5
    lo, hi = stats.mean_ci(Summary(16, 10.0, 2.0))
    assert (lo, hi) == pytest.approx((10 - 1.06572, 10 + 1.06572), abs=1e-4)
    assert stats.mean_ci(Summary(1, 3.0, 0.0)) is None


def test_choose_is_sticky_and_follows_the_weights():
    exp = "0190e5a4-0000-7000-8000-000000000001"
    variants = [{"version": 1, "weight": 30}, {"version": 2, "weight": 70}]
    picks = [choose(exp, variants, f"user-{i}") for i in range(4000)]
    assert {choose(exp, variants, f"user-{i}") for _ in range(3) for i in range(5)} <= {1, 2}
    assert all(choose(exp, variants, f"user-{i}") == picks[i] for i in range(200))
    share = picks.count(2) / len(picks)
    assert 0.66 < share < 0.74
    three = [{"version": 4, "weight": 1}, {"version": 5, "weight": 1}, {"version": 6, "weight": 2}]
    counts = {v: 0 for v in (4, 5, 6)}
    for i in range(4000):
        counts[choose(exp, three, str(i))] += 1
    assert 0.45 < counts[6] / 4000 < 0.55 and counts[4] > 800 and counts[5] > 800
    # a different experiment reshuffles callers
    other = [choose("another", variants, f"user-{i}") for i in range(4000)]
    assert other != picks
