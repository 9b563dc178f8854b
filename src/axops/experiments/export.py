"""Runs out of axops: a search as CSV or JSON (one row per run), a comparison as a Markdown report."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson


def _flat(runs: list[dict]) -> tuple[list[str], list[dict]]:
    params = sorted({k for r in runs for k in r["params"]})
    metrics = sorted({k for r in runs for k in r["metrics"]})
    tags = sorted({k for r in runs for k in r["tags"]})
    header = ["run_id", "experiment", "name", "status", "start_time", "end_time", "user", "job_id", "model_version_id"]
    header += [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics] + [f"tags.{k}" for k in tags]
    out = []
    for r in runs:
        row = {
            "run_id": str(r["id"]),
            "experiment": r["experiment_name"],
            "name": r["name"],
            "status": r["status"],
            "start_time": r["start_time"].isoformat() if r["start_time"] else None,
            "end_time": r["end_time"].isoformat() if r["end_time"] else None,
            "user": r["user_name"],
            "job_id": str(r["job_id"]) if r["job_id"] else None,
            "model_version_id": str(r["model_version_id"]) if r["model_version_id"] else None,
        }
        row |= {f"params.{k}": r["params"].get(k) for k in params}
        row |= {f"metrics.{k}": (r["metrics"].get(k) or {}).get("value") for k in metrics}
        row |= {f"tags.{k}": r["tags"].get(k) for k in tags}
        out.append(row)
    return header, out


def _csv_cell(v: Any) -> Any:
    # Spreadsheet formula injection: a cell starting with = + - @ is read as a formula.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def export_csv(runs: list[dict]) -> str:
    header, rows = _flat(runs)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def export_json(runs: list[dict]) -> bytes:
    return orjson.dumps(_flat(runs)[1], option=orjson.OPT_SERIALIZE_NUMPY)


def _md(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        v = "NaN" if math.isnan(v) else f"{v:.6g}"
    return str(v).replace("|", "\\|").replace("\n", " ")[:200]


def comparison_report(cmp: dict, lower_is_better: Iterable[str] = ("loss",)) -> str:
    """A markdown report of a comparison: runs, params (differences in bold), latest metrics with the best marked."""
    runs = cmp["runs"]
    names = [_md(r["name"]) for r in runs]
    lines = [
        f"# Run comparison: {', '.join(names)}",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by axops.",
        "",
        "## Runs",
        "",
        "| run | experiment | status | start | end | user |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        start = r["start_time"].strftime("%Y-%m-%d %H:%M") if r["start_time"] else None
        end = r["end_time"].strftime("%Y-%m-%d %H:%M") if r["end_time"] else None
        lines.append(
            f"| {_md(r['name'])} | {_md(r['experiment_name'])} | {r['status']} | {_md(start)} | {_md(end)} | {_md(r['user_name'])} |"
        )
    header = "| | " + " | ".join(names) + " |"
    rule = "|---|" + "---|" * len(runs)
    lines += ["", "## Parameters", ""]
    if cmp["param_keys"]:
        lines += [
            f"{len(cmp['differing_params'])} of {len(cmp['param_keys'])} parameters differ (in bold).",
            "",
            header,
            rule,
        ]
        for k in cmp["param_keys"]:
            cells = [_md(r["params"].get(k)) for r in runs]
            if k in cmp["differing_params"]:
                lines.append(f"| **{_md(k)}** | " + " | ".join(f"**{c}**" for c in cells) + " |")
            else:
                lines.append(f"| {_md(k)} | " + " | ".join(cells) + " |")
    else:
        lines.append("No parameters logged.")
    lines += ["", "## Metrics (latest value)", ""]
    keys = sorted({k for r in runs for k in r["metrics"]})
    if keys:
        lines += [header, rule]
        best_lines = []
        for k in keys:
            vals = [(r["metrics"].get(k) or {}).get("value") for r in runs]
            finite = [v for v in vals if isinstance(v, int | float) and not math.isnan(v)]
            lower = any(word in k.lower() for word in lower_is_better)
            best = (min(finite) if lower else max(finite)) if finite else None
            cells = [f"**{_md(v)}**" if v is not None and v == best and len(runs) > 1 else _md(v) for v in vals]
            lines.append(f"| {_md(k)} | " + " | ".join(cells) + " |")
            if best is not None and len(runs) > 1:
                winner = names[vals.index(best)]
                best_lines.append(f"- **{_md(k)}**: best {_md(best)} ({'lowest' if lower else 'highest'}) in {winner}")
        if best_lines:
            lines += ["", "## Summary", "", *best_lines]
    else:
        lines.append("No metrics logged.")
    lines.append("")
    return "\n".join(lines)
