"""The comparison report of an evaluation run, from its rows: per metric and target the mean with a
bootstrap 95 % interval, per pair of targets win rates and the paired difference, pairwise judges'
verdicts, usage (latency, tokens, cost); and the same as CSV (one line per row) and as one
self-contained HTML page (inline CSS and SVG, no script, every value escaped by Jinja2).

Rows are in the shape `GET /api/eval/runs/{id}/rows` answers (see docs/EVALUATION.md). Metrics are
the run's metrics in its order, then any other score found in the rows, then `judge:<name>` for each
single-mode judge; a missing score (a failed row, a judge error) is left out of means and comparisons
and counted in `n` only where present."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from decimal import Decimal
from functools import cache
from importlib import resources

from jinja2 import Environment, StrictUndefined

from axops.evaluation import stats
from axops.evaluation.metrics import CATALOGUE

DIFF_ROWS = 200  # per-row differences shown in the HTML report
CELL_CHARS = 600  # of an input or output shown in a per-row difference
_TIE = 1e-12
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _higher_is_better(name: str) -> bool:
    """From the metric catalogue; judges' scores and scores the catalogue does not know: higher is better."""
    spec = None if name.startswith("judge:") else CATALOGUE.get(name)
    return True if spec is None else bool(spec.higher_is_better)


def _number(v) -> float | None:
    if isinstance(v, Decimal):
        v = float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _result(row: dict, key: str) -> dict | None:
    return (row.get("results") or {}).get(key)


def value(row: dict, key: str, metric: str) -> float | None:
    """A row's score of one target on one metric (`judge:<name>` for a judge's normalised score)."""
    res = _result(row, key)
    if not res:
        return None
    if metric.startswith("judge:"):
        verdict = (res.get("judges") or {}).get(metric[6:]) or {}
        return _number(verdict.get("score"))
    return _number((res.get("scores") or {}).get(metric))


def _columns(rows: list[dict], keys: list[str], names: list[str]) -> dict[tuple[str, str], list[float | None]]:
    """(target, metric) → one value per row (None where missing), read in one pass over the rows."""
    columns: dict[tuple[str, str], list[float | None]] = {(k, m): [] for k in keys for m in names}
    plain = [m for m in names if not m.startswith("judge:")]
    judged = [m for m in names if m.startswith("judge:")]
    for row in rows:
        results = row.get("results") or {}
        for k in keys:
            res = results.get(k) or {}
            scores, verdicts = res.get("scores") or {}, res.get("judges") or {}
            for m in plain:
                columns[k, m].append(_number(scores.get(m)))
            for m in judged:
                columns[k, m].append(_number((verdicts.get(m[6:]) or {}).get("score")))
    return columns


def _metric_names(run: dict, rows: list[dict]) -> list[str]:
    names = [m["name"] if isinstance(m, dict) else str(m) for m in run.get("metrics") or []]
    found = sorted({k for r in rows for res in (r.get("results") or {}).values() for k in (res.get("scores") or {})})
    names += [n for n in found if n not in names]
    names += [f"judge:{j['name']}" for j in run.get("judges") or [] if j.get("mode", "single") == "single"]
    return list(dict.fromkeys(names))


def _pairwise(rows: list[dict], a: str, b: str, judge: str) -> dict:
    counts = {"a_wins": 0, "b_wins": 0, "ties": 0, "inconsistent": 0, "errors": 0, "n": 0}
    for row in rows:
        pw = row.get("pairwise") or {}
        verdict, flip = (pw.get(f"{a}|{b}") or {}).get(judge), False
        if verdict is None:
            verdict, flip = (pw.get(f"{b}|{a}") or {}).get(judge), True
        if not verdict:
            continue
        winner = verdict.get("winner")
        if verdict.get("error") or winner not in ("A", "B", "tie"):
            counts["errors"] += 1
            continue
        counts["n"] += 1
        if winner == "tie":
            counts["ties"] += 1
            counts["inconsistent"] += not verdict.get("consistent", True)
        elif (winner == "A") != flip:
            counts["a_wins"] += 1
        else:
            counts["b_wins"] += 1
    return counts


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _usage(rows: list[dict], key: str, judge_names: list[str]) -> dict:
    present = [res for r in rows if (res := _result(r, key))]
    latency = sorted(v for res in present if (v := _number(res.get("latency_ms"))) is not None)
    costs = [v for res in present if (v := _number(res.get("cost"))) is not None]
    return {
        "rows": len(present),
        "errors": sum(1 for res in present if res.get("error")),
        "latency_p50_ms": _percentile(latency, 0.5),
        "latency_p95_ms": _percentile(latency, 0.95),
        "prompt_tokens": sum(int(res.get("prompt_tokens") or 0) for res in present),
        "completion_tokens": sum(int(res.get("completion_tokens") or 0) for res in present),
        "cost": round(sum(costs), 10) if costs else None,
        "judge_errors": {
            name: sum(1 for res in present if ((res.get("judges") or {}).get(name) or {}).get("error"))
            for name in judge_names
        },
    }


