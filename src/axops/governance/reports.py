"""Compliance reports: the sections gathered from the audit log and the domains' tables over one period
(a week or a month starting at midnight Asia/Seoul), a checklist of PIPA and ISO/IEC 27001 Annex A
controls whose status is derived from the settings and data, rendered to HTML (Jinja2, autoescaped)
and PDF (WeasyPrint), archived in the object store with one row per period.

Guardrail decisions and policy violations are read only when their tables exist (`to_regclass`), and by
the columns found there, so this module does not import the domains that own them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.scoping import SYSTEM, Principal
from axops.core.errors import Invalid, NotFound
from axops.core.storage import ObjectStore
from axops.governance.report_models import ComplianceReport
from axops.settings import Settings

SEOUL = ZoneInfo("Asia/Seoul")
# Columns the sections group by, the first found of each tuple (the owning domains' tables may differ by version).
GUARDRAIL_GROUPS = (("policy_name",), ("check", "check_name", "detector"), ("direction",), ("action", "decision"))
VIOLATION_GROUPS = (("kind", "policy_name", "rule"), ("severity",), ("status", "state"), ("action",))
EXPORT_ACTIONS = (
    "audit.export",
    "request_log.export",
    "model.download",
    "dataset.download",
    "compliance_report.download",
)


def period_bounds(period: str, start: date | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the week (Monday) or month holding `start`; without one the last complete period."""
    today = (now or datetime.now(UTC)).astimezone(SEOUL).date()
    if period == "week":
        day = start or (today - timedelta(days=7))
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period == "month":
        day = start or (today.replace(day=1) - timedelta(days=1))
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    else:
        raise Invalid("The period is week or month.")
    begin = datetime(first.year, first.month, first.day, tzinfo=SEOUL)
    end = datetime(last.year, last.month, last.day, tzinfo=SEOUL)
    return begin.astimezone(UTC), end.astimezone(UTC)


async def _table_columns(session: AsyncSession, table: str) -> set[str]:
    rows = await session.execute(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table},
    )
    return {r[0] for r in rows}


def _first(columns: set[str], *names: str) -> str | None:
    return next((n for n in names if n in columns), None)


async def _counts(session: AsyncSession, start: datetime, end: datetime, actions: tuple[str, ...]) -> dict[str, int]:
    rows = await session.execute(
        text(
            "SELECT action, count(*) FROM audit_events WHERE created_at >= :s AND created_at < :e "
            "AND action = ANY(:a) GROUP BY action"
        ),
        {"s": start, "e": end, "a": list(actions)},
    )
    found = dict(rows.all())
    return {a: int(found.get(a, 0)) for a in actions}


async def _access(session: AsyncSession, start: datetime, end: datetime) -> dict:
    counts = await _counts(session, start, end, ("auth.login", "auth.login_failed", "auth.login_throttled"))
    by_role = await session.execute(
        text(
            "SELECT u.role, count(DISTINCT u.id) FROM audit_events a JOIN users u ON u.id = a.actor_id "
            "WHERE a.created_at >= :s AND a.created_at < :e GROUP BY u.role ORDER BY u.role"
        ),
        {"s": start, "e": end},
    )
    failed_names = await session.execute(
        text(
            "SELECT actor_name, count(*) FROM audit_events WHERE created_at >= :s AND created_at < :e "
            "AND action IN ('auth.login_failed', 'auth.login_throttled') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
        ),
        {"s": start, "e": end},
    )
    users = await session.execute(
        text("SELECT role, count(*) FILTER (WHERE is_active), count(*) FROM users GROUP BY role ORDER BY role")
    )
    return {
        "logins": counts["auth.login"],
        "failed": counts["auth.login_failed"],
        "throttled": counts["auth.login_throttled"],
        "failed_by_name": [{"name": n, "count": int(c)} for n, c in failed_names],
        "active_by_role": [{"role": r, "users": int(n)} for r, n in by_role],
        "accounts_by_role": [{"role": r, "active": int(a), "total": int(t)} for r, a, t in users],
    }


async def _api_keys(session: AsyncSession, start: datetime, end: datetime) -> dict:
    counts = await _counts(session, start, end, ("apikey.create", "apikey.revoke"))
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())), "
                "count(*) FILTER (WHERE revoked_at IS NULL AND expires_at IS NULL) FROM api_keys"
            )
        )
    ).one()
    return {
        "issued": counts["apikey.create"],
        "revoked": counts["apikey.revoke"],
        "active": int(row[0]),
        "active_without_expiry": int(row[1]),
    }


