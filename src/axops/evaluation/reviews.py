"""Human review: queues of items (a finished run's rows, or a sample of production gateway requests
whose PII-masked text the creator may read), one label per item and annotator, progress. Agreement
and export: review_reports.py.

Blindness: every item shows its outputs as "1" (and "2"); which target each came from is kept in
`ReviewItem.blind` and leaves the server only in exports (eval:write, the queue's team). Pairwise
items put the two targets in a random order fixed per item when the queue is made.

Scoping: a queue belongs to a team; other teams' queues answer 404. Annotating needs eval:review and,
when the queue names assignees, being one of them (403). Creating, closing, deleting and exporting
need eval:write in the queue's team. Services flush, never commit; queue changes are audited."""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import RolePermission, TeamMember, User
from axops.auth.scoping import owning_team, require, require_owner, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.ids import uuid7
from axops.evaluation.models import FINISHED, EvalResult, EvalRow, EvalRun
from axops.evaluation.review_models import ReviewItem, ReviewLabel, ReviewQueue
from axops.evaluation.review_schemas import MAX_ITEMS, LabelIn, QueueCreate, RunSample, TrafficSample
from axops.gateway import request_logs

TRAFFIC_CANDIDATES = 2000  # requests read to sample from (newest first)
_SPACE = re.compile(r"\s+")


def _not_found() -> NotFound:
    return NotFound("No such review queue.", code="review_queue_not_found")


async def get_queue(
    session: AsyncSession, principal: Principal, queue_id: uuid.UUID, for_update: bool = False
) -> ReviewQueue:
    q = select(ReviewQueue).where(ReviewQueue.id == queue_id, team_clause(principal, ReviewQueue.team_id))
    if for_update:
        q = q.with_for_update()
    queue = await session.scalar(q)
    if queue is None:
        raise _not_found()
    return queue


def may_annotate(principal: Principal, queue: ReviewQueue) -> bool:
    return principal.can("eval:review") and (not queue.assignees or principal.user_id in queue.assignees)


def require_annotator(principal: Principal, queue: ReviewQueue) -> None:
    require(principal, "eval:review")
    if queue.assignees and principal.user_id not in queue.assignees:
        raise Forbidden("This queue is assigned to other reviewers.", code="review_not_assignee")


# --- creating a queue ------------------------------------------------------------------------------


def _same(text_value: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text_value)).strip()


async def _items_from_run(session: AsyncSession, principal: Principal, data: QueueCreate) -> tuple[EvalRun, list, dict]:
    spec: RunSample = data.run  # type: ignore[assignment]
    run = await session.scalar(
        select(EvalRun).where(EvalRun.id == spec.run_id, team_clause(principal, EvalRun.team_id))
    )
    if run is None:
        raise NotFound("No such evaluation run.", code="eval_run_not_found")
    if run.status not in FINISHED:
        raise Conflict(
            "The run has not finished: review its rows once it has.", code="review_run_not_finished", status=run.status
        )
    keys = [t["key"] for t in run.targets]
    targets = list(dict.fromkeys(spec.targets)) or (keys[:2] if data.mode == "pairwise" else keys)
    unknown = [t for t in targets if t not in keys]
    if unknown:
        raise Invalid(f"The run has no target {', '.join(unknown)}.", code="review_target_unknown", targets=unknown)
    if data.mode == "pairwise" and len(targets) != 2:
        raise Invalid("A pairwise queue compares exactly two targets.", code="review_pairwise_needs_two_targets")
    if spec.rows == "sample" and spec.size is None:
        raise Invalid("Say how many rows to sample (`size`).", code="review_sample_size_missing")

    rows = (await session.scalars(select(EvalRow).where(EvalRow.run_id == run.id).order_by(EvalRow.row_index))).all()
    results = (
        await session.scalars(select(EvalResult).where(EvalResult.run_id == run.id, EvalResult.target_key.in_(targets)))
    ).all()
    outputs = {(r.row_index, r.target_key): r.output for r in results}
    usable, errored = [], 0
    for row in rows:
        outs = [outputs.get((row.row_index, t)) for t in targets]
        if any(o is None for o in outs):
            errored += 1
            continue
        if spec.rows == "disagree" and len({_same(o) for o in outs}) < 2:
            continue
        usable.append(row)
    if spec.size is not None and len(usable) > spec.size:
        usable = sorted(random.Random(spec.seed).sample(usable, spec.size), key=lambda r: r.row_index)

    items = []
    if data.mode == "pairwise":
        for row in usable:
            pair = list(targets)
            random.Random(f"{spec.seed}:{row.row_index}").shuffle(pair)  # blind order, fixed per item
            items.append(
                (
                    {"run_id": str(run.id), "row_index": row.row_index},
                    _payload(row, {"1": outputs[(row.row_index, pair[0])], "2": outputs[(row.row_index, pair[1])]}),
                    {"1": pair[0], "2": pair[1]},
                )
            )
    else:
        for row in usable:
            for t in targets:
                items.append(
                    (
                        {"run_id": str(run.id), "row_index": row.row_index},
                        _payload(row, {"1": outputs[(row.row_index, t)]}),
                        {"1": t},
                    )
                )
        if len(targets) > 1:  # the same row's outputs side by side would give their targets away
            random.Random(spec.seed).shuffle(items)
    origin = {"rows": spec.rows, "size": spec.size, "seed": spec.seed, "targets": targets, "skipped_errors": errored}
    return run, items, origin


