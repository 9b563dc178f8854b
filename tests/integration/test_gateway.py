"""The OpenAI-compatible gateway with the official `openai` SDK against local mock upstreams:
routing, streaming, failover, circuit breaker, errors in OpenAI's shape, usage records."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import psycopg
import pytest

from axops.core.db import libpq_url
from tests.factories import flush_gateway, make_account, make_key
from tests.mocks import MockUpstream


@pytest.fixture
def upstreams():
    a, b = MockUpstream("A"), MockUpstream("B")
    yield a, b
    for m in (a, b):
        if m.runner:
            asyncio.run_coroutine_threadsafe(m.runner.cleanup(), m.loop).result(10)


@pytest.fixture
def setup(api, admin, upstreams):
    a, b = upstreams
    dev = make_account(api, admin, "dev1", new_team="apps").headers
    pa = api.post(
        "/api/gateway/providers",
        json={"name": "mock-a", "base_url": a.url, "api_key": "sk-upstream-secret"},
        headers=admin,
    )
    assert pa.status_code == 201, pa.text
    assert "sk-upstream-secret" not in pa.text and pa.json()["has_api_key"] is True
    pb = api.post("/api/gateway/providers", json={"name": "mock-b", "base_url": b.url}, headers=admin).json()
    route = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "chat-small",
            "targets": [{"provider_id": pa.json()["id"], "model": "tiny-a", "input_price": 1.0, "output_price": 2.0}],
            "fallbacks": [{"provider_id": pb["id"], "model": "tiny-b", "input_price": 1.0, "output_price": 2.0}],
        },
        headers=admin,
    )
    assert route.status_code == 201, route.text
    key = make_key(api, dev, "app", models=["chat-small"])
    return {
        "key": key["key"],
        "key_id": key["id"],
        "dev": dev,
        "route": route.json(),
        "providers": (pa.json(), pb),
    }


def usage_rows(live_server, database_url) -> list[dict]:
    flush_gateway(live_server)  # a stream's record is written when its relay ends; the SDK stops at [DONE]
    with psycopg.connect(libpq_url(database_url), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM usage_records ORDER BY created_at").fetchall()


def test_openai_sdk_routes_streams_fails_over_and_records_usage(
    api, admin, setup, upstreams, live_server, database_url
):
    a, b = upstreams
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0)
    assert [m.id for m in client.models.list()] == ["chat-small"]

    reply = client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "say hi to me"}])
    assert reply.choices[0].message.content == "hello from A" and reply.usage.prompt_tokens == 4
    assert a.requests[-1]["model"] == "tiny-a"  # the upstream's own model name

    chunks = list(
        client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from A"
    assert all(c.usage is None for c in chunks), "usage chunk the client did not ask for was passed on"
    assert a.requests[-1]["stream_options"] == {"include_usage": True}  # asked on the client's behalf, for accounting
    chunks = list(
        client.chat.completions.create(
            model="chat-small",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.completion_tokens == 3

    async def async_calls():
        aclient = openai.AsyncOpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0)
        r = await aclient.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "a b"}])
        parts = [
            c.choices[0].delta.content
            async for c in await aclient.chat.completions.create(
                model="chat-small", messages=[{"role": "user", "content": "a"}], stream=True
            )
            if c.choices
        ]
        await aclient.close()
        return r.choices[0].message.content, "".join(p or "" for p in parts)

    assert asyncio.run(async_calls()) == ("hello from A", "hello from A")

    # Errors in OpenAI's shape, so the SDK raises the matching exception.
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="axk_bad_key", max_retries=0).models.list()
    bad = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {setup['key']}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    wrong = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"model": "chat-small", "messages": "hi"},
        headers={"Authorization": f"Bearer {setup['key']}"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "messages"

    # A second route this key is not allowed: invisible to it.
    pa, _ = setup["providers"]
    api.post(
        "/api/gateway/routes",
        json={"model_name": "chat-big", "targets": [{"provider_id": pa["id"], "model": "big"}]},
        headers=admin,
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="chat-big", messages=[{"role": "user", "content": "x"}])
    assert [m.id for m in client.models.list()] == ["chat-small"]

    # Upstream A fails (5xx, then garbage): the fallback answers; after 3 failures A's circuit opens.
    a.mode = "error500"
    raw = client.chat.completions.with_raw_response.create(
        model="chat-small", messages=[{"role": "user", "content": "x"}]
    )
    assert (
        raw.headers["x-axops-upstream"] == "mock-b/tiny-b" and raw.parse().choices[0].message.content == "hello from B"
    )
    a.mode = "garbage"
    assert (
        client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "x"}])
        .choices[0]
        .message.content
        == "hello from B"
    )
    a.mode = "error500"
    client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "x"}])
    plan = api.post("/api/router/route", json={"model": "chat-small"}, headers=setup["dev"]).json()
    assert [(o["upstream"], o["circuit"]) for o in plan["order"]] == [
        ("mock-b/tiny-b", "closed"),
        ("mock-a/tiny-a", "open"),
    ]
    before = len(a.requests)
    client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "x"}])
    assert len(a.requests) == before, "an open circuit should skip the failing upstream"

    # Both down: a clean 502 in OpenAI's shape, not a hang.
    b.stop()
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502

    rows = usage_rows(live_server, database_url)
    ok = [r for r in rows if r["status"] == 200]
    first = ok[0]
    assert (first["model"], first["upstream"], first["prompt_tokens"], first["completion_tokens"]) == (
        "chat-small",
        "mock-a/tiny-a",
        4,
        3,
    )
    assert first["cost"] == pytest.approx((4 * 1.0 + 3 * 2.0) / 1e6) and first["api_key_id"] is not None
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] == 3 for r in ok if r["stream"]), (
        "stream usage not counted"
    )
    assert [r["status"] for r in rows].count(502) == 1 and rows[-1][
        "attempts"
    ] == 4  # both, twice (jittered pause between)
    assert any(r["upstream"] == "mock-b/tiny-b" and r["attempts"] == 2 for r in ok)

    # Aggregates: the developer sees their own usage; another user's needs gateway:admin.
    by_upstream = api.get("/api/metrics/usage", params={"group_by": "upstream"}, headers=setup["dev"]).json()
    totals = {t["group"]: t for t in by_upstream["totals"]}
    assert sum(t["requests"] for t in totals.values()) == len(rows) and totals["mock-a/tiny-a"]["p95_ms"] > 0
    assert totals["mock-a/tiny-a"]["cost"] == pytest.approx(
        sum(r["cost"] for r in rows if r["upstream"] == "mock-a/tiny-a")
    )
    assert by_upstream["series"] and by_upstream["series"][0]["ts"]
    by_key = api.get("/api/metrics/model/chat-small", headers=admin).json()
    assert sum(t["requests"] for t in by_key["totals"]) == len(rows)
    me = api.get("/api/user/info", headers=setup["dev"]).json()["id"]
    admin_id = api.get("/api/user/info", headers=admin).json()["id"]
    assert api.get(f"/api/metrics/cost/user/{me}", headers=setup["dev"]).json()["totals"][0]["group"] == "chat-small"
    assert api.get(f"/api/metrics/cost/user/{admin_id}", headers=setup["dev"]).status_code == 403
    assert api.get("/api/metrics/usage", params={"bucket": "week"}, headers=admin).status_code == 422


def test_limits_and_broken_streams(api, admin, setup, upstreams, live_server):
    a, _ = upstreams
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0)
    # A prompt over the route's limit is refused before any upstream call.
    assert (
        api.patch(
            f"/api/gateway/routes/{setup['route']['id']}", json={"max_prompt_chars": 200}, headers=admin
        ).status_code
        == 200
    )
    before = len(a.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "word " * 100}])
    assert refused.value.code == "context_length_exceeded" and len(a.requests) == before

    # The upstream drops the connection mid-stream: the client gets an error, not a hang.
    a.mode = "break_stream"
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="chat-small", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass

    # The PRD's simple endpoint goes through the same path.
    simple = api.post("/api/inference/chat-small", json={"prompt": "hi", "system": "be brief"}, headers=setup["dev"])
    assert simple.status_code == 200, simple.text
    assert simple.json()["text"] == "hello from A" and simple.json()["completion_tokens"] == 3
    assert a.requests[-1]["messages"][0] == {"role": "system", "content": "be brief"}
    assert api.post("/api/inference/nope", json={"prompt": "hi"}, headers=setup["dev"]).status_code == 404
    assert api.post("/api/inference/chat-small", json={}, headers=setup["dev"]).status_code == 422
    assert api.get("/api/inference/models", headers=setup["dev"]).json() == ["chat-small"]

    # Embeddings pass through; a Viewer's session may not call models; admin routes need gateway:admin.
    a.mode = "ok"
    emb = client.embeddings.create(model="chat-small", input="안녕")
    assert emb.data[0].embedding == [0.1, 0.2, 0.3]
    assert api.get("/api/gateway/routes", headers=setup["dev"]).status_code == 403
    bad = api.post(
        "/api/gateway/routes",
        json={"model_name": "x", "targets": [{"provider_id": str(setup["route"]["id"]), "model": "m"}]},
        headers=admin,
    )
    assert bad.status_code == 422 and "Unknown provider" in bad.json()["detail"]
    pa, _ = setup["providers"]
    assert api.delete(f"/api/gateway/providers/{pa['id']}", headers=admin).status_code == 409


def test_rate_limits_and_budgets(api, admin, setup, live_server):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0)
    ask = {"model": "chat-small", "messages": [{"role": "user", "content": "x"}]}
    assert api.put(f"/api/gateway/limits/key/{setup['key_id']}", json={"rpm": 2}, headers=admin).status_code == 200
    client.chat.completions.create(**ask)
    client.chat.completions.create(**ask)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(**ask)
    assert int(limited.value.response.headers["Retry-After"]) >= 1 and "2 requests per minute" in limited.value.message
    assert api.delete(f"/api/gateway/limits/key/{setup['key_id']}", headers=admin).status_code == 204

    # A monthly budget smaller than one answer's cost: the next request is refused, a warning is raised once.
    # (On a fresh key: the calls above count towards this user's month, depending on when their usage was written.)
    me = api.get("/api/user/info", headers=setup["dev"]).json()["id"]
    fresh = api.post(
        "/api/apikey/create", json={"name": "budgeted", "scopes": ["gateway:invoke"]}, headers=setup["dev"]
    ).json()
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=fresh["key"], max_retries=0)
    assert (
        api.put(
            f"/api/gateway/limits/key/{fresh['id']}",
            json={"monthly_budget": 0.000005, "warn_ratio": 0.5},
            headers=admin,
        ).status_code
        == 200
    )
    client.chat.completions.create(**ask)  # costs (1 x 1 + 3 x 2) / 1e6 > the budget
    for _ in range(50):
        if api.get("/api/audit/logs", params={"action": "gateway.budget_warning"}, headers=admin).json()["items"]:
            break
        time.sleep(0.05)
    with pytest.raises(openai.RateLimitError) as spent:
        client.chat.completions.create(**ask)
    assert spent.value.code == "budget_exceeded" and "monthly budget" in spent.value.message
    warnings = api.get("/api/audit/logs", params={"action": "gateway.budget_warning"}, headers=admin).json()["items"]
    assert len(warnings) == 1 and warnings[0]["summary"]["budget"] == 0.000005
    listed = api.get("/api/gateway/limits", headers=admin).json()
    assert listed[0]["scope"] == "key" and listed[0]["spent_this_month"] > 0.000005
    assert api.put(f"/api/gateway/limits/team/{me}", json={"rpm": 1}, headers=admin).status_code == 404
    assert api.put(f"/api/gateway/limits/user/{me}", json={"rpm": 1}, headers=setup["dev"]).status_code == 403


async def test_shared_buckets_in_redis():
    import os

    import redis.asyncio as redis

    from axops.gateway.limits import LocalBuckets, RedisBuckets

    url = os.environ.get("AXOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        await redis.from_url(url).ping()
    except (redis.ConnectionError, OSError):
        pytest.skip(f"no Redis at {url} (set AXOPS_TEST_REDIS_URL)")
    key = f"test:{time.time_ns()}"
    replicas = [RedisBuckets(url), RedisBuckets(url)]  # two gateway processes, one bucket
    assert await replicas[0].take(key, 2, 2 / 60, 1) == 0 and await replicas[1].take(key, 2, 2 / 60, 1) == 0
    wait = await replicas[0].take(key, 2, 2 / 60, 1)
    assert 25 < wait <= 30
    await replicas[1].charge(key, 2, 2 / 60, 5)  # charged after the fact: the bucket goes into debt
    assert await replicas[0].take(key, 2, 2 / 60, 1) > 150
    local = LocalBuckets()
    assert [await local.take("k", 1, 1, 1), await local.take("k", 1, 1, 1) > 0] == [0.0, True]
    for r in replicas:
        await r.close()


def test_answer_cache(api, admin, setup, upstreams, live_server, database_url):
    a, _ = upstreams
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0)
    assert (
        api.patch(f"/api/gateway/routes/{setup['route']['id']}", json={"cache_ttl_s": 60}, headers=admin).json()[
            "cache_ttl_s"
        ]
        == 60
    )
    ask = {"model": "chat-small", "messages": [{"role": "user", "content": "what is two plus two"}], "temperature": 0}

    first = client.chat.completions.with_raw_response.create(**ask)
    assert first.headers["x-axops-cache"] == "miss"
    sent = len(a.requests)
    second = client.chat.completions.with_raw_response.create(**ask)
    assert second.headers["x-axops-cache"] == "hit" and len(a.requests) == sent
    assert (
        float(first.headers["x-axops-cost"]) == pytest.approx((5 + 6) / 1e6) and second.headers["x-axops-cost"] == "0.0"
    )
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content == "hello from A"
    # The same question streamed is replayed as a stream, usage included when asked.
    chunks = list(client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from A"
        and len(a.requests) == sent
    )
    assert chunks[-1].usage.completion_tokens == 3 and chunks[-1].usage.model_extra["cost"] == 0
    # A streamed miss fills the cache for the plain call too; sampling (temperature > 0) is never cached.
    other = {**ask, "messages": [{"role": "user", "content": "and three plus three"}]}
    assert (
        "".join(
            c.choices[0].delta.content or "" for c in client.chat.completions.create(**other, stream=True) if c.choices
        )
        == "hello from A"
    )
    assert client.chat.completions.with_raw_response.create(**other).headers["x-axops-cache"] == "hit"
    sampled = client.chat.completions.with_raw_response.create(**{**ask, "temperature": 0.7})
    assert "x-axops-cache" not in sampled.headers
    forced = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={**ask, "temperature": 0.7},
        headers={"Authorization": f"Bearer {setup['key']}", "x-axops-cache": "use"},
    )
    assert forced.headers["x-axops-cache"] == "miss"

    rows = usage_rows(live_server, database_url)
    hits = [r for r in rows if r["cache"] == "hit"]
    assert len(hits) == 3 and all(r["cost"] == 0 and r["saved_cost"] == pytest.approx((5 + 6) / 1e6) for r in hits[:2])
    totals = api.get("/api/metrics/usage", headers=admin).json()["totals"]
    assert totals[0]["cache_hits"] == 3
    metrics_text = httpx.get(f"{live_server.url}/metrics").text
    assert 'axops_gateway_cache_lookups_total{result="hit"}' in metrics_text
    assert 'axops_gateway_requests_total{model="chat-small",status="2xx",upstream="cache"}' in metrics_text
    assert 'axops_gateway_tokens_total{kind="completion",model="chat-small"}' in metrics_text


def test_content_logs_are_masked(api, admin, setup, live_server, database_url):
    logged = api.post("/api/apikey/create", json={"name": "logged", "log_content": True}, headers=setup["dev"]).json()
    assert logged["log_content"] is True
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=logged["key"], max_retries=0)
    note = "고객 010-2345-6789, 주민등록번호 900101-1234568, kim@example.com 에게 회신"
    client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": note}])
    list(
        client.chat.completions.create(
            model="chat-small", messages=[{"role": "user", "content": "stream it"}], stream=True
        )
    )
    openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=setup["key"], max_retries=0).chat.completions.create(
        model="chat-small", messages=[{"role": "user", "content": "not logged"}]
    )  # a key without content logging
    gw = live_server.app.state.axops.gateway
    asyncio.run_coroutine_threadsafe(gw.logs.flush(), live_server.server_loop).result(10)
    usage_rows(live_server, database_url)  # the log lists usage records: wait for the stream's to be written
    logs = api.get("/api/gateway/logs", params={"content": True}, headers=setup["dev"]).json()["items"]
    assert [item["response"] for item in logs] == ["hello from A", "hello from A"]
    text = logs[1]["request"]["messages"][0]["content"]
    assert "2345-6789" not in text and "1234568" not in text and "kim@example.com" not in text and "010-" in text
    assert all(item["api_key_id"] == logged["id"] for item in logs)
    assert api.get("/api/gateway/logs", params={"content": True}, headers=admin).json()["items"] == logs


def test_anthropic_translation(api, admin, setup, live_server, database_url):
    from tests.mocks import MockAnthropic

    claude = MockAnthropic("claude")
    try:
        provider = api.post(
            "/api/gateway/providers",
            json={
                "name": "anthropic",
                "kind": "anthropic",
                "base_url": claude.url.removesuffix("/v1"),
                "api_key": "sk-ant-secret",
            },
            headers=admin,
        ).json()
        api.post(
            "/api/gateway/routes",
            json={
                "model_name": "claude",
                "targets": [{"provider_id": provider["id"], "model": "claude-x", "input_price": 3, "output_price": 15}],
            },
            headers=admin,
        ).raise_for_status()
        key = api.post("/api/apikey/create", json={"name": "any"}, headers=setup["dev"]).json()["key"]
        client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
        ask = {
            "model": "claude",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}],
        }

        reply = client.chat.completions.create(**ask, stop=["END"])
        assert reply.choices[0].message.content == "bonjour from claude" and reply.choices[0].finish_reason == "stop"
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 3)
        sent = claude.requests[-1]
        assert sent["system"] == "be brief" and sent["messages"] == [{"role": "user", "content": "say hello"}]
        assert sent["max_tokens"] == 1024 and sent["stop_sequences"] == ["END"] and sent["model"] == "claude-x"
        assert sent["_headers"]["x-api-key"] == "sk-ant-secret" and sent["_headers"]["anthropic-version"]

        chunks = list(client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "bonjour from claude"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].usage.completion_tokens == 3
        rows = [r for r in usage_rows(live_server, database_url) if r["model"] == "claude"]
        assert [(r["prompt_tokens"], r["completion_tokens"], r["stream"]) for r in rows] == [
            (2, 3, False),
            (2, 3, True),
        ]
        assert rows[0]["cost"] == pytest.approx((2 * 3 + 3 * 15) / 1e6)
        with pytest.raises(openai.APIStatusError):
            client.embeddings.create(model="claude", input="x")  # Anthropic serves chat only
    finally:
        asyncio.run_coroutine_threadsafe(claude.runner.cleanup(), claude.loop).result(10)


def test_azure_deployment_urls(api, admin, setup, upstreams, live_server):
    a, _ = upstreams
    azure = api.post(
        "/api/gateway/providers",
        json={
            "name": "azure",
            "kind": "azure",
            "base_url": a.url.removesuffix("/v1"),
            "api_key": "azure-key",
            "api_version": "2024-06-01",
        },
        headers=admin,
    ).json()
    api.post(
        "/api/gateway/routes",
        json={"model_name": "gpt-azure", "targets": [{"provider_id": azure["id"], "model": "my-deployment"}]},
        headers=admin,
    ).raise_for_status()
    key = api.post("/api/apikey/create", json={"name": "any"}, headers=setup["dev"]).json()["key"]
    reply = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0).chat.completions.create(
        model="gpt-azure", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "hello from A"
    assert a.requests[-1]["_path"] == "/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01"
    assert a.requests[-1]["_api_key"] == "azure-key"


def test_client_going_away_cancels_the_upstream(setup, upstreams, live_server, database_url):
    a, _ = upstreams
    a.mode = "slow_stream"
    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {setup['key']}"},
        json={"model": "chat-small", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))  # the stream has started ...
    # ... and the client hung up: the gateway stops reading, so the upstream sees its reader gone.
    assert a.abandoned.wait(10), "the upstream kept generating for a client that left"
    # Its record, picked out by status: a record of an earlier test's stream can land after the reset.
    for _ in range(50):
        gone = [r for r in usage_rows(live_server, database_url) if r["status"] == 499]
        if gone:
            break
        time.sleep(0.1)
    assert [r["error"] for r in gone] == ["client disconnected"]


def test_active_health_checks(api, setup, upstreams, live_server):
    _, b = upstreams
    gw = live_server.app.state.axops.gateway

    def check() -> dict:
        async def run():
            await gw.table.ensure(gw.db, gw.secret)
            return await gw.check_health()

        return asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)

    def circuits() -> dict:
        plan = api.post("/api/router/route", json={"model": "chat-small"}, headers=setup["dev"]).json()
        return {o["upstream"]: o["circuit"] for o in plan["order"]}

    assert check() == {"mock-a/tiny-a": True, "mock-b/tiny-b": True}
    b.stop()  # the fallback dies while nobody is calling it
    for _ in range(3):
        assert check()["mock-b/tiny-b"] is False
    assert circuits() == {"mock-a/tiny-a": "closed", "mock-b/tiny-b": "open"}
    b.start()
    assert check()["mock-b/tiny-b"] is True
    assert circuits()["mock-b/tiny-b"] == "closed"


def _word_tokenizer() -> bytes:
    """A tokenizer.json as a registry model version carries one: here one token per word."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(["user", "say", "hi", "to", "me", "hello", "from", "A"])}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer.to_str().encode()


