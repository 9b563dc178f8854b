"""/api/guardrails: policies (edit with policies:admin; everyone sees those that apply to them),
the "try a prompt" tester and the latest decisions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select, text

from axops.auth.deps import CurrentPrincipal, Principal, Session, require
from axops.auth.two_factor import require_recent_mfa
from axops.core.errors import NotFound
from axops.core.state import State
from axops.guardrails import decisions, engine, policies
from axops.guardrails.models import GuardrailPolicy
from axops.guardrails.schemas import (
    CheckVerdict,
    DecisionList,
    DecisionOut,
    PolicyCreate,
    PolicyList,
    PolicyOut,
    PolicyUpdate,
    TestRequest,
    TestResult,
)

router = APIRouter(prefix="/api/guardrails", tags=["guardrails"])
# Policy changes need a recent two-factor code from users who have it on (or admins, when required).
STEP_UP = Depends(require_recent_mfa)
Admin = Annotated[Principal, require("policies:admin")]


@router.get("/policies")
async def list_policies(principal: CurrentPrincipal, session: Session) -> PolicyList:
    """Every policy for policies:admin; anyone else sees the enabled policies that apply to them."""
    found = await policies.list_policies(session, principal)
    return PolicyList(items=[await policies.out(session, p) for p in found])


@router.post("/policies", status_code=201, dependencies=[STEP_UP])
async def create_policy(body: PolicyCreate, principal: Admin, session: Session) -> PolicyOut:
    return await policies.out(session, await policies.create_policy(session, principal, body))


@router.get("/policies/{policy_id}")
async def get_policy(policy_id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> PolicyOut:
    return await policies.out(session, await policies.get_policy(session, principal, policy_id))


@router.patch("/policies/{policy_id}", dependencies=[STEP_UP])
async def update_policy(policy_id: uuid.UUID, body: PolicyUpdate, principal: Admin, session: Session) -> PolicyOut:
    return await policies.out(session, await policies.update_policy(session, principal, policy_id, body))


@router.delete("/policies/{policy_id}", status_code=204, dependencies=[STEP_UP])
async def delete_policy(policy_id: uuid.UUID, principal: Admin, session: Session) -> None:
    await policies.delete_policy(session, principal, policy_id)


@router.post("/test")
async def test(body: TestRequest, principal: CurrentPrincipal, session: Session, state: State) -> TestResult:
    """Each check's verdict on a text: one policy's, or those that would apply to the caller on a route
    (or everywhere, when neither is named). Moderation and classifier routes are asked too (their usage
    is recorded under the guard route, for the caller's team); a model verdict's kind is `model`, one
    that could not answer `classifier_unavailable`."""
    if body.policy_id is not None:
        chosen = [policies.compiled(await policies.get_policy(session, principal, body.policy_id))]
    else:
        route_id = None
        if body.route is not None:
            row = (
                await session.execute(
                    text("SELECT id, team_id FROM gateway_routes WHERE model_name = :name AND enabled"),
                    {"name": body.route},
                )
            ).first()
            if row is None or not (row.team_id is None or principal.sees_team(row.team_id)):
                raise NotFound(f"No route named {body.route!r}.", code="route_not_found", name=body.route)
            route_id = str(row.id)
        cache = policies.PolicyCache()
        rows = (await session.scalars(select(GuardrailPolicy).where(GuardrailPolicy.enabled))).all()
        cache.load([policies.compiled(p) for p in rows])
        chosen = list(cache.applicable(route_id, principal))
    gateway = getattr(state, "gateway", None)
    factory = engine.model_classifier
    classify = factory(gateway, principal) if factory is not None and gateway is not None else None
    decision = await engine.evaluate_with_models(chosen, body.text, body.direction, classify)
    return TestResult(
        action=decision.action,
        masked_text=decision.text if decision.action == "mask" else None,
        verdicts=[
            CheckVerdict(
                policy_id=v.policy_id, policy=v.policy, check=v.check, action=v.action, kinds=v.kinds, hits=len(v.hits)
            )
            for v in decision.verdicts
        ],
    )


@router.get("/decisions")
async def list_decisions(
    principal: CurrentPrincipal, session: Session, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> DecisionList:
    """The latest masked or blocked requests: all of them for policies:admin and audit:read, else the caller's."""
    found = await decisions.list_decisions(session, principal, limit)
    return DecisionList(items=[DecisionOut.model_validate(d, from_attributes=True) for d in found])
