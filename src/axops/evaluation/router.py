"""HTTP routes of evaluation sets and runs (`/api/eval/...`). Suites: suites_router.py; reviews:
reviews_router.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from axops.auth.deps import Principal, Session, require
from axops.core.state import State, state_of
from axops.core.text import content_disposition
from axops.evaluation import results, service
from axops.evaluation.models import FINISHED, EvalRun
from axops.evaluation.schemas import (
    EvalCatalogue,
    EvalEstimate,
    EvalReport,
    EvalRowOut,
    EvalRowPage,
    EvalRunCreate,
    EvalRunOut,
    EvalRunPage,
    EvalSetCreate,
    EvalSetOut,
    EvalSetPage,
    MetricInfo,
    RubricInfo,
    RunStatus,
    TargetKey,
)

router = APIRouter(prefix="/api/eval", tags=["evaluation"])
Reader = Annotated[Principal, require("eval:read")]
Writer = Annotated[Principal, require("eval:write")]
Limit = Annotated[int, Query(ge=1, le=200)]
HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def run_out(run: EvalRun, set_name: str | None = None) -> EvalRunOut:
    return EvalRunOut(
        id=run.id,
        team_id=run.team_id,
        name=run.name,
        eval_set_id=run.eval_set_id,
        eval_set_name=set_name,
        suite_id=run.suite_id,
        model_version_id=run.model_version_id,
        targets=run.targets,
        metrics=run.metrics,
        judges=run.judges,
        tokenizer=run.tokenizer,
        sample_size=run.sample_size,
        seed=run.seed,
        concurrency=run.concurrency,
        max_cost=run.max_cost,
        status=run.status,
        progress=run.progress or {},
        estimate=run.estimate,
        cost=run.cost,
        currency=run.currency,
        summary=run.summary,
        verdict=run.verdict,
        passed=run.passed,
        experiment_run_id=run.experiment_run_id,
        error=run.error,
        cancel_requested=run.cancel_requested,
        created_by=run.created_by,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


async def runs_out(session, runs: list[EvalRun]) -> list[EvalRunOut]:
    names = await service.set_names(session, [r.eval_set_id for r in runs])
    return [run_out(r, names.get(r.eval_set_id)) for r in runs]


def _info(obj, name: str) -> dict:
    raw = obj if isinstance(obj, dict) else {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_")}
    return {k: v for k, v in raw.items() if not callable(v)} | {"name": name}


@router.get("/metrics")
async def catalogue(principal: Reader) -> EvalCatalogue:
    """The metrics (with their parameters' JSON schema and definitions) and the judges' built-in rubrics."""
    from axops.evaluation import judges, metrics

    items = []
    for name, spec in metrics.CATALOGUE.items():
        d = _info(spec, name)
        items.append(MetricInfo(**{k: d.get(k) for k in MetricInfo.model_fields}))
    rubrics = []
    for name, rubric in judges.RUBRICS.items():
        d = _info(rubric, name)
        rubrics.append(RubricInfo(**{k: d[k] for k in RubricInfo.model_fields if d.get(k) is not None}))
    return EvalCatalogue(metrics=items, rubrics=rubrics, tokenizers=list(metrics.TOKENIZERS))


# --- sets ----------------------------------------------------------------------------------------


@router.post("/sets", status_code=201)
async def create_set(body: EvalSetCreate, principal: Writer, session: Session) -> EvalSetOut:
    eval_set = await service.create_set(session, principal, body)
    return (await service.sets_out(session, principal, [eval_set]))[0]


@router.get("/sets")
async def list_sets(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    team_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> EvalSetPage:
    sets, next_cursor, total = await service.list_sets(
        session, principal, q=q, team_id=team_id, cursor=cursor, limit=limit
    )
    return EvalSetPage(items=await service.sets_out(session, principal, sets), next_cursor=next_cursor, total=total)


@router.get("/sets/{set_id}")
async def get_set(set_id: uuid.UUID, principal: Reader, session: Session) -> EvalSetOut:
    return (await service.sets_out(session, principal, [await service.get_set(session, principal, set_id)]))[0]


@router.delete("/sets/{set_id}", status_code=204)
async def delete_set(set_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await service.delete_set(session, principal, set_id)


# --- runs ----------------------------------------------------------------------------------------


@router.post("/runs/estimate")
async def estimate(body: EvalRunCreate, principal: Writer, session: Session, state: State) -> EvalEstimate:
    """Calls, tokens and cost of the run this body would start, without starting it."""
    prepared = await service.prepare(session, principal, state, body)
    return EvalEstimate(**await service.estimate(state, prepared))


@router.post("/runs", status_code=202)
async def create_run(body: EvalRunCreate, principal: Writer, session: Session, state: State) -> EvalRunOut:
    """Validate and queue a run; follow it with GET /runs/{id}/events."""
    run = await service.create_run(session, principal, state, body)
    return (await runs_out(session, [run]))[0]


@router.get("/runs")
async def list_runs(
    principal: Reader,
    session: Session,
    set_id: uuid.UUID | None = None,
    suite_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    model_version_id: uuid.UUID | None = None,
    status: RunStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the run's name, set or targets")] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> EvalRunPage:
    runs, next_cursor, total = await service.list_runs(
        session,
        principal,
        set_id=set_id,
        suite_id=suite_id,
        model_id=model_id,
        model_version_id=model_version_id,
        status=status,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    return EvalRunPage(items=await runs_out(session, runs), next_cursor=next_cursor, total=total)


@router.get("/runs/{run_id}")
async def get_run(run_id: uuid.UUID, principal: Reader, session: Session) -> EvalRunOut:
    return (await runs_out(session, [await service.get_run(session, principal, run_id)]))[0]


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: uuid.UUID, principal: Writer, session: Session) -> EvalRunOut:
    return (await runs_out(session, [await service.cancel_run(session, principal, run_id)]))[0]


def _progress(run: EvalRun) -> bytes:
    p = run.progress or {}
    return orjson.dumps(
        {
            "done": p.get("done", 0),
            "total": p.get("total", 0),
            "errors": p.get("errors", 0),
            "status": run.status,
            "cost": run.cost,
        }
    )


@router.get("/runs/{run_id}/events", responses={200: {"content": {"text/event-stream": {}}}})
async def events(run_id: uuid.UUID, principal: Reader, session: Session, request: Request) -> StreamingResponse:
    """Server-sent events: `progress` ({done, total, errors, status, cost}) whenever it changes, then
    one `end` event (the same fields) once the run has ended."""
    run = await service.get_run(session, principal, run_id)
    first = _progress(run)
    ended = run.status in FINISHED
    await session.close()
    db = state_of(request).db

    async def stream():
        last = first
        yield b"event: progress\ndata: " + first + b"\n\n"
        if ended:
            yield b"event: end\ndata: " + first + b"\n\n"
            return
        idle = 0
        while not await request.is_disconnected():
            await asyncio.sleep(0.5)
            async with db.sessionmaker() as s:
                current = await service.get_run(s, principal, run_id)
            data = _progress(current)
            if data != last:
                yield b"event: progress\ndata: " + data + b"\n\n"
                last, idle = data, 0
            else:
                idle += 1
                if idle % 30 == 0:
                    yield b": keep-alive\n\n"
            if current.status in FINISHED:
                yield b"event: end\ndata: " + data + b"\n\n"
                return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/runs/{run_id}/rows")
async def rows(
    run_id: uuid.UUID,
    principal: Reader,
    session: Session,
    target: Annotated[TargetKey | None, Query(description="Only this target's results")] = None,
    better: Annotated[TargetKey | None, Query(description="Rows where this target beats `against` on `metric`")] = None,
    worse: Annotated[
        TargetKey | None, Query(description="Rows where this target loses to `against` on `metric`")
    ] = None,
    against: Annotated[TargetKey | None, Query(description="The other target (default: the first other one)")] = None,
    metric: Annotated[str | None, Query(max_length=100, description="bleu, exact_match, judge:correctness ...")] = None,
    errors: Annotated[bool, Query(description="Only rows where a target failed")] = False,
    limit: Limit = 50,
    cursor: str | None = None,
) -> EvalRowPage:
    """The run's rows (input, references, each target's output, scores, judges' reasoning, pairwise
    verdicts). The dataset's access policy applies: who may not read its rows gets 403."""
    items, next_cursor, total = await results.list_rows(
        session,
        principal,
        run_id,
        target=target,
        better=better,
        worse=worse,
        against=against,
        metric=metric,
        errors_only=errors,
        cursor=cursor,
        limit=limit,
    )
    return EvalRowPage(items=[EvalRowOut(**r) for r in items], next_cursor=next_cursor, total=total)