def test_tokens_counted_when_the_upstream_reports_none(api, admin, setup, upstreams, live_server, database_url):
    import bpe_openai

    a, _ = upstreams
    a.mode = "no_usage"
    pa, _ = setup["providers"]
    dev = setup["dev"]
    # A model version in the registry brings its tokenizer; another has none.
    team = api.get("/api/user/info", headers=dev).json()["teams"][0]["id"]
    model = api.post(
        "/api/model/register", json={"name": "word-model", "task": "text-generation", "team_id": team}, headers=dev
    ).json()
    version = api.post(
        "/api/model/version/upload",
        data={"model_id": model["id"]},
        headers=dev,
        files=[("files", ("tokenizer.json", _word_tokenizer()))],
    ).json()
    assert (
        api.put(
            f"/api/model/{model['id']}/aliases/production", json={"version_id": version["id"]}, headers=dev
        ).status_code
        == 204
    )
    bare = api.post(
        "/api/model/register", json={"name": "bare-model", "task": "text-generation", "team_id": team}, headers=dev
    ).json()
    api.post(
        "/api/model/version/upload",
        data={"model_id": bare["id"]},
        files=[("files", ("config.json", b'{"model_type": "x"}'))],
        headers=dev,
    ).raise_for_status()

    def route(name: str, **target) -> dict:
        return api.post(
            "/api/gateway/routes",
            json={
                "model_name": name,
                "targets": [{"provider_id": pa["id"], "input_price": 1.0, "output_price": 2.0, **target}],
            },
            headers=admin,
        )

    for spec, why in (
        ("no-such-model@production", "No model named"),
        ("bare-model:1", "has no tokenizer.json"),
        ("word-model@staging", "no ready version 'staging'"),
    ):
        refused = route("bad", model="m", tokenizer=spec)
        assert refused.status_code == 422 and why in refused.json()["detail"], refused.text
    assert route("bad", model="m", tokenizer="not a tokenizer").status_code == 422
    assert route("openai-guessed", model="gpt-4o-mini").status_code == 201  # o200k_base, from the name
    assert route("openai-named", model="my-deployment", tokenizer="cl100k_base").status_code == 201
    assert route("internal", model="ko-chat", tokenizer="word-model@production").status_code == 201
    assert route("unknown", model="ko-chat").status_code == 201  # nothing to count with
    plan = api.post("/api/router/route", json={"model": "openai-guessed"}, headers=dev).json()
    assert plan["order"][0]["tokenizer"] == "o200k_base"

    key = api.post("/api/apikey/create", json={"name": "any"}, headers=dev).json()["key"]
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
    ask = [{"role": "user", "content": "say hi to me"}]
    for name in ("openai-guessed", "openai-named", "internal", "unknown"):
        raw = client.chat.completions.with_raw_response.create(model=name, messages=ask)
        assert raw.parse().usage is None and "x-axops-cost" not in raw.headers  # counted after the answer has gone
        chunks = list(
            client.chat.completions.create(
                model=name, messages=ask, stream=True, stream_options={"include_usage": True}
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from A"

    rows = {(r["model"], r["stream"]): r for r in usage_rows(live_server, database_url) if r["model"] != "chat-small"}
    o200k, cl100k = bpe_openai.get_encoding("o200k_base"), bpe_openai.get_encoding("cl100k_base")
    for name, encoding in (("openai-guessed", o200k), ("openai-named", cl100k)):
        words, reply = len(encoding.encode_ordinary("say hi to me")), len(encoding.encode_ordinary("hello from A"))
        prompt = (
            3 + 3 + len(encoding.encode_ordinary("user")) + words
        )  # reply priming, per-message framing, role, content
        for stream in (False, True):
            row = rows[(name, stream)]
            assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, reply), (name, stream)
            assert row["cost"] == pytest.approx((prompt * 1.0 + reply * 2.0) / 1e6)
    for stream in (False, True):
        assert (rows[("internal", stream)]["prompt_tokens"], rows[("internal", stream)]["completion_tokens"]) == (
            3 + 3 + 1 + 4,
            3,
        )
        assert (rows[("unknown", stream)]["prompt_tokens"], rows[("unknown", stream)]["completion_tokens"]) == (0, 0)
    metrics_text = httpx.get(f"{live_server.url}/metrics").text
    assert 'axops_gateway_tokens_counted_total{kind="prompt",model="internal"} 22.0' in metrics_text


def test_gpu_hour_pricing_and_the_cost_of_each_answer(api, admin, setup, upstreams, live_server, database_url):
    pa, _ = setup["providers"]
    gpu = {"gpu_hour_price": 2.0, "gpus": 0.5, "throughput_tokens_per_s": 100}

    def route(name: str, targets: list[dict], fallbacks: list[dict] = ()):
        return api.post(
            "/api/gateway/routes",
            json={
                "model_name": name,
                "targets": [{"provider_id": pa["id"], "model": "ko-chat", **t} for t in targets],
                "fallbacks": [{"provider_id": pa["id"], "model": "ko-chat-b", **t} for t in fallbacks],
            },
            headers=admin,
        )

    partial = route("bad", [{"gpu_hour_price": 2.0}])
    assert partial.status_code == 422 and "missing: gpus, throughput_tokens_per_s" in partial.text
    for wrong in ({**gpu, "gpus": 0}, {**gpu, "throughput_tokens_per_s": -5}, {**gpu, "gpu_hour_price": "a lot"}):
        assert route("bad", [wrong]).status_code == 422, wrong
    created = route("internal", [gpu], [{**gpu, "input_price": 0.5}])  # an explicit price wins over the derived one
    assert created.status_code == 201 and created.json()["targets"][0]["throughput_tokens_per_s"] == 100
    per_million = 2.0 * 0.5 / (100 * 3600 / 1e6)  # ≈ 2.78 per 1M tokens: half a GPU at 100 tokens/s
    plan = api.post("/api/router/route", json={"model": "internal"}, headers=setup["dev"]).json()
    assert [(o["input_price"], o["output_price"]) for o in plan["order"]] == [
        (pytest.approx(per_million), pytest.approx(per_million)),
        (0.5, pytest.approx(per_million)),
    ]

    # Each answer says what it cost: a header on plain answers, `usage.cost` in a stream's usage chunk.
    key = api.post("/api/apikey/create", json={"name": "any"}, headers=setup["dev"]).json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    ask = {"model": "internal", "messages": [{"role": "user", "content": "say hi to me"}]}  # 4 + 3 tokens at the mock
    plain = httpx.post(f"{live_server.url}/v1/chat/completions", json=ask, headers=auth)
    assert float(plain.headers["x-axops-cost"]) == pytest.approx(7 * per_million / 1e6)
    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/chat/completions",
        headers=auth,
        json={**ask, "stream": True, "stream_options": {"include_usage": True}},
    ) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert (
        chunks[-1]["usage"]["cost"] == pytest.approx(7 * per_million / 1e6)
        and chunks[-1]["usage"]["completion_tokens"] == 3
    )
    with httpx.stream(
        "POST", f"{live_server.url}/v1/chat/completions", headers=auth, json={**ask, "stream": True}
    ) as r:
        assert all('"usage"' not in line for line in r.iter_lines())  # not asked for: no usage chunk, no cost
    rows = [r for r in usage_rows(live_server, database_url) if r["model"] == "internal"]
    assert len(rows) == 3 and all(r["cost"] == pytest.approx(7 * per_million / 1e6) for r in rows)


