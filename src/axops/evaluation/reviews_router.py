"""Routes of human review queues (`/api/eval/reviews/...`): thin — parse, authorise, call
evaluation/reviews.py, return the declared model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from starlette.responses import Response

from axops.auth.deps import Principal, Session, require
from axops.auth.models import User
from axops.core.text import content_disposition
from axops.evaluation import review_reports, reviews
from axops.evaluation.models import EvalRun
from axops.evaluation.review_models import ReviewQueue
from axops.evaluation.review_schemas import (
    AgreementOut,
    ItemList,
    ItemOut,
    LabelIn,
    LabelOut,
    NextOut,
    QueueCreate,
    QueueList,
    QueueOut,
    Reviewer,
    ReviewerList,
)

router = APIRouter(prefix="/api/eval/reviews", tags=["evaluation"])
Reader = Annotated[Principal, require("eval:read")]
Writer = Annotated[Principal, require("eval:write")]
Annotator = Annotated[Principal, require("eval:review")]


async def _out(session, principal: Principal, queues: list[ReviewQueue], detail: bool = False) -> list[QueueOut]:
    progress = await reviews.progress(session, principal, [q.id for q in queues])
    users = {u for q in queues for u in [q.created_by, *q.assignees] if u is not None}
    names = (
        dict((await session.execute(select(User.id, User.username).where(User.id.in_(users)))).all()) if users else {}
    )
    run_ids = {q.run_id for q in queues if q.run_id}
    runs = (
        dict((await session.execute(select(EvalRun.id, EvalRun.name).where(EvalRun.id.in_(run_ids)))).all())
        if run_ids
        else {}
    )
    out = []
    for q in queues:
        out.append(
            QueueOut(
                id=q.id,
                team_id=q.team_id,
                name=q.name,
                description=q.description,
                source=q.source,
                run_id=q.run_id,
                run_name=runs.get(q.run_id),
                mode=q.mode,
                criteria=q.criteria,
                assignees=q.assignees,
                assignee_names=[names.get(u, str(u)) for u in q.assignees],
                may_annotate=reviews.may_annotate(principal, q),
                status=q.status,
                origin=q.origin,
                created_by=q.created_by,
                created_by_name=names.get(q.created_by),
                created_at=q.created_at,
                closed_at=q.closed_at,
                progress=progress[q.id],
                annotators=await reviews.annotators(session, q.id) if detail else [],
            )
        )
    return out


@router.post("", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def create_queue(body: QueueCreate, principal: Writer, session: Session) -> QueueOut:
    """A queue of items to label: a finished run's rows (all, a seeded sample, or where the targets'
    outputs differ) or a sample of production gateway requests whose masked text you may read.
    Outputs are shown blind as "1" (and "2"); assignees (empty: the team) annotate."""
    queue = await reviews.create_queue(session, principal, body)
    return (await _out(session, principal, [queue], detail=True))[0]


@router.get("/reviewers")
async def list_reviewers(principal: Writer, session: Session, team_id: uuid.UUID | None = None) -> ReviewerList:
    """Who a new queue may be assigned to: active members of the team (default: yours) who may annotate."""
    users = await reviews.reviewers(session, principal, team_id)
    return ReviewerList(items=[Reviewer(id=u.id, username=u.username, display_name=u.display_name) for u in users])


@router.get("")
async def list_queues(
    principal: Reader,
    session: Session,
    status: Literal["open", "closed"] | None = None,
    run_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueueList:
    """Your teams' queues, newest first, with progress (items labelled by you, by anyone, in all)."""
    queues, next_cursor, total = await reviews.list_queues(
        session, principal, status=status, run_id=run_id, cursor=cursor, limit=limit
    )
    return QueueList(items=await _out(session, principal, queues), next_cursor=next_cursor, total=total)


@router.get("/{queue_id}", responses={404: {}})
async def get_queue(queue_id: uuid.UUID, principal: Reader, session: Session) -> QueueOut:
    """One queue with its progress per annotator."""
    queue = await reviews.get_queue(session, principal, queue_id)
    return (await _out(session, principal, [queue], detail=True))[0]


