"""The semantic cache over real HTTP: the official SDK against a mock upstream whose embeddings are a
hashed bag of words (texts sharing words land close). Hits, misses, isolation, streaming replay,
TTL, the threshold, usage records and the Cost page's figures."""

from __future__ import annotations

import asyncio
import math
import time

import openai
import psycopg
import pytest

from axops.core.db import libpq_url
from tests.factories import flush_gateway, make_account, make_key
from tests.mocks import MockUpstream, bag_of_words

Q = "What is the capital city of France"
PARAPHRASE = "what is the capital city of France?"  # the same words: cosine 1
NEAR = "Tell me what is the capital city of France"  # two more words: cosine below 1


def cosine(a: str, b: str) -> float:
    x, y = bag_of_words(f"user: {a}"), bag_of_words(f"user: {b}")
    dot = sum(i * j for i, j in zip(x, y, strict=True))
    return dot / math.sqrt(sum(i * i for i in x) * sum(j * j for j in y))


@pytest.fixture
def upstream():
    up = MockUpstream("A")
    up.embedding_for = bag_of_words
    up.answer_for = lambda body: f"answer #{len(up.chats())}"  # counts this request too
    up.chats = lambda: [r for r in up.requests if "messages" in r]
    up.embeds = lambda: [r for r in up.requests if "input" in r]
    yield up
    asyncio.run_coroutine_threadsafe(up.runner.cleanup(), up.loop).result(10)


@pytest.fixture
def scene(api, admin, upstream):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin).json()
    target = {"provider_id": provider["id"], "model": "tiny", "input_price": 1.0, "output_price": 2.0}
    chat = api.post("/api/gateway/routes", json={"model_name": "chat", "targets": [target]}, headers=admin)
    assert chat.status_code == 201, chat.text
    emb = api.post("/api/gateway/routes", json={"model_name": "embed", "targets": [target]}, headers=admin)
    assert emb.status_code == 201, emb.text
    apps = make_account(api, admin, "dev-apps", new_team="apps")
    mates = make_account(api, admin, "dev-apps2", team=apps.team)
    other = make_account(api, admin, "dev-other", new_team="other")
    keys = {
        name: make_key(api, acct.headers, "k")["key"]
        for name, acct in (("apps", apps), ("mate", mates), ("other", other))
    }
    return {"route": chat.json(), "keys": keys, "apps": apps, "other": other}


def configure(api, admin, scene, **settings) -> dict:
    body = {"semantic_cache": {"enabled": True, "embeddings_route": "embed", **settings}}
    r = api.patch(f"/api/gateway/routes/{scene['route']['id']}", json=body, headers=admin)
    assert r.status_code == 200, r.text
    time.sleep(0.3)  # the route table reloads on NOTIFY
    return r.json()


def client(live_server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)


def chat(sdk: openai.OpenAI, content: str, **params):
    params.setdefault("temperature", 0)
    messages = [{"role": "user", "content": content}]
    if "system" in params:
        messages.insert(0, {"role": "system", "content": params.pop("system")})
    raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=messages, **params)
    return raw.headers, raw.parse()


def usage(live_server, database_url) -> list[dict]:
    flush_gateway(live_server)
    with psycopg.connect(libpq_url(database_url), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT model, cache, cost, saved_cost, team_id FROM usage_records ORDER BY created_at"
        ).fetchall()


