"""Finding: five failed logins for a username, from anywhere, locked that account (Admin included)
for 15 minutes. Failures now count per (username, address) with backoff."""

from __future__ import annotations

import asyncio
import time

from axops.core.throttle import BACKOFF_BASE_SECONDS, FailureWindow
from tests.factories import ADMIN_PASSWORD

ATTACKER = {"X-Forwarded-For": "203.0.113.66"}  # the test server trusts loopback's proxy headers, as behind a proxy


def test_guessing_from_elsewhere_cannot_lock_the_admin_out(api):
    for _ in range(12):
        r = api.post("/api/auth/login", json={"username": "admin", "password": "guess"}, headers=ATTACKER)
        assert r.status_code in (401, 429)
    blocked = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, headers=ATTACKER)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0  # the guesser is slowed down

    r = api.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )  # the admin, from their own address
    assert r.status_code == 200, r.text


def test_one_address_guessing_many_usernames_is_stopped(api):
    statuses = [
        api.post("/api/auth/login", json={"username": f"user{i}", "password": "guess"}, headers=ATTACKER).status_code
        for i in range(31)
    ]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


def test_backoff_doubles_after_the_limit_and_is_capped(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    w = FailureWindow(max_failures=3, window_seconds=900, backoff_base=BACKOFF_BASE_SECONDS)

    async def journey():
        waits = []
        for _ in range(8):
            await w.fail("k")
            waits.append(await w.retry_after("k"))
        assert waits == [0, 0, 30, 60, 120, 240, 480, 900]
        now[0] += 900
        assert await w.retry_after("k") == 0

    asyncio.run(journey())
