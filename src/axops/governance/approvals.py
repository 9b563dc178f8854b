"""Approvals: a model version moves to `production`, a production version is deployed, a canary of one
takes all the traffic or a production deployment's max replicas go up, only with another person's
approval (PRD §10.1 "Operator: 배포 승인"); teams ask for access to a model or route. Each new request
notifies the team's alert channels (approval_notify.py).

The registry and serving may not import governance, so the checks are hooks (`registry.service.stage_checks`,
`serving.service.deploy_checks`, `change_checks`) registered when this module is
imported. A refused action writes (or reuses) its pending request in a transaction of its own, since
the refused request's transaction rolls back; an approval is used up inside the action's own
transaction, so a promotion that fails for another reason (the evaluation gate) keeps it.
Deciders hold `approvals:decide` and are members of the request's team (Admin: any); nobody decides
their own request (four-eyes)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import User
from axops.auth.scoping import SYSTEM, owning_team, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.gateway import service as gateway
from axops.governance import approval_notify
from axops.governance.approval_models import ApprovalRequest
from axops.policy import service as policy
from axops.policy.models import AccessRule
from axops.policy.schemas import AccessRuleCreate
from axops.registry import service as registry
from axops.registry.models import ModelVersion, RegisteredModel
from axops.serving import service as serving
from axops.settings import Settings

APPROVED_FOR = timedelta(days=7)  # an approval not used within a week must be asked for again
GATED_STAGE = "production"
DECIDE = "approvals:decide"


class _Config:
    """The app's settings, set when the app is built (`use_settings`); read at each check so an
    operator's switch (and the tests) take effect without re-registering the hooks."""

    settings: Settings | None = None


def use_settings(settings: Settings) -> None:
    _Config.settings = settings


def required() -> bool:
    return _Config.settings is None or _Config.settings.approvals_required


# --- the checks the registry and serving call ------------------------------------------------------


def _same(kind: str, version: ModelVersion, principal: Principal, deployment=None):
    """The conditions naming one action: a version's promotion or deployment, or a deployment's change."""
    conds = [
        ApprovalRequest.kind == kind,
        ApprovalRequest.version_id == version.id,
        ApprovalRequest.requested_by == principal.user_id,
    ]
    if deployment is not None:
        conds.append(ApprovalRequest.target_id == deployment.id)
    return conds


async def _use_approval(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    model: RegisteredModel,
    version: ModelVersion,
    deployment=None,
    new_max: int | None = None,
) -> bool:
    """Mark the caller's newest unexpired approval for this action used; False when there is none.
    A scale approval covers a max replicas up to the one approved."""
    now = datetime.now(UTC)
    q = select(ApprovalRequest).where(
        *_same(kind, version, principal, deployment),
        ApprovalRequest.status == "approved",
        ApprovalRequest.expires_at > now,
    )
    candidates = (
        await session.scalars(q.order_by(ApprovalRequest.decided_at.desc()).limit(20).with_for_update(skip_locked=True))
    ).all()
    found = next((r for r in candidates if new_max is None or int(r.action or 0) >= new_max), None)
    if found is None:
        return False
    found.status, found.used_at = "used", now
    await session.flush()
    audit.record(
        session,
        "approval.use",
        resource_type="approval",
        resource_id=found.id,
        team_id=found.team_id,
        summary={
            "kind": kind,
            "model": model.name,
            "version": version.version,
            **({"deployment": deployment.name} if deployment is not None else {}),
        },
    )
    return True


async def _pending_request(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    model: RegisteredModel,
    version: ModelVersion,
    deployment=None,
    new_max: int | None = None,
) -> ApprovalRequest:
    """The caller's open request for this action, made now (and committed) if there is none."""
    action = str(new_max) if new_max is not None else None
    same = select(ApprovalRequest).where(
        *_same(kind, version, principal, deployment),
        ApprovalRequest.action.is_(None) if action is None else ApprovalRequest.action == action,
        ApprovalRequest.status == "pending",
    )
    async with AsyncSession(bind=session.bind, expire_on_commit=False) as own:
        existing = await own.scalar(same)
        if existing is not None:
            return existing
        row = ApprovalRequest(
            kind=kind,
            status="pending",
            team_id=model.team_id,
            target_type="model",
            target_id=model.id,
            target_name=model.name,
            version_id=version.id,
            version=version.version,
            action=action,
            requested_by=principal.user_id,
            reason="",
            comment="",
        )
        if deployment is not None:
            row.target_type, row.target_id, row.target_name = "deployment", deployment.id, deployment.name
        own.add(row)
        try:
            await own.flush()
        except IntegrityError:  # the same request made at the same moment
            await own.rollback()
            return await own.scalar(same) or row
        _audit(own, "approval.request", row)
        await approval_notify.notify(own, row)
        await own.commit()
        return row