def build_report(run: dict, rows: list[dict], *, baseline: str | None = None, seed: int = 0) -> dict:
    """The report JSON (see the module docstring). `baseline`: compare every other target with it;
    without one every pair of targets is compared, in the run's order. ValueError for an unknown baseline."""
    keys = [t["key"] for t in run.get("targets") or []]
    if baseline is not None and baseline not in keys:
        raise ValueError(f"The baseline '{baseline}' is not a target of this run ({', '.join(keys)}).")
    names = _metric_names(run, rows)
    columns = _columns(rows, keys, names)
    cells = [(k, m) for m in names for k in keys]
    cis = dict(zip(cells, stats.bootstrap_many([columns[c] for c in cells], seed=seed), strict=True))
    metrics = {m: {"higher_is_better": _higher_is_better(m), "by_target": {k: cis[k, m] for k in keys}} for m in names}
    pairs = [(baseline, k) for k in keys if k != baseline] if baseline else list(itertools.combinations(keys, 2))
    pair_judges = [j["name"] for j in run.get("judges") or [] if j.get("mode") == "pairwise"]
    cells = [(a, b, m) for a, b in pairs for m in names]
    diffs = stats.bootstrap_many([stats.differences(columns[a, m], columns[b, m]) for a, b, m in cells], seed=seed)
    diff_of = dict(zip(cells, diffs, strict=True))
    comparisons = []
    for a, b in pairs:
        by_metric = {}
        for m in names:
            wins = stats.win_rate(columns[a, m], columns[b, m], metrics[m]["higher_is_better"])
            d = diff_of[a, b, m]
            by_metric[m] = {**wins, "diff": {"mean": d["mean"], "lo": d["lo"], "hi": d["hi"]}}
        comparisons.append(
            {"a": a, "b": b, "metrics": by_metric, "pairwise": {j: _pairwise(rows, a, b, j) for j in pair_judges}}
        )
    single_judges = [m[6:] for m in names if m.startswith("judge:")]
    return {
        "run": {"id": str(run.get("id") or ""), "name": run.get("name") or "", "tokenizer": run.get("tokenizer")},
        "rows": len(rows),
        "baseline": baseline,
        "targets": [dict(t) for t in run.get("targets") or []],
        "metrics": metrics,
        "comparisons": comparisons,
        "usage": {k: _usage(rows, k, single_judges) for k in keys},
        "currency": run.get("currency") or "USD",
        "confidence": {"level": stats.LEVEL, "resamples": stats.RESAMPLES, "seed": seed},
    }


def row_differences(report: dict, rows: list[dict], limit: int = DIFF_ROWS) -> list[dict]:
    """The first `limit` rows where the first comparison's two targets differ: a metric apart, a
    pairwise winner, or one of them failing. Each: row_index, input, outputs, errors, diffs (a - b)."""
    if not report["comparisons"]:
        return []
    a, b = report["comparisons"][0]["a"], report["comparisons"][0]["b"]
    judges = list(report["comparisons"][0]["pairwise"])
    out = []
    for row in rows:
        ra, rb = _result(row, a) or {}, _result(row, b) or {}
        diffs = {}
        for m in report["metrics"]:
            x, y = value(row, a, m), value(row, b, m)
            if x is not None and y is not None and abs(x - y) > _TIE:
                diffs[m] = x - y
        winners = {}
        for j in judges:
            one = _pairwise([row], a, b, j)
            winners[j] = "A" if one["a_wins"] else "B" if one["b_wins"] else None
        winners = {j: w for j, w in winners.items() if w}
        failed = bool(ra.get("error")) != bool(rb.get("error"))
        if diffs or winners or failed:
            out.append(
                {
                    "row_index": row.get("row_index"),
                    "input": _clip(row.get("input")),
                    "outputs": {a: _clip(ra.get("output")), b: _clip(rb.get("output"))},
                    "errors": {a: ra.get("error"), b: rb.get("error")},
                    "diffs": diffs,
                    "pairwise": winners,
                }
            )
            if len(out) >= limit:
                break
    return out


