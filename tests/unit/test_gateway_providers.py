"""Provider adapters: one per provider kind, resolved when an upstream is built, each shaping the
call as its provider expects."""

from __future__ import annotations

import asyncio

from axops.gateway.models import PROVIDER_KINDS
from axops.gateway.providers import ADAPTERS
from axops.gateway.table import Upstream


def upstream(kind: str, base_url: str = "http://up.internal/v1", api_key: str | None = "k") -> Upstream:
    return Upstream(key="p/m", provider="p", base_url=base_url, model="m", api_key=api_key, timeout_s=1.0, kind=kind)


def test_every_provider_kind_has_an_adapter():
    assert set(ADAPTERS) == set(PROVIDER_KINDS)


def test_urls_headers_and_bodies_per_kind():
    body = {"model": "public", "messages": [{"role": "user", "content": "hi"}]}

    openai = upstream("openai")
    assert openai.urls["chat"] == "http://up.internal/v1/chat/completions"
    assert openai.headers["Authorization"] == "Bearer k" and openai.adapter.models_url(openai).endswith("/v1/models")
    assert openai.adapter.body(body, openai)["model"] == "m" and body["model"] == "public"
    assert "Authorization" not in upstream("openai", api_key=None).headers

    azure = upstream("azure", base_url="https://name.openai.azure.com")
    assert azure.urls["embeddings"] == (
        "https://name.openai.azure.com/openai/deployments/m/embeddings?api-version=2024-10-21"
    )
    assert azure.headers["api-key"] == "k" and "Authorization" not in azure.headers

    claude = upstream("anthropic", base_url="https://api.anthropic.com")
    assert claude.urls == {"chat": "https://api.anthropic.com/v1/messages"}  # chat only
    assert claude.headers["x-api-key"] == "k" and claude.headers["anthropic-version"]
    assert claude.adapter.tokenizer("claude-x") is None and openai.adapter.tokenizer("gpt-4o") == "o200k_base"
    sent = claude.adapter.body(
        {**body, "messages": [{"role": "system", "content": "short"}, *body["messages"]]}, claude
    )
    assert sent["system"] == "short" and sent["messages"] == body["messages"] and sent["model"] == "m"


def test_only_translating_adapters_touch_answers_and_streams():
    lines = object()
    for kind in ("openai", "azure"):
        adapter = ADAPTERS[kind]
        assert not adapter.translates and adapter.stream(lines, "x") is lines  # no wrapper on the hot path

    claude = ADAPTERS["anthropic"]
    answer = claude.answer(
        {"id": "msg_1", "content": [{"type": "text", "text": "hi"}], "stop_reason": "max_tokens", "usage": {}}, "pub"
    )
    assert answer["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "hi"},
        "finish_reason": "length",
    }

    async def events():
        yield b'data: {"type": "message_start", "message": {"id": "msg_2", "usage": {"input_tokens": 2}}}\n'
        yield b'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "yo"}}\n'
        yield b'data: {"type": "message_stop"}\n'

    async def collect():
        return [line async for line in claude.stream(events(), "pub")]

    out = asyncio.run(collect())
    assert b'"content":"yo"' in out[1] and b'"prompt_tokens":2' in out[2] and out[-1] == b"data: [DONE]\n\n"
