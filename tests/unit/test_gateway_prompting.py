"""The body rewrite of a request naming a saved prompt (gateway/prompting.apply_rendered)."""

from __future__ import annotations

from axops.gateway.prompting import Refused, apply_rendered

CHAT = [{"role": "system", "content": "넌 번역가야."}]
BINDING = {"route": "small", "allowed_routes": ["small", "big"], "parameters": {"temperature": 0.1, "seed": None}}


def test_chat_messages_go_first_and_the_prompt_fields_are_dropped():
    body = {"prompt_id": "t", "prompt_variables": {}, "model": "big", "messages": [{"role": "user", "content": "hi"}]}
    out = apply_rendered(body, "chat", None, CHAT, {})
    assert out == {"model": "big", "messages": [*CHAT, {"role": "user", "content": "hi"}]}
    assert "prompt_id" in body  # the caller's dict is left alone


def test_a_text_prompt_in_chat_is_one_user_message_and_messages_are_optional():
    assert apply_rendered({"model": "m"}, "chat", "요약해", None, {})["messages"] == [
        {"role": "user", "content": "요약해"}
    ]
    broken = apply_rendered({"model": "m", "messages": "x"}, "chat", "t", None, {})
    assert broken["messages"] == "x"  # not a list: left for the gateway's own 400


def test_completions_prepend_text_to_each_prompt_and_refuse_chat_prompts():
    assert apply_rendered({"model": "m"}, "completions", "앞:", None, {})["prompt"] == "앞:"
    assert apply_rendered({"model": "m", "prompt": "뒤"}, "completions", "앞:\n", None, {})["prompt"] == "앞:\n뒤"
    assert apply_rendered({"model": "m", "prompt": ["a", "b"]}, "completions", "앞", None, {})["prompt"] == [
        "앞\na",
        "앞\nb",
    ]
    tokens = apply_rendered({"model": "m", "prompt": [1, 2]}, "completions", "앞", None, {})
    assert isinstance(tokens, Refused) and tokens.param == "prompt"
    chat = apply_rendered({"model": "m", "prompt": "x"}, "completions", None, CHAT, {})
    assert isinstance(chat, Refused) and chat.code == "prompt_kind_mismatch"


def test_the_binding_route_parameters_and_allowed_routes():
    out = apply_rendered({"messages": []}, "chat", None, CHAT, BINDING)
    assert out["model"] == "small" and out["temperature"] == 0.1 and "seed" not in out
    mine = apply_rendered({"model": "big", "temperature": 0.9, "messages": []}, "chat", None, CHAT, BINDING)
    assert (mine["model"], mine["temperature"]) == ("big", 0.9)
    refused = apply_rendered({"model": "other", "messages": []}, "chat", None, CHAT, BINDING)
    assert isinstance(refused, Refused) and (refused.code, refused.param) == ("prompt_route_not_allowed", "model")
    unnamed = apply_rendered({"messages": []}, "chat", None, CHAT, {"allowed_routes": ["small"]})
    assert isinstance(unnamed, Refused) and "name one of them" in unnamed.message