async def _pii(session: AsyncSession, start: datetime, end: datetime) -> dict:
    counts = await _counts(session, start, end, ("dataset.scan_requested", "dataset.version_mask"))
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE source = 'masked' AND created_at >= :s AND created_at < :e), "
                "count(DISTINCT dataset_id) FILTER (WHERE source <> 'masked' AND sensitivity IN ('confidential', 'restricted')), "
                "count(DISTINCT dataset_id) FILTER (WHERE source = 'masked') FROM dataset_versions"
            ),
            {"s": start, "e": end},
        )
    ).one()
    with_pii = await session.execute(
        text(
            "SELECT count(DISTINCT v.dataset_id) FROM dataset_versions v WHERE v.source <> 'masked' "
            "AND v.sensitivity IN ('confidential', 'restricted') AND NOT EXISTS (SELECT 1 FROM dataset_versions m "
            "WHERE m.dataset_id = v.dataset_id AND m.source = 'masked' AND m.status = 'ready')"
        )
    )
    return {
        "scans": counts["dataset.scan_requested"],
        "mask_requests": counts["dataset.version_mask"],
        "masked_versions": int(row[0]),
        "datasets_with_pii": int(row[1]),
        "datasets_masked": int(row[2]),
        "datasets_unmasked": int(with_pii.scalar_one()),
    }


async def _grouped(
    session: AsyncSession, table: str, start: datetime, end: datetime, keys: tuple[tuple[str, ...], ...]
):
    """Counts of a table another domain owns, by the first column found of each group of names; None if absent."""
    if (await session.execute(text("SELECT to_regclass(:t)"), {"t": table})).scalar_one() is None:
        return None
    columns = await _table_columns(session, table)
    picked = [c for names in keys if (c := _first(columns, *names))]
    if "created_at" not in columns or not picked:
        return None
    cols = ", ".join(f'"{c}"::text' for c in picked)
    rows = await session.execute(
        text(
            f"SELECT {cols}, count(*) FROM {table} WHERE created_at >= :s AND created_at < :e "
            f"GROUP BY {cols} ORDER BY count(*) DESC LIMIT 50"
        ),
        {"s": start, "e": end},
    )
    return {"columns": picked, "rows": [list(r) for r in rows]}


async def _retention(session: AsyncSession, settings: Settings) -> dict:
    oldest = {}
    for table in ("audit_events", "usage_records", "gateway_request_logs"):
        oldest[table] = (await session.execute(text(f"SELECT min(created_at) FROM {table}"))).scalar_one()
    return {
        "audit_days": settings.audit_retention_days,
        "usage_days": settings.usage_retention_days,
        "request_log_days": settings.request_log_retention_days,
        "oldest": oldest,
    }


def checklist(sections: dict, settings: Settings) -> list[dict]:
    """Each control's status from what the platform holds now (never assumed met)."""
    keys, pii, ret, access = sections["api_keys"], sections["pii"], sections["retention"], sections["access"]
    https = (settings.public_url or "").startswith("https://")
    guard, viol = sections["guardrails"], sections["violations"]

    def st(ok: bool, partial: bool) -> str:
        return "met" if ok else "partial" if partial else "not_met"

    admins = sum(r["active"] for r in access["accounts_by_role"] if r["role"] == "admin")
    return [
        {
            "id": "access_control",
            "pipa": "접근권한 관리 (안전성 확보조치 제5조)",
            "iso": "A.5.15, A.5.18",
            "status": st(keys["active_without_expiry"] == 0 and admins <= 3, admins <= 3),
            "evidence": f"active API keys without expiry: {keys['active_without_expiry']}; active admins: {admins}",
            "facts": {"keys": keys["active_without_expiry"], "admins": admins},
        },
        {
            "id": "authentication",
            "pipa": "접근통제 (제6조)",
            "iso": "A.8.5",
            "status": st(settings.login_max_failures <= 5, settings.login_max_failures <= 10),
            "evidence": f"lockout after {settings.login_max_failures} failures; throttled: {access['throttled']}",
            "facts": {"failures": settings.login_max_failures, "throttled": access["throttled"]},
        },
        {
            "id": "access_logs",
            "pipa": "접속기록의 보관 및 점검 (제8조)",
            "iso": "A.8.15",
            "status": st(ret["audit_days"] >= 730, ret["audit_days"] >= 365),
            "evidence": f"audit retention {ret['audit_days']} days (1 year minimum, 2 years for large processors)",
            "facts": {"days": ret["audit_days"]},
        },
        {
            "id": "encryption",
            "pipa": "개인정보의 암호화 (제7조)",
            "iso": "A.8.24",
            "status": st(https, True),
            "evidence": "passwords Argon2, provider secrets encrypted; "
            + ("HTTPS public URL" if https else "no HTTPS public URL"),
            "facts": {"https": int(https)},
        },
        {
            "id": "pseudonymisation",
            "pipa": "가명처리 (제28조의2)",
            "iso": "A.8.11",
            "status": st(pii["datasets_unmasked"] == 0, pii["datasets_masked"] > 0),
            "evidence": f"datasets with PII: {pii['datasets_with_pii']}; without a masked version: {pii['datasets_unmasked']}",
            "facts": {"pii": pii["datasets_with_pii"], "unmasked": pii["datasets_unmasked"]},
        },
        {
            "id": "monitoring",
            "pipa": "개인정보 유출 등 대응",
            "iso": "A.8.16",
            "status": st(guard is not None and viol is not None, guard is not None or viol is not None),
            "evidence": "guardrail decisions "
            + ("recorded" if guard is not None else "not recorded")
            + "; policy violations "
            + ("recorded" if viol is not None else "not recorded"),
            "facts": {"recorded": int(guard is not None) + int(viol is not None)},
        },
    ]