def test_a_trace_span_per_request(api, admin, setup, upstreams, live_server):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from axops.core import telemetry

    a, b = upstreams
    exporter = InMemorySpanExporter()
    assert telemetry.configure(exporter=exporter)
    caller_trace, caller_span = "ab" * 16, "cd" * 8

    def spans(name: str, count: int) -> list:
        for _ in range(100):  # a span ends once its answer has gone out
            found = [s for s in exporter.get_finished_spans() if s.name == name]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{len(found)} {name} span(s), expected {count}")

    try:
        client = openai.OpenAI(
            base_url=f"{live_server.url}/v1",
            api_key=setup["key"],
            max_retries=0,
            default_headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
        )
        ask = {"model": "chat-small", "messages": [{"role": "user", "content": "say hi to me"}]}
        client.chat.completions.create(**ask)
        list(client.chat.completions.create(**ask, stream=True))
        a.mode = "error500"
        client.chat.completions.create(**ask)  # A fails, B answers
        api.get("/api/gateway/routes", headers=admin)
        requests = spans("gateway.chat", 3)
        control = spans("GET /api/gateway/routes", 1)
    finally:
        telemetry.shutdown()
    assert telemetry.tracer is None

    plain, streamed, failover = requests
    assert plain.parent.span_id == int(caller_span, 16) and plain.context.trace_id == int(
        caller_trace, 16
    )  # joins the caller's trace
    assert {
        k: plain.attributes[k]
        for k in (
            "gen_ai.request.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "http.response.status_code",
            "axops.cache",
            "axops.attempts",
            "axops.upstream",
        )
    } == {
        "gen_ai.request.model": "chat-small",
        "gen_ai.usage.input_tokens": 4,
        "gen_ai.usage.output_tokens": 3,
        "http.response.status_code": 200,
        "axops.cache": "off",
        "axops.attempts": 1,
        "axops.upstream": "mock-a/tiny-a",
    }
    assert streamed.attributes["gen_ai.usage.output_tokens"] == 3 and failover.attributes["axops.attempts"] == 2

    def attempts(parent) -> list:
        return [
            s
            for s in exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]

    [call] = attempts(plain)
    assert (
        call.name == "chat tiny-a"
        and call.attributes["server.address"] == "127.0.0.1"
        and call.attributes["server.port"] == a.port
    )
    assert call.attributes["http.response.status_code"] == 200 and call.attributes["gen_ai.provider.name"] == "openai"
    # The upstream was told which span called it (W3C trace context).
    assert a.requests[0]["_traceparent"] == f"00-{caller_trace}-{call.context.span_id:016x}-01"
    assert [s.name for s in attempts(streamed)] == ["chat tiny-a"]
    failed, answered = sorted(attempts(failover), key=lambda s: s.start_time)
    assert (failed.name, failed.attributes["error.type"], answered.name) == ("chat tiny-a", "500", "chat tiny-b")
    assert b.requests[-1]["_traceparent"].split("-")[2] == f"{answered.context.span_id:016x}"
    assert (
        control[0].attributes["http.route"] == "/api/gateway/routes"
        and control[0].attributes["http.response.status_code"] == 200
    )


