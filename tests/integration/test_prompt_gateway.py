"""Saved prompts through the gateway with the official `openai` SDK (`extra_body={"prompt_id": …,
"prompt_variables": …}`) against a local mock upstream: rendering, the binding, label moves going
live, errors in OpenAI's shape, usage records naming the version, and A/B splits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx
import openai
import psycopg
import pytest

from axops.core.db import libpq_url
from axops.prompts import gateway as prompt_gateway
from tests.factories import flush_gateway, make_account, make_key, make_team
from tests.mocks import MockUpstream

SUPPORT_V1 = [
    {"role": "system", "content": "당신은 {{ company }}의 고객 지원 상담원입니다. 존댓말로 답하세요."},
    {"role": "user", "content": "고객 이름: {{ customer }}"},
]
VARIABLES = [
    {"name": "company", "type": "string", "required": False, "default": "악소프스"},
    {"name": "customer", "type": "string", "required": True},
]


@pytest.fixture
def upstream():
    mock = MockUpstream("A")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


@pytest.fixture
def setup(api, admin, upstream, database_url, live_server):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    for name in ("chat-small", "chat-big"):
        r = api.post(
            "/api/gateway/routes",
            json={
                "model_name": name,
                "targets": [{"provider_id": provider.json()["id"], "model": f"up-{name}", "input_price": 1.0}],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
    dev = make_account(api, admin, "dev1", new_team="apps")
    key = make_key(api, dev.headers, "app")
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key["key"], max_retries=0)
    create_prompt(api, dev.headers, "support", {"kind": "chat", "template": SUPPORT_V1, "variables": VARIABLES})
    return {"dev": dev, "key": key, "client": client}


def create_prompt(api, headers, name: str, version: dict, labels=("production",), **fields) -> dict:
    r = api.post(
        "/api/prompts", json={"name": name, "version": version, "labels": list(labels), **fields}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def new_version(api, headers, name: str, version: dict) -> int:
    r = api.post(f"/api/prompts/{name}/versions", json=version, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["version"]


def usage_rows(live_server, database_url) -> list[dict]:
    flush_gateway(live_server)
    with psycopg.connect(libpq_url(database_url), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM usage_records ORDER BY created_at").fetchall()


def test_a_saved_prompt_is_rendered_before_the_callers_messages_and_recorded(
    api, setup, upstream, live_server, database_url
):
    client = setup["client"]
    raw = client.chat.completions.with_raw_response.create(
        model="chat-small",
        messages=[{"role": "user", "content": "환불하고 싶어요"}],
        extra_body={"prompt_id": "support@production", "prompt_variables": {"customer": "김민수"}},
    )
    assert raw.headers["x-axops-prompt"] == "support:1"
    assert raw.parse().choices[0].message.content == "hello from A"
    sent = upstream.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "당신은 악소프스의 고객 지원 상담원입니다. 존댓말로 답하세요."},
        {"role": "user", "content": "고객 이름: 김민수"},
        {"role": "user", "content": "환불하고 싶어요"},
    ]
    assert "prompt_id" not in sent and "prompt_variables" not in sent

    # A bare name is the production label; `name:1` the version itself.
    for ref in ("support", "support:1"):
        r = client.chat.completions.with_raw_response.create(
            model="chat-small",
            messages=[],
            extra_body={"prompt_id": ref, "prompt_variables": {"customer": "이영희", "company": "한빛"}},
        )
        assert r.headers["x-axops-prompt"] == "support:1"
        assert upstream.requests[-1]["messages"][0]["content"].startswith("당신은 한빛의")
    with client.chat.completions.with_streaming_response.create(
        model="chat-small",
        messages=[],
        stream=True,
        extra_body={"prompt_id": "support", "prompt_variables": {"customer": "최유진"}},
    ) as streamed:
        assert streamed.headers["x-axops-prompt"] == "support:1"
        assert "hello" in "".join(streamed.iter_lines())
    assert upstream.requests[-1]["messages"][1] == {"role": "user", "content": "고객 이름: 최유진"}
    client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "no prompt"}])

    rows = usage_rows(live_server, database_url)  # (the stream's is written when its relay ends: order aside)
    recorded = Counter((r["prompt_name"], r["prompt_version"], r["prompt_experiment_id"]) for r in rows)
    assert recorded == {("support", 1, None): 4, (None, None, None): 1}
    page = api.get("/api/gateway/logs", headers=setup["dev"].headers).json()
    assert Counter((i["prompt_name"], i["prompt_version"]) for i in page["items"]) == {
        ("support", 1): 4,
        (None, None): 1,
    }


def test_a_label_move_is_live_on_the_next_call(api, setup, upstream, live_server, database_url):
    client, dev = setup["client"], setup["dev"].headers
    call = {
        "model": "chat-small",
        "messages": [{"role": "user", "content": "안녕하세요"}],
        "extra_body": {"prompt_id": "support@production", "prompt_variables": {"customer": "박지훈"}},
    }
    assert client.chat.completions.with_raw_response.create(**call).headers["x-axops-prompt"] == "support:1"
    v2 = [{"role": "system", "content": "{{ company }} 상담원입니다. {{ customer }}님, 무엇을 도와드릴까요?"}]
    assert new_version(api, dev, "support", {"kind": "chat", "template": v2, "variables": VARIABLES}) == 2
    # A new version alone does not change what the label serves.
    assert client.chat.completions.with_raw_response.create(**call).headers["x-axops-prompt"] == "support:1"

    moved = api.put("/api/prompts/support/labels/production", json={"version": 2}, headers=dev)
    assert moved.status_code == 200, moved.text
    raw = client.chat.completions.with_raw_response.create(**call)  # the first call after the move returned
    assert raw.headers["x-axops-prompt"] == "support:2"
    assert upstream.requests[-1]["messages"][0]["content"] == "악소프스 상담원입니다. 박지훈님, 무엇을 도와드릴까요?"
    assert [(r["prompt_version"]) for r in usage_rows(live_server, database_url)] == [1, 1, 2]

    # A change committed elsewhere (another process) reaches this one by NOTIFY alone.
    seen = prompt_gateway.resolver.generation
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE prompt_labels SET version = 1 WHERE name = 'production'")
        conn.execute("SELECT pg_notify('axops_invalidate', 'prompts')")
    deadline = time.monotonic() + 10
    while prompt_gateway.resolver.generation == seen:
        assert time.monotonic() < deadline, "the server never heard the NOTIFY"
        time.sleep(0.01)
    assert client.chat.completions.with_raw_response.create(**call).headers["x-axops-prompt"] == "support:1"

    # Archived: no longer usable.
    assert api.post("/api/prompts/support/archive", headers=dev).status_code == 200
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(**call)


def test_the_binding_names_the_route_restricts_routes_and_fills_parameters(api, setup, upstream, live_server):
    client, key = setup["client"], setup["key"]["key"]
    create_prompt(
        api,
        setup["dev"].headers,
        "summary",
        {
            "kind": "text",
            "template": "다음 글을 세 문장으로 요약하세요:\n{{ text }}",
            "variables": [{"name": "text", "type": "string"}],
            "binding": {
                "route": "chat-small",
                "allowed_routes": ["chat-small"],
                "parameters": {"temperature": 0.2, "max_tokens": 50},
            },
        },
        labels=(),
    )
    # No model: the binding's route. A text prompt is one user message.
    r = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"prompt_id": "summary", "prompt_variables": {"text": "오늘 날씨가 맑다."}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    sent = upstream.requests[-1]
    assert sent["model"] == "up-chat-small"
    assert sent["messages"] == [{"role": "user", "content": "다음 글을 세 문장으로 요약하세요:\n오늘 날씨가 맑다."}]
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 50)

    # The caller's own parameters win over the binding's.
    client.chat.completions.create(
        model="chat-small",
        messages=[],
        temperature=0.9,
        extra_body={"prompt_id": "summary", "prompt_variables": {"text": "x"}},
    )
    assert (upstream.requests[-1]["temperature"], upstream.requests[-1]["max_tokens"]) == (0.9, 50)

    # A route the key may call, but the prompt does not allow: refused before anything is sent.
    sent_before = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="chat-big", messages=[], extra_body={"prompt_id": "summary", "prompt_variables": {"text": "x"}}
        )
    assert (refused.value.code, refused.value.param) == ("prompt_route_not_allowed", "model")
    assert len(upstream.requests) == sent_before

    # /v1/completions: the text prompt goes before the caller's prompt.
    done = client.completions.with_raw_response.create(
        model="chat-small", prompt="추가 지시", extra_body={"prompt_id": "summary", "prompt_variables": {"text": "글"}}
    )
    assert done.headers["x-axops-prompt"] == "summary:1"
    assert upstream.requests[-1]["prompt"] == "다음 글을 세 문장으로 요약하세요:\n글\n추가 지시"
    # ...but a chat prompt is refused there.
    with pytest.raises(openai.BadRequestError) as chat_on_text:
        client.completions.create(
            model="chat-small", prompt="x", extra_body={"prompt_id": "support", "prompt_variables": {"customer": "a"}}
        )
    assert chat_on_text.value.code == "prompt_kind_mismatch"


def test_refusals_are_in_openais_shape(api, admin, setup, upstream, live_server):
    client = setup["client"]
    other = make_team(api, admin, "other")
    text = {"kind": "text", "template": "비밀"}
    create_prompt(api, admin, "secret", text, team_id=other["id"])
    create_prompt(api, admin, "shared", text, team_id=other["id"], visibility="organization")
    create_prompt(api, setup["dev"].headers, "old", text)
    assert api.post("/api/prompts/old/archive", headers=setup["dev"].headers).status_code == 200

    def call(prompt_id, variables=None, c=client):
        return c.chat.completions.create(
            model="chat-small", messages=[], extra_body={"prompt_id": prompt_id, "prompt_variables": variables or {}}
        )

    missing = {}
    for ref in ("nope", "secret", "old", "support@staging", "support:9"):
        with pytest.raises(openai.NotFoundError) as exc:
            call(ref, {"customer": "a"})
        assert (exc.value.code, exc.value.param) == ("prompt_not_found", "prompt_id"), ref
        missing[ref] = exc.value.body["message"]
    assert missing["secret"].replace("secret", "nope") == missing["nope"]  # another team's: as if it did not exist
    call("shared")  # an organization-wide prompt of another team is usable

    with pytest.raises(openai.BadRequestError) as exc:
        call("support")
    assert (exc.value.code, exc.value.param) == ("invalid_prompt_variables", "prompt_variables.customer")
    with pytest.raises(openai.BadRequestError) as exc:
        call("support", {"customer": 3})
    assert exc.value.param == "prompt_variables.customer" and "string" in exc.value.body["message"]
    with pytest.raises(openai.BadRequestError) as exc:
        call("support", {"customer": "a", "extra": "b"})
    assert exc.value.param == "prompt_variables.extra"
    with pytest.raises(openai.BadRequestError) as exc:
        call("support@Bad Label")
    assert (exc.value.code, exc.value.param) == ("prompt_ref_invalid", "prompt_id")

    narrow = make_key(api, setup["dev"].headers, "no-prompts", scopes=["gateway:invoke"])
    narrow_client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=narrow["key"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        call("support", {"customer": "a"}, narrow_client)
    narrow_client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "hi"}])

    assert len(upstream.requests) == 2  # the shared prompt and the narrow key's plain call; nothing refused was sent


def test_an_ab_experiment_splits_callers_by_weight_and_each_keeps_its_variant(
    api, setup, upstream, live_server, database_url
):
    client = setup["client"]
    v2 = [{"role": "system", "content": "[B] {{ company }}: {{ customer }}"}]
    new_version(api, setup["dev"].headers, "support", {"kind": "chat", "template": v2, "variables": VARIABLES})
    started = api.post(
        "/api/prompts/support/experiments",
        json={
            "label": "production",
            "name": "tone",
            "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}],
        },
        headers=setup["dev"].headers,
    )
    assert started.status_code == 201, started.text
    experiment_id = uuid.UUID(started.json()["id"])

    def version_for(user: str | None) -> int:
        raw = client.chat.completions.with_raw_response.create(
            model="chat-small",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"prompt_id": "support@production", "prompt_variables": {"customer": "c"}},
            **({"user": user} if user else {}),
        )
        version = raw.headers["x-axops-prompt"].split(":")[1]
        assert upstream.requests[-1]["messages"][0]["content"].startswith("[B]") == (version == "2")
        return int(version)

    first = {f"user-{i}": version_for(f"user-{i}") for i in range(400)}
    split = Counter(first.values())
    assert 160 <= split[2] <= 240, split  # 50 % ± 10 % of 400
    for user in list(first)[:60]:
        assert version_for(user) == first[user], user
    by_key = {version_for(None) for _ in range(5)}  # no `user`: sticky per API key
    assert len(by_key) == 1

    # `name:version` names a version outright: no experiment.
    r = client.chat.completions.with_raw_response.create(
        model="chat-small", messages=[], extra_body={"prompt_id": "support:2", "prompt_variables": {"customer": "c"}}
    )
    assert r.headers["x-axops-prompt"] == "support:2"

    rows = usage_rows(live_server, database_url)
    assert len(rows) == 466
    assert {r["prompt_experiment_id"] for r in rows[:-1]} == {experiment_id}
    assert rows[-1]["prompt_experiment_id"] is None
    recorded = Counter(r["prompt_version"] for r in rows[:400])
    assert recorded == split