@router.get("/{queue_id}/next", responses={403: {}, 404: {}})
async def next_item(
    queue_id: uuid.UUID,
    principal: Annotator,
    session: Session,
    after: Annotated[int | None, Query(ge=-1, description="Look after this position first (then wrap)")] = None,
) -> NextOut:
    """The next item you have not labelled (null when you have labelled them all)."""
    queue = await reviews.get_queue(session, principal, queue_id)
    item = await reviews.next_item(session, principal, queue, after)
    progress = (await reviews.progress(session, principal, [queue.id]))[queue.id]
    return NextOut(item=item, progress=progress)


@router.get("/{queue_id}/items", responses={403: {}, 404: {}})
async def list_items(
    queue_id: uuid.UUID,
    principal: Annotator,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ItemList:
    """The queue's items in order, each with your label (outputs blind)."""
    queue = await reviews.get_queue(session, principal, queue_id)
    items, next_cursor, total = await reviews.list_items(session, principal, queue, cursor, limit)
    return ItemList(items=items, next_cursor=next_cursor, total=total)


@router.get("/{queue_id}/items/{position}", responses={403: {}, 404: {}})
async def item_at(queue_id: uuid.UUID, position: int, principal: Annotator, session: Session) -> ItemOut:
    """The item at a position (0-based), with your label: going back to an earlier item."""
    queue = await reviews.get_queue(session, principal, queue_id)
    return ItemOut(**await reviews.item_at(session, principal, queue, position))


@router.put("/{queue_id}/items/{item_id}/label", responses={403: {}, 404: {}, 409: {}, 422: {}})
async def put_label(
    queue_id: uuid.UUID, item_id: uuid.UUID, body: LabelIn, principal: Annotator, session: Session
) -> LabelOut:
    """Your label of an item (replaces your earlier one): Likert scores for every criterion, or a
    pairwise choice "1" / "2" / "tie" per criterion, and a comment."""
    queue = await reviews.get_queue(session, principal, queue_id)
    return LabelOut(**await reviews.put_label(session, principal, queue, item_id, body))


@router.get("/{queue_id}/agreement", responses={404: {}})
async def agreement(queue_id: uuid.UUID, principal: Reader, session: Session) -> AgreementOut:
    """Per criterion: percent agreement and Cohen's kappa (quadratic-weighted for Likert, plain for
    pairwise) between every two annotators, and between the annotators and the run's LLM judge of
    the same name."""
    queue = await reviews.get_queue(session, principal, queue_id)
    return AgreementOut(**await review_reports.agreement(session, principal, queue))


@router.get(
    "/{queue_id}/export",
    response_class=Response,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}, "description": "The labels"},
        403: {},
        404: {},
    },
)
async def export(
    queue_id: uuid.UUID, principal: Writer, session: Session, format: Literal["jsonl", "csv"] = "jsonl"
) -> Response:
    """Every label with its item, targets named (unblinded): JSONL (one item per line) or CSV (one
    label per row, cells safe from spreadsheet formulas)."""
    queue = await reviews.get_queue(session, principal, queue_id)
    body = await review_reports.export(session, principal, queue, format)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    return Response(
        body.encode(),
        media_type=media,
        headers={"Content-Disposition": content_disposition(f"review-{queue.name}-{stamp}.{format}")},
    )


@router.post("/{queue_id}/close", responses={403: {}, 404: {}})
async def close_queue(queue_id: uuid.UUID, principal: Writer, session: Session) -> QueueOut:
    """No more labels: the figures and the export stay."""
    queue = await reviews.close_queue(session, principal, queue_id)
    return (await _out(session, principal, [queue], detail=True))[0]


@router.delete("/{queue_id}", status_code=204, responses={403: {}, 404: {}})
async def delete_queue(queue_id: uuid.UUID, principal: Writer, session: Session) -> None:
    """The queue with its items and labels."""
    await reviews.delete_queue(session, principal, queue_id)
