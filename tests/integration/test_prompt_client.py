"""The Python prompts client (axops.client.Prompts) and `axops prompt pull|push` against a real server:
local rendering equals the server's, the TTL, the fallback when a server is really stopped (memory,
then the disk copy for a new process), refusals never masked, and a YAML round trip."""

from __future__ import annotations

import logging

import openai
import pytest
import yaml
from typer.testing import CliRunner

from axops import cli
from axops.client import PromptAPIError, Prompts, PromptUnavailable, PromptVariableError
from tests.factories import live_and_dead_routes, make_account, make_key
from tests.live import axops_process
from tests.mocks import MockUpstream

CHAT = {
    "kind": "chat",
    "template": [
        {"role": "system", "content": "당신은 {{ company }}의 상담원입니다.{% if vip %} VIP 고객입니다.{% endif %}"},
        {"role": "user", "content": "{{ question }}\n{% for t in tags %}#{{ t }} {% endfor %}"},
    ],
    "variables": [
        {"name": "company", "type": "string", "default": "axops"},
        {"name": "question", "type": "string"},
        {"name": "tags", "type": "list", "default": []},
        {"name": "vip", "type": "boolean", "required": False},
    ],
    "binding": {"route": "chat-small", "parameters": {"temperature": 0.2, "max_tokens": 256}},
    "message": "first",
}
VARS = {"question": "환불은 어떻게 하나요?", "tags": ["refund", "배송"], "vip": True}


@pytest.fixture
def dev(api, admin):
    return make_account(api, admin, "promptdev", new_team="support", key_scopes=["prompts:read", "prompts:write"])


def create_prompt(api, dev, name: str = "support", version: dict = CHAT, labels=("production",)) -> dict:
    r = api.post("/api/prompts", json={"name": name, "version": version, "labels": list(labels)}, headers=dev.headers)
    assert r.status_code == 201, r.text
    return r.json()


def add_version(api, dev, name: str, **changes) -> int:
    r = api.post(f"/api/prompts/{name}/versions", json={**CHAT, **changes}, headers=dev.headers)
    assert r.status_code == 201, r.text
    return r.json()["version"]


def move_label(api, dev, name: str, label: str, version: int) -> None:
    r = api.put(f"/api/prompts/{name}/labels/{label}", json={"version": version}, headers=dev.headers)
    assert r.status_code == 200, r.text


def test_local_render_equals_the_server_render(api, live_server, dev):
    create_prompt(api, dev)
    with Prompts(live_server.url, dev.key) as prompts:
        v = prompts.get("support@production")
        assert (v.name, v.version, v.kind, v.labels, v.stale) == ("support", 1, "chat", ["production"], False)
        assert v.chat_params() == {"model": "chat-small", "temperature": 0.2, "max_tokens": 256}
        r = api.post("/api/prompts/support/render", json={"ref": "production", "variables": VARS}, headers=dev.headers)
        assert r.status_code == 200, r.text
        assert v.render(**VARS) == r.json()["messages"]
        assert prompts.get("support").render(question="q") == v.render(question="q", company="axops", tags=[])

        # the same refusal, named the same way, as the server's 422
        r = api.post("/api/prompts/support/render", json={"variables": {"question": 7}}, headers=dev.headers)
        assert r.status_code == 422
        with pytest.raises(PromptVariableError) as local:
            v.render(question=7)
        assert (local.value.code, local.value.variable) == (r.json()["type"].rsplit("/", 1)[-1], r.json()["variable"])

        text = {"kind": "text", "template": "Hello {{ who }}!\n", "variables": [{"name": "who", "type": "string"}]}
        create_prompt(api, dev, "greeting", text, labels=())
        r = api.post("/api/prompts/greeting/render", json={"variables": {"who": "민수"}}, headers=dev.headers)
        assert prompts.get("greeting:1").render(who="민수") == r.json()["text"] == "Hello 민수!\n"


def test_the_readme_example_calls_the_bound_route(api, admin, live_server, dev):
    upstream = MockUpstream("A")
    try:
        live_and_dead_routes(api, admin, upstream.url)
        create_prompt(api, dev, version={**CHAT, "binding": {**CHAT["binding"], "route": "chat-live"}})
        key = make_key(api, dev.headers, "app")["key"]
        with Prompts(live_server.url, key) as prompts:
            support = prompts.get("support@production")
        client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.create(messages=support.render(**VARS), **support.chat_params())
        assert answer.choices[0].message.content == "hello from A"
        sent = upstream.requests[-1]
        assert (sent["messages"], sent["temperature"], sent["max_tokens"]) == (support.render(**VARS), 0.2, 256)
    finally:
        upstream.stop()


def test_a_label_move_is_seen_once_the_ttl_has_passed(api, live_server, dev):
    create_prompt(api, dev)
    now = [0.0]
    with Prompts(live_server.url, dev.key, ttl_s=5, clock=lambda: now[0]) as prompts:
        assert prompts.get("support@production").version == 1
        move_label(api, dev, "support", "production", add_version(api, dev, "support", message="second"))
        now[0] = 4.9
        assert prompts.get("support@production").version == 1  # still cached
        now[0] = 5.0
        assert prompts.get("support@production").version == 2
        assert prompts.get("support:1").version == 1  # each reference is cached on its own


