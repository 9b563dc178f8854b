"""SLO arithmetic (monitoring/slos.py, sla_report.py) against hand-computed cases, on usage records and
probe points written into a rolled-back session; configuration checks and team scoping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from axops.auth.models import User
from axops.core.errors import Invalid, NotFound
from axops.gateway.models import Route
from axops.monitoring import sla_report, slos, store
from axops.monitoring.slo_models import Slo
from axops.monitoring.slo_schemas import SloCreate
from tests.factories import principal

NOW = datetime.now(UTC).replace(second=30, microsecond=0)


@pytest.fixture(autouse=True)
async def _no_collected_minutes(db_session):
    """The usage records written here are not in the metric history: as if the collector never ran."""
    await db_session.execute(text("DELETE FROM metric_watermarks WHERE source = 'gateway'"))


async def _requests(session, route: str, at: datetime, statuses: list[int], latency_ms: float = 10.0) -> None:
    await session.execute(
        text("""INSERT INTO usage_records (created_at, endpoint, model, upstream, stream, status, prompt_tokens,
                    completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
                SELECT :at, 'chat', :route, 'up-a', false, s, 3, 5, 0.001, :latency, 1, 'off', 0
                FROM unnest(CAST(:statuses AS int[])) AS s"""),
        {"at": at, "route": route, "statuses": statuses, "latency": latency_ms},
    )


async def _route(session, team=None) -> str:
    name = f"slo-{uuid.uuid4().hex[:8]}"
    visibility = "team" if team is not None else "organization"
    session.add(
        Route(model_name=name, targets=[], fallbacks=[], team_id=team.id if team else None, visibility=visibility)
    )
    await session.flush()
    return name


async def _dev(session, team):
    user = User(username=f"dev-{uuid.uuid4().hex[:8]}", password_hash="-", role="developer")
    session.add(user)
    await session.flush()
    return principal("developer", [team], user=user)


def _slo(route: str, kind: str, target: float, window: str = "rolling_30d") -> Slo:
    return Slo(id=uuid.uuid4(), team_id=uuid.uuid4(), name="x", route=route, kind=kind, target=target, window=window)


async def test_success_rate_budget_and_burn_from_requests(db_session):
    route = f"slo-{uuid.uuid4().hex[:8]}"
    # 1000 requests in the last hour: 7 answered 5xx, 20 were 429 and 13 other 4xx (the caller's: good)
    statuses = [200] * 960 + [500] * 4 + [502] * 3 + [429] * 20 + [400] * 13
    await _requests(db_session, route, NOW - timedelta(minutes=30), statuses)
    await _requests(db_session, route, NOW - timedelta(days=31), [500] * 50)  # outside the 30 days

    got = await slos.status(db_session, _slo(route, "success", 99.0), NOW)

    assert got["requests"] == 1000 and got["errors_5xx"] == 7
    assert got["attainment"] == pytest.approx(0.993)
    assert got["met"] is True
    assert got["allowed_bad"] == pytest.approx(10.0)  # 1% of 1000
    assert got["budget_remaining"] == pytest.approx(0.3)  # 1 - 7/10
    assert got["errors_4xx"] == 33 and got["rate_limited"] == 20
    assert got["burn_rate_1h"] == pytest.approx(0.7)  # 0.7% bad over a 1% budget
    assert got["burn_rate_6h"] == pytest.approx(0.7)  # the same requests: the 6 h share is the same

    strict = await slos.status(db_session, _slo(route, "success", 99.5), NOW)
    assert strict["met"] is False
    assert strict["budget_remaining"] == pytest.approx(1 - 7 / 5)  # overspent: below 0


async def test_availability_minutes_from_probes_and_requests(db_session):
    route = f"slo-{uuid.uuid4().hex[:8]}"
    base = slos.floor_minute(NOW) - timedelta(hours=2)
    m = [base + timedelta(minutes=i) for i in range(6)]
    await _requests(db_session, route, m[0], [502, 504])  # every request failed, no probe: down
    await _requests(db_session, route, m[1], [200, 500, 500])  # one answered: up
    await _requests(db_session, route, m[3], [500] * 4)  # all failed, but the probe says up: up
    await _requests(db_session, route, m[5] + timedelta(seconds=10), [503])  # all failed: down
    probes = [(m[2], 0.0), (m[3], 1.0), (m[4] + timedelta(seconds=0), 1.0)]
    probes += [(m[4] + timedelta(seconds=15), 0.0), (m[4] + timedelta(seconds=30), 0.0)]  # avg 1/3: down
    await store.write(db_session, [(slos.PROBE_SERIES, {"route": route}, t, v) for t, v in probes])

    got = await slos.status(db_session, _slo(route, "availability", 99.5), NOW)

    minutes = 30 * 24 * 60
    assert got["minutes"] == minutes
    assert got["downtime_minutes"] == got["bad"] == 4  # m0, m2, m4, m5
    assert got["attainment"] == pytest.approx(1 - 4 / minutes)
    assert got["allowed_bad"] == pytest.approx(0.005 * minutes)  # 216 minutes
    assert got["budget_remaining"] == pytest.approx(1 - 4 / 216)
    assert got["burn_rate_1h"] == 0  # the bad minutes are two hours back
    assert got["burn_rate_6h"] == pytest.approx((4 / 360) / 0.005)


async def test_calendar_month_budget_is_the_whole_month(db_session):
    route = f"slo-{uuid.uuid4().hex[:8]}"
    start, end = slos.month_bounds(NOW.date())
    got = await slos.status(db_session, _slo(route, "availability", 99.0, "calendar_month"), NOW)
    assert got["window_start"] == start and got["window_end"] == end
    assert got["minutes"] == int((slos.floor_minute(NOW) - start).total_seconds() // 60)
    assert got["allowed_bad"] == pytest.approx(0.01 * (end - start).total_seconds() / 60)
    assert got["attainment"] == 1.0 and got["budget_remaining"] == 1.0
    quiet = await slos.status(db_session, _slo(route, "success", 99.0, "calendar_month"), NOW)
    assert quiet["attainment"] is None and quiet["met"] is True and quiet["budget_remaining"] == 1.0


async def test_monthly_report_worst_days_and_incidents(db_session, two_teams):
    nlp, _ = two_teams
    dev = await _dev(db_session, nlp)
    route = await _route(db_session)
    first = NOW.replace(day=1, hour=0, minute=0, second=0)
    month_start = (first - timedelta(days=1)).replace(day=1)  # last month: its partition exists
    day2 = month_start + timedelta(days=1, hours=10)
    for i in range(5):  # a 5-minute outage on the 2nd
        await _requests(db_session, route, day2 + timedelta(minutes=i), [502])
    day9 = month_start + timedelta(days=8, hours=3)
    await _requests(db_session, route, day9, [500, 500])  # one bad minute on the 9th
    await _requests(db_session, route, day9 + timedelta(minutes=2), [500])  # and another, apart
    await _requests(db_session, route, day9 + timedelta(hours=1), [200] * 97)
    await slos.create(db_session, dev, SloCreate(name="가용성 목표", route=route, kind="availability"))
    await slos.create(db_session, dev, SloCreate(name="success", route=route, kind="success", target=95))

    report = await sla_report.build(db_session, dev, month_start.date(), NOW)

    assert report["complete"] is True and report["month"] == month_start.strftime("%Y-%m")
    avail, success = sorted(report["slos"], key=lambda e: e["kind"])
    month_minutes = int((slos.month_bounds(month_start.date())[1] - month_start).total_seconds() // 60)
    assert avail["minutes"] == month_minutes and avail["downtime_minutes"] == 7
    assert avail["attainment"] == pytest.approx(1 - 7 / month_minutes) and avail["met"] is True
    assert [d["day"] for d in avail["worst_days"]] == [day2.date().isoformat(), day9.date().isoformat()]
    assert [(i["start"], i["minutes"]) for i in avail["incidents"]] == [
        (day2, 5),
        (day9.replace(second=0), 1),
        (day9.replace(second=0) + timedelta(minutes=2), 1),
    ]
    assert success["requests"] == 105 and success["errors_5xx"] == 8
    assert success["attainment"] == pytest.approx(97 / 105) and success["met"] is False
    assert success["worst_days"][0] == {
        "day": day2.date().isoformat(),
        "bad": 5,
        "requests": 5,
        "errors_5xx": 5,
        "downtime_minutes": 5,
    }
    assert "가용성 목표" in sla_report.to_html(report, "ko")


async def test_configuration_defaults_checks_and_scoping(db_session, two_teams):
    nlp, vision = two_teams
    dev, other = await _dev(db_session, nlp), principal("developer", [vision])
    public = await _route(db_session)
    theirs = await _route(db_session, vision)

    made = await slos.create(db_session, dev, SloCreate(name="avail", route=public))
    assert (made.kind, made.target, made.window, made.team_id) == ("availability", 99.5, "rolling_30d", nlp.id)
    success = await slos.create(db_session, dev, SloCreate(name="ok", route=public, kind="success"))
    assert success.target == 99.0
    audit = await db_session.scalar(
        text("SELECT count(*) FROM audit_events WHERE resource_id = :id AND action = 'slo.create'"),
        {"id": str(made.id)},
    )
    assert audit == 1

    with pytest.raises(Invalid) as missing:
        await slos.create(db_session, dev, SloCreate(name="n1", route="no-such-route-anywhere"))
    assert missing.value.code == "slo_route_unknown"
    with pytest.raises(Invalid) as hidden:  # another team's route: the same answer as a missing one
        await slos.create(db_session, dev, SloCreate(name="n2", route=theirs))
    assert hidden.value.code == "slo_route_unknown"
    with pytest.raises(Invalid) as dep:
        await slos.create(db_session, dev, SloCreate(name="n3", deployment_id=uuid.uuid4()))
    assert dep.value.code == "slo_deployment_unknown"

    with pytest.raises(NotFound):
        await slos.get(db_session, other, made.id)
    assert await slos.list_slos(db_session, other) == []
    assert {s.id for s in await slos.list_slos(db_session, dev)} == {made.id, success.id}


async def test_collected_minutes_come_from_the_metric_history(db_session):
    """Minutes the collector has closed are read from its per-minute counts (a busy route's month is
    43,200 rows, not millions of requests); newer minutes from the requests themselves."""
    route = f"slo-{uuid.uuid4().hex[:8]}"
    end = slos.floor_minute(NOW)
    watermark = end - timedelta(minutes=10)
    old = watermark - timedelta(hours=2)
    labels = {"route": route}
    await store.write(
        db_session,
        [
            ("gateway_requests", labels, old, 500.0),
            ("gateway_errors", labels, old, 30.0),  # status >= 400
            ("gateway_server_errors", labels, old, 20.0),
            ("gateway_requests", labels, old + timedelta(minutes=1), 4.0),
            ("gateway_errors", labels, old + timedelta(minutes=1), 4.0),
            ("gateway_server_errors", labels, old + timedelta(minutes=1), 4.0),  # every request failed: down
        ],
    )
    await db_session.execute(
        text("INSERT INTO metric_watermarks (source, at) VALUES ('gateway', :at)"), {"at": watermark}
    )
    await _requests(db_session, route, old + timedelta(seconds=5), [200] * 1000)  # collected already: not read
    await _requests(db_session, route, watermark + timedelta(minutes=2), [200, 200, 503, 429])  # not yet collected

    success = await slos.status(db_session, _slo(route, "success", 99.0), NOW)
    assert success["requests"] == 508 and success["errors_5xx"] == 25
    assert success["errors_4xx"] == 10 + 1 and success["rate_limited"] == 1
    avail = await slos.status(db_session, _slo(route, "availability", 99.0), NOW)
    assert avail["downtime_minutes"] == 1

    exact = await slos.measure(db_session, route, end - timedelta(hours=3), end, exact=True)
    assert sum(m.requests for m in exact.minutes.values()) == 1004
