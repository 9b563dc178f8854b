from __future__ import annotations

import asyncio
import time

from axops.auth import security
from axops.core.ids import uuid7
from axops.core.logging import redact
from axops.core.pagination import decode_cursor, encode_cursor
from axops.core.throttle import FailureWindow


def test_failure_window_blocks_then_expires(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    w = FailureWindow(max_failures=3, window_seconds=60)

    async def journey():
        for _ in range(3):
            assert await w.retry_after("a") == 0
            await w.fail("a")
        assert await w.retry_after("a") == 60
        assert await w.retry_after("b") == 0
        now[0] += 60
        assert await w.retry_after("a") == 0

    asyncio.run(journey())


def test_passwords_are_argon2id_and_verify():
    h = security.hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert security.verify_password(h, "correct horse battery")
    assert not security.verify_password(h, "wrong")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "x")


def test_api_keys_have_a_visible_prefix_and_high_entropy():
    secret, prefix = security.new_api_key()
    assert secret.startswith(prefix + "_") and prefix.startswith("axk_") and len(secret) > 50
    assert security.sha256_hex(secret) != security.sha256_hex(security.new_api_key()[0])


def test_uuid7_is_time_ordered_and_cursors_round_trip():
    ids = [uuid7() for _ in range(50)]
    assert all(u.version == 7 for u in ids)
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)
    from datetime import UTC, datetime

    ts = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor(ts, ids[0])) == (ts, ids[0])


def test_secrets_never_reach_logs():
    assert redact({"password": "p", "nested": {"api_key": "k", "ok": 1}, "Authorization": "Bearer x"}) == {
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]", "ok": 1},
        "Authorization": "[redacted]",
    }
