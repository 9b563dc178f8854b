"""The client renders locally exactly as the server does: same output, same variable refusals."""

from __future__ import annotations

import pytest

from axops import templating
from axops.client import PromptRenderError, PromptVariableError, PromptVersion

DECLARED = [
    {"name": "customer", "type": "string"},
    {"name": "items", "type": "list", "required": False},
    {"name": "n", "type": "integer", "default": 3},
    {"name": "vip", "type": "boolean", "required": False},
]
CHAT = [
    {"role": "system", "content": "You help {{ customer }}.{% if vip %} (VIP){% endif %}\n"},
    {"role": "user", "content": "{% for i in items or [] %}- {{ i }}\n{% endfor %}top {{ n }}"},
]


def version(kind: str, template) -> PromptVersion:
    return PromptVersion(name="p", version=1, kind=kind, template=template, variables=DECLARED)


@pytest.mark.parametrize(
    "given",
    [
        {"customer": "김민수"},
        {"customer": "Ann", "items": ["a", "b"], "n": 5, "vip": True},
        {"customer": "Ann", "items": None, "vip": False},
    ],
)
def test_same_output_as_the_server(given):
    server = templating.render("chat", CHAT, DECLARED, given)
    assert version("chat", CHAT).render(**given) == server.messages
    text = "Dear {{ customer }},\n{{ n * 2 }}\n"
    assert version("text", text).render(**given) == templating.render("text", text, DECLARED, given).text


@pytest.mark.parametrize(
    ("given", "code", "variable"),
    [
        ({}, "prompt_variable_missing", "customer"),
        ({"customer": "a", "extra": 1}, "prompt_variable_unknown", "extra"),
        ({"customer": 5}, "prompt_variable_type", "customer"),
        ({"customer": "a", "n": 2.5}, "prompt_variable_type", "n"),
        ({"customer": "a", "n": True}, "prompt_variable_type", "n"),
        ({"customer": "a", "items": "not a list"}, "prompt_variable_type", "items"),
    ],
)
def test_same_refusals_as_the_server(given, code, variable):
    with pytest.raises(templating.RenderError) as server:
        templating.render("chat", CHAT, DECLARED, given)
    with pytest.raises(PromptVariableError) as local:
        version("chat", CHAT).render(**given)
    assert (local.value.code, local.value.variable) == (server.value.code, server.value.variable) == (code, variable)


def test_sandboxed():
    escape = PromptVersion(name="p", version=1, kind="text", template="{{ ''.__class__.__mro__ }}")
    with pytest.raises(PromptRenderError):
        escape.render()


def test_chat_params():
    v = PromptVersion(
        name="p",
        version=1,
        kind="text",
        template="x",
        binding={"route": "gpt", "allowed_routes": [], "parameters": {"temperature": 0.2, "max_tokens": None}},
    )
    assert v.chat_params() == {"model": "gpt", "temperature": 0.2}
    assert PromptVersion(name="p", version=1, kind="text", template="x").chat_params() == {}
