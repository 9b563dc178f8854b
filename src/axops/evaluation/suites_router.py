"""HTTP routes of evaluation suites and the promotion gate (`/api/eval/suites/...`,
`/api/eval/model-versions/{id}/gate`). Importing this module arms the gate (gates.py); app.py imports
suite_tasks.py for its tasks, which arms the new-version trigger."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from axops.auth.deps import Principal, Session, require
from axops.auth.scoping import require_owner
from axops.core.state import State
from axops.evaluation import gates, suites
from axops.evaluation.schemas import EvalRunOut
from axops.evaluation.suite_schemas import (
    GateOut,
    SuiteCreate,
    SuiteOut,
    SuitePage,
    SuiteResult,
    SuiteResultPage,
    SuiteRunIn,
    SuiteUpdate,
)

router = APIRouter(prefix="/api/eval", tags=["evaluation"])
Reader = Annotated[Principal, require("eval:read")]
Writer = Annotated[Principal, require("eval:write")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def _one(session, suite) -> SuiteOut:
    return (await suites.suite_out(session, [suite]))[0]


@router.post("/suites", status_code=201)
async def create_suite(body: SuiteCreate, principal: Writer, session: Session, state: State) -> SuiteOut:
    return await _one(session, await suites.create_suite(session, principal, body, state))


@router.get("/suites")
async def list_suites(
    principal: Reader,
    session: Session,
    model_id: Annotated[uuid.UUID | None, Query(description="Suites attached to this model")] = None,
    name: Annotated[str | None, Query(max_length=200, description="Exactly this name (any case)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or description")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> SuitePage:
    rows, next_cursor, total = await suites.list_suites(
        session, principal, model_id=model_id, name=name, q=q, cursor=cursor, limit=limit
    )
    return SuitePage(items=await suites.suite_out(session, rows), next_cursor=next_cursor, total=total)


@router.get("/suites/{suite_id}")
async def get_suite(suite_id: uuid.UUID, principal: Reader, session: Session) -> SuiteOut:
    return await _one(session, await suites.get_suite(session, principal, suite_id))


@router.patch("/suites/{suite_id}")
async def update_suite(
    suite_id: uuid.UUID, body: SuiteUpdate, principal: Writer, session: Session, state: State
) -> SuiteOut:
    return await _one(session, await suites.update_suite(session, principal, suite_id, body, state))


@router.delete("/suites/{suite_id}", status_code=204)
async def delete_suite(suite_id: uuid.UUID, principal: Writer, session: Session) -> None:
    await suites.delete_suite(session, principal, suite_id)


@router.post("/suites/{suite_id}/run", status_code=202)
async def run_suite(
    suite_id: uuid.UUID, principal: Writer, session: Session, state: State, body: SuiteRunIn | None = None
) -> EvalRunOut:
    """Queue a run of the suite (its target, or the one given), maybe for a version of its model."""
    body = body or SuiteRunIn()
    suite = await suites.get_suite(session, principal, suite_id)
    require_owner(principal, suite, "eval:write", "suite")
    run = await suites.run_suite(
        session, principal, state, suite, target=body.target, model_version_id=body.model_version_id
    )
    return EvalRunOut.model_validate(run, from_attributes=True)


@router.get("/suites/{suite_id}/results")
async def suite_results(
    suite_id: uuid.UUID, principal: Reader, session: Session, cursor: str | None = None, limit: Limit = 50
) -> SuiteResultPage:
    """The suite's runs with their means and verdicts, newest first."""
    suite = await suites.get_suite(session, principal, suite_id)
    items, next_cursor, total = await suites.suite_results(session, principal, suite, cursor=cursor, limit=limit)
    return SuiteResultPage(items=items, next_cursor=next_cursor, total=total)


@router.get("/suites/{suite_id}/runs/{run_id}")
async def suite_run(suite_id: uuid.UUID, run_id: uuid.UUID, principal: Reader, session: Session) -> SuiteResult:
    """One run of the suite with its verdict (what `axops eval run` follows)."""
    suite = await suites.get_suite(session, principal, suite_id)
    return await suites.suite_run(session, principal, suite, run_id)


@router.get("/model-versions/{version_id}/gate")
async def version_gate(version_id: uuid.UUID, principal: Reader, session: Session) -> GateOut:
    """Whether the version may move to production: each suite attached to its model and its latest result."""
    return await gates.gate_for_version(session, principal, version_id)
