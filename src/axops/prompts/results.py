"""An A/B experiment's results, counted by the server over the usage records the gateway wrote for it
(`prompt_experiment_id`, index ix_usage_records_prompt_experiment) joined with the feedback their
callers gave (request_feedback by request id and the same user); then the statistical test of the
control (the first variant) against each challenger, with stats.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.prompts import stats
from axops.prompts.models import PromptExperiment

# Effects smaller than these are not worth detecting: they set the sample size when the observed
# effect is smaller (or none yet).
MIN_EFFECT = {"feedback": 0.05, "error_rate": 0.02, "latency": 0.10}  # latency: a share of the control's mean
# Auto-promotion waits for this many samples per variant and the planned sample size (repeated looks
# at a running test would otherwise promote noise).
MIN_SAMPLES_AUTO = 30

_FEEDBACK_JOIN = """LEFT JOIN request_feedback f
    ON f.request_id = u.request_id AND f.name = 'user' AND f.user_id IS NOT DISTINCT FROM u.user_id"""
_WHERE = "u.prompt_experiment_id = :id AND u.created_at >= :since"

_PER_VARIANT = text(f"""
SELECT u.prompt_version AS version, count(*) AS requests, count(*) FILTER (WHERE u.status >= 400) AS errors,
    coalesce(sum(u.prompt_tokens), 0) AS prompt_tokens, coalesce(sum(u.completion_tokens), 0) AS completion_tokens,
    coalesce(sum(u.cost), 0) AS cost,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE u.status < 400) AS p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE u.status < 400) AS p95,
    count(*) FILTER (WHERE u.status < 400) AS ok, avg(u.latency_ms) FILTER (WHERE u.status < 400) AS latency_mean,
    stddev_samp(u.latency_ms) FILTER (WHERE u.status < 400) AS latency_sd,
    count(f.score) AS feedback_count, avg(f.score) AS feedback_mean, stddev_samp(f.score) AS feedback_sd
FROM usage_records u {_FEEDBACK_JOIN}
WHERE {_WHERE}
GROUP BY 1
""")

_SERIES = text(f"""
SELECT date_trunc(:bucket, u.created_at) AS ts, u.prompt_version AS version, count(*) AS requests,
    count(*) FILTER (WHERE u.status >= 400) AS errors,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE u.status < 400) AS latency_p50,
    count(f.score) AS feedback_count, avg(f.score) AS feedback_mean
FROM usage_records u {_FEEDBACK_JOIN}
WHERE {_WHERE}
GROUP BY 1, 2 ORDER BY 1, 2
""")

# Mid-ranks of the pooled successful latencies of two variants, and the tie term sum(t^3 - t).
_RANKS = text(f"""
WITH r AS (
    SELECT u.prompt_version AS v, u.latency_ms AS x FROM usage_records u
    WHERE {_WHERE} AND u.status < 400 AND u.prompt_version IN (:a, :b)
), ranked AS (
    SELECT v, rank() OVER (ORDER BY x) + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS rk FROM r
)
SELECT (SELECT coalesce(sum(rk), 0) FROM ranked WHERE v = :b)::float8 AS rank_sum_b,
       (SELECT coalesce(sum(t * t * t - t), 0) FROM (SELECT count(*)::float8 AS t FROM r GROUP BY x) g)::float8
           AS tie_term
