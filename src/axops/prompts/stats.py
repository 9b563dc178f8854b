"""Statistics for A/B tests, pure Python (no scipy): Student's t distribution through the regularized
incomplete beta function, Welch's t-test, the two-proportion z-test, the Mann–Whitney U test (normal
approximation with tie and continuity corrections), confidence intervals and the sample size per
variant for 80 % power.

Inputs are summaries the server counts in SQL (n, mean, sd; successes; rank sums), so nothing here
needs the raw rows; `mann_whitney` also takes raw samples for tests and small data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05
POWER = 0.80

WELCH = "Welch's t-test"
TWO_PROPORTION = "two-proportion z-test"
MANN_WHITNEY = "Mann–Whitney U (normal approximation)"


# --- distributions -------------------------------------------------------------------------------


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def reg_inc_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom (df may be fractional, as in Welch's)."""
    if math.isinf(df):
        return norm_cdf(t)
    tail = 0.5 * reg_inc_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_sf2(t: float, df: float) -> float:
    """Two-sided p-value P(|T| >= |t|)."""
    if math.isinf(df):
        return math.erfc(abs(t) / math.sqrt(2.0))
    return reg_inc_beta(df / 2.0, 0.5, df / (df + t * t))


def t_ppf(p: float, df: float) -> float:
    """The quantile of Student's t (bisection on t_cdf: plenty fast for a results page)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if math.isinf(df):
        return norm_ppf(p)
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


def norm_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """The standard normal quantile (bisection on erfc, ~1e-13)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if norm_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-14:
            break
    return (lo + hi) / 2.0


# --- summaries and intervals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    sd: float  # the sample standard deviation (n - 1)

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        n = len(values)
        mean = sum(values) / n if n else 0.0
        var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, math.sqrt(var))


def mean_ci(s: Summary, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The t interval of a mean; None below two observations."""
    if s.n < 2:
        return None
    half = t_ppf(1.0 - alpha / 2.0, s.n - 1) * s.sd / math.sqrt(s.n)
    return (s.mean - half, s.mean + half)


@dataclass(frozen=True)
class TestResult:
    method: str
    difference: float  # b - a
    ci: tuple[float, float] | None
    p_value: float | None
    statistic: float | None


def welch(a: Summary, b: Summary, alpha: float = ALPHA) -> TestResult:
    """Welch's unequal-variances t-test of mean(b) - mean(a), with its Welch–Satterthwaite df."""
    diff = b.mean - a.mean
    if a.n < 2 or b.n < 2:
        return TestResult(WELCH, diff, None, None, None)
    va, vb = a.sd**2 / a.n, b.sd**2 / b.n
    se2 = va + vb
    if se2 == 0.0:
        p = 1.0 if diff == 0 else 0.0
        return TestResult(WELCH, diff, (diff, diff), p, None if diff == 0 else math.copysign(math.inf, diff))
    df = se2**2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    se = math.sqrt(se2)
    t = diff / se
    half = t_ppf(1.0 - alpha / 2.0, df) * se
    return TestResult(WELCH, diff, (diff - half, diff + half), t_sf2(t, df), t)


def welch_df(a: Summary, b: Summary) -> float:
    va, vb = a.sd**2 / a.n, b.sd**2 / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def two_proportions(x_a: int, n_a: int, x_b: int, n_b: int, alpha: float = ALPHA) -> TestResult:
    """The two-proportion z-test of p_b - p_a (pooled standard error for the test, unpooled Wald
    interval for the difference)."""
    if n_a == 0 or n_b == 0:
        return TestResult(TWO_PROPORTION, 0.0, None, None, None)
    pa, pb = x_a / n_a, x_b / n_b
    diff = pb - pa
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    se = math.sqrt(pa * (1.0 - pa) / n_a + pb * (1.0 - pb) / n_b)
    half = norm_ppf(1.0 - alpha / 2.0) * se
    if se0 == 0.0:
        return TestResult(TWO_PROPORTION, diff, (diff - half, diff + half), 1.0, 0.0)
    z = diff / se0
    return TestResult(TWO_PROPORTION, diff, (diff - half, diff + half), math.erfc(abs(z) / math.sqrt(2.0)), z)


def mann_whitney_from_ranks(n_a: int, n_b: int, rank_sum_b: float, tie_term: float = 0.0) -> tuple[float, float]:
    """(U_b, two-sided p) from the sum of b's (mid-)ranks in the pooled sample; `tie_term` is
    sum(t^3 - t) over groups of tied values. Normal approximation with continuity correction."""
    n = n_a + n_b
    u_b = rank_sum_b - n_b * (n_b + 1) / 2.0
    mu = n_a * n_b / 2.0
    var = n_a * n_b / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return u_b, 1.0
    z = (abs(u_b - mu) - 0.5) / math.sqrt(var)
    z = max(z, 0.0)
    return u_b, math.erfc(z / math.sqrt(2.0))


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(U_b, two-sided p) for raw samples (mid-ranks for ties)."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    rank_sum_b, tie_term, i = 0.0, 0.0, 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        mid = (i + j + 2) / 2.0
        t = j - i + 1
        tie_term += t**3 - t
        rank_sum_b += mid * sum(1 for k in range(i, j + 1) if pooled[k][1] == 1)
        i = j + 1
    return mann_whitney_from_ranks(len(a), len(b), rank_sum_b, tie_term)


# --- sample size ---------------------------------------------------------------------------------


def n_for_means(sd: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Per group, to detect a difference `delta` of means with common sd (normal approximation)."""
    if delta == 0 or sd <= 0:
        return None
    z = norm_ppf(1.0 - alpha / 2.0) + norm_ppf(power)
    return math.ceil(2.0 * (z * sd / delta) ** 2)


def n_for_proportions(p_a: float, p_b: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Per group, to tell proportion p_a from p_b (pooled variance under H0, unpooled under H1)."""
    if p_a == p_b:
        return None
    za, zb = norm_ppf(1.0 - alpha / 2.0), norm_ppf(power)
    pbar = (p_a + p_b) / 2.0
    num = za * math.sqrt(2.0 * pbar * (1.0 - pbar)) + zb * math.sqrt(p_a * (1.0 - p_a) + p_b * (1.0 - p_b))
    return math.ceil((num / (p_b - p_a)) ** 2)


def n_for_ranks(sd: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """The t-test's figure divided by the Mann–Whitney test's asymptotic relative efficiency under
    normality (3/pi): a common planning approximation."""
    n = n_for_means(sd, delta, alpha, power)
    return None if n is None else math.ceil(n * math.pi / 3.0)