_WHAT = {
    "promote": "Moving version {v} of '{m}' to production",
    "deploy": "Deploying version {v} of '{m}' to production",
    "canary": "Promoting canary '{d}' (version {v} of '{m}', in production) to all the traffic",
    "scale": "Raising the max replicas of production deployment '{d}' to {n}",
}


async def _require_approval(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    model: RegisteredModel,
    version: ModelVersion,
    deployment=None,
    new_max: int | None = None,
) -> None:
    if not required() or principal.user_id == SYSTEM.user_id:
        return
    if await _use_approval(session, principal, kind, model, version, deployment, new_max):
        return
    pending = await _pending_request(session, principal, kind, model, version, deployment, new_max)
    what = _WHAT[kind].format(v=version.version, m=model.name, d=getattr(deployment, "name", ""), n=new_max)
    raise Conflict(
        f"{what} needs another person's approval; a request is waiting for a decider.",
        code="approval_required",
        approval_id=str(pending.id),
        kind=kind,
        approval_status=pending.status,
    )


async def check_promotion(
    session: AsyncSession,
    principal: Principal,
    model: RegisteredModel,
    version: ModelVersion,
    stage: str,
    force: bool,
) -> None:
    """The registry's stage check. `force` overrides the evaluation gate only, never an approval."""
    if stage == GATED_STAGE:
        await _require_approval(session, principal, "promote", model, version)


async def check_deploy(
    session: AsyncSession, principal: Principal, model: RegisteredModel, version: ModelVersion
) -> None:
    """Serving's deploy check: a version in production serves only with an approval (serving has no
    environments, so a deployment of a production version is a production deployment)."""
    if version.stage == GATED_STAGE:
        await _require_approval(session, principal, "deploy", model, version)


async def check_change(session: AsyncSession, principal: Principal, deployment, what: str, new_max: int | None) -> None:
    """Serving's change check: a canary of a production version taking all the traffic, or a production
    deployment's max replicas going up, needs an approval like its deployment did."""
    if not required():
        return
    version = await session.get(ModelVersion, deployment.version_id)
    if version is None or version.stage != GATED_STAGE:
        return
    model = await session.get(RegisteredModel, version.model_id)
    await _require_approval(session, principal, what, model, version, deployment, new_max)


registry.stage_checks.append(check_promotion)
serving.deploy_checks.append(check_deploy)
serving.change_checks.append(check_change)

# --- requests and decisions --------------------------------------------------------------------------


def _audit(session: AsyncSession, action: str, row: ApprovalRequest, **extra) -> None:
    audit.record(
        session,
        action,
        resource_type="approval",
        resource_id=row.id,
        team_id=row.team_id,
        summary={
            "kind": row.kind,
            "target": row.target_name,
            **({"version": row.version} if row.version is not None else {}),
            **({"action": row.action} if row.action else {}),
            **extra,
        },
    )


def _seen(principal: Principal):
    """Deciders see their teams' requests; everyone sees their own."""
    mine = ApprovalRequest.requested_by == principal.user_id
    if principal.can(DECIDE):
        return or_(mine, team_clause(principal, ApprovalRequest.team_id))
    return mine


async def get(session: AsyncSession, principal: Principal, approval_id: uuid.UUID, lock: bool = False):
    q = select(ApprovalRequest).where(ApprovalRequest.id == approval_id, _seen(principal))
    row = await session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise NotFound("No such approval request.", code="approval_not_found")
    return row


async def list_requests(
    session: AsyncSession, principal: Principal, status: str | None = None, mine: bool = False, limit: int = 200
) -> list[ApprovalRequest]:
    """Pending first (oldest first, the queue), then decided ones (newest first)."""
    q = select(ApprovalRequest).where(ApprovalRequest.requested_by == principal.user_id if mine else _seen(principal))
    if status:
        q = q.where(ApprovalRequest.status == status)
    pending = ApprovalRequest.status == "pending"
    q = q.order_by(
        case((pending, 0), else_=1),
        case((pending, ApprovalRequest.created_at), else_=None),
        ApprovalRequest.created_at.desc(),
    )
    return list((await session.scalars(q.limit(limit))).all())