def test_semantic_hits_misses_isolation_and_figures(api, admin, scene, upstream, live_server, database_url):
    apps, mate, other = (client(live_server, scene["keys"][k]) for k in ("apps", "mate", "other"))

    # Off (the default): no embeddings call, no cache header.
    headers, _ = chat(apps, Q)
    assert "x-axops-cache" not in headers and upstream.embeds() == []

    settings = configure(api, admin, scene)["semantic_cache"]
    assert settings == {**settings, "enabled": True, "threshold": 0.95, "scope": "team", "embeddings_route": "embed"}
    headers, first = chat(apps, Q)
    assert headers["x-axops-cache"] == "semantic-miss" and first.choices[0].message.content == "answer #2"
    assert upstream.embeds()[-1] == {"model": "tiny", "input": f"user: {Q}"}

    chats = len(upstream.chats())
    headers, second = chat(mate, PARAPHRASE)  # another key of the same team, the same question reworded
    assert headers["x-axops-cache"] == "semantic-hit" and float(headers["x-axops-cache-similarity"]) >= 0.95
    assert second.choices[0].message.content == "answer #2" and len(upstream.chats()) == chats
    assert headers["x-axops-cost"] == "0.0" and second.usage.completion_tokens == first.usage.completion_tokens

    # A different question, another team, other parameters or another system prompt: the upstream answers.
    for sdk, content, params in (
        (apps, "How many legs does a spider have", {}),
        (other, Q, {}),
        (apps, Q, {"max_tokens": 50}),
        (apps, Q, {"system": "Answer in one word."}),
    ):
        headers, answer = chat(sdk, content, **params)
        assert headers["x-axops-cache"] == "semantic-miss", (content, params)
        assert answer.choices[0].message.content == f"answer #{len(upstream.chats())}"
    # Sampling is not cached at all (the exact cache's rule): no lookup, no embeddings call.
    embeds = len(upstream.embeds())
    headers, _ = chat(apps, Q, temperature=0.8)
    assert "x-axops-cache" not in headers and len(upstream.embeds()) == embeds

    # The other team's own answer is theirs: a second ask from them hits it, not team apps' answer.
    headers, theirs = chat(other, PARAPHRASE)
    assert headers["x-axops-cache"] == "semantic-hit" and theirs.choices[0].message.content == "answer #4"

    # Streaming: a hit is replayed as a stream, usage included when asked.
    chunks = list(
        apps.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": PARAPHRASE}],
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer #2"
    assert chunks[-1].usage.model_extra["cost"] == 0
    # A streamed miss is stored and then served to the plain call.
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in apps.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "Why is the sky blue"}], temperature=0, stream=True
        )
        if c.choices
    )
    headers, replay = chat(apps, "why is the sky blue?")
    assert headers["x-axops-cache"] == "semantic-hit" and replay.choices[0].message.content == streamed

    # The threshold decides: NEAR is close to Q but below 0.95; at a lower threshold it hits.
    similarity = cosine(Q, NEAR)
    assert 0.7 < similarity < 0.95
    assert chat(apps, NEAR)[0]["x-axops-cache"] == "semantic-miss"
    configure(api, admin, scene, threshold=round(similarity - 0.05, 2))
    headers, near = chat(apps, "Please tell me what is the capital city of France")
    assert headers["x-axops-cache"] == "semantic-hit" and near.choices[0].message.content in (
        "answer #2",
        f"answer #{len(upstream.chats())}",
    )

    # TTL: an answer kept for 1 s is gone after it.
    configure(api, admin, scene, ttl_s=1)
    chat(apps, "Name a prime number bigger than ten")
    assert chat(apps, "name a prime number bigger than ten")[0]["x-axops-cache"] == "semantic-hit"
    time.sleep(1.2)
    assert chat(apps, "name a prime number bigger than ten")[0]["x-axops-cache"] == "semantic-miss"

    # Disabled again: untouched (no embeddings call).
    r = api.patch(f"/api/gateway/routes/{scene['route']['id']}", json={"semantic_cache": None}, headers=admin)
    assert r.status_code == 200 and r.json()["semantic_cache"] is None
    time.sleep(0.3)
    embeds = len(upstream.embeds())
    assert "x-axops-cache" not in chat(apps, Q)[0] and len(upstream.embeds()) == embeds

    rows = usage(live_server, database_url)
    hits = [r for r in rows if r["cache"] == "semantic"]
    misses = [r for r in rows if r["cache"] == "semantic_miss"]
    embeddings = [r for r in rows if r["model"] == "embed"]
    assert len(hits) == 6 and all(r["cost"] == 0 and r["saved_cost"] > 0 for r in hits)
    assert len(embeddings) == len(upstream.embeds()) == len(hits) + len(misses)
    assert all(r["cost"] > 0 for r in embeddings)  # the embeddings calls are the caller's usage, priced

    stats = api.get("/api/gateway/semantic-cache/stats", headers=admin)
    assert stats.status_code == 200, stats.text
    found = stats.json()
    (row,) = found["routes"]
    assert (row["route"], row["hits"], row["misses"]) == ("chat", len(hits), len(misses))
    assert row["hit_rate"] == pytest.approx(len(hits) / (len(hits) + len(misses)))
    assert row["saved_cost"] == pytest.approx(sum(r["saved_cost"] for r in hits))
    assert row["threshold"] is None and row["enabled"] is False  # the route's settings now: off
    assert sum(p["hits"] for p in found["series"]) == len(hits) and found["bucket"] == "day"  # 7 days by default
    # A developer of team "other" sees their own team's lookups only.
    theirs = api.get("/api/gateway/semantic-cache/stats", headers=scene["other"].headers).json()
    other_team = scene["other"].team["id"]
    expected = [r for r in hits + misses if str(r["team_id"]) == other_team]
    assert theirs["totals"]["hits"] + theirs["totals"]["misses"] == len(expected) == 2
    bad = api.get(
        "/api/gateway/semantic-cache/stats",
        params={"from": "2026-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
        headers=admin,
    )
    assert bad.status_code == 422
