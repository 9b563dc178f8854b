"""Reading a run's results: its rows (inputs, references, each target's output, scores and judges'
reasoning; filterable to rows where one target beats another on a metric) and the comparison report
(JSON, CSV, HTML by evaluation/reports.py). Rows carry the dataset's data, so they follow its access
policy; the report's JSON (aggregates only) does not."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from axops.auth.deps import Principal
from axops.core.errors import Invalid
from axops.evaluation import service
from axops.evaluation.models import EvalResult, EvalRow, EvalRun


def run_dict(run: EvalRun) -> dict:
    """The run as reports.build_report takes it."""
    return {
        "id": str(run.id),
        "name": run.name,
        "targets": run.targets,
        "metrics": run.metrics,
        "judges": run.judges,
        "tokenizer": run.tokenizer,
        "currency": run.currency,
    }


def result_dict(r: EvalResult) -> dict:
    return {
        "output": r.output,
        "error": r.error,
        "latency_ms": r.latency_ms,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost": r.cost,
        "scores": r.scores or {},
        "judges": r.judges or {},
    }


def row_dict(row: EvalRow, results: list[EvalResult]) -> dict:
    return {
        "row_index": row.row_index,
        "input": row.input,
        "references": row.references or [],
        "context": row.context,
        "metadata": row.metadata_ or {},
        "results": {r.target_key: result_dict(r) for r in sorted(results, key=lambda r: r.target_key)},
        "pairwise": row.pairwise or {},
    }


async def guard(session: AsyncSession, principal: Principal, run: EvalRun, what: str) -> None:
    """The rows of a run are the set's data: readable as the dataset's access policy allows."""
    eval_set = await session.get(service.EvalSet, run.eval_set_id)
    dataset, version = await service.set_source(session, eval_set)
    service.guard_set_rows(session, principal, dataset, version, what)


async def load_rows(session: AsyncSession, run_id: uuid.UUID, indices: list[int] | None = None) -> list[dict]:
    q = select(EvalRow).where(EvalRow.run_id == run_id)
    rq = select(EvalResult).where(EvalResult.run_id == run_id)
    if indices is not None:
        q, rq = q.where(EvalRow.row_index.in_(indices)), rq.where(EvalResult.row_index.in_(indices))
    rows = (await session.scalars(q.order_by(EvalRow.row_index))).all()
    by_row: dict[int, list[EvalResult]] = {}
    for r in (await session.scalars(rq)).all():
        by_row.setdefault(r.row_index, []).append(r)
    return [row_dict(row, by_row.get(row.row_index, [])) for row in rows]


def _higher_is_better(run: EvalRun, metric: str) -> bool:
    if metric.startswith("judge:"):
        return True
    from axops.evaluation import metrics as scoring

    spec = scoring.CATALOGUE.get(metric)
    return True if spec is None else bool(spec.higher_is_better)


async def list_rows(
    session: AsyncSession,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    target: str | None = None,
    better: str | None = None,
    worse: str | None = None,
    against: str | None = None,
    metric: str | None = None,
    errors_only: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict], str | None, int | None]:
    run = await service.get_run(session, principal, run_id)
    await guard(session, principal, run, "evaluation rows")
    keys = [t["key"] for t in run.targets]
    for k in (target, better, worse, against):
        if k is not None and k not in keys:
            raise Invalid(
                f"The run has no target '{k}'; its targets: {', '.join(keys)}.", code="eval_unknown_target", target=k
            )
    q = select(EvalRow.row_index).where(EvalRow.run_id == run.id)
    if target or errors_only:
        r = aliased(EvalResult)
        cond = [r.run_id == EvalRow.run_id, r.row_index == EvalRow.row_index]
        if target:
            cond.append(r.target_key == target)
        if errors_only:
            cond.append(r.error.is_not(None))
        q = q.where(select(r.row_index).where(and_(*cond)).exists())
    if better or worse:
        if not metric:
            raise Invalid(
                "Name the metric to compare on (metric=bleu, metric=judge:correctness).", code="eval_metric_required"
            )
        side = better or worse
        other = against or next((k for k in keys if k != side), None)
        if other is None or other == side:
            raise Invalid("Comparing needs two different targets.", code="eval_metric_required")
        a, b = aliased(EvalResult), aliased(EvalResult)
        if metric.startswith("judge:"):
            name = metric.removeprefix("judge:")
            va = cast(a.judges[name]["score"].astext, Float)
            vb = cast(b.judges[name]["score"].astext, Float)
        else:
            va, vb = cast(a.scores[metric].astext, Float), cast(b.scores[metric].astext, Float)
        wins = va > vb if _higher_is_better(run, metric) == bool(better) else va < vb
        q = q.where(
            select(a.row_index)
            .join(b, and_(b.run_id == a.run_id, b.row_index == a.row_index, b.target_key == other))
            .where(a.run_id == EvalRow.run_id, a.row_index == EvalRow.row_index, a.target_key == side, wins)
            .exists()
        )
    total = None if cursor else await session.scalar(select(func.count()).select_from(q.subquery()))
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise Invalid(
                "The cursor is malformed; use the next_cursor value from the previous page.", code="invalid_cursor"
            ) from None
        q = q.where(EvalRow.row_index > after)
    indices = list((await session.scalars(q.order_by(EvalRow.row_index).limit(limit + 1))).all())
    next_cursor = str(indices[limit - 1]) if len(indices) > limit else None
    rows = await load_rows(session, run.id, indices[:limit])
    if target:
        for row in rows:
            row["results"] = {k: v for k, v in row["results"].items() if k == target}
    return rows, next_cursor, total


async def report(
    session: AsyncSession,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    baseline: str | None = None,
    with_rows: bool = False,
) -> tuple[EvalRun, dict, list[dict]]:
    """The comparison report of a run (and its rows for CSV/HTML, which the data policy guards)."""
    from axops.evaluation import reports

    run = await service.get_run(session, principal, run_id)
    keys = [t["key"] for t in run.targets]
    if baseline is not None and baseline not in keys:
        raise Invalid(
            f"The run has no target '{baseline}'; its targets: {', '.join(keys)}.",
            code="eval_unknown_target",
            target=baseline,
        )
    if with_rows:
        await guard(session, principal, run, "evaluation report")
    rows = await load_rows(session, run.id)
    built: dict[str, Any] = await asyncio.to_thread(
        lambda: reports.build_report(run_dict(run), rows, baseline=baseline, seed=run.seed)
    )
    return run, built, rows if with_rows else []
