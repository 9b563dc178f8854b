"""The monthly SLA report: per SLO of the caller's teams, its attainment over one calendar month (UTC)
against its target, met or missed, the error budget left, downtime minutes, requests and errors, the
worst days and the incidents (the longest stretches of consecutive bad minutes). As JSON, a
self-contained printable HTML page (Jinja2 with autoescape: every name a user gave is escaped) or CSV
(formula-safe cells, core.text.csv_cell). Whatever the SLO's own window, the report measures the month."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources

from jinja2 import Environment, StrictUndefined
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Invalid
from axops.core.text import csv_cell
from axops.monitoring import slos

WORST_DAYS = 3
INCIDENTS = 5


def parse_month(value: str) -> date:
    try:
        month = datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise Invalid("`month` is YYYY-MM, e.g. 2026-11.", code="sla_report_month", field="month") from None
    return month


def _incidents(bad: list[datetime]) -> list[dict]:
    runs: list[dict] = []
    for t in bad:
        if runs and runs[-1]["end"] == t:
            runs[-1]["end"] = t + timedelta(minutes=1)
            runs[-1]["minutes"] += 1
        else:
            runs.append({"start": t, "end": t + timedelta(minutes=1), "minutes": 1})
    return sorted(runs, key=lambda r: (-r["minutes"], r["start"]))[:INCIDENTS]


def _days(kind: str, target: float, rows: list) -> list[dict]:
    days: dict[str, dict] = defaultdict(lambda: {"bad": 0, "requests": 0, "errors_5xx": 0, "downtime_minutes": 0})
    for t, m in rows:
        d = days[t.date().isoformat()]
        d["requests"] += m.requests
        d["errors_5xx"] += m.errors_5xx
        d["downtime_minutes"] += m.down()
    for d in days.values():
        d["bad"] = d["downtime_minutes"] if kind == "availability" else d["errors_5xx"]
    worst = sorted(((k, v) for k, v in days.items() if v["bad"]), key=lambda kv: (-kv[1]["bad"], kv[0]))
    return [{"day": k, **v} for k, v in worst[:WORST_DAYS]]


async def build(session: AsyncSession, principal: Principal, month: date, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    start, end = slos.month_bounds(month)
    if start >= now:
        raise Invalid("The month has not begun.", code="sla_report_month", field="month")
    measured_end = min(end, slos.floor_minute(now))
    month_minutes = int((end - start).total_seconds() // 60)
    entries = []
    items = await slos.list_slos(session, principal)
    teams = await _team_names(session, items)
    cache_by_route: dict[str, slos.Measured] = {}
    for s in items:
        data = cache_by_route.get(s.route) or await slos.measure(session, s.route, start, measured_end, exact=True)
        cache_by_route[s.route] = data
        f = slos.figures(s.kind, s.target, data, month_minutes)
        rows = data.slice(start, measured_end)
        bad = sorted(t for t, m in rows if slos.bad_minute(s.kind, s.target, m))
        entries.append(
            {
                "id": s.id,
                "name": s.name,
                "team_name": teams.get(s.team_id),
                "route": s.route,
                "kind": s.kind,
                "target": s.target,
                **{k: f[k] for k in ("attainment", "met", "budget_remaining", "requests", "errors_5xx")},
                **{k: f[k] for k in ("errors_4xx", "rate_limited", "downtime_minutes", "bad", "minutes")},
                "worst_days": _days(s.kind, s.target, rows),
                "incidents": _incidents(bad),
            }
        )
    return {
        "month": f"{month.year:04d}-{month.month:02d}",
        "start": start,
        "end": measured_end,
        "complete": measured_end >= end,
        "generated_at": now,
        "slos": entries,
    }


async def _team_names(session: AsyncSession, items) -> dict:
    if not items:
        return {}
    rows = await session.execute(
        text("SELECT id, name FROM teams WHERE id = ANY(:ids)"), {"ids": list({s.team_id for s in items})}
    )
    return dict(rows.all())


LABELS = {
    "en": {
        "title": "SLA report",
        "period": "Period (UTC)",
        "partial": "month in progress",
        "generated": "Generated",
        "slo": "SLO",
        "team": "Team",
        "route": "Route",
        "kind": "Kind",
        "availability": "Availability",
        "success": "Success rate",
        "target": "Target",
        "attained": "Attained",
        "met": "Met",
        "missed": "Missed",
        "budget": "Error budget left",
        "downtime": "Downtime (min)",
        "requests": "Requests",
        "e5": "5xx errors",
        "e4": "4xx (429) — counted as good",
        "worst": "Worst days",
        "incidents": "Longest incidents",
        "minutes": "min",
        "none": "none",
        "empty": "No SLOs.",
    },
    "ko": {
        "title": "SLA 보고서",
        "period": "기간 (UTC)",
        "partial": "진행 중인 달",
        "generated": "작성 시각",
        "slo": "SLO",
        "team": "팀",
        "route": "라우트",
        "kind": "종류",
        "availability": "가용성",
        "success": "성공률",
        "target": "목표",
        "attained": "달성",
        "met": "충족",
        "missed": "미달",
        "budget": "남은 오류 예산",
        "downtime": "중단 시간(분)",
        "requests": "요청 수",
        "e5": "5xx 오류",
        "e4": "4xx(429) — 정상으로 집계",
        "worst": "가장 나빴던 날",
        "incidents": "가장 긴 장애",
        "minutes": "분",
        "none": "없음",
        "empty": "SLO가 없습니다.",
    },
}


def _pct(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v * 100:.{digits}f}%"


@cache
def _template():
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["num"] = lambda v: f"{v:,}"
    env.filters["hm"] = lambda t: t.strftime("%Y-%m-%d %H:%M")
    source = resources.files("axops.monitoring").joinpath("sla_report.html.j2").read_text(encoding="utf-8")
    return env.from_string(source)


def to_html(report: dict, lang: str = "ko") -> str:
    return _template().render(r=report, t=LABELS[lang], lang=lang)


CSV_HEADER = [
    "month", "slo", "team", "route", "kind", "target_percent", "attainment_percent", "met", "budget_remaining",
    "downtime_minutes", "bad", "minutes", "requests", "errors_5xx", "errors_4xx", "rate_limited", "worst_days",
    "incidents",
]  # fmt: skip


def to_csv(report: dict) -> str:
    """One line per SLO; starts with a UTF-8 byte-order mark so spreadsheets read Korean names."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for e in report["slos"]:
        att = None if e["attainment"] is None else round(e["attainment"] * 100, 4)
        worst = "; ".join(f"{d['day']} ({d['bad']})" for d in e["worst_days"])
        incidents = "; ".join(f"{i['start']:%Y-%m-%d %H:%M} +{i['minutes']}m" for i in e["incidents"])
        row = [report["month"], e["name"], e["team_name"], e["route"], e["kind"], e["target"], att, e["met"]]
        row += [round(e["budget_remaining"], 4), e["downtime_minutes"], e["bad"], e["minutes"], e["requests"]]
        row += [e["errors_5xx"], e["errors_4xx"], e["rate_limited"], worst, incidents]
        writer.writerow([csv_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()