def _clip(text) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


# --- CSV --------------------------------------------------------------------------------------------


def _cell(v):
    """A spreadsheet cannot run a cell as a formula: text starting with = + - @ (or tab, CR) gets a '."""
    if v is None:
        return ""
    if isinstance(v, dict | list):
        v = json.dumps(v, ensure_ascii=False)
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return v


def report_csv(report: dict, rows: list[dict]) -> str:
    """One line per row: input, references (a JSON list), context, then per target its output, error,
    latency, tokens, cost, every score and each judge's reasoning, then pairwise winners. Starts with a
    UTF-8 byte-order mark so spreadsheet programs read Korean correctly."""
    keys = [t["key"] for t in report["targets"]]
    names = list(report["metrics"])
    judges = [m[6:] for m in names if m.startswith("judge:")]
    pair_cols = [(c["a"], c["b"], j) for c in report["comparisons"] for j in c["pairwise"]]
    header = ["row_index", "input", "references", "context"]
    for k in keys:
        header += [f"{k}.{f}" for f in ("output", "error", "latency_ms", "prompt_tokens", "completion_tokens", "cost")]
        header += [f"{k}.{m}" for m in names] + [f"{k}.judge:{j}.reasoning" for j in judges]
    header += [f"pairwise:{a}|{b}:{j}" for a, b, j in pair_cols]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        line = [row.get("row_index"), row.get("input"), row.get("references") or [], row.get("context")]
        for k in keys:
            res = _result(row, k) or {}
            line += [
                res.get(f) for f in ("output", "error", "latency_ms", "prompt_tokens", "completion_tokens", "cost")
            ]
            line += [value(row, k, m) for m in names]
            line += [((res.get("judges") or {}).get(j) or {}).get("reasoning") for j in judges]
        for a, b, j in pair_cols:
            one = _pairwise([row], a, b, j)
            line.append(
                a
                if one["a_wins"]
                else b
                if one["b_wins"]
                else "tie"
                if one["ties"]
                else "error"
                if one["errors"]
                else None
            )
        writer.writerow([_cell(v) for v in line])
    return "\ufeff" + buf.getvalue()


# --- HTML -------------------------------------------------------------------------------------------

LABELS = {
    "ko": {
        "title": "평가 비교 리포트",
        "run": "실행",
        "rows": "행 수",
        "tokenizer": "토크나이저",
        "targets": "대상",
        "key": "키",
        "label": "이름",
        "kind": "종류",
        "summary": "지표 요약",
        "summary_note": "평균과 부트스트랩 95% 신뢰구간 [하한, 상한], 괄호 안은 점수가 있는 행 수",
        "metric": "지표",
        "higher": "높을수록 좋음",
        "lower": "낮을수록 좋음",
        "charts": "지표별 차트",
        "comparisons": "대상 비교",
        "wins": "승",
        "losses": "패",
        "ties": "무",
        "win_rate": "승률",
        "diff": "평균 차이 (95% CI)",
        "pairwise": "쌍대 비교 심판",
        "judge": "심판",
        "inconsistent": "순서에 따라 달라짐",
        "errors": "오류",
        "usage": "사용량",
        "latency_p50": "지연 p50 (ms)",
        "latency_p95": "지연 p95 (ms)",
        "prompt_tokens": "입력 토큰",
        "completion_tokens": "출력 토큰",
        "cost": "비용",
        "differences": "행별 차이",
        "differences_note": "두 대상의 점수나 결과가 다른 처음 {n}개 행",
        "row": "행",
        "input": "입력",
        "output": "출력",
        "scores": "차이 (A − B)",
        "none": "없음",
    },
    "en": {
        "title": "Evaluation comparison report",
        "run": "Run",
        "rows": "Rows",
        "tokenizer": "Tokenizer",
        "targets": "Targets",
        "key": "Key",
        "label": "Name",
        "kind": "Kind",
        "summary": "Metrics",
        "summary_note": "Mean and bootstrap 95% confidence interval [low, high]; in brackets the rows with a score",
        "metric": "Metric",
        "higher": "higher is better",
        "lower": "lower is better",
        "charts": "Charts",
        "comparisons": "Comparisons",
        "wins": "Wins",
        "losses": "Losses",
        "ties": "Ties",
        "win_rate": "Win rate",
        "diff": "Mean difference (95% CI)",
        "pairwise": "Pairwise judges",
        "judge": "Judge",
        "inconsistent": "Order-dependent",
        "errors": "Errors",
        "usage": "Usage",
        "latency_p50": "Latency p50 (ms)",
        "latency_p95": "Latency p95 (ms)",
        "prompt_tokens": "Prompt tokens",
        "completion_tokens": "Completion tokens",
        "cost": "Cost",
        "differences": "Per-row differences",
        "differences_note": "The first {n} rows where the two targets' scores or results differ",
        "row": "Row",
        "input": "Input",
        "output": "Output",
        "scores": "Differences (A − B)",
        "none": "none",
    },
}
_COLORS = ("#3b6fd8", "#e07a2e", "#2f9e6e", "#b54fb0", "#c9a227", "#5b8fa8", "#d0546b", "#7a6cd8")


