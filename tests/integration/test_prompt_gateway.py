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
from psycopg.types.json import Jsonb

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
    prompt_id = save_prompt(
        live_server,
        database_url,
        "support",
        dev.team["id"],
        [{"kind": "chat", "template": SUPPORT_V1, "variables": VARIABLES}],
        {"production": 1},
    )
    return {"dev": dev, "key": key, "client": client, "prompt_id": prompt_id}


def save_prompt(
    live_server, database_url, name, team_id, versions, labels, visibility="team", archived=False
) -> uuid.UUID:
    """A prompt with its versions and labels, written straight into the tables."""
    prompt_id = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO prompts (id, name, description, tags, team_id, visibility, latest_version, archived_at)"
            " VALUES (%s, %s, '', '{}', %s, %s, %s, CASE WHEN %s THEN now() END)",
            (prompt_id, name, team_id, visibility, len(versions), archived),
        )
        for number, v in enumerate(versions, 1):
            add_version(conn, prompt_id, number, v)
        for label, number in labels.items():
            conn.execute(
                "INSERT INTO prompt_labels (prompt_id, name, version) VALUES (%s, %s, %s)", (prompt_id, label, number)
            )
    announce(live_server, database_url)
    return prompt_id


def add_version(conn, prompt_id, number: int, v: dict) -> None:
    conn.execute(
        "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, variables, binding, message)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, '')",
        (
            uuid.uuid4(),
            prompt_id,
            number,
            v["kind"],
            Jsonb(v["template"]),
            Jsonb(v.get("variables", [])),
            Jsonb(v.get("binding", {})),
        ),
    )
    conn.execute("UPDATE prompts SET latest_version = greatest(latest_version, %s) WHERE id = %s", (number, prompt_id))


def announce(live_server, database_url) -> None:
    """Publish NOTIFY "prompts" as every prompt change does, and wait until the server has heard it."""
    seen = prompt_gateway.resolver.generation
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_notify('axops_invalidate', 'prompts')")
    deadline = time.monotonic() + 10
    while prompt_gateway.resolver.generation == seen:
        assert time.monotonic() < deadline, "the server never heard the NOTIFY"
        time.sleep(0.005)


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
    client.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "no prompt"}])

    rows = usage_rows(live_server, database_url)
    assert [(r["prompt_name"], r["prompt_version"], r["prompt_experiment_id"]) for r in rows] == [
        ("support", 1, None),
        ("support", 1, None),
        ("support", 1, None),
        (None, None, None),
    ]
    page = api.get("/api/gateway/logs", headers=setup["dev"].headers).json()
    assert [(i["prompt_name"], i["prompt_version"]) for i in page["items"]] == [(None, None)] + [("support", 1)] * 3


def test_a_label_move_is_live_on_the_next_call(setup, upstream, live_server, database_url):
    client = setup["client"]
    call = {
        "model": "chat-small",
        "messages": [{"role": "user", "content": "안녕하세요"}],
        "extra_body": {"prompt_id": "support@production", "prompt_variables": {"customer": "박지훈"}},
    }
    assert client.chat.completions.with_raw_response.create(**call).headers["x-axops-prompt"] == "support:1"
    v2 = [{"role": "system", "content": "{{ company }} 상담원입니다. {{ customer }}님, 무엇을 도와드릴까요?"}]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        add_version(conn, setup["prompt_id"], 2, {"kind": "chat", "template": v2, "variables": VARIABLES})
    announce(live_server, database_url)
    # The new version alone does not change what the label serves.
    assert client.chat.completions.with_raw_response.create(**call).headers["x-axops-prompt"] == "support:1"

    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE prompt_labels SET version = 2 WHERE prompt_id = %s", (setup["prompt_id"],))
    announce(live_server, database_url)
    raw = client.chat.completions.with_raw_response.create(**call)
    assert raw.headers["x-axops-prompt"] == "support:2"
    assert upstream.requests[-1]["messages"][0]["content"] == "악소프스 상담원입니다. 박지훈님, 무엇을 도와드릴까요?"
    assert [(r["prompt_version"]) for r in usage_rows(live_server, database_url)] == [1, 1, 2]


def test_the_binding_names_the_route_restricts_routes_and_fills_parameters(setup, upstream, live_server, database_url):
    client, key = setup["client"], setup["key"]["key"]
    save_prompt(
        live_server,
        database_url,
        "summary",
        setup["dev"].team["id"],
        [
            {
                "kind": "text",
                "template": "다음 글을 세 문장으로 요약하세요:\n{{ text }}",
                "variables": [{"name": "text", "type": "string"}],
                "binding": {
                    "route": "chat-small",
                    "allowed_routes": ["chat-small"],
                    "parameters": {"temperature": 0.2, "max_tokens": 50},
                },
            }
        ],
        {},
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


def test_refusals_are_in_openais_shape(api, admin, setup, upstream, live_server, database_url):
    client = setup["client"]
    other = make_team(api, admin, "other")
    save_prompt(live_server, database_url, "secret", other["id"], [{"kind": "text", "template": "비밀"}], {})
    save_prompt(
        live_server, database_url, "shared", other["id"], [{"kind": "text", "template": "공유"}], {}, "organization"
    )
    save_prompt(
        live_server,
        database_url,
        "old",
        setup["dev"].team["id"],
        [{"kind": "text", "template": "옛"}],
        {},
        archived=True,
    )

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
    setup, upstream, live_server, database_url
):
    client = setup["client"]
    v2 = [{"role": "system", "content": "[B] {{ company }}: {{ customer }}"}]
    experiment_id = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        add_version(conn, setup["prompt_id"], 2, {"kind": "chat", "template": v2, "variables": VARIABLES})
        conn.execute(
            "INSERT INTO prompt_experiments (id, prompt_id, label, name, status, variants, metric, auto_promote)"
            " VALUES (%s, %s, 'production', 'tone', 'running', %s, 'feedback', false)",
            (experiment_id, setup["prompt_id"], Jsonb([{"version": 1, "weight": 1}, {"version": 2, "weight": 1}])),
        )
    announce(live_server, database_url)

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
