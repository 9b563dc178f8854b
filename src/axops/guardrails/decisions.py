"""Records of what the guardrails masked or blocked. Queued in memory on the request path and
written in batches (COPY) a few times a second, like the gateway's usage records; the excerpt is
made in the writer, off the request path: the text around the hit, the hit replaced by its kind and
any other PII masked with axops.pii, so no decision stores the text it refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops import pii
from axops.auth.deps import Principal
from axops.core.logging import event
from axops.guardrails.engine import UNAVAILABLE, Decision
from axops.guardrails.models import GuardrailDecision

log = logging.getLogger("axops.guardrails")
COLUMNS = (
    "id",
    "created_at",
    "request_id",
    "policy_id",
    "policy_name",
    "check",
    "kinds",
    "action",
    "direction",
    "excerpt",
    "route",
    "api_key_id",
    "user_id",
    "team_id",
)
MAX_QUEUE = 50_000
CONTEXT = 60  # characters kept on each side of a hit


def excerpt(text: str, start: int, end: int, kind: str) -> str:
    before = text[max(0, start - CONTEXT) : start]
    after = text[end : end + CONTEXT]
    return pii.redact(before) + f"[{kind}]" + pii.redact(after)


class DecisionWriter:
    def __init__(self, db, interval_s: float = 0.5, batch: int = 2000) -> None:
        self.db = db
        self.interval_s, self.batch = interval_s, batch
        self.queue: list[tuple] = []
        self.dropped = self.written = 0
        self._task: asyncio.Task | None = None
        self._closing = asyncio.Event()

    def record(
        self, decision: Decision, text: str, direction: str, route: str | None, principal, request_id: str | None
    ) -> None:
        """Queue one row per check that masked or blocked (the text is only referenced here)."""
        team = next(iter(principal.team_ids), None) if len(principal.team_ids) == 1 else principal.default_team_id
        for v in decision.verdicts:
            if v.action == "allow" and not (v.hits and v.hits[0].kind == UNAVAILABLE):
                continue  # a model check that failed open is still recorded
            if len(self.queue) >= MAX_QUEUE:
                self.dropped += 1
                return
            self.queue.append(
                (
                    v,
                    text,
                    direction,
                    route,
                    principal.api_key_id,
                    principal.user_id,
                    team,
                    request_id,
                    datetime.now(UTC),
                )
            )

    def prepare(self, rows: list[tuple]) -> list[tuple]:
        out = []
        for v, text, direction, route, key, user, team, request_id, at in rows:
            first = v.hits[0]
            # PII and harmful kinds are categories; a banned word's kind is the word itself: never stored
            kinds = "" if v.check == "banned_words" else ",".join(v.kinds)[:200]
            label = first.kind.upper() if v.check in ("pii", "harmful") else v.check.upper()
            out.append(
                (
                    uuid.uuid4(),
                    at,
                    request_id,
                    v.policy_id,
                    v.policy,
                    v.check,
                    kinds,
                    v.action,
                    direction,
                    excerpt(text, first.start, first.end, label),
                    route,
                    key,
                    user,
                    team,
                )
            )
        return out

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        # Asked to end, not cancelled: a cancel in the middle of a COPY lost that batch.
        self._closing.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)
        while self.queue and await self.flush():
            pass

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval_s)
            await self.flush()

    async def flush(self) -> bool:
        if not self.queue:
            return True
        rows, self.queue = self.queue[: self.batch], self.queue[self.batch :]
        try:
            records = await asyncio.to_thread(self.prepare, rows)
            async with self.db.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                await raw.copy_records_to_table("guardrail_decisions", records=records, columns=COLUMNS)
        except Exception as exc:
            self.queue = rows + self.queue
            event(log, "guardrails.decision_write_failed", logging.WARNING, rows=len(rows), error=type(exc).__name__)
            return False
        self.written += len(rows)
        return True


async def list_decisions(session: AsyncSession, principal: Principal, limit: int = 100) -> list[GuardrailDecision]:
    """The latest decisions: all for policies:admin / audit:read, else the caller's own."""
    query = select(GuardrailDecision).order_by(GuardrailDecision.created_at.desc()).limit(limit)
    if not (principal.can("policies:admin") or principal.can("audit:read")):
        query = query.where(GuardrailDecision.user_id == principal.user_id)
    return list((await session.scalars(query)).all())
