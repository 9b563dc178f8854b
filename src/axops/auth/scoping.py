"""Who may see, change and own a team's resources: the one place every domain asks.

A resource row has a `team_id` (the owning team) and, optionally, a `visibility`
("team" or "organization"). The rules:

- see:    Admins see every row; others see their teams' rows and rows whose visibility is
          "organization".
- change: the permission for the action, and membership of the owning team (Admins: any team).
- gone:   a row with a `deleted_at` set (a soft-deleted model or dataset, waiting for restore or purge)
          is seen by nobody through `visible`/`sees`; only the recovery services read it.
- own:    a new resource belongs to the team the caller names (one of theirs), else to their only
          team (besides the default team), else to the default team (see owning_team).

`SYSTEM` is the caller for work no user asked for (expiry sweeps, automatic rollbacks, the
gateway resolving registry references): it sees and may change everything, and its audit events
say "system".
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

from axops.auth.deps import Principal
from axops.auth.permissions import PERMISSIONS
from axops.core.errors import Forbidden, Invalid, NotFound

SYSTEM = Principal(
    user_id=uuid.UUID(int=0), username="system", role="admin", permissions=frozenset(PERMISSIONS), auth="system"
)
_NO_TEAM = uuid.UUID(int=0)


def team_clause(principal: Principal, column: Any) -> ColumnElement[bool]:
    """Rows of the caller's teams (every row for an Admin), for resources that are never org-wide."""
    if principal.is_admin:
        return true()
    return column.in_(principal.team_ids or {_NO_TEAM})


def team_ids_param(principal: Principal) -> list[uuid.UUID] | None:
    """`team_clause` for hand-written SQL (`$1::uuid[] IS NULL OR team_id = ANY($1)`): the caller's teams,
    or None (every row) for an Admin."""
    if principal.is_admin:
        return None
    return list(principal.team_ids) or [_NO_TEAM]


def visible(principal: Principal, model: Any) -> ColumnElement[bool]:
    """Rows of `model` (an ORM class with `team_id`, maybe `visibility`, maybe `deleted_at`) the caller may see."""
    deleted_at = getattr(model, "deleted_at", None)
    alive = true() if deleted_at is None else deleted_at.is_(None)
    if principal.is_admin:
        return alive
    mine = model.team_id.in_(principal.team_ids or {_NO_TEAM})
    visibility = getattr(model, "visibility", None)
    return and_(alive, mine if visibility is None else or_(visibility == "organization", mine))


def sees(principal: Principal, row: Any) -> bool:
    """The same rule as `visible`, for a row (or anything with `team_id` and maybe `visibility`)."""
    if getattr(row, "deleted_at", None) is not None:
        return False
    if getattr(row, "visibility", None) == "organization":
        return True
    return principal.sees_team(row.team_id)


def require(principal: Principal, permission: str) -> None:
    if not principal.can(permission):
        raise Forbidden(
            f"This action needs the '{permission}' permission, which your role or key lacks.",
            code="permission_denied",
            permission=permission,
        )


def require_owner(principal: Principal, row: Any, permission: str, noun: str) -> None:
    """Changing `row` needs `permission` and membership of its team (Admin: any team)."""
    require(principal, permission)
    if not principal.sees_team(row.team_id):
        raise Forbidden(f"Only members of the {noun}'s team can change it.", code="team_members_only")


def owning_team(principal: Principal, team_id: uuid.UUID | None) -> uuid.UUID:
    """The team a new resource belongs to: the one named (it must be the caller's), else the caller's
    only team (the default team not counted: someone placed in a team works there), else the default
    team, else (several teams, none default) the first of them."""
    if team_id is not None:
        if not principal.sees_team(team_id):
            raise NotFound("No such team among yours.")
        return team_id
    if len(principal.team_ids) == 1:
        return next(iter(principal.team_ids))
    placed = principal.team_ids - {principal.default_team_id}
    if len(placed) == 1:
        return next(iter(placed))
    if principal.default_team_id is not None and principal.default_team_id in principal.team_ids:
        return principal.default_team_id
    if principal.team_ids:
        return min(principal.team_ids)
    raise Invalid("Choose the owning team (team_id); you are not a member of any team yet.", code="team_required")
