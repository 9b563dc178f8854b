"""The access-rule decision (policy/cache.py Snapshot): deny wins, allow rules make an allow-list,
no rule leaves today's behaviour, `*` covers every name, names compare case-insensitively."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from axops.policy.cache import Rule, Snapshot

TEAM_A, TEAM_B, KEY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@dataclass
class P:
    role: str = "developer"
    team_ids: frozenset = field(default_factory=frozenset)
    api_key_id: uuid.UUID | None = None


def snap(*rules, teams=(), keys=()) -> Snapshot:
    made = [Rule(uuid.uuid4(), st, s, a, r.casefold(), e) for st, s, a, r, e in rules]
    return Snapshot.build(made, teams, keys)


def test_no_rule_allows_and_deny_wins():
    a = P(team_ids=frozenset({TEAM_A}))
    assert snap().denied_by(a, "call", "m") is None
    s = snap(("everyone", "", "call", "m", "allow"), ("team", str(TEAM_A), "call", "m", "deny"))
    assert s.denied_by(a, "call", "m") is not None
    assert s.denied_by(P(team_ids=frozenset({TEAM_B})), "call", "m") is None
    assert s.denied_by(a, "download", "m") is None  # another action
    assert s.denied_by(a, "call", "other") is None  # another resource


def test_allow_rules_make_an_allow_list_and_star_covers_all():
    s = snap(("role", "admin", "deploy", "*", "allow"), ("team", str(TEAM_B), "deploy", "Llama-KO", "allow"))
    assert s.denied_by(P(role="admin"), "deploy", "anything") is None
    assert s.denied_by(P(), "deploy", "anything") is not None
    assert s.denied_by(P(team_ids=frozenset({TEAM_B})), "deploy", "llama-ko") is None  # case-insensitive
    deny_all = snap(("everyone", "", "call", "*", "deny"))
    assert deny_all.denied_by(P(role="admin"), "call", "한국어-모델") is not None


def test_external_transfer_forbidden_by_team_or_key():
    s = snap(teams=[TEAM_A], keys=[KEY])
    assert s.no_external(P(team_ids=frozenset({TEAM_A, TEAM_B})))
    assert s.no_external(P(api_key_id=KEY))
    assert not s.no_external(P(team_ids=frozenset({TEAM_B}), api_key_id=uuid.uuid4()))