def _events(response: httpx.Response) -> list[dict]:
    """The JSON events of a server-sent stream, which must end with `data: [DONE]`."""
    lines = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", lines[-3:]
    return [json.loads(line) for line in lines[:-1]]


def test_v1_answers_match_their_declared_shapes(api, admin, setup, live_server):
    """The `/v1` fast path writes OpenAI's shapes as plain dicts, unvalidated: real answers — relayed,
    replayed from the cache, translated from Anthropic, and the gateway's own — are checked here
    against the declared schemas (gateway/openai_schemas.py), so the fast path cannot drift."""
    from axops.gateway.openai_schemas import (
        ChatCompletion,
        ChatCompletionChunk,
        EmbeddingList,
        ErrorResponse,
        ModelList,
    )
    from tests.mocks import MockAnthropic

    v1, auth = f"{live_server.url}/v1", {"Authorization": f"Bearer {setup['key']}"}
    models = ModelList.model_validate(httpx.get(f"{v1}/models", headers=auth).json())
    assert [m.id for m in models.data] == ["chat-small"]

    api.patch(f"/api/gateway/routes/{setup['route']['id']}", json={"cache_ttl_s": 60}, headers=admin).raise_for_status()
    ask = {"model": "chat-small", "messages": [{"role": "user", "content": "two plus two"}], "temperature": 0}
    for cache in ("miss", "hit"):
        answer = httpx.post(f"{v1}/chat/completions", json=ask, headers=auth)
        assert answer.headers["x-axops-cache"] == cache
        assert ChatCompletion.model_validate(answer.json()).choices[0].message.content == "hello from A"
    other = {**ask, "messages": [{"role": "user", "content": "three plus three"}]}
    for body, cache in ((other, "miss"), (ask, "hit")):
        streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", f"{v1}/chat/completions", json=streamed, headers=auth) as r:
            assert r.headers["x-axops-cache"] == cache
            chunks = [ChatCompletionChunk.model_validate(e) for e in _events(r)]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from A"
        assert chunks[-1].usage is not None and chunks[-1].usage.cost is not None  # the gateway's own addition
    embedded = httpx.post(f"{v1}/embeddings", json={"model": "chat-small", "input": "x"}, headers=auth)
    assert EmbeddingList.model_validate(embedded.json()).data[0].embedding == [0.1, 0.2, 0.3]

    refusals = [
        httpx.get(f"{v1}/models", headers={"Authorization": "Bearer sk-wrong"}),
        httpx.post(f"{v1}/chat/completions", content=b"{not json", headers=auth),
        httpx.post(f"{v1}/chat/completions", json={**ask, "model": "nope"}, headers=auth),
        httpx.post(f"{v1}/nothing-here", json=ask, headers=auth),
    ]
    assert [r.status_code for r in refusals] == [401, 400, 404, 404]
    for r in refusals:
        ErrorResponse.model_validate(r.json())

    claude = MockAnthropic("claude")
    try:
        provider = api.post(
            "/api/gateway/providers",
            json={"name": "anthropic", "kind": "anthropic", "base_url": claude.url.removesuffix("/v1")},
            headers=admin,
        ).json()
        api.post(
            "/api/gateway/routes",
            json={"model_name": "claude", "targets": [{"provider_id": provider["id"], "model": "claude-x"}]},
            headers=admin,
        ).raise_for_status()
        key = api.post("/api/apikey/create", json={"name": "any"}, headers=setup["dev"]).json()["key"]
        auth = {"Authorization": f"Bearer {key}"}
        ask = {"model": "claude", "messages": [{"role": "user", "content": "say hello"}]}
        answer = httpx.post(f"{v1}/chat/completions", json=ask, headers=auth)
        assert ChatCompletion.model_validate(answer.json()).choices[0].message.content == "bonjour from claude"
        streamed = {**ask, "stream": True, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", f"{v1}/chat/completions", json=streamed, headers=auth) as r:
            chunks = [ChatCompletionChunk.model_validate(e) for e in _events(r)]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "bonjour from claude"
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
        refused = httpx.post(f"{v1}/embeddings", json={"model": "claude", "input": "x"}, headers=auth)
        assert (
            refused.status_code == 502
            and "serves chat only" in ErrorResponse.model_validate(refused.json()).error.message
        )
    finally:
        asyncio.run_coroutine_threadsafe(claude.runner.cleanup(), claude.loop).result(10)
