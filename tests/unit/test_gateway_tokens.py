"""Token counting without the upstream's usage, and prices from a GPU-hour rate."""

from __future__ import annotations

import uuid

import bpe_openai
import orjson
import pytest
from pydantic import ValidationError

from axops.gateway import tokens
from axops.gateway.schemas import TargetSpec, effective_prices

O200K = bpe_openai.get_encoding("o200k_base")


class Bpe:
    def count(self, text: str) -> int:
        return len(O200K.encode_ordinary(text))


def n(text: str) -> int:
    return len(O200K.encode_ordinary(text))


def test_the_encoding_is_guessed_from_openai_model_names_only():
    assert [
        tokens.guess(m)
        for m in ("gpt-4o", "gpt-4o-mini-2024-07-18", "openai/gpt-4.1", "o3-mini", "gpt-5", "ft:gpt-4o:acme::x1")
    ] == ["o200k_base"] * 6
    assert [
        tokens.guess(m) for m in ("gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "gpt-35-turbo", "text-embedding-3-small")
    ] == ["cl100k_base"] * 5
    assert [tokens.guess(m) for m in ("llama-3-8b", "ko-chat", "gpt-4omg", "o1337", "claude-3-5-sonnet", "")] == [
        None
    ] * 6
    assert tokens.guess("gpt2") == "gpt2" and tokens.guess("text-davinci-003") == "p50k_base"


def test_registry_references():
    assert tokens.parse_ref("ko-chat@production") == ("ko-chat", "production")
    assert tokens.parse_ref("ko-chat:3") == ("ko-chat", "3") and tokens.parse_ref("ko-chat:v12") == ("ko-chat", "12")
    assert tokens.parse_ref("org/model v2@latest") == ("org/model v2", "latest")
    assert (
        tokens.parse_ref("ko-chat") is None
        and tokens.parse_ref("ko-chat@Prod") is None
        and tokens.parse_ref("@production") is None
    )


def test_chat_prompts_count_contents_and_openais_framing():
    tok = Bpe()
    body = {
        "messages": [
            {"role": "system", "content": "You are brief."},
            {"role": "user", "name": "kim", "content": "안녕하세요, 날씨 어때?"},
        ]
    }
    expected = (
        3 + (3 + n("system") + n("You are brief.")) + (3 + n("user") + n("kim") + 1 + n("안녕하세요, 날씨 어때?"))
    )
    assert tokens.count_prompt(tok, "chat", body) == expected
    # Content parts: text counted, images not estimated; tool definitions and calls as the JSON the model reads.
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    call = [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Seoul"}'}}]
    parts = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "x"}}],
            },
            {"role": "assistant", "content": None, "tool_calls": call},
        ],
        "tools": tools,
    }
    assert tokens.count_prompt(tok, "chat", parts) == (
        3
        + 3
        + n("user")
        + n("what is this")
        + 3
        + n("assistant")
        + n(orjson.dumps(call).decode())
        + n(orjson.dumps(tools).decode())
    )
    assert tokens.count_prompt(tok, "chat", {"messages": ["not a message"]}) == 3


def test_completion_and_embedding_inputs():
    tok = Bpe()
    assert tokens.count_prompt(tok, "completions", {"prompt": "Once upon a time"}) == n("Once upon a time")
    assert tokens.count_prompt(tok, "completions", {"prompt": ["one", "two three"]}) == n("one") + n("two three")
    assert tokens.count_prompt(tok, "embeddings", {"input": [[1, 2, 3], [4, 5]]}) == 5  # token ids already
    assert tokens.count_prompt(tok, "embeddings", {"input": "안녕"}) == n("안녕")
    assert tokens.count_completion(tok, "embeddings", {"data": []}) == 0


def test_answers_and_streams():
    tok = Bpe()
    answer = {"choices": [{"message": {"role": "assistant", "content": "Hello there"}}, {"message": {"content": "Hi"}}]}
    assert tokens.count_completion(tok, "chat", answer) == n("Hello there") + n(
        "Hi"
    )  # what was generated, not the role
    assert tokens.count_completion(tok, "completions", {"choices": [{"text": " the end"}]}) == n(" the end")
    calls = [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Seoul"}'}}]
    assert tokens.count_completion(
        tok, "chat", {"choices": [{"message": {"content": None, "tool_calls": calls}}]}
    ) == n(orjson.dumps(calls).decode())

    def line(delta: dict, index: int = 0) -> bytes:
        return b"data: " + orjson.dumps({"choices": [{"index": index, "delta": delta}]}) + b"\n"

    pieces = ["Hel", "lo", " wor", "ld", "!"]  # counted joined: BPE merges across the pieces
    stream = [
        line({"role": "assistant", "content": ""}),
        *(line({"content": p}) for p in pieces),
        b"\n",
        b"data: [DONE]\n",
    ]
    assert tokens.count_completion(tok, "chat", stream) == n("Hello world!") < sum(map(n, pieces))
    two = [line({"content": "yes"}, 0), line({"content": "no"}, 1), b"data: {broken\n"]
    assert tokens.count_completion(tok, "chat", two) == n("yes") + n("no")
    call = line({"tool_calls": [{"index": 0, "function": {"name": "weather", "arguments": '{"city"'}}]})
    assert tokens.count_completion(tok, "chat", [call]) > 0


def test_gpu_hour_prices():
    provider = uuid.uuid4()
    spec = TargetSpec(provider_id=provider, model="ko-chat", gpu_hour_price=3.0, gpus=2, throughput_tokens_per_s=500)
    per_million = 3.0 * 2 / (500 * 3600 / 1e6)  # 6 per GPU-hours' worth; 1.8M tokens an hour -> 3.33 per 1M
    assert effective_prices(spec.model_dump()) == (pytest.approx(per_million), pytest.approx(per_million))
    explicit = TargetSpec(
        provider_id=provider, model="m", input_price=1.5, gpu_hour_price=3.0, gpus=2, throughput_tokens_per_s=500
    )
    assert effective_prices(explicit.model_dump()) == (1.5, pytest.approx(per_million))
    assert effective_prices({"input_price": 1.0, "output_price": 2.0}) == (1.0, 2.0)
    with pytest.raises(ValidationError, match="missing: throughput_tokens_per_s"):
        TargetSpec(provider_id=provider, model="m", gpu_hour_price=3.0, gpus=0.25)
    for wrong in ({"gpus": 0}, {"gpus": -1}, {"gpu_hour_price": 0}, {"throughput_tokens_per_s": 0}):
        with pytest.raises(ValidationError):
            TargetSpec(
                provider_id=provider,
                model="m",
                **{"gpu_hour_price": 3.0, "gpus": 1, "throughput_tokens_per_s": 100, **wrong},
            )
    assert TargetSpec(provider_id=provider, model="m", tokenizer="cl100k_base").tokenizer == "cl100k_base"
    with pytest.raises(ValidationError, match="tokenizer"):
        TargetSpec(provider_id=provider, model="m", tokenizer="llama")
