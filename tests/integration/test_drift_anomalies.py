"""Drift and usage anomalies over HTTP: the gateway records each prompt's features and the caller's
address, the drift job finds a shifted stream and not an unshifted one, a burst of a real key is listed to
its owner and acknowledged (audited), and the periodic tasks run in the worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import openai
import psycopg
import pytest
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation

from axops.core.db import libpq_url
from tests.factories import flush_gateway, make_account, make_key, make_route
from tests.mocks import MockUpstream, bag_of_words

_COLUMNS = "created_at, model, prompt_chars, prompt_tokens, hangul_ratio, latin_ratio, api_key_id, user_id, client_ip"
_INSERT = f"""INSERT INTO usage_records ({_COLUMNS}, endpoint, stream, status, completion_tokens, cost, latency_ms,
    attempts, cache, saved_cost) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'chat', false, 200, 5, 0, 10, 1, 'off', 0)"""


def insert(database_url: str, rows: list[tuple]) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(_INSERT, rows)


def stream(route: str, start: datetime, span: timedelta, n: int, mean: float, korean: float, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    chars = np.clip(rng.normal(mean, 30, n), 1, None).astype(int)
    hangul = np.where(rng.random(n) < korean, 0.95, 0.03)
    return [
        (start + span * (i + 0.5) / n, route, int(c), int(c) // 3, float(h), 0.99 - float(h), None, None, None)
        for i, (c, h) in enumerate(zip(chars, hangul, strict=True))
    ]


@pytest.fixture
def upstream():
    mock = MockUpstream("A")
    yield mock
    if mock.runner:
        asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def test_the_gateway_records_prompt_features_and_the_client_address(api, admin, upstream, live_server, database_url):
    make_route(api, admin, "feat-chat", upstream.url)
    key = make_key(api, admin, "feat")
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
    client.chat.completions.create(
        model="feat-chat",
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "서울 날씨 알려줘"}],
    )
    flush_gateway(live_server)
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT prompt_chars, hangul_ratio, latin_ratio, client_ip FROM usage_records WHERE model = 'feat-chat'"
        ).fetchone()
    # "Be brief\n서울 날씨 알려줘": 18 characters; 7 Latin and 7 Hangul letters
    assert row == (18, pytest.approx(0.5), pytest.approx(0.5), "127.0.0.1")


def test_drift_found_on_a_shifted_stream_and_shown_on_the_api(api, admin, database_url):
    now = datetime.now(UTC)
    day, week = timedelta(days=1), timedelta(days=7)
    rows = stream("shifted", now - day - week, week, 500, 200, 0.9, 11) + stream(
        "shifted", now - day, day, 300, 400, 0.1, 12
    )
    rows += stream("steady", now - day - week, week, 500, 200, 0.9, 13) + stream(
        "steady", now - day, day, 300, 200, 0.9, 14
    )
    insert(database_url, rows)

    assert api.get("/api/monitoring/drift", headers=admin).json() == []
    run = api.post("/api/monitoring/drift/run", json={}, headers=admin)
    assert run.status_code == 200, run.text
    assert run.json()["routes"] == ["shifted", "steady"] and run.json()["results"] == 12

    latest = api.get("/api/monitoring/drift", params={"route": "shifted"}, headers=admin).json()
    by = {(r["feature"], r["test"]): r for r in latest}
    assert by["prompt_chars", "psi"]["severity"] == "drifted" and by["prompt_chars", "psi"]["statistic"] > 1
    assert by["prompt_chars", "ks"]["p_value"] < 1e-6 and by["hangul_ratio", "psi"]["severity"] == "drifted"
    assert by["language_mix", "tv"]["severity"] == "drifted"
    steady = api.get("/api/monitoring/drift", params={"route": "steady"}, headers=admin).json()
    assert len(steady) == 6 and {r["severity"] for r in steady} == {"stable"}

    detail = api.get("/api/monitoring/drift/shifted", headers=admin)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["reference"]["pinned"] is False and body["window_hours"] == 24
    assert {(p["feature"], p["test"]) for p in body["history"]} == set(by)
    series = api.get(
        "/api/monitoring/series",
        params={
            "name": "drift_psi",
            "label.route": "shifted",
            "label.feature": "prompt_chars",
            "from": (now - timedelta(minutes=5)).isoformat(),
        },
        headers=admin,
    ).json()["series"]
    assert series[0]["points"][-1][1] == pytest.approx(by["prompt_chars", "psi"]["statistic"])
    assert api.get("/api/monitoring/drift/no-such-route", headers=admin).status_code == 404


def _defer(live_server, name: str) -> None:
    state = live_server.app.state.axops
    defer = state.tasks.tasks[name].defer_async(timestamp=0)
    with contextlib.suppress(AlreadyEnqueued, UniqueViolation):
        asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)


def test_a_keys_burst_is_flagged_listed_to_its_owner_and_acknowledged(
    api, admin, database_url, live_server, task_worker
):
    dev = make_account(api, admin, "burst-dev", new_team="burst-team")
    key = make_key(api, dev.headers, "burst")
    steady = make_key(api, dev.headers, "steady")
    now = datetime.now(UTC)
    rows = []
    for h in range(2, 24 * 7 + 2):
        for i in range(10):
            for k in (key["id"], steady["id"]):
                rows.append((now - timedelta(hours=h, minutes=5 * i), "m", 10, 3, None, None, k, None, "10.1.1.1"))
    rows += [(now - timedelta(seconds=30 + i), "m", 10, 3, None, None, key["id"], None, "10.1.1.1") for i in range(200)]
    rows += [
        (now - timedelta(minutes=5 * i + 1), "m", 10, 3, None, None, steady["id"], None, "10.1.1.1") for i in range(10)
    ]
    insert(database_url, rows)

    _defer(live_server, "monitoring_drift:usage_anomalies")  # the periodic task, run by the worker
    deadline = time.monotonic() + 60
    found: list = []
    while time.monotonic() < deadline and not found:
        found = api.get("/api/monitoring/anomalies", params={"kind": "requests"}, headers=dev.headers).json()
        time.sleep(0.3)
    assert [(a["subject_name"], a["observed"], a["expected"]) for a in found] == [("burst", 200.0, 10.0)]
    assert found[0]["subject_type"] == "api_key" and found[0]["subject_id"] == key["id"]

    ack = api.post(f"/api/monitoring/anomalies/{found[0]['id']}/ack", headers=dev.headers)
    assert ack.status_code == 200, ack.text
    assert ack.json()["acknowledged_by"] == dev.user_id
    assert (
        api.get("/api/monitoring/anomalies", params={"open": True, "kind": "requests"}, headers=dev.headers).json()
        == []
    )
    events = api.get("/api/audit/logs", params={"action": "monitoring.anomaly_acknowledged"}, headers=admin).json()
    assert [e["resource_id"] for e in events["items"]] == [found[0]["id"]]
    again = api.post(f"/api/monitoring/anomalies/{found[0]['id']}/ack", headers=dev.headers)
    assert again.status_code == 200  # idempotent, no second audit event
    events = api.get("/api/audit/logs", params={"action": "monitoring.anomaly_acknowledged"}, headers=admin).json()
    assert len(events["items"]) == 1


def _logs(database_url: str, route: str, start: datetime, texts: list[str]) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gateway_request_logs (created_at, model, status, request, response) VALUES (%s, %s, 200, %s, '')",
            [
                (start + timedelta(minutes=5 * i), route, json.dumps({"messages": [{"role": "user", "content": t}]}))
                for i, t in enumerate(texts)
            ],
        )


def test_embedding_drift_through_the_routes_embeddings_route(api, admin, upstream, live_server, database_url):
    upstream.embedding_for = bag_of_words
    make_route(api, admin, "embed-ko", upstream.url)
    for name in ("sem-shift", "sem-steady"):
        make_route(api, admin, name, "http://127.0.0.1:9/v1")
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE gateway_routes SET semantic_cache = %s WHERE model_name IN ('sem-shift', 'sem-steady')",
            (json.dumps({"enabled": False, "embeddings_route": "embed-ko"}),),
        )
    rng = np.random.default_rng(5)
    korean = ["서울", "날씨", "내일", "비", "기온", "우산", "주말", "예보", "바람", "맑음"]
    english = ["invoice", "payment", "refund", "account", "billing", "card", "charge", "receipt", "due", "tax"]

    def texts(words: list[str], n: int = 50) -> list[str]:
        return [" ".join(rng.choice(words, 6)) for _ in range(n)]

    now = datetime.now(UTC)
    _logs(database_url, "sem-shift", now - timedelta(days=3), texts(korean))
    _logs(database_url, "sem-shift", now - timedelta(hours=5), texts(english))
    _logs(database_url, "sem-steady", now - timedelta(days=3), texts(korean))
    _logs(database_url, "sem-steady", now - timedelta(hours=5), texts(korean))
    for route in ("sem-shift", "sem-steady"):
        r = api.post("/api/monitoring/drift/run", json={"route": route}, headers=admin)
        assert r.status_code == 200 and r.json()["results"] == 1, r.text
    shift = api.get("/api/monitoring/drift", params={"route": "sem-shift"}, headers=admin).json()
    steady = api.get("/api/monitoring/drift", params={"route": "sem-steady"}, headers=admin).json()
    assert [(x["feature"], x["test"], x["severity"]) for x in shift] == [("embedding", "cosine", "drifted")]
    assert shift[0]["statistic"] > 0.5 and (shift[0]["n_current"], shift[0]["n_reference"]) == (50, 50)
    assert steady[0]["severity"] == "stable" and steady[0]["statistic"] < 0.05, steady
    assert len([b for b in upstream.requests if b.get("model") == "tiny"]) == 200  # 50 prompts x 2 windows x 2 routes
    # without an embeddings route the feature is skipped cleanly
    make_route(api, admin, "plain", "http://127.0.0.1:9/v1")
    _logs(database_url, "plain", now - timedelta(hours=5), texts(english))
    assert api.post("/api/monitoring/drift/run", json={"route": "plain"}, headers=admin).json()["results"] == 0