async def gather(session: AsyncSession, settings: Settings, start: datetime, end: datetime) -> dict:
    sections = {
        "access": await _access(session, start, end),
        "api_keys": await _api_keys(session, start, end),
        "pii": await _pii(session, start, end),
        "guardrails": await _grouped(session, "guardrail_decisions", start, end, GUARDRAIL_GROUPS),
        "violations": await _grouped(session, "violations", start, end, VIOLATION_GROUPS),
        "exports": await _counts(session, start, end, EXPORT_ACTIONS),
        "retention": await _retention(session, settings),
    }
    sections["checklist"] = checklist(sections, settings)
    return sections


@cache
def _template():
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(resources.files("axops.governance").joinpath("report.html.j2").read_text("utf-8"))


def to_html(period: str, start: datetime, end: datetime, sections: dict, by: str, at: datetime) -> str:
    return _template().render(
        period=period,
        start=start.astimezone(SEOUL),
        end=end.astimezone(SEOUL),
        s=sections,
        by=by,
        at=at.astimezone(SEOUL),
    )


def to_pdf(html: str) -> bytes | None:
    try:
        import weasyprint  # the `reports` extra; without it reports are HTML only
    except ImportError:  # pragma: no cover - depends on the install
        return None
    return weasyprint.HTML(string=html).write_pdf()


async def generate(
    session: AsyncSession,
    storage: ObjectStore,
    settings: Settings,
    principal: Principal,
    period: str,
    start: date | None = None,
    *,
    replace: bool = True,
) -> ComplianceReport:
    """Build, store and record the report of one period; with `replace=False` an existing one is kept."""
    begin, end = period_bounds(period, start)
    row = (
        await session.execute(
            select(ComplianceReport).where(ComplianceReport.period == period, ComplianceReport.period_start == begin)
        )
    ).scalar_one_or_none()
    if row is not None and not replace:
        return row
    at = datetime.now(UTC)
    by = "system" if principal is SYSTEM else principal.username
    sections = await gather(session, settings, begin, end)
    html = to_html(period, begin, end, sections, by, at)
    pdf = to_pdf(html)
    base = f"governance/reports/{period}-{begin.astimezone(SEOUL):%Y-%m-%d}-{uuid.uuid4().hex[:8]}"
    stored_html = await storage.put_bytes(f"{base}.html", html.encode())
    stored_pdf = await storage.put_bytes(f"{base}.pdf", pdf) if pdf is not None else None
    if row is None:
        row = ComplianceReport(period=period, period_start=begin, period_end=end)
        session.add(row)
    else:  # the replaced files go once the new row is committed (a rollback keeps them)
        stale = [k for k in (row.html_key, row.pdf_key) if k]

        async def drop_stale() -> None:
            for key in stale:
                await storage.delete(key)

        session.info.setdefault("after_commit", []).append(drop_stale)
    row.generated_at, row.generated_by_name = at, by
    row.generated_by = None if principal is SYSTEM else principal.user_id
    row.html_key, row.html_size, row.html_sha256 = stored_html.path, stored_html.size, stored_html.sha256
    row.pdf_key = stored_pdf.path if stored_pdf else None
    row.pdf_size = stored_pdf.size if stored_pdf else None
    row.pdf_sha256 = stored_pdf.sha256 if stored_pdf else None
    row.checklist = {c["id"]: c["status"] for c in sections["checklist"]}
    await session.flush()
    audit.record(
        session,
        "compliance_report.generate",
        resource_type="compliance_report",
        resource_id=row.id,
        summary={"period": period, "start": begin.isoformat()},
        actor=principal,
    )
    return row


async def list_reports(session: AsyncSession, limit: int = 100) -> list[ComplianceReport]:
    q = select(ComplianceReport).order_by(ComplianceReport.period_start.desc(), ComplianceReport.period).limit(limit)
    return list((await session.execute(q)).scalars())


async def download(session: AsyncSession, report_id: uuid.UUID, fmt: str) -> tuple[ComplianceReport, str]:
    row = await session.get(ComplianceReport, report_id)
    if row is None:
        raise NotFound("No such compliance report.", code="compliance_report_not_found")
    key = row.html_key if fmt == "html" else row.pdf_key
    if key is None:
        raise NotFound(
            "This report has no PDF (WeasyPrint was not installed when it was made).", code="compliance_report_no_pdf"
        )
    audit.record(
        session,
        "compliance_report.download",
        resource_type="compliance_report",
        resource_id=row.id,
        summary={"format": fmt, "period": row.period, "start": row.period_start.isoformat()},
    )
    return row, key