""")


def _num(value) -> float | None:
    return None if value is None else float(value)


async def results(session: AsyncSession, exp: PromptExperiment) -> dict:
    params = {"id": exp.id, "since": exp.started_at - timedelta(minutes=1)}
    rows = {r["version"]: r for r in (await session.execute(_PER_VARIANT, params)).mappings()}
    variants = []
    for v in exp.variants:
        r = rows.get(v["version"]) or {}
        requests, errors, fb_n = (
            int(r.get("requests") or 0),
            int(r.get("errors") or 0),
            int(r.get("feedback_count") or 0),
        )
        fb = stats.Summary(fb_n, _num(r.get("feedback_mean")) or 0.0, _num(r.get("feedback_sd")) or 0.0)
        ci = stats.mean_ci(fb)
        variants.append(
            {
                "version": v["version"],
                "weight": v["weight"],
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else None,
                "latency_p50": _num(r.get("p50")),
                "latency_p95": _num(r.get("p95")),
                "prompt_tokens": int(r.get("prompt_tokens") or 0),
                "completion_tokens": int(r.get("completion_tokens") or 0),
                "cost": float(r.get("cost") or 0.0),
                "feedback_count": fb_n,
                "feedback_mean": _num(r.get("feedback_mean")),
                "feedback_ci": (max(0.0, ci[0]), min(1.0, ci[1])) if ci else None,
                # for the tests, not part of the response
                "_feedback": fb,
                "_latency": stats.Summary(
                    int(r.get("ok") or 0), _num(r.get("latency_mean")) or 0.0, _num(r.get("latency_sd")) or 0.0
                ),
            }
        )
    end = exp.ended_at or datetime.now(UTC)
    bucket = "hour" if end - exp.started_at <= timedelta(days=14) else "day"
    series = [dict(r) for r in (await session.execute(_SERIES, {**params, "bucket": bucket})).mappings()]
    for point in series:
        point["latency_p50"] = _num(point["latency_p50"])
        point["feedback_mean"] = _num(point["feedback_mean"])
    k = len(variants)
    alpha = stats.ALPHA / (k - 1) if k > 2 else stats.ALPHA  # Bonferroni over the challengers
    tests = []
    for challenger in variants[1:]:
        ranks = None
        if exp.metric == "latency":
            ranks = (
                await session.execute(_RANKS, {**params, "a": variants[0]["version"], "b": challenger["version"]})
            ).one()
        tests.append(compare(exp.metric, variants[0], challenger, alpha, ranks))
    for v in variants:
        v.pop("_feedback"), v.pop("_latency")
    return {
        "variants": variants,
        "series": series,
        "test": best(exp.metric, tests),
        "tests": tests,
        "samples": sum(v["requests"] for v in variants),
    }


def best(metric: str, tests: list[dict]) -> dict | None:
    """The test of the challenger that did best on the metric (significant ones first)."""
    if not tests:
        return None
    sign = 1.0 if metric == "feedback" else -1.0  # feedback: higher is better; error rate, latency: lower

    def key(t: dict) -> tuple:
        return (t["verdict"] == "b_better", sign * (t["difference"] or 0.0))

    return max(tests, key=key)


def compare(metric: str, a: dict, b: dict, alpha: float, ranks=None) -> dict:
    """The test of variant b against control a on `metric`, its verdict and the sample size it needs."""
    needed: int | None
    if metric == "feedback":
        fa, fb = a["_feedback"], b["_feedback"]
        r = stats.welch(fa, fb, alpha)
        sd = math.sqrt((fa.sd**2 + fb.sd**2) / 2.0)
        needed = stats.n_for_means(sd, max(abs(r.difference), MIN_EFFECT[metric]), alpha) if sd > 0 else None
        have = min(fa.n, fb.n)
        better = r.difference > 0
        p = r.p_value
    elif metric == "error_rate":
        r = stats.two_proportions(a["errors"], a["requests"], b["errors"], b["requests"], alpha)
        pa = a["errors"] / a["requests"] if a["requests"] else 0.0
        effect = max(abs(r.difference), MIN_EFFECT[metric])
        pb = pa + effect if pa + effect <= 1.0 else pa - effect
        needed = stats.n_for_proportions(pa, pb, alpha)
        have = min(a["requests"], b["requests"])
        better = r.difference < 0
        p = r.p_value
    else:
        la, lb = a["_latency"], b["_latency"]
        r = stats.welch(la, lb, alpha)  # the difference of means and its interval
        p = None
        better = r.difference < 0
        if ranks is not None and la.n > 0 and lb.n > 0:
            u_b, p = stats.mann_whitney_from_ranks(la.n, lb.n, float(ranks[0]), float(ranks[1]))
            better = u_b < la.n * lb.n / 2.0  # b's latencies rank lower
        sd = math.sqrt((la.sd**2 + lb.sd**2) / 2.0)
        effect = max(abs(r.difference), MIN_EFFECT[metric] * la.mean)
        needed = stats.n_for_ranks(sd, effect, alpha) if sd > 0 and effect > 0 else None
        have = min(la.n, lb.n)
        r = stats.TestResult(stats.MANN_WHITNEY, r.difference, r.ci, p, None)
    verdict = "no_difference_yet"
    if p is not None and p < alpha:
        verdict = "b_better" if better else "a_better"
    return {
        "metric": metric,
        "method": r.method,
        "control_version": a["version"],
        "variant_version": b["version"],
        "difference": r.difference if have else None,
        "ci": r.ci,
        "p_value": p,
        "alpha": alpha,
        "verdict": verdict,
        "needed_per_variant": needed,
        "remaining_per_variant": None if needed is None else max(0, needed - have),
        "_have": have,
    }


def public(res: dict) -> dict:
    """The results without the private fields the stop rules use."""
    strip = lambda t: t and {k: v for k, v in t.items() if not k.startswith("_")}  # noqa: E731
    return {**res, "test": strip(res["test"]), "tests": [strip(t) for t in res["tests"]]}
