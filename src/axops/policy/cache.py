"""The access policies in memory: every process holds one snapshot of the rules and external-transfer
settings, read on first use and dropped when NOTIFY topic "policies" arrives (core.notify), so a
change through the API is enforced everywhere on the next request. While the listener is down the
snapshot is re-read every time (as the gateway's route table is)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from axops.core import notify
from axops.policy.models import AccessRule, TransferRule

TOPIC = "policies"


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    subject_type: str
    subject: str
    action: str
    resource: str  # case-folded
    effect: str

    def applies_to(self, principal) -> bool:
        if self.subject_type == "everyone":
            return True
        if self.subject_type == "role":
            return principal.role == self.subject
        return self.subject in {str(t) for t in principal.team_ids}


@dataclass(frozen=True, slots=True)
class Snapshot:
    rules: tuple[Rule, ...] = ()
    forbidden_teams: frozenset[uuid.UUID] = frozenset()
    forbidden_keys: frozenset[uuid.UUID] = frozenset()
    # (action, resource) → rules naming it exactly; `*` rules under (action, "*")
    _index: dict[tuple[str, str], list[Rule]] = field(default_factory=dict, compare=False)

    @staticmethod
    def build(rules: list[Rule], forbidden_teams, forbidden_keys) -> Snapshot:
        index: dict[tuple[str, str], list[Rule]] = {}
        for r in rules:
            index.setdefault((r.action, r.resource), []).append(r)
        return Snapshot(tuple(rules), frozenset(forbidden_teams), frozenset(forbidden_keys), index)

    def denied_by(self, principal, action: str, resource: str) -> Rule | None:
        """The rule refusing `action` on `resource` to this caller, else None. Deny wins; allow rules
        naming a resource (or `*`) make it an allow-list for that action: callers no allow rule
        covers are refused. No rule at all: allowed (the existing permissions decide)."""
        resource = resource.casefold()
        exact = self._index.get((action, resource), [])
        wild = self._index.get((action, "*"), []) if resource != "*" else []
        first_allow: Rule | None = None
        allowed = False
        for rule in (*exact, *wild):
            if rule.effect == "deny":
                if rule.applies_to(principal):
                    return rule
            else:
                first_allow = first_allow or rule
                allowed = allowed or rule.applies_to(principal)
        if first_allow is not None and not allowed:
            return first_allow
        return None

    def no_external(self, principal) -> bool:
        if principal.api_key_id is not None and principal.api_key_id in self.forbidden_keys:
            return True
        return not self.forbidden_teams.isdisjoint(principal.team_ids)


class PolicyCache:
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self.generation = 0
        notify.subscribe(TOPIC, self.clear)

    def clear(self) -> None:
        self.generation += 1
        self._snapshot = None

    async def get(self, sessionmaker=None, session=None) -> Snapshot:
        """The current snapshot; when not held, read in `session` or a fresh one from `sessionmaker`."""
        snap = self._snapshot
        if snap is not None and notify.caching_allowed():
            return snap
        generation = self.generation
        if session is not None:
            snap = await load(session)
        else:
            async with sessionmaker() as fresh:
                snap = await load(fresh)
        if generation == self.generation and notify.caching_allowed():
            self._snapshot = snap
        return snap


async def load(session) -> Snapshot:
    rules = [
        Rule(r.id, r.subject_type, r.subject, r.action, r.resource.casefold(), r.effect)
        for r in (await session.scalars(select(AccessRule))).all()
    ]
    transfers = (await session.scalars(select(TransferRule).where(TransferRule.external == "forbidden"))).all()
    teams = [t.team_id for t in transfers if t.team_id is not None]
    keys = [t.api_key_id for t in transfers if t.api_key_id is not None]
    return Snapshot.build(rules, teams, keys)


policies = PolicyCache()


async def invalidate(session) -> None:
    """Call in the transaction that changes a policy: every process drops its snapshot on commit."""
    await notify.publish(session, TOPIC)
