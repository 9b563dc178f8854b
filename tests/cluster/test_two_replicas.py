"""Two `axops up` processes (each on its own port, both running the worker) on one PostgreSQL and
one real Redis, as two replicas behind a load balancer: either serves a request; rate limits,
budgets, login throttling and the exact cache are shared; a change made on one is seen by the
other at once; a periodic task runs once per tick, not once per replica; and when Redis dies mid-
traffic nothing fails and sharing comes back by itself when Redis does."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import redis

from axops.core.db import libpq_url
from tests.conftest import _reset_database
from tests.factories import ADMIN_PASSWORD, login_headers, make_account, make_key
from tests.live import axops_process
from tests.mocks import MockUpstream

ROUTE = "chat-shared"


@dataclass
class Cluster:
    a: httpx.Client
    b: httpx.Client
    admin: dict
    dev: dict
    upstream: MockUpstream
    redis_server: object
    database_url: str

    def key(self, **limit) -> tuple[str, str]:
        """A new API key of the developer (its secret and id), with `limit` set on it (through A)."""
        k = make_key(self.a, self.dev, f"k-{uuid.uuid4().hex[:6]}")
        if limit:
            r = self.a.put(f"/api/gateway/limits/key/{k['id']}", json=limit, headers=self.admin)
            assert r.status_code == 200, r.text
        return k["key"], k["id"]


def chat(client: httpx.Client, key: str, text: str = "hello there", **extra) -> httpx.Response:
    body = {"model": ROUTE, "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def until(predicate, timeout: float = 10.0):
    """The predicate's first truthy value, polled; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def cluster(redis_server, database_url, settings, tmp_path_factory):
    _reset_database(database_url, settings)
    upstream = MockUpstream("U")
    env = {"AXOPS_REDIS_URL": redis_server.url}
    root = tmp_path_factory.mktemp("replicas")
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(axops_process(database_url, settings, root / n, env=env, args=["--worker"]))
            for n in "ab"
        ]
        a, b = (stack.enter_context(httpx.Client(base_url=u, timeout=30)) for u in urls)
        admin = login_headers(a, "admin", ADMIN_PASSWORD)
        provider = a.post("/api/gateway/providers", json={"name": "up", "base_url": upstream.url}, headers=admin)
        assert provider.status_code == 201, provider.text
        target = {"provider_id": provider.json()["id"], "model": "tiny", "input_price": 1000.0, "output_price": 1000.0}
        route = a.post(
            "/api/gateway/routes", json={"model_name": ROUTE, "targets": [target], "cache_ttl_s": 300}, headers=admin
        )
        assert route.status_code == 201, route.text
        dev = make_account(a, admin, "dev-replicas").headers
        yield Cluster(a, b, admin, dev, upstream, redis_server, database_url)
        stack.callback(upstream.stop)


def test_a_request_is_served_by_either(cluster):
    key, _ = cluster.key()
    for client in (cluster.a, cluster.b):
        r = chat(client, key)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "hello from U"


def test_changes_on_one_replica_are_seen_by_the_other_at_once(cluster):
    key, _ = cluster.key()

    def models() -> list[str]:
        r = cluster.b.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        return [m["id"] for m in r.json()["data"]]

    assert "chat-late" not in models()  # B has loaded (and caches) its route table
    provider_id = cluster.a.get("/api/gateway/providers", headers=cluster.admin).json()[0]["id"]
    r = cluster.a.post(
        "/api/gateway/routes",
        json={"model_name": "chat-late", "targets": [{"provider_id": provider_id, "model": "tiny"}]},
        headers=cluster.admin,
    )
    assert r.status_code == 201, r.text
    until(lambda: "chat-late" in models(), timeout=5)  # NOTIFY, not a reload timer
    r = cluster.a.delete(f"/api/gateway/routes/{r.json()['id']}", headers=cluster.admin)
    assert r.status_code == 204, r.text
    until(lambda: "chat-late" not in models(), timeout=5)


def test_prompt_and_guardrail_changes_on_one_replica_apply_on_the_other_at_once(cluster):
    """A new production prompt version and a new guardrail policy, both made through A, are what B uses
    for its next requests (the gateway's prompt resolver and guardrail policies reload on NOTIFY)."""
    key, _ = cluster.key()
    name = f"greet-{uuid.uuid4().hex[:6]}"
    who = [{"name": "who", "type": "string", "required": True}]
    version = {"kind": "chat", "template": [{"role": "system", "content": "first {{ who }}"}], "variables": who}
    r = cluster.a.post(
        "/api/prompts", json={"name": name, "version": version, "labels": ["production"]}, headers=cluster.dev
    )
    assert r.status_code == 201, r.text

    def system_prompt_seen_by_b() -> str:
        before = len(cluster.upstream.requests)
        r = chat(cluster.b, key, prompt_id=f"{name}@production", prompt_variables={"who": "kim"})
        assert r.status_code == 200, r.text
        return cluster.upstream.requests[before]["messages"][0]["content"]

    assert system_prompt_seen_by_b() == "first kim"
    second = {**version, "template": [{"role": "system", "content": "second {{ who }}"}], "labels": ["production"]}
    r = cluster.a.post(f"/api/prompts/{name}/versions", json=second, headers=cluster.dev)
    assert r.status_code == 201, r.text
    until(lambda: system_prompt_seen_by_b() == "second kim", timeout=5)

    assert chat(cluster.b, key, "tell me about frobnicate").status_code == 200
    policy = {"name": f"words-{uuid.uuid4().hex[:6]}", "scope": "global", "direction": "both"}
    policy["checks"] = {"banned_words": {"words": ["frobnicate"], "action": "block"}}
    r = cluster.a.post("/api/guardrails/policies", json=policy, headers=cluster.admin)
    assert r.status_code == 201, r.text
    try:
        until(lambda: chat(cluster.b, key, "tell me about frobnicate").status_code == 400, timeout=5)
    finally:
        assert cluster.a.delete(f"/api/guardrails/policies/{r.json()['id']}", headers=cluster.admin).status_code == 204


