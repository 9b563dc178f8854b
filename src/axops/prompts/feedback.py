"""Feedback on gateway requests: a score (0..1) and an optional comment on a request id the gateway
returned (`x-request-id`), given by whoever made the request; and the quality of each prompt version
it adds up to.

Feedback is data, like usage: not audited, and its comment never reaches a log line."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Conflict, NotFound
from axops.core.ids import uuid7
from axops.prompts.experiment_schemas import FeedbackIn
from axops.prompts.models import Prompt, RequestFeedback

# Feedback is taken for requests of the last week: the owner lookup reads the caller's usage records
# of that window through ix_usage_records_user_created_at (usage records have no request id index).
WINDOW = timedelta(days=7)

_OWN_REQUEST = text("""
SELECT u.team_id, u.api_key_id, u.prompt_name, u.prompt_version FROM usage_records u
WHERE u.user_id = :user_id AND u.created_at >= :since AND u.request_id = :request_id
ORDER BY u.created_at DESC LIMIT 1
""")

# From each feedback row (few) to its request's usage record (the same user, within the window).
_QUALITY = text("""
SELECT u.prompt_version AS version, count(*) AS feedback_count, avg(f.score) AS feedback_mean
FROM request_feedback f
CROSS JOIN LATERAL (
    SELECT r.prompt_version FROM usage_records r
    WHERE r.user_id = f.user_id AND r.created_at <= f.created_at + interval '1 minute'
      AND r.created_at >= f.created_at - make_interval(days => :days)
      AND r.request_id = f.request_id AND r.prompt_name = :name
    LIMIT 1
) u
WHERE f.name = 'user' AND f.created_at >= :since
GROUP BY 1
""")


def _not_found(request_id: str) -> NotFound:
    return NotFound(
        "No request of yours with that id (feedback is taken for your own requests of the last 7 days).",
        code="request_not_found",
    )


async def _own_request(session: AsyncSession, principal: Principal, request_id: str):
    params = {"user_id": principal.user_id, "since": datetime.now(UTC) - WINDOW, "request_id": request_id}
    return (await session.execute(_OWN_REQUEST, params)).mappings().first()


async def give(session: AsyncSession, principal: Principal, data: FeedbackIn, gateway=None) -> dict:
    """Record (or update) the caller's feedback on one of their own requests. `gateway`: the process's
    Gateway, whose buffered usage records are written if the request is not found yet (a client may
    score an answer within the writer's interval); then one more look after one writer interval."""
    row = await _own_request(session, principal, data.request_id)
    if row is None and gateway is not None:
        while gateway.usage.queue and await gateway.usage.flush():
            pass
        row = await _own_request(session, principal, data.request_id)
        if row is None:  # still counting its tokens, or recorded by another worker process: one writer interval
            await asyncio.sleep(gateway.usage.interval_s + 0.1)
            while gateway.usage.queue and await gateway.usage.flush():
                pass
            row = await _own_request(session, principal, data.request_id)
    if row is None:
        raise _not_found(data.request_id)
    existing = await session.scalar(
        select(RequestFeedback).where(RequestFeedback.request_id == data.request_id, RequestFeedback.name == data.name)
    )
    if existing is not None and existing.user_id != principal.user_id:
        # Request ids can be chosen by callers (x-request-id): someone else's feedback on the same id is
        # never overwritten.
        raise Conflict(
            "That request id already has feedback from someone else; send requests with unique x-request-id values.",
            code="feedback_request_id_taken",
        )
    now = datetime.now(UTC)
    values = {
        "score": data.score,
        "comment": data.comment,
        "api_key_id": principal.api_key_id,
        "team_id": row["team_id"],
        "created_at": now,
    }
    stmt = insert(RequestFeedback).values(
        id=uuid7(), request_id=data.request_id, name=data.name, user_id=principal.user_id, **values
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_request_feedback_request_id_name",
        set_=values,
        where=RequestFeedback.user_id == principal.user_id,
    ).returning(RequestFeedback.id)
    feedback_id = await session.scalar(stmt)
    if feedback_id is None:  # taken by someone else between our read and write
        raise Conflict("That request id already has feedback from someone else.", code="feedback_request_id_taken")
    return {
        "id": feedback_id,
        "request_id": data.request_id,
        "name": data.name,
        "score": data.score,
        "comment": data.comment,
        "prompt_name": row["prompt_name"],
        "prompt_version": row["prompt_version"],
        "created_at": now,
    }


async def quality_by_version(session: AsyncSession, prompt: Prompt | uuid.UUID) -> dict[int, dict]:
    """{version: {"feedback_count", "feedback_mean"}} of the prompt's versions that have feedback
    (user feedback; evaluation scores will join here once evaluation exists). Takes the prompt or its id."""
    if not isinstance(prompt, Prompt):
        prompt = await session.get(Prompt, prompt)
        if prompt is None:
            return {}
    params = {"name": prompt.name, "since": prompt.created_at - timedelta(minutes=1), "days": WINDOW.days}
    return {
        int(r["version"]): {"feedback_count": int(r["feedback_count"]), "feedback_mean": float(r["feedback_mean"])}
        for r in (await session.execute(_QUALITY, params)).mappings()
        if r["version"] is not None
    }
