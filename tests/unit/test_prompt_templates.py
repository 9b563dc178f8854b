"""The prompt sandbox: renders what a prompt author writes, refuses escapes and anything that would
stall or exhaust a process, and checks variables against their declarations."""

import pytest

from axops.templating import (
    MAX_TEMPLATE_CHARS,
    RenderError,
    TemplateError,
    check_template,
    check_variables,
    placeholders,
    render,
)

DECLARED = [
    {"name": "question", "type": "string", "required": True},
    {"name": "sentences", "type": "integer", "required": False, "default": 2},
    {"name": "tags", "type": "list", "required": False},
]
CHAT = [
    {"role": "system", "content": "너는 친절한 상담원이다. {{ sentences }}문장 이내로 답한다."},
    {"role": "user", "content": "질문: {{ question }}{% if tags %} ({{ tags|join(', ') }}){% endif %}"},
]


def test_a_chat_template_renders_with_defaults_and_optional_variables():
    out = render("chat", CHAT, DECLARED, {"question": "환불 되나요?"})
    assert out.messages == [
        {"role": "system", "content": "너는 친절한 상담원이다. 2문장 이내로 답한다."},
        {"role": "user", "content": "질문: 환불 되나요?"},
    ]
    out = render("chat", CHAT, DECLARED, {"question": "q", "sentences": 3, "tags": ["결제", "환불"]})
    assert out.messages[1]["content"] == "질문: q (결제, 환불)" and "3문장" in out.messages[0]["content"]


@pytest.mark.parametrize(
    ("given", "code", "variable"),
    [
        ({}, "prompt_variable_missing", "question"),
        ({"question": "q", "extra": 1}, "prompt_variable_unknown", "extra"),
        ({"question": 5}, "prompt_variable_type", "question"),
        ({"question": "q", "sentences": True}, "prompt_variable_type", "sentences"),
        ({"question": "q", "sentences": 1.5}, "prompt_variable_type", "sentences"),
    ],
)
def test_variables_are_checked_against_their_declarations(given, code, variable):
    with pytest.raises(RenderError) as caught:
        render("chat", CHAT, DECLARED, given)
    assert caught.value.code == code and caught.value.variable == variable


def test_save_time_checks_name_the_line_and_column_and_the_undeclared_names():
    with pytest.raises(TemplateError) as caught:
        check_template("text", "첫 줄\n둘째 줄 {{ question }\n", DECLARED)
    assert (caught.value.line, caught.value.column) == (2, 6)
    with pytest.raises(TemplateError, match="not declared: answer"):
        check_template("text", "{{ question }} {{ answer }}", DECLARED)
    with pytest.raises(TemplateError) as caught:
        check_template("chat", [CHAT[0], {"role": "user", "content": "{% if %}"}], DECLARED)
    assert caught.value.message_index == 1
    with pytest.raises(TemplateError, match="reserved"):
        check_template("text", "{{ _steps }}", [])
    with pytest.raises(TemplateError, match="at most"):
        check_template("text", "x" * (MAX_TEMPLATE_CHARS + 1), [])
    with pytest.raises(TemplateError, match="role"):
        check_template("chat", [{"role": "root", "content": "x"}], [])
    check_template("chat", CHAT, DECLARED)  # the good one passes
    assert placeholders("chat", CHAT) == ["question", "sentences", "tags"]


def test_declarations_are_checked():
    with pytest.raises(TemplateError, match="twice"):
        check_variables([{"name": "a", "type": "string"}, {"name": "a", "type": "string"}])
    with pytest.raises(TemplateError, match="not a variable type"):
        check_variables([{"name": "a", "type": "date"}])
    with pytest.raises(TemplateError, match="default"):
        check_variables([{"name": "a", "type": "integer", "default": "3"}])
    with pytest.raises(TemplateError, match="not a variable name"):
        check_variables([{"name": "_a", "type": "string"}])


ESCAPES = [
    ("{{ ''.__class__.__mro__ }}", "prompt_render_refused"),
    ("{{ cycler.__init__.__globals__ }}", "prompt_render_refused"),
    ("{{ lipsum.__globals__['os'] }}", "prompt_render_refused"),
    ("{{ self.__init__ }}", "prompt_render_refused"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "prompt_render_limit"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "prompt_render_limit"),
    ("{{ 'x' * 1000000000 }}", "prompt_render_refused"),
    ("{{ (range(10000)|list) * 100 }}", "prompt_render_refused"),
    ("{{ 'x'|center(1000000000) }}", "prompt_render_refused"),
    ("{{ 'x'.ljust(1000000000) }}", "prompt_render_refused"),
    ("{{ '{:>100000000}'.format(1) }}", "prompt_render_refused"),
    ("{{ '{:>{w}}'.format(1, w=100000000) }}", "prompt_render_refused"),
    ("{{ '%0100000000d' % 1 }}", "prompt_render_refused"),
    ("{{ '%*d' % (100000000, 1) }}", "prompt_render_refused"),
    (
        "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        "prompt_render_refused",
    ),
    (
        "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "prompt_render_refused",
    ),
    ("{{ range(100000)|join('x' * 100) }}", "prompt_render_refused"),
    ("{{ ('a' * 1000).replace('', 'b' * 500) }}", "prompt_render_refused"),
    ("{% for i in range(99999) %}{{ 'abc' }}{% endfor %}", "prompt_render_limit"),
    ("{{ 9 ** 100000 }}", "prompt_render_refused"),
]


@pytest.mark.parametrize(("template", "code"), ESCAPES)
def test_escapes_and_exhaustion_are_refused(template, code):
    check_template("text", template, [])  # they are valid Jinja: the sandbox refuses them when rendering
    with pytest.raises(RenderError) as caught:
        render("text", template, [], {})
    assert caught.value.code == code


def test_ordinary_loops_and_filters_still_work():
    template = "{% for i in range(3) %}{{ loop.index }}{{ '-' * 2 }}{% endfor %}{{ 'ab'|upper|center(6) }}{{ '{:>4}'.format(7) }}"
    assert render("text", template, [], {}).text == "1--2--3--  AB     7"
