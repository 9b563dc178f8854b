"""The semantic cache's pieces without a server: prompt normalisation, partition keys, the index
(exact search, the HNSW graph past the crossover, removal), expiry and LRU eviction."""

from __future__ import annotations

import time
import unicodedata
import uuid

import numpy as np
import pytest

from axops.auth.deps import Principal
from axops.gateway import semantic_cache as sc
from axops.gateway.table import RouteEntry

TEAM_A, TEAM_B = uuid.uuid4(), uuid.uuid4()
SETTINGS = sc.settings_of({"enabled": True, "embeddings_route": "emb"})


def who(teams=(TEAM_A,), key=None) -> Principal:
    return Principal(uuid.uuid4(), "u", "developer", frozenset(), frozenset(teams), api_key_id=key)


def route() -> RouteEntry:
    return RouteEntry("r1", "chat", "weighted", [], [], None, 60.0)


def ask(content, **params) -> dict:
    messages = [{"role": "user", "content": content}]
    if "system" in params:
        messages.insert(0, {"role": "system", "content": params.pop("system")})
    return {"model": "chat", "messages": messages, "temperature": 0, **params}


def vec(*values) -> np.ndarray:
    return sc.unit(values)


def test_settings_defaults_and_off():
    assert sc.settings_of(None) is None
    assert sc.settings_of({"enabled": False, "embeddings_route": "emb"}) is None
    assert sc.settings_of({"enabled": True}) is None  # no embeddings route: nothing to embed with
    assert SETTINGS["threshold"] == 0.95 and SETTINGS["scope"] == "team" and SETTINGS["max_entries"] > 0


def test_prompt_text_is_normalised_and_korean_survives():
    nfd = unicodedata.normalize("NFD", "서울의  날씨는\n어때요?")  # decomposed jamo, as some clients send
    text, system = sc.prompt_of(ask(nfd, system="간단히 답하세요"))
    assert text == "user: 서울의 날씨는 어때요?" and system == "system: 간단히 답하세요"
    parts = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert sc.prompt_of(parts)[0] == "user: hi"
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,x"}}]}
    assert sc.prompt_of({"messages": [image]}) is None  # not comparable as text
    assert sc.prompt_of({"messages": [{"role": "tool", "content": "x"}]}) is None
    assert sc.prompt_of(ask("x" * (sc.MAX_TEXT_CHARS + 1))) is None
    assert not sc.eligible({**ask("hi"), "tools": [{"type": "function"}]}) and sc.eligible(ask("hi"))


def test_partition_separates_teams_keys_settings_and_system_prompts():
    r, alice = route(), who()
    base = sc.partition_of(r, SETTINGS, alice, ask("q"), "")
    assert base == sc.partition_of(r, SETTINGS, who(), ask("other words"), "")  # same team: shared
    assert base != sc.partition_of(r, SETTINGS, who((TEAM_B,)), ask("q"), "")
    assert base != sc.partition_of(r, SETTINGS, who((TEAM_A, TEAM_B)), ask("q"), "")
    assert base != sc.partition_of(r, SETTINGS, alice, ask("q", temperature=0.5), "")
    assert base != sc.partition_of(r, SETTINGS, alice, ask("q", max_tokens=5), "")
    assert base != sc.partition_of(r, SETTINGS, alice, ask("q"), "system: be brief")
    assert base == sc.partition_of(r, SETTINGS, alice, {**ask("q"), "stream": True, "user": "x"}, "")
    other_route = RouteEntry("r2", "chat2", "weighted", [], [], None, 60.0)
    assert base != sc.partition_of(other_route, SETTINGS, alice, ask("q"), "")
    by_key = {**SETTINGS, "scope": "key"}
    k1, k2 = uuid.uuid4(), uuid.uuid4()
    assert sc.partition_of(r, by_key, who(key=k1), ask("q"), "") != sc.partition_of(
        r, by_key, who(key=k2), ask("q"), ""
    )
    no_teams = who(teams=())
    assert sc.partition_of(r, SETTINGS, no_teams, ask("q"), "") != sc.partition_of(r, SETTINGS, who(()), ask("q"), "")


def test_threshold_expiry_and_isolation():
    cache = sc.SemanticCache()
    cache.store("r1", "p", vec(1, 0, 0), {"content": "a"}, 60, 100)
    assert cache.search("p", vec(1, 0.1, 0), 0.95)[0] == {"content": "a"}
    assert cache.search("p", vec(1, 1, 0), 0.95) is None  # cosine 0.707
    assert cache.search("p", vec(1, 1, 0), 0.7)[1] == pytest.approx(0.7071, abs=1e-3)
    assert cache.search("other", vec(1, 0, 0), 0.5) is None
    assert cache.search("p", vec(1, 0, 0, 0), 0.5) is None  # another dimension: another embedding model
    cache.store("r1", "short", vec(0, 1, 0), {"content": "b"}, 0, 100)
    time.sleep(0.01)
    assert cache.search("short", vec(0, 1, 0), 0.5) is None and "short" not in cache.partitions


def test_lru_eviction_per_route():
    cache = sc.SemanticCache()
    for i in range(3):
        cache.store("r1", "p", vec(1, i, 0), {"content": str(i)}, 60, 2)
    cache.store("r2", "q", vec(0, 0, 1), {"content": "other route"}, 60, 2)
    assert len(cache) == 3 and cache.search("p", vec(1, 0, 0), 0.99) is None  # entry 0 evicted
    assert cache.search("p", vec(1, 2, 0), 0.99)[0]["content"] == "2"
    assert cache.search("q", vec(0, 0, 1), 0.99)[0]["content"] == "other route"
    cache.clear_route("r1")
    assert len(cache) == 1


def test_exact_search_and_graph_agree(monkeypatch):
    monkeypatch.setattr(sc, "CROSSOVER", 64)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    small, large = sc.Partition(32), sc.Partition(32)
    for i, v in enumerate(vectors[:50]):
        small.add(i, v)
    for i, v in enumerate(vectors):
        large.add(i, v)
    assert small.graph is None and large.graph is not None and len(large) == 300
    for i in (0, 17, 49):
        assert small.nearest(vectors[i])[0] == i and large.nearest(vectors[i])[0] == i
        assert large.nearest(vectors[i])[1] == pytest.approx(1.0, abs=1e-4)
    small.remove(17)
    large.remove(17)
    assert small.nearest(vectors[17])[0] != 17 and large.nearest(vectors[17])[0] != 17
    assert small.nearest(vectors[49])[0] == 49  # the row moved into the hole is still found
    assert len(small) == 49 and len(large) == 299


def test_unit_refuses_bad_vectors():
    assert sc.unit([0, 0, 0]) is None and sc.unit([[1, 2]]) is None and sc.unit([float("nan"), 1]) is None
    assert float(np.linalg.norm(sc.unit([3, 4]))) == pytest.approx(1.0)
