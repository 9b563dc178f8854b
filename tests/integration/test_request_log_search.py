"""The request log's full-text search (`q` on /api/gateway/logs) over the masked text with Korean,
its 90-day retention (partitions dropped, the boundary month's older rows deleted), and the export for
Loki/ELK (JSON lines) and OpenTelemetry (OTLP/JSON), over HTTP and from `axops logs export`."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import openai
import orjson
import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from axops import cli
from axops.core import partitions
from axops.core.db import async_url, libpq_url
from axops.gateway import log_export
from axops.gateway.tasks import maintain_usage_partitions
from tests.factories import flush_gateway, make_account, make_key, make_route
from tests.mocks import MockUpstream

ANSWERS = {"서울": "회의록을 정리했습니다", "부산": "부산은 맑습니다", "100%": "ok"}
PROMPTS = ["서울에서 회의가 있습니다. 연락처 010-2345-6789", "부산 날씨 알려줘", "100% 확실한 답_변"]


@pytest.fixture
def logged(api, admin, live_server):
    upstream = MockUpstream("S")
    upstream.answer_for = lambda body: next((a for k, a in ANSWERS.items() if k in body["messages"][0]["content"]), "?")
    started = datetime.now(UTC) - timedelta(seconds=1)
    route = f"search-{uuid.uuid4().hex[:6]}"
    make_route(api, admin, route, upstream.url)
    dev = make_account(api, admin, "search-dev", new_team="search-a")
    other = make_account(api, admin, "search-other", new_team="search-b")
    key = make_key(api, dev.headers, "logged", log_content=True)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
    for prompt in PROMPTS:
        client.chat.completions.create(model=route, messages=[{"role": "user", "content": prompt}])
    flush_gateway(live_server)
    yield {"route": route, "dev": dev, "other": other, "key": key, "since": started}
    asyncio.run_coroutine_threadsafe(upstream.runner.cleanup(), upstream.loop).result(10)


def _search(api, headers, q, **params):
    return api.get("/api/gateway/logs", params={"q": q, **params}, headers=headers)


def test_search_finds_korean_substrings_in_masked_text(api, admin, logged):
    dev, route = logged["dev"], logged["route"]

    def found(q, headers=dev.headers):
        r = _search(api, headers, q, model=route)
        assert r.status_code == 200, r.text
        return sorted(i["request"]["messages"][0]["content"][:2] for i in r.json()["items"])

    assert found("서울") == ["서울"]  # two Korean characters, inside a word with its particle (서울에서)
    assert found("회의록을") == ["서울"]  # the answer is searched too
    assert found("부산은 맑") == ["부산"]
    assert found("  부산  ") == ["부산"]  # trimmed
    assert found("100%") == ["10"] and found("0%") == ["10"]  # % and _ are literal, not wildcards
    assert found("답_변") == ["10"] and found("답x변") == []
    assert found("없는말") == []
    assert found("서울", admin) == ["서울"]  # a gateway admin sees everyone's
    assert found("서울", logged["other"].headers) == []  # another user's requests are never searched
    # the masked-away digits cannot be searched for
    assert found("2345-6789") == []
    # total and paging still work with a search
    page = _search(api, dev.headers, "니다", limit=1).json()  # 있습니다, 정리했습니다, 맑습니다: two requests
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next_cursor"]

    # bounded: 2-200 characters, a range of at most 92 days (default 7 days)
    for bad in ("서", " a ", "x" * 201):
        r = _search(api, dev.headers, bad)
        assert r.status_code == 422 and r.json()["type"].endswith("request_log_search_length"), bad
    far = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    r = _search(api, dev.headers, "서울", since=far)
    assert r.status_code == 422 and r.json()["type"].endswith("request_log_search_range")
    week_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    old = _search(api, dev.headers, "서울", until=week_ago)  # the 7 days before `until`: nothing then
    assert old.status_code == 200 and old.json()["items"] == []


def test_trigram_index_on_the_partitioned_parent(database_url):
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is None:
            pytest.skip("this PostgreSQL has no pg_trgm (e.g. the embedded pgserver): searches scan their range")
        (defn,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_gateway_request_logs_text_trgm'"
        ).fetchone()
        assert "gin_trgm_ops" in defn and "ONLY" in defn  # on the parent: partitions get their own copies
        per_partition = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'gateway_request_logs_y%' AND indexdef LIKE '%gin_trgm_ops%'"
        ).fetchone()[0]
        assert per_partition >= 1
        # trigrams of Korean text are extracted (the database's ctype handles multibyte characters)
        assert conn.execute("SELECT cardinality(show_trgm('서울에서 회의'))").fetchone()[0] > 3


def test_retention_removes_logs_older_than_90_days(api, database_url, settings):
    assert settings.request_log_retention_days == 90
    now = datetime.now(UTC)
    ages = {"ancient": 200, "boundary_old": 91, "kept": 85, "fresh": 0}
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:

        async def make_partitions():
            engine = create_async_engine(async_url(database_url))
            async with engine.begin() as c:
                for days in ages.values():
                    await partitions.ensure(c, "gateway_request_logs", 0, (now - timedelta(days=days)).date())
            await engine.dispose()

        asyncio.run(make_partitions())
        for tag, days in ages.items():
            conn.execute(
                """INSERT INTO gateway_request_logs (created_at, request_id, model, status, request, response)
                   VALUES (%s, %s, 'r', 200, '{"prompt": "x"}', 'y')""",
                (now - timedelta(days=days), f"ret-{tag}"),
            )

        async def run():
            engine = create_async_engine(async_url(database_url))
            await maintain_usage_partitions(engine, 1, 400, settings.request_log_retention_days)
            await engine.dispose()

        asyncio.run(run())
        left = {r[0] for r in conn.execute("SELECT request_id FROM gateway_request_logs WHERE request_id LIKE 'ret-%'")}
        assert left == {"ret-kept", "ret-fresh"}
        oldest = conn.execute("SELECT min(created_at) FROM gateway_request_logs").fetchone()[0]
        assert oldest >= now - timedelta(days=90)
        ancient = partitions.partition_name("gateway_request_logs", (now - timedelta(days=200)).date().replace(day=1))
        assert conn.execute("SELECT to_regclass(%s)", (ancient,)).fetchone()[0] is None  # dropped whole


def test_export_jsonl_and_otlp(api, admin, logged, database_url):
    window = {"from": logged["since"].isoformat()}
    r = api.get("/api/gateway/logs/export", params={"format": "jsonl", **window}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    lines = [orjson.loads(x) for x in r.text.splitlines()]
    mine = [x for x in lines if x["route"] == logged["route"]]
    assert len(mine) == 3
    assert all(list(x) == list(log_export.FIELDS) for x in lines)  # stable names, stable order
    first = mine[0]  # oldest first
    assert first["request"]["messages"][0]["content"].startswith("서울에서 회의가 있습니다")
    assert first["response"] == "회의록을 정리했습니다" and first["status"] == 200
    assert first["user"] == "search-dev" and first["api_key_prefix"] == logged["key"]["prefix"]
    assert first["tokens"]["prompt"] > 0 and first["tokens"]["completion"] == 1 and first["latency_ms"] > 0
    assert datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00")) >= logged["since"]
    assert "2345-6789" not in r.text  # masked text only

    o = api.get("/api/gateway/logs/export", params={"format": "otlp", **window}, headers=admin)
    assert o.status_code == 200 and "2345-6789" not in o.text
    records = []
    for raw in o.text.splitlines():
        doc = orjson.loads(raw)
        (resource,) = doc["resourceLogs"]
        assert resource["resource"]["attributes"][0] == {
            "key": "service.name",
            "value": {"stringValue": "axops-gateway"},
        }
        (scope,) = resource["scopeLogs"]
        assert scope["scope"]["name"]
        records += scope["logRecords"]
    ours = [x for x in records if {"key": "axops.route", "value": {"stringValue": logged["route"]}} in x["attributes"]]
    assert len(ours) == 3
    for rec in ours:
        assert set(rec) == {
            "timeUnixNano",
            "observedTimeUnixNano",
            "severityNumber",
            "severityText",
            "body",
            "attributes",
        }
        assert rec["timeUnixNano"].isdigit() and int(rec["timeUnixNano"]) >= logged["since"].timestamp() * 1e9
        assert rec["severityText"] == "INFO" and rec["severityNumber"] == 9
        assert set(rec["body"]) == {"stringValue"}
        for attr in rec["attributes"]:
            assert set(attr) == {"key", "value"} and len(attr["value"]) == 1
            assert next(iter(attr["value"])) in {"stringValue", "intValue", "doubleValue", "boolValue"}
    attrs = {a["key"]: a["value"] for a in ours[0]["attributes"]}
    assert attrs["http.response.status_code"] == {"intValue": "200"}
    assert orjson.loads(ours[0]["body"]["stringValue"])["response"] == "회의록을 정리했습니다"

    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        audited = conn.execute(
            "SELECT summary FROM audit_events WHERE action = 'request_log.export' ORDER BY created_at"
        ).fetchall()
    assert [s[0]["format"] for s in audited] == ["jsonl", "otlp"]

    # bad input: an unknown format, a backwards or too-long range
    assert api.get("/api/gateway/logs/export", params={"format": "csv"}, headers=admin).status_code == 422
    backwards = {"from": datetime.now(UTC).isoformat(), "to": logged["since"].isoformat()}
    assert api.get("/api/gateway/logs/export", params=backwards, headers=admin).status_code == 422
    year = {"from": (datetime.now(UTC) - timedelta(days=365)).isoformat()}
    r = api.get("/api/gateway/logs/export", params=year, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("request_log_export_range")


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self):
        _Receiver.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_cli_exports_to_a_file_and_pushes_otlp(api, admin, logged, live_server, tmp_path):
    key = make_key(api, admin, "exporter")["key"]  # the admin's key: gateway:admin
    out = tmp_path / "logs.jsonl"
    runner = CliRunner()
    base = ["logs", "export", "--since", "1h", "--url", live_server.url, "--api-key", key]
    result = runner.invoke(cli.app, [*base, "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    routes = [orjson.loads(x)["route"] for x in out.read_text().splitlines()]
    assert routes.count(logged["route"]) == 3

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.bodies = []
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/logs"
        result = runner.invoke(cli.app, [*base, "--format", "otlp", "--push", url])
        assert result.exit_code == 0, result.output
    finally:
        server.shutdown()
    pushed = [orjson.loads(b) for b in _Receiver.bodies]
    assert pushed and all("resourceLogs" in p for p in pushed)
    assert sum(len(p["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) for p in pushed) >= 3

    dev_key = make_key(api, logged["dev"].headers, "dev")["key"]
    denied = runner.invoke(cli.app, ["logs", "export", "--url", live_server.url, "--api-key", dev_key])
    assert denied.exit_code == 2 and "403" in denied.output
    assert runner.invoke(cli.app, [*base, "--since", "yesterday"]).exit_code == 2
