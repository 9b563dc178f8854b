"""Access policies: rules (subject × action × resource → allow | deny) and external transfer per team
or API key. Only `policies:admin` changes them; everyone may read what applies to them. Every change
is audited and published on NOTIFY topic "policies" (cache.py), so every process enforces it on its
next request. A change that would leave no admin able to call, deploy or download is refused.

Enforcement points call `check_call` / `check_deploy` / `check_download` and `no_external_transfer`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import ApiKey, Team, TeamMember, User
from axops.auth.scoping import require
from axops.core.errors import Forbidden, Invalid, NotFound
from axops.policy import cache
from axops.policy.models import ACTIONS, AccessRule, TransferRule
from axops.policy.schemas import (
    AccessRuleCreate,
    AccessRuleOut,
    AccessRuleUpdate,
    MyPolicies,
    TransferOut,
    TransferSet,
)

ADMIN = "policies:admin"
_VERBS = {"call": "call", "deploy": "deploy", "download": "download"}


# ---- enforcement ---------------------------------------------------------------------------------


def _denied(snapshot: cache.Snapshot, principal: Principal, action: str, resource: str) -> None:
    rule = snapshot.denied_by(principal, action, resource)
    if rule is not None:
        raise Forbidden(
            f"An access policy does not let you {_VERBS[action]} '{resource}'.",
            code="policy_denied",
            action=action,
            resource=resource,
        )


async def check_call(session: AsyncSession, principal: Principal, route_name: str) -> None:
    _denied(await cache.policies.get(session=session), principal, "call", route_name)


async def check_deploy(session: AsyncSession, principal: Principal, model_name: str) -> None:
    _denied(await cache.policies.get(session=session), principal, "deploy", model_name)


async def check_download(session: AsyncSession, principal: Principal, model_name: str) -> None:
    _denied(await cache.policies.get(session=session), principal, "download", model_name)


async def no_external_transfer(session: AsyncSession, principal: Principal) -> bool:
    return (await cache.policies.get(session=session)).no_external(principal)


# ---- rules ---------------------------------------------------------------------------------------


async def _team_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    valid = [uuid.UUID(i) for i in ids if i]
    if not valid:
        return {}
    rows = (await session.execute(select(Team.id, Team.name).where(Team.id.in_(valid)))).all()
    return {str(i): n for i, n in rows}


async def rules_out(session: AsyncSession, rules: list[AccessRule]) -> list[AccessRuleOut]:
    names = await _team_names(session, {r.subject for r in rules if r.subject_type == "team"})
    return [
        AccessRuleOut(
            id=r.id,
            subject_type=r.subject_type,
            subject=r.subject,
            subject_name=names.get(r.subject) if r.subject_type == "team" else None,
            action=r.action,
            resource=r.resource,
            effect=r.effect,
            description=r.description,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rules
    ]


def _applies(principal: Principal, rule: AccessRule) -> bool:
    return cache.Rule(rule.id, rule.subject_type, rule.subject, rule.action, rule.resource, rule.effect).applies_to(
        principal
    )


async def list_rules(session: AsyncSession, principal: Principal) -> list[AccessRule]:
    """Admins of policies: every rule; others: the rules that apply to them."""
    rules = (
        await session.scalars(select(AccessRule).order_by(AccessRule.action, AccessRule.resource, AccessRule.id))
    ).all()
    return [r for r in rules if principal.can(ADMIN) or _applies(principal, r)]


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> AccessRule:
    rule = await session.get(AccessRule, rule_id)
    if rule is None or not (principal.can(ADMIN) or _applies(principal, rule)):
        raise NotFound("No such access policy.", code="access_policy_not_found")
    return rule


async def _check_subject(session: AsyncSession, subject_type: str, subject: str) -> None:
    if subject_type == "team" and await session.get(Team, uuid.UUID(subject)) is None:
        raise Invalid("No such team.", code="access_policy_subject_unknown", field="subject")


@dataclass(frozen=True)
class _Admin:
    role: str
    team_ids: frozenset[uuid.UUID]
    api_key_id: None = None


async def _refuse_lockout(session: AsyncSession) -> None:
    """After the change (flushed): some active admin must still be able to call, deploy and download
    a resource no rule names. Checked against the admins' real teams."""
    snapshot = await cache.load(session)
    admins = (await session.scalars(select(User.id).where(User.role == "admin", User.is_active.is_(True)))).all()
    if not admins:
        return
    members = (
        await session.execute(select(TeamMember.user_id, TeamMember.team_id).where(TeamMember.user_id.in_(admins)))
    ).all()
    teams: dict[uuid.UUID, set[uuid.UUID]] = {a: set() for a in admins}
    for user_id, team_id in members:
        teams[user_id].add(team_id)
    principals = [_Admin("admin", frozenset(t)) for t in teams.values()]
    for action in ACTIONS:
        if all(snapshot.denied_by(p, action, "*") is not None for p in principals):
            raise Invalid(
                f"This change would stop every admin from being able to {action} models: refused.",
                code="policy_lockout",
                action=action,
            )


def _summary(rule: AccessRule) -> dict:
    return {
        "subject_type": rule.subject_type,
        "subject": rule.subject,
        "action": rule.action,
        "resource": rule.resource,
        "effect": rule.effect,
    }


