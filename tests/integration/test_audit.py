"""The audit log: filters, cursor pages, CSV export, monthly partitions and retention."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from axops.auth import audit
from axops.auth.schemas import AuditEventOut
from axops.core.db import async_url, libpq_url
from axops.core.pagination import Page
from tests.factories import insert_audit_events, make_account, make_team


def test_filters_pagination_and_csv_export(api, admin):
    for i in range(7):
        assert (
            api.post(
                "/api/teams", json={"name": f"team-{i}", "description": '=HYPERLINK("x")'}, headers=admin
            ).status_code
            == 201
        )
    seen, cursor = [], None
    while True:
        params = {"action": "team.create", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/audit/logs", params=params, headers=admin).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["summary"]["name"] for e in seen] == [f"team-{i}" for i in reversed(range(7))]  # newest first
    assert len({e["id"] for e in seen}) == 7
    first = seen[0]
    # The list skips FastAPI's response validation (a fast path): it still answers the declared schema.
    page = api.get("/api/audit/logs", params={"limit": 500}, headers=admin)
    assert Page[AuditEventOut].model_validate_json(page.content).items
    assert all(set(e) == set(AuditEventOut.model_fields) for e in page.json()["items"])
    assert first["actor_name"] == "admin" and first["actor_type"] == "user" and first["ip"] == "127.0.0.1"
    assert first["request_id"] and first["resource_type"] == "team"

    by_resource = api.get(
        "/api/audit/logs", params={"resource_type": "team", "resource_id": first["resource_id"]}, headers=admin
    ).json()["items"]
    assert [e["id"] for e in by_resource] == [first["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.get("/api/audit/logs", params={"since": future}, headers=admin).json()["items"] == []
    assert api.get("/api/audit/logs", params={"actor": "nobody"}, headers=admin).json()["items"] == []
    family = api.get("/api/audit/logs", params={"action": "team."}, headers=admin).json()["items"]
    assert len(family) == 7

    r = api.get("/api/audit/logs/export.csv", params={"action": "team.create"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 7 and rows[0]["action"] == "team.create" and rows[0]["actor_name"] == "admin"
    exports = api.get("/api/audit/logs", params={"action": "audit.export"}, headers=admin).json()["items"]
    assert exports and exports[0]["summary"]["filters"] == {"action": "team.create"}


def test_non_admin_sees_own_and_team_events_only(api, admin):
    op = make_account(api, admin, "op1", "operator", make_team(api, admin, "ops")).headers
    make_team(api, admin, "secret-team")
    names = {e["summary"].get("name") for e in api.get("/api/audit/logs", headers=op).json()["items"]}
    assert "ops" in names and "secret-team" not in names


def test_partitions_are_created_ahead_and_dropped_after_retention(database_url):
    async def run():
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.begin() as conn:
                created = await audit.ensure_partitions(conn, months_ahead=2, today=date(2020, 3, 15))
                assert created == [
                    "audit_events_y2020m02",
                    "audit_events_y2020m03",
                    "audit_events_y2020m04",
                    "audit_events_y2020m05",
                ]
                assert await audit.ensure_partitions(conn, months_ahead=2, today=date(2020, 3, 15)) == []
            async with engine.begin() as conn:
                dropped = await audit.drop_expired_partitions(conn, retention_days=365, today=date(2021, 3, 20))
            assert dropped == ["audit_events_y2020m02"]  # March 2020 still holds events younger than a year
            async with engine.begin() as conn:
                dropped = await audit.drop_expired_partitions(conn, retention_days=365, today=date(2021, 6, 2))
            assert sorted(dropped) == ["audit_events_y2020m03", "audit_events_y2020m04", "audit_events_y2020m05"]
        finally:
            await engine.dispose()

    asyncio.run(run())
    with psycopg.connect(libpq_url(database_url)) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'audit_events'").fetchone()[0]
        current = audit.partition_name(date.today().replace(day=1))
        assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", (current,)).fetchone()[0]
    assert kind == "p"  # declaratively partitioned


def test_failed_change_writes_no_audit_event(api, admin):
    before = len(api.get("/api/audit/logs", params={"limit": 500}, headers=admin).json()["items"])
    assert api.post("/api/teams", json={"name": "dup"}, headers=admin).status_code == 201
    assert api.post("/api/teams", json={"name": "DUP"}, headers=admin).status_code == 409
    after = api.get("/api/audit/logs", params={"limit": 500}, headers=admin).json()["items"]
    assert len(after) == before + 1 and after[0]["action"] == "team.create"


def test_per_day_counts_cover_the_whole_filter_not_one_page(api, admin, database_url):
    ops = make_team(api, admin, "ops-audit")
    op = make_account(api, admin, "op-audit", "operator", ops).headers
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=3), today - timedelta(days=2), today - timedelta(days=1)]
    counts = [70, 45, 25]  # 140 events: almost three pages of 50
    events = [
        {"created_at": day + timedelta(seconds=i), "action": "test.bulk", "team_id": ops["id"] if i % 5 == 0 else None}
        for day, n in zip(days, counts, strict=True)
        for i in range(n)
    ]
    # 20:00 UTC is already the next day in Seoul (UTC+9).
    events.append({"created_at": days[0].replace(hour=20), "action": "test.bulk"})
    insert_audit_events(database_url, events)

    page = api.get("/api/audit/logs", params={"action": "test.bulk"}, headers=admin).json()
    assert len(page["items"]) == 50 and page["next_cursor"]  # the list stops at one page ...
    r = api.get("/api/audit/logs/per-day", params={"action": "test.bulk"}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()  # ... the per-day counts do not
    assert body["tz"] == "UTC" and body["total"] == 141
    assert body["days"] == [
        {"day": days[0].date().isoformat(), "count": 71},
        {"day": days[1].date().isoformat(), "count": 45},
        {"day": days[2].date().isoformat(), "count": 25},
    ]
    seoul = api.get("/api/audit/logs/per-day", params={"action": "test.bulk", "tz": "Asia/Seoul"}, headers=admin)
    assert [d["count"] for d in seoul.json()["days"]] == [70, 46, 25]

    # The same filters as the list: a time window, an action family.
    window = {"action": "test.", "since": days[1].isoformat(), "until": days[2].isoformat()}
    assert api.get("/api/audit/logs/per-day", params=window, headers=admin).json()["total"] == 45

    # Scoped like the list: an operator counts only their team's events (and their own).
    mine = api.get("/api/audit/logs/per-day", params={"action": "test.bulk"}, headers=op).json()
    assert [d["count"] for d in mine["days"]] == [14, 9, 5]

    # Bad input is a 422 problem, not a 500.
    for params in ({"tz": "Mars/Olympus"}, {"tz": "x" * 65}, {"since": "yesterday"}):
        bad = api.get("/api/audit/logs/per-day", params=params, headers=admin)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert api.get("/api/audit/logs/per-day").status_code == 401


def test_list_sorts_by_a_column_across_pages(api, admin, database_url):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    actions = ["test.b", "test.a", "test.c", None]
    insert_audit_events(
        database_url,
        [
            {
                "created_at": base + timedelta(seconds=i),
                "action": actions[i % 3],
                "resource_type": actions[i % 4] and f"kind-{i % 4}",
                "actor_name": f"actor-{i % 7}",
            }
            for i in range(23)
        ],
    )
    for sort in ("action", "actor_name", "resource_type", "created_at"):
        for order in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                params = {"action": "test.", "sort": sort, "order": order, "limit": 5}
                r = api.get(
                    "/api/audit/logs", params={**params, **({"cursor": cursor} if cursor else {})}, headers=admin
                )
                assert r.status_code == 200, r.text
                seen += r.json()["items"]
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break
            assert len({e["id"] for e in seen}) == len(seen) == 23, (sort, order)
            keys = [((e[sort] or "") if sort != "created_at" else e["created_at"], e["created_at"]) for e in seen]
            assert keys == sorted(keys, reverse=order == "desc"), (sort, order)
    first = api.get("/api/audit/logs", params={"action": "test.", "sort": "action", "limit": 5}, headers=admin).json()
    # A cursor is valid only for the order it was made in.
    r = api.get(
        "/api/audit/logs",
        params={"action": "test.", "sort": "actor_name", "cursor": first["next_cursor"]},
        headers=admin,
    )
    assert r.status_code == 422
    assert api.get("/api/audit/logs", params={"sort": "summary"}, headers=admin).status_code == 422
    assert api.get("/api/audit/logs", params={"order": "sideways"}, headers=admin).status_code == 422