def test_fallback_when_the_server_is_stopped(api, live_server, database_url, settings, dev, tmp_path, caplog):
    """A second axops server (its own process) on the same database, really stopped after the first fetch."""
    create_prompt(api, dev)
    with axops_process(database_url, settings, tmp_path / "second") as second_url:
        prompts = Prompts(second_url, dev.key, ttl_s=0, cache_dir=tmp_path / "cache")
        fetched = prompts.get("support@production")
        assert not fetched.stale

    with caplog.at_level(logging.WARNING, logger="axops.client"):
        stale = prompts.get("support@production")  # ttl 0: it asks, and the server is gone
    assert (stale.version, stale.stale, stale.render(**VARS)) == (1, True, fetched.render(**VARS))
    assert "unreachable" in caplog.text and "support:1" in caplog.text and "memory" in caplog.text
    with pytest.raises(PromptUnavailable, match="support:1"):
        prompts.get("support:1")  # never fetched
    prompts.close()

    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="axops.client"),
        Prompts(second_url, dev.key, cache_dir=tmp_path / "cache") as fresh,
    ):
        from_disk = fresh.get("support@production")  # a new process: nothing in memory, the disk copy
    assert (from_disk.version, from_disk.stale, from_disk.render(**VARS)) == (1, True, fetched.render(**VARS))
    assert str(tmp_path / "cache") in caplog.text
    with Prompts(second_url, dev.key) as no_disk, pytest.raises(PromptUnavailable):
        no_disk.get("support@production")


def test_refusals_are_not_masked_by_the_cache(api, live_server, dev, tmp_path):
    create_prompt(api, dev, labels=("production", "staging"))
    now = [0.0]
    with Prompts(live_server.url, dev.key, ttl_s=1, cache_dir=tmp_path, clock=lambda: now[0]) as prompts:
        assert prompts.get("support@staging").version == 1
        r = api.delete("/api/prompts/support/labels/staging", headers=dev.headers)
        assert r.status_code == 204, r.text
        now[0] = 2
        with pytest.raises(PromptAPIError) as gone:
            prompts.get("support@staging")
        assert gone.value.status == 404 and gone.value.code == "prompt_label_not_found"
        with pytest.raises(PromptAPIError) as unknown:
            prompts.get("nobody@production")
        assert (unknown.value.status, unknown.value.code) == (404, "prompt_not_found")
    with Prompts(live_server.url, "axk_not-a-key", cache_dir=tmp_path) as bad, pytest.raises(PromptAPIError) as refused:
        bad.get("support@staging")  # its disk copy exists, but a refusal is an answer
    assert refused.value.status == 401


def run_cli(live_server, key: str, *args: str):
    return CliRunner().invoke(cli.app, ["prompt", *args, "--url", live_server.url, "--api-key", key])


def test_pull_then_push_round_trip(api, live_server, dev, tmp_path):
    create_prompt(api, dev)
    second = [CHAT["template"][0], {"role": "user", "content": "질문: {{ question }}"}]
    move_label(api, dev, "support", "staging", add_version(api, dev, "support", template=second, message="second"))

    result = run_cli(live_server, dev.key, "pull", "support", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    path = tmp_path / "support.yaml"
    assert f"wrote {path}" in result.output
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["name"] == "support" and data["labels"] == {"production": 1, "staging": 2}

    data["name"] = "support-copy"
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run_cli(live_server, dev.key, "push", str(copy))
    assert result.exit_code == 0, result.output
    assert "created support-copy: versions 1-2, production -> 1, staging -> 2" in result.output
    with Prompts(live_server.url, dev.key) as prompts:
        for ref in ("@production", "@staging"):
            original, pushed = prompts.get("support" + ref), prompts.get("support-copy" + ref)
            assert (pushed.version, pushed.template, pushed.variables) == (
                original.version,
                original.template,
                original.variables,
            )

    result = run_cli(live_server, dev.key, "push", str(copy))  # again: nothing differs
    assert result.exit_code == 0 and "support-copy: unchanged (latest version 2)" in result.output

    data["versions"][-1]["template"][0]["content"] += " {{ mood }}"  # the third version
    data["labels"]["production"] = 2
    copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = api.post(
        "/api/prompts/import", content=copy.read_bytes(), headers={**dev.headers, "Content-Type": "application/yaml"}
    )
    assert r.status_code == 422, r.text  # {{ mood }} is not declared
    result = run_cli(live_server, dev.key, "push", str(copy))
    assert result.exit_code == 1
    assert f"error: {copy}: 422 " in result.output and r.json()["detail"] in result.output
    assert "Traceback" not in result.output
    assert api.get("/api/prompts/support-copy", headers=dev.headers).json()["latest_version"] == 2  # nothing written


def test_cli_errors_without_tracebacks(api, live_server, dev, tmp_path):
    result = run_cli(live_server, dev.key, "pull", "nobody", "--out", str(tmp_path))
    assert result.exit_code == 1 and "error: nobody: 404 prompt_not_found" in result.output
    result = run_cli(live_server, "axk_not-a-key", "pull", "support", "--out", str(tmp_path))
    assert result.exit_code == 1 and "401" in result.output
    (tmp_path / "bad.yaml").write_text("name: [unclosed", encoding="utf-8")
    result = run_cli(live_server, dev.key, "push", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 1 and f"error: {tmp_path / 'bad.yaml'}: 4" in result.output
    result = CliRunner().invoke(cli.app, ["prompt", "pull", "x", "--url", "http://127.0.0.1:1", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "unreachable" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no pulled file written
    assert "Traceback" not in result.output
