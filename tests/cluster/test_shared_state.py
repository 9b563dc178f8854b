"""The shared pieces against a real Redis, in one process: two throttles (as two replicas would
hold them) count the same failures, buckets and the exact cache are shared, and a Redis outage
falls back without an error and recovers on its own."""

from __future__ import annotations

import uuid

import pytest

from axops.core import shared, throttle
from axops.gateway.cache import RedisCache
from axops.gateway.limits import Limits, Policy


@pytest.fixture
def redis_url(redis_server, monkeypatch):
    if redis_server.proc.poll() is not None:
        redis_server.start()
    monkeypatch.setattr(shared, "RETRY_AFTER_FAILURE_S", 0.0)  # retry Redis at once after a failure
    throttle.configure(redis_server.url)
    yield redis_server.url
    throttle.configure(None)


async def test_two_replicas_login_throttles_count_the_same_failures(redis_url):
    a, b = throttle.LoginThrottle(3, 30, 900), throttle.LoginThrottle(3, 30, 900)
    user = f"kim-{uuid.uuid4().hex[:6]}"
    waits = []
    for i in range(6):
        await (a if i % 2 else b).failed(user, "10.0.0.1")
        waits.append(await (b if i % 2 else a).retry_after(user, "10.0.0.1"))
    # The same sliding window and backoff as in process, across both.
    assert waits == [0, 0, 30, 60, 120, 240]
    assert await a.retry_after(user, "10.0.0.2") == 0  # another address is not slowed down
    await b.succeeded(user, "10.0.0.1")
    assert await a.retry_after(user, "10.0.0.1") == 0


async def test_mfa_window_is_shared_and_keys_hold_no_username(redis_url):
    a = throttle.FailureWindow(2, 900, name="mfa")
    b = throttle.FailureWindow(2, 900, name="mfa")
    await a.fail("박지성")
    await b.fail("박지성")
    assert await a.retry_after("박지성") == 900 and await b.retry_after("박지성") == 900
    keys = await shared.get(redis_url).call(lambda c: c.keys("axops:throttle:mfa:*"))
    assert keys and all("박지성".encode() not in k for k in keys)


async def test_redis_outage_falls_back_and_sharing_resumes(redis_server, redis_url):
    a, b = throttle.LoginThrottle(2, 30, 900), throttle.LoginThrottle(2, 30, 900)
    limits_a, limits_b = Limits(redis_url, fail_open=True), Limits(redis_url, fail_open=True)
    closed = Limits(redis_url, fail_open=False)
    policy = [Policy("key", uuid.uuid4(), rpm=2, tpm=None, monthly_budget=None, warn_ratio=0.8)]
    cache = RedisCache(redis_url)
    await cache.put("k1", {"content": "hi"}, 60)
    assert await cache.get("k1") == {"content": "hi"}

    redis_server.kill()
    # Throttles: this process's own window, no error.
    for _ in range(3):
        await a.failed("lee", "10.0.0.9")
    assert await a.retry_after("lee", "10.0.0.9") == 60
    assert await b.retry_after("lee", "10.0.0.9") == 0  # the other replica's failures are not seen meanwhile
    # Limits fail open to each process's buckets (still limited, per replica); closed refuses.
    assert [await limits_a.admit(policy, 1) for _ in range(3)][2][0].startswith("Rate limit of 2")
    assert await limits_b.admit(policy, 1) is None
    refused = await closed.admit(policy, 1)
    assert refused and "cannot be checked" in refused[0] and refused[1] > 0
    # The cache: a miss, nothing kept, no error.
    assert await cache.get("k1") is None
    await cache.put("k2", {"content": "x"}, 60)

    redis_server.start()  # same port, empty
    assert await cache.get("k2") is None
    await cache.put("k2", {"content": "x"}, 60)
    assert await cache.get("k2") == {"content": "x"}
    for _ in range(3):
        await b.failed("choi", "10.0.0.8")
    assert await a.retry_after("choi", "10.0.0.8") == 60  # shared again, without a restart
    assert await limits_a.admit(policy, 1) is None and await limits_b.admit(policy, 1) is None
    assert (await closed.admit(policy, 1))[0].startswith("Rate limit of 2")
    await shared.close(redis_url)