@cache
def _template():
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt
    source = resources.files("axops.evaluation").joinpath("report.html.j2").read_text(encoding="utf-8")
    return env.from_string(source)


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def _chart(metric: dict, keys: list[str]) -> dict:
    """Horizontal bars (mean) with whiskers (interval) on an axis from min(0, lows) to max(1, highs)."""
    cis = [metric["by_target"][k] for k in keys]
    lows = [c["lo"] for c in cis if c["lo"] is not None]
    highs = [c["hi"] for c in cis if c["hi"] is not None]
    lo, hi = min([0.0, *lows]), max([1.0, *highs])
    left, width, bar_h, gap = 90, 300, 18, 8

    def x(v: float) -> float:
        return round(left + (v - lo) / (hi - lo) * width, 1)

    bars = []
    for i, (k, c) in enumerate(zip(keys, cis, strict=True)):
        y = 10 + i * (bar_h + gap)
        bar = {
            "key": k,
            "y": y,
            "mid": y + bar_h / 2,
            "h": bar_h,
            "color": _COLORS[i % len(_COLORS)],
            "mean": c["mean"],
        }
        if c["mean"] is not None:
            x0, x1 = x(max(lo, 0.0)), x(c["mean"])
            bar |= {"x": min(x0, x1), "w": max(abs(x1 - x0), 0.5), "lo": x(c["lo"]), "hi": x(c["hi"])}
        bars.append(bar)
    height = 10 + len(keys) * (bar_h + gap) + 16
    return {
        "bars": bars,
        "height": height,
        "width": left + width + 70,
        "axis_y": height - 12,
        "zero": x(0.0),
        "left": left,
        "right": left + width,
        "lo": lo,
        "hi": hi,
        "text_x": left + width + 6,
    }


def report_html(report: dict, rows: list[dict], lang: str = "ko") -> str:
    """The report as one HTML page with no script and no external resource."""
    labels = LABELS["en" if lang == "en" else "ko"]
    keys = [t["key"] for t in report["targets"]]
    differences = row_differences(report, rows)
    return _template().render(
        lang="en" if lang == "en" else "ko",
        t=labels,
        report=report,
        keys=keys,
        targets=[
            {
                "key": t["key"],
                "label": t.get("label") or "",
                "detail": " · ".join(str(t[f]) for f in ("kind", "route", "prompt", "column") if t.get(f)),
            }
            for t in report["targets"]
        ],
        colors={k: _COLORS[i % len(_COLORS)] for i, k in enumerate(keys)},
        charts={m: _chart(spec, keys) for m, spec in report["metrics"].items()},
        differences=differences,
        diff_pair=(report["comparisons"][0]["a"], report["comparisons"][0]["b"]) if report["comparisons"] else None,
        differences_note=labels["differences_note"].format(n=DIFF_ROWS),
    )
