"""What the request log search and export must refuse: export without gateway:admin (403, and no audit
event), searching another user's requests, SQL or LIKE wildcards in `q` taken as anything but text,
and unmasked PII leaking through search or export."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import openai
import psycopg
import pytest

from axops.core.db import libpq_url
from tests.factories import flush_gateway, make_account, make_key, make_route
from tests.mocks import MockUpstream


@pytest.fixture
def world(api, admin, live_server):
    upstream = MockUpstream("X")
    make_route(api, admin, "sec-search", upstream.url)
    victim = make_account(api, admin, "sec-victim", new_team="sec-a")
    snoop = make_account(api, admin, "sec-snoop", new_team="sec-b")
    key = make_key(api, victim.headers, "logged", log_content=True)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
    client.chat.completions.create(
        model="sec-search",
        messages=[{"role": "user", "content": "비밀 계획: 주민번호 900101-1234567, 메일 kim@example.com"}],
    )
    flush_gateway(live_server)
    yield {"victim": victim, "snoop": snoop}
    asyncio.run_coroutine_threadsafe(upstream.runner.cleanup(), upstream.loop).result(10)


def test_export_needs_gateway_admin(api, admin, world, database_url):
    for headers in (world["snoop"].headers, world["victim"].headers):
        r = api.get("/api/gateway/logs/export", headers=headers)
        assert r.status_code == 403 and r.json()["type"].endswith("permission_denied")
    assert api.get("/api/gateway/logs/export").status_code == 401
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'request_log.export'").fetchone()[0]
    assert count == 0  # refused before anything was exported or recorded


def test_search_never_reaches_other_users_or_unmasked_text(api, admin, world):
    victim, snoop = world["victim"], world["snoop"]
    assert api.get("/api/gateway/logs", params={"q": "비밀 계획"}, headers=victim.headers).json()["total"] == 1
    assert api.get("/api/gateway/logs", params={"q": "비밀 계획"}, headers=snoop.headers).json()["total"] == 0
    forced = api.get("/api/gateway/logs", params={"q": "비밀", "user_id": victim.user_id}, headers=snoop.headers)
    assert forced.status_code == 403
    # the PII was masked before storage: neither search nor export can find it
    for secret in ("1234567", "900101-1234567", "kim@example.com"):
        assert api.get("/api/gateway/logs", params={"q": secret}, headers=admin).json()["total"] == 0, secret
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    exported = api.get("/api/gateway/logs/export", params={"from": since}, headers=admin).text
    assert "비밀 계획" in exported and "1234567" not in exported and "kim@example.com" not in exported


def test_q_is_text_not_sql_or_wildcards(api, admin, world, database_url):
    for q in ("%%", "__", "%_%", "' OR '1'='1", "'); DROP TABLE gateway_request_logs; --", "\\%"):
        r = api.get("/api/gateway/logs", params={"q": q}, headers=admin)
        assert r.status_code == 200 and r.json()["total"] == 0, q
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM gateway_request_logs").fetchone()[0] == 1
    # too long a search is refused, not run
    r = api.get("/api/gateway/logs", params={"q": "가" * 201}, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("request_log_search_length")
