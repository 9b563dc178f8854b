"""Agreement and export of a review queue's labels (reviews.py makes queues and takes labels).

Agreement per criterion: percent agreement and Cohen's kappa (evaluation/stats.py; quadratic-weighted
for Likert scores, plain for pairwise choices) between every two annotators over the items both
labelled, and between the annotators and the run's LLM judge of the same name and mode (every human
label paired with the judge's grade of that item; Likert only when the scales match).
Pairwise choices are compared as the targets they name ("1" → "B"...), never as screen positions."""

from __future__ import annotations

import csv
import io
import uuid
from itertools import combinations

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.models import User
from axops.auth.scoping import require_owner
from axops.core.text import csv_cell
from axops.evaluation import stats
from axops.evaluation.models import EvalResult, EvalRow, EvalRun
from axops.evaluation.review_models import ReviewItem, ReviewLabel, ReviewQueue


async def _labelled(session: AsyncSession, queue: ReviewQueue) -> tuple[list[ReviewItem], list[tuple]]:
    items = (
        await session.scalars(select(ReviewItem).where(ReviewItem.queue_id == queue.id).order_by(ReviewItem.position))
    ).all()
    labels = (
        await session.execute(
            select(ReviewLabel, User.username)
            .join(ReviewItem, ReviewItem.id == ReviewLabel.item_id)
            .outerjoin(User, User.id == ReviewLabel.reviewer_id)
            .where(ReviewItem.queue_id == queue.id)
            .order_by(ReviewItem.position, User.username)
        )
    ).all()
    return list(items), [(lb, name or str(lb.reviewer_id)) for lb, name in labels]


def _unblind(item: ReviewItem, choice: str | None) -> str | None:
    """A pairwise choice as the target it names ("1" → "B" ...); ties stay "tie"."""
    if choice is None or choice == "tie":
        return choice
    return (item.blind or {}).get(choice, choice)


def _pair(values: dict, x: str, y: str) -> tuple[list, list]:
    both = [k for k in values[x] if k in values[y]]
    return [values[x][k] for k in both], [values[y][k] for k in both]


def _figures(a: str, b: str, xs: list, ys: list, weights: str | None) -> dict:
    return {
        "a": a,
        "b": b,
        "n": len(xs),
        "percent_agreement": stats.percent_agreement(xs, ys) if xs else None,
        "kappa": stats.cohen_kappa(xs, ys, weights=weights) if xs else None,
    }


async def _judge_values(session: AsyncSession, queue: ReviewQueue, items: list[ReviewItem], criterion: dict):
    """{item_id: the judge's grade} for a criterion, or (None, why)."""
    run = await session.get(EvalRun, queue.run_id) if queue.run_id else None
    if run is None:
        return None, "no_run"
    wanted = "pairwise" if queue.mode == "pairwise" else "single"
    judge = next(
        (
            j
            for j in run.judges or []
            if str(j.get("name", "")).casefold() == criterion["name"].casefold() and j.get("mode", "single") == wanted
        ),
        None,
    )
    if judge is None:
        return None, "no_judge"
    if queue.mode == "likert" and int(judge.get("scale") or 5) != criterion["scale"]:
        return None, "scale_differs"
    name, out = judge["name"], {}
    if queue.mode == "pairwise":
        rows = {
            r.row_index: r.pairwise or {}
            for r in (await session.scalars(select(EvalRow).where(EvalRow.run_id == run.id))).all()
        }
        for item in items:
            a, b = item.blind["1"], item.blind["2"]
            pw = rows.get(item.source_ref["row_index"], {})
            verdict = (pw.get(f"{a}|{b}") or pw.get(f"{b}|{a}") or {}).get(name) or {}
            if verdict.get("winner") is not None:
                out[item.id] = verdict["winner"]
    else:
        results = {
            (r.row_index, r.target_key): r.judges or {}
            for r in (await session.scalars(select(EvalResult).where(EvalResult.run_id == run.id))).all()
        }
        for item in items:
            grade = results.get((item.source_ref["row_index"], item.blind["1"]), {}).get(name) or {}
            if grade.get("raw") is not None:
                out[item.id] = int(grade["raw"])
    return out, None