async def request(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str,
    reason: str,
    version_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    route: str | None = None,
    action: str | None = None,
    team_id: uuid.UUID | None = None,
) -> ApprovalRequest:
    """Ask ahead: a promotion or production deployment of a version, or access to a model or route."""
    row = ApprovalRequest(kind=kind, status="pending", requested_by=principal.user_id, reason=reason, comment="")
    if kind in ("promote", "deploy"):
        if version_id is None:
            raise Invalid("Name the model version (version_id).", code="approval_target_missing")
        model, version = await registry.get_version(session, principal, version_id)
        row.team_id, row.target_type, row.target_id, row.target_name = model.team_id, "model", model.id, model.name
        row.version_id, row.version = version.id, version.version
    else:
        row.requester_team_id = owning_team(principal, team_id)
        row.action = action or "call"
        if model_id is not None:
            model = await registry.get_model(session, principal, model_id)
            row.team_id, row.target_type, row.target_id, row.target_name = model.team_id, "model", model.id, model.name
        elif route:
            # any name is accepted, so the answer never tells whether another team's route exists
            found = await gateway.find_route(session, route)
            row.target_type, row.target_name = "route", route
            row.team_id = found.team_id if found is not None and found.team_id else row.requester_team_id
        else:
            raise Invalid("Name a model (model_id) or a route.", code="approval_target_missing")
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "You already have an open request for this; wait for its decision or cancel it.",
            code="approval_already_requested",
        ) from exc
    _audit(session, "approval.request", row, reason=reason[:200])
    await approval_notify.notify(session, row)
    return row


async def decide(
    session: AsyncSession, principal: Principal, approval_id: uuid.UUID, approve: bool, comment: str
) -> ApprovalRequest:
    if not principal.can(DECIDE):
        raise Forbidden(
            "Deciding approval requests needs the 'approvals:decide' permission, which your role or key lacks.",
            code="permission_denied",
            permission=DECIDE,
        )
    row = await get(session, principal, approval_id, lock=True)
    if not principal.sees_team(row.team_id):
        raise Forbidden(
            "Deciding approval requests needs the 'approvals:decide' permission in the request's team.",
            code="permission_denied",
            permission=DECIDE,
        )
    if row.requested_by == principal.user_id:
        raise Forbidden("Someone else must decide your own request.", code="approval_self_decision")
    if row.status != "pending":
        raise Conflict(
            f"This request is already {row.status}.", code="approval_not_pending", approval_status=row.status
        )
    now = datetime.now(UTC)
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.decided_at, row.comment = principal.user_id, now, comment
    if approve and row.kind != "access":  # access lasts until the requester gives it up
        row.expires_at = now + APPROVED_FOR
    await session.flush()
    rule_id = await _grant(session, principal, row) if approve and row.kind == "access" else None
    extra = {"access_policy_id": str(rule_id)} if rule_id else {}
    _audit(session, "approval.approve" if approve else "approval.reject", row, comment=comment[:200], **extra)
    return row


async def _grant(session: AsyncSession, principal: Principal, row: ApprovalRequest) -> uuid.UUID | None:
    """An approved access request becomes an allow rule for the requesting team, but only where the
    resource is an allow-list already (an allow rule for it or for `*`): with no allow rule, everyone not
    denied may act, and a first allow rule would shut every other team out. A deny rule still wins."""
    listed = await session.scalar(
        select(AccessRule.id).where(
            AccessRule.action == row.action,
            AccessRule.effect == "allow",
            or_(func.lower(AccessRule.resource) == row.target_name.lower(), AccessRule.resource == "*"),
        )
    )
    if listed is None:
        return None
    # the decider's approval is the authority here; policies:admin stays needed for any other rule
    rule = await policy.create_rule(
        session,
        dataclasses.replace(principal, permissions=principal.permissions | {policy.ADMIN}),
        AccessRuleCreate(
            subject_type="team",
            subject=str(row.requester_team_id),
            action=row.action,
            resource=row.target_name,
            effect="allow",
            description=f"approval {row.id}",
        ),
    )
    return rule.id


async def cancel(session: AsyncSession, principal: Principal, approval_id: uuid.UUID) -> ApprovalRequest:
    row = await get(session, principal, approval_id, lock=True)
    if row.requested_by != principal.user_id:
        raise Forbidden("Only the person who asked can cancel a request.", code="approval_not_requester")
    if row.status not in ("pending", "approved"):
        raise Conflict(
            f"This request is already {row.status}.", code="approval_not_pending", approval_status=row.status
        )
    row.status = "cancelled"
    await session.flush()
    _audit(session, "approval.cancel", row)
    return row


async def access_granted(
    session: AsyncSession, team_id: uuid.UUID, target_type: str, target_name: str, action: str = "call"
) -> bool:
    """Whether a team holds an approved, unexpired access grant (for the access policies to consult)."""
    found = await session.scalar(
        select(ApprovalRequest.id).where(
            ApprovalRequest.kind == "access",
            ApprovalRequest.status == "approved",
            ApprovalRequest.requester_team_id == team_id,
            ApprovalRequest.target_type == target_type,
            ApprovalRequest.target_name == target_name,
            ApprovalRequest.action == action,
        )
    )
    return found is not None


async def names(session: AsyncSession, rows: list[ApprovalRequest]) -> dict[uuid.UUID, str]:
    """Usernames of the requesters and deciders, for the list."""
    ids = {i for r in rows for i in (r.requested_by, r.decided_by) if i}
    if not ids:
        return {}
    return dict((await session.execute(select(User.id, User.username).where(User.id.in_(ids)))).all())