@router.get("/runs/{run_id}/report")
async def report(
    run_id: uuid.UUID,
    principal: Reader,
    session: Session,
    baseline: Annotated[TargetKey | None, Query(description="Compare every target with this one")] = None,
) -> EvalReport:
    """Per-metric means with bootstrap 95% CIs, win rates and paired differences, usage (aggregates only)."""
    _, built, _ = await results.report(session, principal, run_id, baseline=baseline)
    return EvalReport(**built)


def _filename(run: EvalRun, ext: str) -> str:
    return f"eval-{run.name or run.id}.{ext}"


@router.get(
    "/runs/{run_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The report's rows as CSV"}},
)
async def report_csv(
    run_id: uuid.UUID,
    principal: Reader,
    session: Session,
    baseline: Annotated[TargetKey | None, Query()] = None,
) -> Response:
    from axops.evaluation import reports

    run, built, rows = await results.report(session, principal, run_id, baseline=baseline, with_rows=True)
    body = await asyncio.to_thread(reports.report_csv, built, rows)
    return Response(
        body.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(_filename(run, "csv"))},
    )


@router.get(
    "/runs/{run_id}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "A self-contained HTML report"}},
)
async def report_html(
    run_id: uuid.UUID,
    principal: Reader,
    session: Session,
    baseline: Annotated[TargetKey | None, Query()] = None,
    lang: Literal["ko", "en"] = "ko",
) -> Response:
    from axops.evaluation import reports

    run, built, rows = await results.report(session, principal, run_id, baseline=baseline, with_rows=True)
    body = await asyncio.to_thread(reports.report_html, built, rows, lang)
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition(_filename(run, "html")),
            "Content-Security-Policy": HTML_CSP,
        },
    )