def test_a_rate_limit_is_shared(cluster):
    key, _ = cluster.key(rpm=6)
    statuses = [chat(c, key).status_code for c in (cluster.a, cluster.b) * 3]
    assert statuses == [200] * 6  # six across both replicas...
    late = [chat(c, key) for c in (cluster.a, cluster.b)]
    assert [r.status_code for r in late] == [429, 429]  # ...and the seventh is refused by either, not at 12
    assert "6 requests per minute" in late[1].json()["error"]["message"]


def test_a_budget_is_shared(cluster):
    r_redis = redis.Redis.from_url(cluster.redis_server.url)
    key, key_id = cluster.key(monthly_budget=1000.0)
    first = chat(cluster.a, key, "what does a budget cost")
    assert first.status_code == 200, first.text
    cost = float(first.headers["x-axops-cost"])
    assert cost > 0
    r = cluster.a.put(f"/api/gateway/limits/key/{key_id}", json={"monthly_budget": cost * 2.5}, headers=cluster.admin)
    assert r.status_code == 200, r.text

    def counter() -> float:  # the month's spend of the key, as the replicas share it
        keys = r_redis.keys(f"axops:spend:*:key:{key_id}")
        return float(r_redis.get(keys[0])) if keys else 0.0

    until(lambda: counter() >= cost * 0.999)
    assert chat(cluster.b, key, "what does a budget cost").status_code == 200  # 2 × cost spent
    until(lambda: counter() >= 2 * cost * 0.999)
    assert chat(cluster.a, key, "what does a budget cost").status_code == 200  # 3 × cost: over 2.5
    until(lambda: counter() >= 3 * cost * 0.999)
    refused = chat(cluster.b, key, "what does a budget cost")  # B served one of the three
    assert refused.status_code == 429 and "budget" in refused.json()["error"]["message"]
    assert chat(cluster.a, key, "what does a budget cost").status_code == 429


def test_login_throttling_is_shared(cluster):
    body = {"username": "admin", "password": "not the password"}
    statuses = [c.post("/api/auth/login", json=body).status_code for c in (cluster.a, cluster.b) * 3]
    assert statuses[:5] == [401] * 5  # five failures, split across both replicas
    assert statuses[5] == 429
    throttled = cluster.a.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert throttled.status_code == 429 and throttled.json()["type"].endswith("/login_throttled")
    assert int(throttled.headers["retry-after"]) > 0


def test_the_exact_cache_is_shared(cluster):
    key, _ = cluster.key()
    text = f"deterministic question {uuid.uuid4().hex}"
    miss = chat(cluster.a, key, text, temperature=0)
    assert miss.status_code == 200 and miss.headers["x-axops-cache"] == "miss"
    hit = chat(cluster.b, key, text, temperature=0)
    assert hit.status_code == 200 and hit.headers["x-axops-cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == "hello from U"
    assert sum(text in str(r["messages"]) for r in cluster.upstream.requests) == 1  # upstream called once


def test_a_periodic_task_runs_once_per_tick_with_two_workers(cluster):
    def ticks():
        with psycopg.connect(libpq_url(cluster.database_url)) as conn:
            return conn.execute(
                "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs WHERE task_name LIKE '%collect_metrics' "
                "GROUP BY 1"
            ).fetchall()

    with psycopg.connect(libpq_url(cluster.database_url)) as conn:
        workers = conn.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - interval '30 seconds'"
        ).fetchone()[0]
    assert workers >= 2  # both replicas run the worker
    found = until(lambda: (t := ticks()) and len(t) >= 2 and t, timeout=45)  # a tick every 15 s
    assert all(count == 1 for _, count in found), found


def test_redis_dying_mid_traffic_fails_nothing_and_sharing_resumes(cluster):
    key, _ = cluster.key(rpm=10_000)  # the limit path runs on every request
    server = cluster.redis_server

    def traffic(n: int, kill_at: int) -> list[int]:
        statuses = []
        for i in range(n):
            if i == kill_at:
                server.kill()  # mid-traffic: requests before and after on both replicas
            client = cluster.a if i % 2 else cluster.b
            statuses.append(chat(client, key, f"q{i % 5}", temperature=0).status_code)
            if i % 4 == 0:
                login = client.post("/api/auth/login", json={"username": "ghost", "password": "x"})
                statuses.append(login.status_code)
        return statuses

    statuses = traffic(60, kill_at=20)
    assert 500 not in statuses and set(statuses) <= {200, 401, 429}, statuses
    assert statuses.count(200) == 60  # every chat answered (limits fall back per replica, cache misses)
    for client in (cluster.a, cluster.b):
        assert client.get("/readyz").status_code == 200

    server.start()  # the same port, empty; neither replica restarts

    def shared_again() -> bool:
        text = f"after the outage {uuid.uuid4().hex}"
        chat(cluster.a, key, text, temperature=0)
        return chat(cluster.b, key, text, temperature=0).headers.get("x-axops-cache") == "hit"

    until(shared_again, timeout=15)
    body = {"username": "after-outage", "password": "x"}
    statuses = [c.post("/api/auth/login", json=body).status_code for c in (cluster.a, cluster.b) * 3]
    assert statuses == [401] * 5 + [429]
