"""The drift job and the anomaly job on usage rows inserted in PostgreSQL (rolled back after each test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select, text

from axops.auth.models import User
from axops.monitoring import anomalies, drift_features, store
from axops.monitoring.drift_models import UsageAnomaly
from tests.factories import principal

_INSERT = text("""
INSERT INTO usage_records (created_at, model, prompt_chars, prompt_tokens, hangul_ratio, latin_ratio, api_key_id,
                           user_id, client_ip, status, request_id, endpoint, stream, completion_tokens, cost,
                           latency_ms, attempts, cache, saved_cost)
SELECT t, m, c, pt, h, l, k, u, ip, s, r, 'chat', false, 0, 0, 10, 1, 'off', 0
FROM unnest(CAST(:t AS timestamptz[]), CAST(:m AS text[]), CAST(:c AS int[]), CAST(:pt AS int[]),
            CAST(:h AS float8[]), CAST(:l AS float8[]), CAST(:k AS uuid[]), CAST(:u AS uuid[]), CAST(:ip AS text[]),
            CAST(:s AS int[]), CAST(:r AS text[])) AS x(t, m, c, pt, h, l, k, u, ip, s, r)
""")


async def insert_usage(session, rows: list[dict]) -> None:
    cols = {"t": "at", "m": "route", "c": "chars", "pt": "tokens", "h": "hangul", "l": "latin", "k": "key"}
    cols |= {"u": "user", "ip": "ip", "s": "status", "r": "request_id"}
    defaults = {"route": "r", "chars": 100, "tokens": 25, "hangul": None, "latin": None, "key": None, "user": None}
    defaults |= {"ip": None, "status": 200, "request_id": None}
    params = {p: [{**defaults, **row}[name] for row in rows] for p, name in cols.items()}
    await session.execute(_INSERT, params)


def stream(route: str, start: datetime, span: timedelta, n: int, mean: float, korean: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    chars = np.clip(rng.normal(mean, 30, n), 1, None).astype(int)
    is_korean = rng.random(n) < korean
    return [
        {
            "route": route,
            "at": start + span * (i + 0.5) / n,
            "chars": int(c),
            "tokens": int(c) // 3,
            "hangul": 0.95 if k else 0.03,
            "latin": 0.04 if k else 0.95,
            "request_id": f"{route}-{seed}-{i}",
        }
        for i, (c, k) in enumerate(zip(chars, is_korean, strict=True))
    ]


async def test_drift_is_found_on_a_shifted_stream_and_not_on_an_unshifted_one(db_session):
    now = datetime.now(UTC).replace(microsecond=0)
    day, week = timedelta(days=1), timedelta(days=7)
    shifted, steady = f"drift-shift-{uuid.uuid4().hex[:6]}", f"drift-steady-{uuid.uuid4().hex[:6]}"
    rows = stream(shifted, now - day - week, week, 600, 200, 0.9, seed=1)
    rows += stream(shifted, now - day, day, 400, 400, 0.1, seed=2)
    rows += stream(steady, now - day - week, week, 600, 200, 0.9, seed=3)
    rows += stream(steady, now - day, day, 400, 200, 0.9, seed=4)
    await insert_usage(db_session, rows)
    # user feedback on the shifted route's requests: good in the reference, poor now
    feedback = [(f"{shifted}-1-{i}", 0.9) for i in range(40)] + [(f"{shifted}-2-{i}", 0.2) for i in range(40)]
    for request_id, score in feedback:
        await db_session.execute(
            text(
                "INSERT INTO request_feedback (id, request_id, name, score, comment, created_at) "
                "VALUES (gen_random_uuid(), :r, 'user', :s, '', now())"
            ),
            {"r": request_id, "s": score},
        )

    results = await drift_features.run(db_session, now=now)
    found = {(r.route, r.feature, r.test): r for r in results if r.route in (shifted, steady)}
    assert found[shifted, "prompt_chars", "psi"].severity == "drifted"
    assert found[shifted, "prompt_chars", "psi"].statistic > 1
    assert found[shifted, "prompt_chars", "ks"].severity == "drifted"
    assert found[shifted, "prompt_chars", "ks"].p_value < 1e-6
    assert found[shifted, "prompt_tokens", "psi"].severity == "drifted"
    assert found[shifted, "hangul_ratio", "psi"].severity == "drifted"
    assert found[shifted, "language_mix", "tv"].severity == "drifted"
    assert found[shifted, "feedback_score", "ks"].severity == "drifted"
    steady_results = [r for (route, _, _), r in found.items() if route == steady]
    assert len(steady_results) == 6 and {r.severity for r in steady_results} == {"stable"}
    assert all(r.statistic < 0.1 for r in steady_results if r.test == "psi")
    ref = found[shifted, "prompt_chars", "psi"]
    assert (ref.reference_start, ref.reference_end, ref.current_end) == (now - day - week, now - day, now)
    assert (ref.n_current, ref.n_reference) == (400, 600)

    page = await store.query(
        db_session, "drift_psi", {"route": shifted}, now - timedelta(minutes=1), now + timedelta(minutes=1), 60, now
    )
    features = {s["labels"]["feature"]: s["points"][-1][1] for s in page["series"]}
    assert features["prompt_chars"] == pytest.approx(ref.statistic)
    assert set(features) == {"prompt_chars", "prompt_tokens", "hangul_ratio", "feedback_score"}


async def test_a_pinned_reference_is_used_and_audited(db_session):
    now = datetime.now(UTC).replace(microsecond=0)
    route = f"drift-pin-{uuid.uuid4().hex[:6]}"
    await db_session.execute(
        text(
            "INSERT INTO gateway_routes (id, model_name, description, strategy, targets, fallbacks, timeout_s, "
            "cache_ttl_s, enabled, visibility) VALUES (gen_random_uuid(), :n, '', 'weighted', '[]', '[]', 60, 0, "
            "true, 'organization')"
        ),
        {"n": route},
    )
    # long prompts two days before, short ones since: against the default week they drift, against
    # a reference pinned on the short ones they don't
    rows = stream(route, now - timedelta(days=8), timedelta(days=6), 300, 900, 0.5, seed=5)
    rows += stream(route, now - timedelta(days=2), timedelta(days=1), 300, 200, 0.5, seed=8)
    rows += stream(route, now - timedelta(days=1), timedelta(days=1), 300, 200, 0.5, seed=9)
    await insert_usage(db_session, rows)
    assert {
        r.severity for r in await drift_features.run_route(db_session, route, now) if r.feature == "prompt_chars"
    } == {"drifted"}

    admin = principal("admin", user=await a_user(db_session))
    pinned = await drift_features.set_reference(
        db_session, admin, route, now - timedelta(days=2), now - timedelta(days=1)
    )
    assert pinned["pinned"] is True
    again = await drift_features.run_route(db_session, route, now + timedelta(seconds=1))
    chars = [r for r in again if r.feature == "prompt_chars"]
    assert {r.severity for r in chars} == {"stable"}, [(r.test, r.statistic, r.p_value) for r in chars]
    assert chars[0].reference_start == now - timedelta(days=2)
    action = await db_session.scalar(
        text("SELECT action FROM audit_events WHERE resource_type = 'gateway_route' ORDER BY created_at DESC LIMIT 1")
    )
    assert action == "monitoring.drift_reference_set"
    cleared = await drift_features.set_reference(db_session, admin, route, None, None)
    assert cleared["pinned"] is False


async def a_user(session, role: str = "admin") -> User:
    user = User(username=f"{role}-{uuid.uuid4().hex[:6]}", password_hash="x", role=role)
    session.add(user)
    await session.flush()
    return user


def hourly(key, user, now: datetime, hours: int, per_hour: int, ip: str = "10.0.0.1") -> list[dict]:
    rows = []
    for h in range(1, hours + 1):
        for i in range(per_hour):
            rows.append(
                {
                    "at": now - timedelta(hours=h + 1) + timedelta(minutes=55 * i / per_hour),
                    "key": key,
                    "user": user,
                    "ip": ip,
                    "tokens": 50,
                }
            )
    return rows


async def _anomalies(session, subject_id) -> list[UsageAnomaly]:
    return list(
        (
            await session.execute(
                select(UsageAnomaly).where(UsageAnomaly.subject_id == subject_id).order_by(UsageAnomaly.first_seen)
            )
        ).scalars()
    )


async def test_a_burst_is_flagged_and_a_steady_key_is_not(db_session):
    now = datetime.now(UTC).replace(microsecond=0)
    bursty, steady, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = hourly(bursty, user, now, 24 * 7 + 1, 10) + hourly(steady, None, now, 24 * 7 + 1, 10)
    rows += [
        {"at": now - timedelta(seconds=10 + i), "key": bursty, "user": user, "ip": "10.0.0.1", "tokens": 50}
        for i in range(200)
    ]
    rows += [
        {"at": now - timedelta(minutes=5 * i + 1), "key": steady, "ip": "10.0.0.1", "tokens": 50} for i in range(10)
    ]
    await insert_usage(db_session, rows)

    assert await anomalies.detect(db_session, now) >= 2
    found = await _anomalies(db_session, bursty)
    burst = next(a for a in found if a.kind == "requests")
    assert (burst.observed, burst.expected, burst.subject_type) == (200, 10, "api_key")
    assert burst.score == pytest.approx((200 - 10) / np.sqrt(10), rel=1e-3)
    assert {a.kind for a in found} == {"requests", "tokens"}  # 10,000 tokens against 500 an hour
    assert [a.kind for a in await _anomalies(db_session, user)] == ["requests", "tokens"]
    assert await _anomalies(db_session, steady) == []

    # five minutes later the burst goes on: the open anomaly is updated, not doubled
    await insert_usage(db_session, [{"at": now + timedelta(minutes=4), "key": bursty, "user": user, "ip": "10.0.0.1"}])
    await anomalies.detect(db_session, now + timedelta(minutes=5))
    again = [a for a in await _anomalies(db_session, bursty) if a.kind == "requests"]
    assert len(again) == 1 and again[0].observed == 201 and again[0].first_seen == now
    page = await store.query(
        db_session,
        "anomaly_score",
        {"kind": "requests", "subject": f"api_key:{steady}"},
        now - timedelta(minutes=1),
        now + timedelta(minutes=6),
        60,
        now,
    )
    assert [p[1] for p in page["series"][0]["points"]] == [0.0, 0.0]


async def test_a_new_ip_is_flagged_once(db_session):
    now = datetime.now(UTC).replace(microsecond=0)
    key, fresh = uuid.uuid4(), uuid.uuid4()
    rows = hourly(key, None, now, 48, 2, ip="10.0.0.1")
    rows += [{"at": now - timedelta(minutes=3), "key": key, "ip": "203.0.113.9"}]
    rows += [{"at": now - timedelta(minutes=3), "key": fresh, "ip": "198.51.100.1"}]  # a key with no history
    await insert_usage(db_session, rows)
    await anomalies.detect(db_session, now)
    found = [a for a in await _anomalies(db_session, key) if a.kind == "new_ip"]
    assert len(found) == 1 and found[0].detail["ip"] == "203.0.113.9" and found[0].detail["ips"] == ["203.0.113.9"]
    assert await _anomalies(db_session, fresh) == []

    admin = principal("admin", user=await a_user(db_session))
    await anomalies.acknowledge(db_session, admin, found[0].id)
    await anomalies.detect(db_session, now + timedelta(minutes=5))  # still in the last hour: not raised again
    assert len([a for a in await _anomalies(db_session, key) if a.kind == "new_ip"]) == 1
    await insert_usage(db_session, [{"at": now + timedelta(minutes=6), "key": key, "ip": "203.0.113.77"}])
    await anomalies.detect(db_session, now + timedelta(minutes=7))
    ips = [a.detail["ip"] for a in await _anomalies(db_session, key) if a.kind == "new_ip"]
    assert ips == ["203.0.113.9", "203.0.113.77"]


async def test_off_hours_are_learned_and_default_to_business_hours(db_session):
    # 03:30 in Seoul (18:30 UTC)
    now = datetime.now(UTC).replace(hour=18, minute=30, second=0, microsecond=0) - timedelta(days=1)
    learned, short, night_owl = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = []
    for day in range(1, 11):  # 10 days at 10:00-14:30 Seoul (01:00-05:30 UTC)
        base = (now - timedelta(days=day)).replace(hour=1, minute=0)
        rows += [{"at": base + timedelta(minutes=30 * i), "key": learned} for i in range(10)]
        # a key that works at night: its usual hours include 03:00 Seoul (18:00 UTC)
        rows += [{"at": (now - timedelta(days=day)).replace(minute=10 + i), "key": night_owl} for i in range(6)]
    for day in range(1, 3):  # 2 days only: business hours apply
        base = (now - timedelta(days=day)).replace(hour=1, minute=0)
        rows += [{"at": base + timedelta(minutes=30 * i), "key": short} for i in range(10)]
    for subject in (learned, short, night_owl):
        rows += [{"at": now - timedelta(minutes=20 - i), "key": subject} for i in range(6)]
    await insert_usage(db_session, rows)
    await anomalies.detect(db_session, now)
    got = {
        s: [a for a in await _anomalies(db_session, s) if a.kind == "off_hours"] for s in (learned, short, night_owl)
    }
    assert len(got[learned]) == 1 and got[learned][0].detail["learned"] is True
    assert got[learned][0].detail["usual_hours"] == [10, 11, 12, 13, 14] and got[learned][0].observed == 6
    assert len(got[short]) == 1 and got[short][0].detail["learned"] is False
    assert got[short][0].detail["usual_hours"] == list(range(8, 20))
    assert got[night_owl] == []


async def test_anomalies_are_scoped_to_their_owner(db_session):
    user = await a_user(db_session, "developer")
    row = UsageAnomaly(
        kind="requests",
        subject_type="user",
        subject_id=user.id,
        subject_name=user.username,
        user_id=user.id,
        observed=1,
        expected=0,
        score=1,
        keys=["k"],
        detail={},
        first_seen=datetime.now(UTC),
        last_seen=datetime.now(UTC),
    )
    db_session.add(row)
    await db_session.flush()
    owner, other = principal("developer", user=user), principal("developer")
    assert row.id in {a.id for a in await anomalies.list_anomalies(db_session, owner, None, True, 500)}
    assert row.id not in {a.id for a in await anomalies.list_anomalies(db_session, other, None, None, 500)}
    with pytest.raises(Exception) as refused:
        await anomalies.acknowledge(db_session, other, row.id)
    assert getattr(refused.value, "code", None) == "anomaly_not_found"
    with pytest.raises(Exception) as viewer:
        await anomalies.acknowledge(db_session, principal("viewer", user=user), row.id)
    assert getattr(viewer.value, "code", None) == "permission_denied"
    acked = await anomalies.acknowledge(db_session, owner, row.id)
    assert acked.acknowledged_by == user.id
    assert row.id not in {a.id for a in await anomalies.list_anomalies(db_session, owner, None, True, 500)}


async def test_judge_scores_of_a_quality_monitor_drift(db_session, two_teams):
    from axops.evaluation.monitoring_models import QualityMonitor, QualityScore

    now = datetime.now(UTC).replace(microsecond=0)
    route = f"judged-{uuid.uuid4().hex[:6]}"
    monitor = QualityMonitor(
        team_id=two_teams[0].id, name=route, route=route, judge_route="judge", rubric="helpfulness", watermark_at=now
    )
    db_session.add(monitor)
    await db_session.flush()
    rng = np.random.default_rng(7)
    for start, span, mean in (
        (now - timedelta(days=8), timedelta(days=7), 0.85),
        (now - timedelta(days=1), timedelta(days=1), 0.4),
    ):
        db_session.add_all(
            QualityScore(
                monitor_id=monitor.id,
                team_id=two_teams[0].id,
                route=route,
                usage_record_id=uuid.uuid4(),
                created_at=start + span * i / 40,
                rubric="helpfulness",
                score=float(np.clip(rng.normal(mean, 0.08), 0, 1)),
            )
            for i in range(40)
        )
    await db_session.flush()
    results = [r for r in await drift_features.run(db_session, now=now) if r.route == route]
    assert {(r.feature, r.test, r.severity) for r in results} == {
        ("judge_score", "psi", "drifted"),
        ("judge_score", "ks", "drifted"),
    }