async def create_rule(session: AsyncSession, principal: Principal, data: AccessRuleCreate) -> AccessRule:
    require(principal, ADMIN)
    await _check_subject(session, data.subject_type, data.subject or "")
    rule = AccessRule(
        subject_type=data.subject_type,
        subject=data.subject or "",
        action=data.action,
        resource=data.resource,
        effect=data.effect,
        description=data.description,
        created_by=principal.user_id,
    )
    session.add(rule)
    await session.flush()
    await _refuse_lockout(session)
    audit.record(
        session, "policy.access_create", resource_type="access_policy", resource_id=rule.id, summary=_summary(rule)
    )
    await cache.invalidate(session)
    await session.refresh(rule)
    return rule


async def update_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: AccessRuleUpdate
) -> AccessRule:
    require(principal, ADMIN)
    rule = await session.get(AccessRule, rule_id, with_for_update=True)
    if rule is None:
        raise NotFound("No such access policy.", code="access_policy_not_found")
    changes = data.model_dump(exclude_unset=True)
    merged = {**_summary(rule), "description": rule.description, **{k: v for k, v in changes.items() if v is not None}}
    if merged["subject_type"] == "everyone":
        merged["subject"] = None
    try:
        checked = AccessRuleCreate.model_validate({**merged, "subject": merged["subject"] or None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(first["msg"].removeprefix("Value error, "), field="subject") from None
    await _check_subject(session, checked.subject_type, checked.subject or "")
    before = _summary(rule)
    for key in ("subject_type", "action", "resource", "effect", "description"):
        setattr(rule, key, getattr(checked, key))
    rule.subject = checked.subject or ""
    await session.flush()
    await _refuse_lockout(session)
    audit.record(
        session,
        "policy.access_update",
        resource_type="access_policy",
        resource_id=rule.id,
        summary={"before": before, "after": _summary(rule)},
    )
    await cache.invalidate(session)
    await session.refresh(rule)
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    require(principal, ADMIN)
    rule = await session.get(AccessRule, rule_id, with_for_update=True)
    if rule is None:
        raise NotFound("No such access policy.", code="access_policy_not_found")
    summary = _summary(rule)
    await session.delete(rule)
    await session.flush()
    await _refuse_lockout(session)
    audit.record(session, "policy.access_delete", resource_type="access_policy", resource_id=rule_id, summary=summary)
    await cache.invalidate(session)


# ---- external transfer ---------------------------------------------------------------------------


async def _transfer_out(session: AsyncSession, rows: list[TransferRule]) -> list[TransferOut]:
    teams = await _team_names(session, {str(r.team_id) for r in rows if r.team_id})
    key_ids = [r.api_key_id for r in rows if r.api_key_id]
    keys = (
        dict((await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids)))).all())
        if key_ids
        else {}
    )
    return [
        TransferOut(
            id=r.id,
            team_id=r.team_id,
            team_name=teams.get(str(r.team_id)) if r.team_id else None,
            api_key_id=r.api_key_id,
            api_key_name=keys.get(r.api_key_id),
            external=r.external,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def list_transfer(session: AsyncSession, principal: Principal) -> list[TransferOut]:
    """Admins of policies: every setting; others: their teams' and their own keys'."""
    query = select(TransferRule).order_by(TransferRule.created_at)
    if not principal.can(ADMIN):
        own_keys = select(ApiKey.id).where(ApiKey.user_id == principal.user_id)
        query = query.where(TransferRule.team_id.in_(list(principal.team_ids)) | TransferRule.api_key_id.in_(own_keys))
    return await _transfer_out(session, list((await session.scalars(query)).all()))


async def set_transfer(session: AsyncSession, principal: Principal, data: TransferSet) -> TransferOut:
    require(principal, ADMIN)
    if data.team_id is not None:
        if await session.get(Team, data.team_id) is None:
            raise Invalid("No such team.", code="access_policy_subject_unknown", field="team_id")
        where = TransferRule.team_id == data.team_id
    else:
        if await session.get(ApiKey, data.api_key_id) is None:
            raise Invalid("No such API key.", code="access_policy_subject_unknown", field="api_key_id")
        where = TransferRule.api_key_id == data.api_key_id
    row = await session.scalar(select(TransferRule).where(where).with_for_update())
    before = row.external if row else "allowed"
    if row is None:
        row = TransferRule(team_id=data.team_id, api_key_id=data.api_key_id, created_by=principal.user_id)
        session.add(row)
    row.external = data.external
    await session.flush()
    audit.record(
        session,
        "policy.transfer_set",
        resource_type="transfer_policy",
        resource_id=row.id,
        team_id=data.team_id,
        summary={
            "team_id": str(data.team_id) if data.team_id else None,
            "api_key_id": str(data.api_key_id) if data.api_key_id else None,
            "before": before,
            "external": data.external,
        },
    )
    await cache.invalidate(session)
    await session.refresh(row)
    return (await _transfer_out(session, [row]))[0]


async def mine(session: AsyncSession, principal: Principal) -> MyPolicies:
    rules = [r for r in await list_rules(session, principal) if _applies(principal, r)]
    snapshot = await cache.policies.get(session=session)
    return MyPolicies(
        rules=await rules_out(session, rules),
        external_transfer="forbidden" if snapshot.no_external(principal) else "allowed",
    )