def _payload(row: EvalRow, outputs: dict) -> dict:
    return {"input": row.input, "reference": list(row.references or []), "context": row.context, "outputs": outputs}


def _from_messages(request: dict) -> tuple[str, str | None]:
    """The last user message as the input, earlier messages as context ("role: text" lines)."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    if not messages:
        return str(request.get("prompt") or ""), None

    def content(m: dict) -> str:
        c = m.get("content")
        if isinstance(c, list):  # content parts: keep the text ones
            return "\n".join(str(p.get("text", "")) for p in c if isinstance(p, dict) and p.get("type") == "text")
        return "" if c is None else str(c)

    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages) - 1)
    earlier = [f"{m.get('role', '?')}: {content(m)}" for m in messages[:last]]
    return content(messages[last]), ("\n\n".join(earlier) or None)


async def _items_from_traffic(session: AsyncSession, principal: Principal, data: QueueCreate) -> tuple[list, dict]:
    spec: TrafficSample = data.traffic  # type: ignore[assignment]
    if data.mode == "pairwise":
        raise Invalid(
            "A pairwise queue needs two outputs per row: make it from a run.", code="review_pairwise_needs_run"
        )
    candidates, cursor = [], None
    # request_logs scopes the read: gateway admins see every request, everyone else their own.
    while len(candidates) < TRAFFIC_CANDIDATES:
        page = await request_logs.request_logs(
            session,
            principal,
            cursor=cursor,
            limit=200,
            with_total=False,
            model=spec.model,
            upstream=None,
            api_key_id=None,
            user_id=None,
            outcome="ok",
            status=None,
            since=spec.since,
            until=spec.until,
            content=True,
        )
        candidates += [r for r in page["items"] if r["request"] is not None]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    picked = random.Random(spec.seed).sample(candidates, min(spec.size, len(candidates)))
    picked.sort(key=lambda r: r["created_at"])
    items = []
    for r in picked:
        input_text, context = _from_messages(r["request"])
        items.append(
            (
                {"usage_record_id": str(r["id"]), "model": r["model"], "created_at": r["created_at"].isoformat()},
                {"input": input_text, "reference": [], "context": context, "outputs": {"1": r["response"]}},
                None,
            )
        )
    origin = {
        "model": spec.model,
        "since": spec.since.isoformat() if spec.since else None,
        "until": spec.until.isoformat() if spec.until else None,
        "size": spec.size,
        "seed": spec.seed,
        "candidates": len(candidates),
    }
    return items, origin


def _reviewers_of(team_id: uuid.UUID):
    """Active members of the team whose role may annotate (eval:review)."""
    may_review = select(RolePermission.role).where(RolePermission.permission == "eval:review")
    return (
        select(User)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id, User.is_active, User.role.in_(may_review))
        .order_by(User.username)
    )


async def reviewers(session: AsyncSession, principal: Principal, team_id: uuid.UUID | None) -> list[User]:
    """Who a new queue of that team (default: the caller's) may be assigned to."""
    return list((await session.scalars(_reviewers_of(owning_team(principal, team_id)))).all())


async def _check_assignees(session: AsyncSession, team_id: uuid.UUID, assignees: list[uuid.UUID]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(assignees))
    if not wanted:
        return []
    members = {u.id for u in (await session.scalars(_reviewers_of(team_id).where(User.id.in_(wanted)))).all()}
    missing = [str(u) for u in wanted if u not in members]
    if missing:
        raise Invalid(
            "Assignees must be active members of the queue's team who may annotate (eval:review).",
            code="review_assignee_invalid",
            users=missing,
        )
    return wanted


async def create_queue(session: AsyncSession, principal: Principal, data: QueueCreate) -> ReviewQueue:
    require(principal, "eval:write")
    run = None
    if data.run is not None:
        run, items, origin = await _items_from_run(session, principal, data)
        team_id = run.team_id  # the run's rows stay with the team that may read them
    else:
        items, origin = await _items_from_traffic(session, principal, data)
        team_id = owning_team(principal, data.team_id)
    if not items:
        raise Invalid("Nothing to review: no row or request matches.", code="review_queue_empty")
    if len(items) > MAX_ITEMS:
        raise Invalid(
            f"A queue holds at most {MAX_ITEMS} items; this one would have {len(items)}: sample fewer rows.",
            code="review_too_many_items",
            limit=MAX_ITEMS,
            count=len(items),
        )
    assignees = await _check_assignees(session, team_id, data.assignees)
    if await session.scalar(
        select(ReviewQueue.id).where(ReviewQueue.team_id == team_id, ReviewQueue.name == data.name)
    ):
        raise Conflict(f"A review queue named '{data.name}' exists.", code="review_queue_name_taken", name=data.name)
    queue = ReviewQueue(
        team_id=team_id,
        name=data.name,
        description=data.description,
        source="run" if run is not None else "traffic",
        run_id=run.id if run is not None else None,
        mode=data.mode,
        criteria=[c.model_dump() for c in data.criteria],
        assignees=assignees,
        origin=origin,
        status="open",
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(queue)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A review queue named '{data.name}' exists.", code="review_queue_name_taken", name=data.name
        ) from exc
    session.add_all(
        ReviewItem(queue_id=queue.id, position=i, source_ref=ref, payload=payload, blind=blind)
        for i, (ref, payload, blind) in enumerate(items)
    )
    await session.flush()
    audit.record(
        session,
        "review_queue.create",
        resource_type="review_queue",
        resource_id=queue.id,
        team_id=team_id,
        summary={"name": queue.name, "source": queue.source, "mode": queue.mode, "count": len(items)},
    )
    return queue


# --- reading -------------------------------------------------------------------------------------


async def progress(session: AsyncSession, principal: Principal, queue_ids: list[uuid.UUID]) -> dict:
    """{queue_id: {"total", "labelled" (by anyone), "mine"}} in one grouped read."""
    if not queue_ids:
        return {}
    rows = await session.execute(
        text(
            """SELECT i.queue_id, count(*) AS total,
                 count(*) FILTER (WHERE EXISTS (SELECT 1 FROM review_labels l WHERE l.item_id = i.id)) AS labelled,
                 count(*) FILTER (WHERE EXISTS (SELECT 1 FROM review_labels l
                                                WHERE l.item_id = i.id AND l.reviewer_id = :me)) AS mine
               FROM review_items i WHERE i.queue_id = ANY(:ids) GROUP BY i.queue_id"""
        ),
        {"ids": queue_ids, "me": principal.user_id},
    )
    out = {q: {"total": 0, "labelled": 0, "mine": 0} for q in queue_ids}
    for r in rows.mappings():
        out[r["queue_id"]] = {"total": r["total"], "labelled": r["labelled"], "mine": r["mine"]}
    return out


async def annotators(session: AsyncSession, queue_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        select(ReviewLabel.reviewer_id, User.username, func.count(), func.max(ReviewLabel.updated_at))
        .join(ReviewItem, ReviewItem.id == ReviewLabel.item_id)
        .outerjoin(User, User.id == ReviewLabel.reviewer_id)
        .where(ReviewItem.queue_id == queue_id)
        .group_by(ReviewLabel.reviewer_id, User.username)
        .order_by(User.username)
    )
    return [{"user_id": u, "username": n, "labelled": c, "last_labelled_at": t} for u, n, c, t in rows.all()]


async def list_queues(
    session: AsyncSession, principal: Principal, *, status: str | None, run_id: uuid.UUID | None, cursor, limit: int
) -> tuple[list[ReviewQueue], str | None, int | None]:
    from axops.core.pagination import page_of, paginate_desc

    q = select(ReviewQueue).where(team_clause(principal, ReviewQueue.team_id))
    if status is not None:
        q = q.where(ReviewQueue.status == status)
    if run_id is not None:
        q = q.where(ReviewQueue.run_id == run_id)
    total = None if cursor else await session.scalar(select(func.count()).select_from(q.subquery()))
    rows = (await session.scalars(paginate_desc(q, ReviewQueue.created_at, ReviewQueue.id, cursor, limit))).all()
    items, next_cursor = page_of(list(rows), limit)
    return items, next_cursor, total


def item_out(item: ReviewItem, label: ReviewLabel | None) -> dict:
    """An item as annotators see it: never `blind`, never `source_ref` (it names the target's run row only)."""
    p = item.payload
    return {
        "id": item.id,
        "position": item.position,
        "input": p.get("input") or "",
        "reference": p.get("reference") or [],
        "context": p.get("context"),
        "outputs": p.get("outputs") or {},
        "label": None
        if label is None
        else {
            "scores": label.scores,
            "choices": label.choices,
            "comment": label.comment,
            "created_at": label.created_at,
            "updated_at": label.updated_at,
        },
    }


async def _my_label(session: AsyncSession, principal: Principal, item_id: uuid.UUID) -> ReviewLabel | None:
    return await session.scalar(
        select(ReviewLabel).where(ReviewLabel.item_id == item_id, ReviewLabel.reviewer_id == principal.user_id)
    )


async def next_item(session: AsyncSession, principal: Principal, queue: ReviewQueue, after: int | None) -> dict | None:
    """The first item after position `after` the caller has not labelled, wrapping around to the start."""
    require_annotator(principal, queue)
    mine = select(ReviewLabel.id).where(
        ReviewLabel.item_id == ReviewItem.id, ReviewLabel.reviewer_id == principal.user_id
    )
    base = select(ReviewItem).where(ReviewItem.queue_id == queue.id, ~mine.exists()).order_by(ReviewItem.position)
    item = None
    if after is not None:
        item = await session.scalar(base.where(ReviewItem.position > after).limit(1))
    if item is None:
        item = await session.scalar(base.limit(1))
    return None if item is None else item_out(item, None)


async def item_at(session: AsyncSession, principal: Principal, queue: ReviewQueue, position: int) -> dict:
    require_annotator(principal, queue)
    item = await session.scalar(
        select(ReviewItem).where(ReviewItem.queue_id == queue.id, ReviewItem.position == position)
    )
    if item is None:
        raise NotFound("No item at that position.", code="review_item_not_found")
    return item_out(item, await _my_label(session, principal, item.id))


async def list_items(
    session: AsyncSession, principal: Principal, queue: ReviewQueue, cursor: str | None, limit: int
) -> tuple[list[dict], str | None, int | None]:
    require_annotator(principal, queue)
    try:
        start = int(cursor) if cursor else 0
    except ValueError as exc:
        raise Invalid("The cursor is malformed.", code="invalid_cursor") from exc
    total = None
    if not cursor:
        total = await session.scalar(select(func.count()).where(ReviewItem.queue_id == queue.id))
    items = (
        await session.scalars(
            select(ReviewItem)
            .where(ReviewItem.queue_id == queue.id, ReviewItem.position >= start)
            .order_by(ReviewItem.position)
            .limit(limit + 1)
        )
    ).all()
    more = len(items) > limit
    items = items[:limit]
    labels = {
        lb.item_id: lb
        for lb in (
            await session.scalars(
                select(ReviewLabel).where(
                    ReviewLabel.item_id.in_([i.id for i in items]), ReviewLabel.reviewer_id == principal.user_id
                )
            )
        ).all()
    }
    out = [item_out(i, labels.get(i.id)) for i in items]
    return out, (str(items[-1].position + 1) if more else None), total


# --- labelling -----------------------------------------------------------------------------------


def _check_label(queue: ReviewQueue, data: LabelIn) -> None:
    names = {c["name"] for c in queue.criteria}
    if queue.mode == "likert":
        given, other = data.scores, data.choices
        scales = {c["name"]: c["scale"] for c in queue.criteria}
        bad = [k for k, v in data.scores.items() if k in scales and not 1 <= v <= scales[k]]
    else:
        given, other, bad = data.choices, data.scores, []
    if set(given) != names or other or bad:
        raise Invalid(
            "A label gives every criterion of the queue "
            + ("a score from 1 to its scale." if queue.mode == "likert" else 'a choice: "1", "2" or "tie".'),
            code="review_label_invalid",
            criteria=sorted(names),
        )


async def put_label(
    session: AsyncSession, principal: Principal, queue: ReviewQueue, item_id: uuid.UUID, data: LabelIn
) -> dict:
    require_annotator(principal, queue)
    if queue.status != "open":
        raise Conflict("The queue is closed: labels can no longer change.", code="review_queue_closed")
    item = await session.scalar(select(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.queue_id == queue.id))
    if item is None:
        raise NotFound("No such item in this queue.", code="review_item_not_found")
    _check_label(queue, data)
    values = {"scores": data.scores, "choices": data.choices, "comment": data.comment}
    stmt = (
        insert(ReviewLabel)
        .values(id=uuid7(), item_id=item.id, reviewer_id=principal.user_id, **values)
        .on_conflict_do_update(
            constraint="uq_review_labels_item_id_reviewer_id", set_={**values, "updated_at": func.now()}
        )
    )
    await session.execute(stmt)
    label = await session.scalar(
        select(ReviewLabel)
        .where(ReviewLabel.item_id == item.id, ReviewLabel.reviewer_id == principal.user_id)
        .execution_options(populate_existing=True)
    )
    return item_out(item, label)["label"]


# --- closing and deleting --------------------------------------------------------------------------


async def close_queue(session: AsyncSession, principal: Principal, queue_id: uuid.UUID) -> ReviewQueue:
    queue = await get_queue(session, principal, queue_id, for_update=True)
    require_owner(principal, queue, "eval:write", "review queue")
    if queue.status == "open":
        queue.status, queue.closed_at = "closed", datetime.now(UTC)
        await session.flush()
        audit.record(
            session,
            "review_queue.close",
            resource_type="review_queue",
            resource_id=queue.id,
            team_id=queue.team_id,
            summary={"name": queue.name},
        )
    return queue


async def delete_queue(session: AsyncSession, principal: Principal, queue_id: uuid.UUID) -> None:
    queue = await get_queue(session, principal, queue_id, for_update=True)
    require_owner(principal, queue, "eval:write", "review queue")
    counts = (await progress(session, principal, [queue.id]))[queue.id]
    labels = await session.scalar(
        select(func.count()).select_from(ReviewLabel).join(ReviewItem).where(ReviewItem.queue_id == queue.id)
    )
    await session.execute(delete(ReviewQueue).where(ReviewQueue.id == queue.id))
    audit.record(
        session,
        "review_queue.delete",
        resource_type="review_queue",
        resource_id=queue.id,
        team_id=queue.team_id,
        summary={"name": queue.name, "count": counts["total"], "labels": labels},
    )
