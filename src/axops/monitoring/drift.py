"""The statistics of drift, with numpy (no scipy): PSI on fixed bins, the two-sample Kolmogorov-Smirnov
statistic with its asymptotic p-value, the total-variation distance between two language mixes, and the
severity each maps to.

PSI = sum over bins of (c - r) * ln(c / r), with c and r the current and reference shares of the bin;
an empty bin counts as a share of 0.0001 so the logarithm stays finite. Bins are closed on the left,
open on the right, the last one open-ended (values above the last edge fall in it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EMPTY_SHARE = 1e-4
PSI_MODERATE, PSI_DRIFTED = 0.1, 0.25  # < 0.1 stable, 0.1-0.25 moderate, > 0.25 drifted
MIX_MODERATE, MIX_DRIFTED = 0.1, 0.25  # total variation between language mixes, same reading as PSI
KS_ALPHA = 0.01  # a KS result is moderate/drifted only when significant at this level and...
KS_MODERATE, KS_DRIFTED = 0.1, 0.2  # ...its statistic D is at least this large (an effect, not just n)
COSINE_MODERATE, COSINE_DRIFTED = 0.05, 0.15  # 1 - cosine between the windows' embedding centroids


def shares(values: Sequence[float] | np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """The share of `values` in each bin [edges[i], edges[i+1]); the last bin takes everything from
    edges[-2] up. Values below edges[0] join the first bin."""
    v = np.asarray(values, dtype=float)
    idx = np.searchsorted(np.asarray(edges[1:-1], dtype=float), v, side="right")
    counts = np.bincount(idx, minlength=len(edges) - 1).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def psi(
    current: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray, edges: Sequence[float]
) -> float:
    c = np.maximum(shares(current, edges), EMPTY_SHARE)
    r = np.maximum(shares(reference, edges), EMPTY_SHARE)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """D = the largest distance between the two empirical distribution functions."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    points = np.concatenate([x, y])
    fx = np.searchsorted(x, points, side="right") / len(x)
    fy = np.searchsorted(y, points, side="right") / len(y)
    return float(np.max(np.abs(fx - fy)))


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution: 2 * sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lam^2)."""
    if lam < 0.2:  # the series converges slowly there and the answer is 1 to many digits
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2 * (-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def ks_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(D, p-value): the asymptotic p-value with Stephens' small-sample correction,
    lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D with ne = n*m / (n+m)."""
    n, m = len(a), len(b)
    d = ks_statistic(a, b)
    en = math.sqrt(n * m / (n + m))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Half the L1 distance between two mixes (shares summing to 1): 0 same, 1 disjoint."""
    return 0.5 * float(np.sum(np.abs(np.asarray(p, dtype=float) - np.asarray(q, dtype=float))))


def severity_of_psi(value: float) -> str:
    return "drifted" if value > PSI_DRIFTED else "moderate" if value >= PSI_MODERATE else "stable"


def severity_of_mix(value: float) -> str:
    return "drifted" if value > MIX_DRIFTED else "moderate" if value >= MIX_MODERATE else "stable"


def severity_of_ks(d: float, p_value: float) -> str:
    if p_value >= KS_ALPHA:
        return "stable"
    return "drifted" if d >= KS_DRIFTED else "moderate" if d >= KS_MODERATE else "stable"


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cos(a, b); 1 when either is the zero vector."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0
    return float(1.0 - np.dot(a, b) / (na * nb))


def severity_of_cosine(value: float) -> str:
    return "drifted" if value > COSINE_DRIFTED else "moderate" if value >= COSINE_MODERATE else "stable"