async def agreement(session: AsyncSession, principal: Principal, queue: ReviewQueue) -> dict:
    items, labels = await _labelled(session, queue)
    by_id = {i.id: i for i in items}
    weights = "quadratic" if queue.mode == "likert" else None
    out = []
    for criterion in queue.criteria:
        name = criterion["name"]
        values: dict[str, dict] = {}
        for lb, who in labels:
            v = lb.scores.get(name) if queue.mode == "likert" else _unblind(by_id[lb.item_id], lb.choices.get(name))
            if v is not None:
                values.setdefault(who, {})[lb.item_id] = v
        pairs = [_figures(x, y, *_pair(values, x, y), weights) for x, y in combinations(sorted(values), 2)]
        judged, note = await _judge_values(session, queue, items, criterion)
        judge = None
        if judged is not None:
            xs, ys = [], []
            for who in sorted(values):
                for item_id, v in values[who].items():
                    if item_id in judged:
                        xs.append(v)
                        ys.append(judged[item_id])
            judge = _figures("humans", "judge", xs, ys, weights)
        out.append(
            {
                "criterion": name,
                "weights": weights or "none",
                "annotators": pairs,
                "judge": judge,
                "judge_note": note,
            }
        )
    return {"criteria": out}


async def export(session: AsyncSession, principal: Principal, queue: ReviewQueue, fmt: str) -> str:
    """JSONL: one line per item (targets named, every label); CSV: one row per label."""
    require_owner(principal, queue, "eval:write", "review queue")
    items, labels = await _labelled(session, queue)
    per_item: dict[uuid.UUID, list] = {}
    for lb, who in labels:
        per_item.setdefault(lb.item_id, []).append((lb, who))
    names = [c["name"] for c in queue.criteria]

    def outputs(item: ReviewItem) -> dict:
        outs = item.payload.get("outputs") or {}
        blind = item.blind or {}
        return {blind.get(k, k): v for k, v in outs.items()}

    def label_json(item: ReviewItem, lb: ReviewLabel, who: str) -> dict:
        return {
            "reviewer": who,
            "scores": lb.scores,
            "choices": {k: _unblind(item, v) for k, v in lb.choices.items()},
            "comment": lb.comment,
            "created_at": lb.created_at.isoformat(),
            "updated_at": lb.updated_at.isoformat(),
        }

    if fmt == "jsonl":
        lines = []
        for item in items:
            doc = {
                "position": item.position,
                "source": item.source_ref,
                "input": item.payload.get("input"),
                "reference": item.payload.get("reference") or [],
                "context": item.payload.get("context"),
                "outputs": outputs(item),
                "labels": [label_json(item, lb, who) for lb, who in per_item.get(item.id, [])],
            }
            lines.append(orjson.dumps(doc).decode())
        return "\n".join(lines) + ("\n" if lines else "")

    buf = io.StringIO()
    w = csv.writer(buf)
    kind = "score" if queue.mode == "likert" else "winner"
    w.writerow(
        ["position", "run_id", "row_index", "usage_record_id", "targets", "reviewer"]
        + [f"{kind}:{n}" for n in names]
        + ["comment", "input", "reference", "output_1", "output_2", "updated_at"]
    )
    for item in items:
        outs = item.payload.get("outputs") or {}
        targets = "|".join((item.blind or {}).get(k, "") for k in sorted(outs))
        for lb, who in per_item.get(item.id, []):
            marks = [lb.scores.get(n) if queue.mode == "likert" else _unblind(item, lb.choices.get(n)) for n in names]
            row = [
                item.position,
                item.source_ref.get("run_id"),
                item.source_ref.get("row_index"),
                item.source_ref.get("usage_record_id"),
                targets,
                who,
                *marks,
                lb.comment,
                item.payload.get("input"),
                " | ".join(item.payload.get("reference") or []),
                outs.get("1"),
                outs.get("2"),
                lb.updated_at.isoformat(),
            ]
            w.writerow([csv_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()  # BOM: Excel reads Korean text as UTF-8
