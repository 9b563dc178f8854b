"""The guardrail engine on its own: verdicts per check, masking with placeholders and restore, the
Korean unique-identifier rule, the policy cache's scoping, and the stream window."""

from __future__ import annotations

import uuid

from axops.auth.deps import Principal
from axops.guardrails import engine
from axops.guardrails.policies import PolicyCache


def policy(checks: dict, direction: str = "both", scope: str = "global", target=None, name="p") -> engine.Compiled:
    return engine.compile_policy(uuid.uuid4(), name, scope, target, direction, checks)


def test_mask_numbers_placeholders_across_texts_and_restores_them():
    p = policy({"pii": {"entities": ["EMAIL"], "action": "mask", "restore": True}})
    counter: dict = {}
    first = engine.evaluate([p], "메일 kim@example.com 으로", "input", counter)
    second = engine.evaluate([p], "또는 lee@example.org", "input", counter)
    assert first.action == second.action == "mask"
    assert first.text == "메일 [EMAIL_1] 으로" and second.text == "또는 [EMAIL_2]"
    mapping = {**first.restore, **second.restore}
    assert (
        engine.restore("답: [EMAIL_2], [EMAIL_1], [EMAIL_9]", mapping)
        == "답: lee@example.org, kim@example.com, [EMAIL_9]"
    )


def test_banned_words_mask_with_asterisks_without_restore():
    p = policy({"banned_words": {"words": ["기밀"], "action": "mask"}})
    d = engine.evaluate([p], "이건 기밀 자료", "input")
    assert d.action == "mask" and d.text == "이건 ** 자료" and d.restore == {}


def test_unique_identifier_blocks_even_when_masking_other_kinds():
    p = policy({"pii": {"entities": ["EMAIL"], "action": "mask"}})
    d = engine.evaluate([p], "주민번호 900101-1234568", "input")
    assert d.action == "block" and d.blocking.check == "pii"


def test_strictest_action_wins_and_direction_is_respected():
    out_only = policy({"banned_words": {"words": ["zebra"]}}, direction="output")
    masker = policy({"banned_words": {"words": ["zebra"], "action": "mask"}}, direction="input")
    d = engine.evaluate([out_only, masker], "a zebra", "input")
    assert d.action == "mask" and len(d.verdicts) == 1
    assert engine.evaluate([out_only, masker], "a zebra", "output").action == "block"
    assert engine.evaluate([out_only], "a horse", "output").action == "allow"


def test_stream_guard_finds_a_word_split_across_chunks():
    guard = engine.StreamGuard([policy({"banned_words": {"words": ["frobnicate"]}})])
    assert guard.feed("we should fro") is None
    cut = guard.feed("bnicate it")
    assert cut is not None and cut.action == "block"


def test_cache_scopes_policies_by_route_team_and_key():
    team, other, key, route = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache = PolicyCache()
    assert cache.applicable(str(route), None) == ()  # nothing loaded: no lookups at all
    g = policy({"injection": {}}, name="g")
    t = policy({"injection": {}}, scope="team", target=team, name="t")
    k = policy({"injection": {}}, scope="key", target=key, name="k")
    r = policy({"injection": {}}, scope="route", target=route, name="r")
    cache.load([g, t, k, r])
    caller = Principal(uuid.uuid4(), "u", "developer", frozenset(), team_ids=frozenset({team}), api_key_id=key)
    stranger = Principal(uuid.uuid4(), "s", "developer", frozenset(), team_ids=frozenset({other}))
    assert {p.name for p in cache.applicable(str(route), caller)} == {"g", "t", "k", "r"}
    assert {p.name for p in cache.applicable(str(uuid.uuid4()), stranger)} == {"g"}
