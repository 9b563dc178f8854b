"""Access policies (`/api/policy/...`): `policies:admin` changes them; everyone signed in reads what
applies to them (`/api/policy/mine`, and the lists filtered to their rules and settings)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from axops.auth.deps import CurrentPrincipal, Principal, Session, require
from axops.auth.two_factor import require_recent_mfa
from axops.policy import service
from axops.policy.schemas import AccessRuleCreate, AccessRuleOut, AccessRuleUpdate, MyPolicies, TransferOut, TransferSet

router = APIRouter(prefix="/api/policy", tags=["policy"])
# Policy changes need a recent two-factor code from users who have it on (or admins, when required).
STEP_UP = Depends(require_recent_mfa)
Admin = Annotated[Principal, require("policies:admin")]


@router.get("/model-access")
async def list_rules(principal: CurrentPrincipal, session: Session) -> list[AccessRuleOut]:
    return await service.rules_out(session, await service.list_rules(session, principal))


@router.post("/model-access", status_code=201, dependencies=[STEP_UP])
async def create_rule(body: AccessRuleCreate, principal: Admin, session: Session) -> AccessRuleOut:
    """A rule: subject (team, role, everyone) × action (call, deploy, download) × resource (name or `*`)
    → allow | deny. Deny wins; allow rules make the resource an allow-list for that action."""
    return (await service.rules_out(session, [await service.create_rule(session, principal, body)]))[0]


@router.get("/model-access/{rule_id}")
async def get_rule(rule_id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> AccessRuleOut:
    return (await service.rules_out(session, [await service.get_rule(session, principal, rule_id)]))[0]


@router.patch("/model-access/{rule_id}", dependencies=[STEP_UP])
async def update_rule(rule_id: uuid.UUID, body: AccessRuleUpdate, principal: Admin, session: Session) -> AccessRuleOut:
    return (await service.rules_out(session, [await service.update_rule(session, principal, rule_id, body)]))[0]


@router.delete("/model-access/{rule_id}", status_code=204, dependencies=[STEP_UP])
async def delete_rule(rule_id: uuid.UUID, principal: Admin, session: Session) -> None:
    await service.delete_rule(session, principal, rule_id)


@router.get("/transfer")
async def list_transfer(principal: CurrentPrincipal, session: Session) -> list[TransferOut]:
    return await service.list_transfer(session, principal)


@router.put("/transfer", dependencies=[STEP_UP])
async def set_transfer(body: TransferSet, principal: Admin, session: Session) -> TransferOut:
    """Whether a team's or an API key's requests may reach external providers (forbidden wins)."""
    return await service.set_transfer(session, principal, body)


@router.get("/mine")
async def mine(principal: CurrentPrincipal, session: Session) -> MyPolicies:
    return await service.mine(session, principal)
