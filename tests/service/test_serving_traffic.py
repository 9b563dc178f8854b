"""The deployments list's traffic column (serving/traffic.py): one grouped query over the last hour's
usage records, per deployment by its replicas' upstream names; a canary counts apart from its stable
deployment, older traffic and other upstreams are not counted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from axops.serving import traffic


async def _usage(session, upstream: str, status: int, latency_ms: float, minutes_ago: float = 1) -> None:
    await session.execute(
        text("""INSERT INTO usage_records (created_at, endpoint, model, upstream, stream, status, prompt_tokens,
                    completion_tokens, cost, latency_ms, attempts, cache, saved_cost)
                VALUES (:at, 'chat', 'demo-chat', :upstream, false, :status, 1, 1, 0, :latency, 1, 'off', 0)"""),
        {
            "at": datetime.now(UTC) - timedelta(minutes=minutes_ago),
            "upstream": upstream,
            "status": status,
            "latency": latency_ms,
        },
    )


async def test_requests_errors_and_p95_per_deployment_over_the_last_hour(db_session):
    stable, canary, quiet = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for i in range(20):
        await _usage(db_session, f"dep-{stable.hex[:12]}-r{i % 2}", 200, float(i + 1))
    await _usage(db_session, f"dep-{stable.hex[:12]}-r0", 502, 1000.0)
    await _usage(db_session, f"dep-{stable.hex[:12]}-r0", 200, 5.0, minutes_ago=61)  # before the window
    await _usage(db_session, f"dep-{canary.hex[:12]}-r0", 200, 40.0)
    await _usage(db_session, "openai-main", 200, 10.0)  # not a deployment's replica

    found = await traffic.last_hour(db_session, [stable, canary, quiet])

    assert set(found) == {stable.hex[:12], canary.hex[:12]}
    assert found[stable.hex[:12]]["requests"] == 21 and found[stable.hex[:12]]["errors"] == 1
    assert 19 < found[stable.hex[:12]]["p95_ms"] < 1000
    assert found[canary.hex[:12]] == {"requests": 1, "errors": 0, "p95_ms": 40.0}
    assert await traffic.last_hour(db_session, []) == {}
