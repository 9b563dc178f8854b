"""Prompt references (`name`, `name@label`, `name:3`), the diff of two versions, and the YAML file
parser's refusals — the pure parts of the prompt registry."""

from __future__ import annotations

import pytest
import yaml

from axops.core.errors import AppError
from axops.prompts.diff import diff
from axops.prompts.models import PromptVersion
from axops.prompts.refs import parse_ref, parse_selector
from axops.prompts.yaml_io import MAX_NODES, parse


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("support", ("support", None, None)),
        ("support@staging", ("support", "staging", None)),
        ("support:12", ("support", None, 12)),
        ("상담-봇.v2@prod_1", ("상담-봇.v2", "prod_1", None)),
    ],
)
def test_references(ref, parsed):
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize(
    "ref", ["", "a b", "@staging", "x@", "x@Prod", "x@a@b", "x:0", "x:-1", "x:1.5", "x:٣", "x:3:4", "x/y", "a" * 201]
)
def test_bad_references(ref):
    with pytest.raises(AppError) as caught:
        parse_ref(ref)
    assert caught.value.code == "prompt_ref_invalid" and caught.value.status == 422


def test_selectors():
    assert parse_selector("3") == (None, 3) and parse_selector(":3") == (None, 3)
    assert parse_selector("production") == ("production", None) and parse_selector("@staging") == ("staging", None)
    for bad in ("0", "Prod", "@", "x y"):
        with pytest.raises(AppError):
            parse_selector(bad)


def _version(number, kind, template, variables=(), binding=None) -> PromptVersion:
    return PromptVersion(version=number, kind=kind, template=template, variables=list(variables), binding=binding or {})


def test_diff_of_chat_messages_variables_and_binding():
    a = _version(
        1,
        "chat",
        [{"role": "system", "content": "Be kind.\nBe brief."}, {"role": "user", "content": "{{ q }}"}],
        [{"name": "q", "type": "string", "required": True, "default": None, "description": ""}],
        {"route": "small", "parameters": {"temperature": 0.1}},
    )
    b = _version(
        2,
        "chat",
        [{"role": "system", "content": "Be kind.\nBe thorough."}],
        [{"name": "q", "type": "string", "required": False, "default": "hi", "description": ""}],
        {"route": "large", "allowed_routes": ["large"], "parameters": {}},
    )
    d = diff(a, b)
    assert [(line.op, line.text, line.message_index) for line in d.template] == [
        (" ", "[system]", 0),
        (" ", "Be kind.", 0),
        ("-", "Be brief.", 0),
        ("+", "Be thorough.", 0),
        ("-", "[user]", 1),
        ("-", "{{ q }}", 1),
    ]
    assert d.variables.added == [] and d.variables.removed == []
    assert [c.name for c in d.variables.changed] == ["q"] and d.variables.changed[0].after.default == "hi"
    assert {c.key: (c.before, c.after) for c in d.binding} == {
        "route": ("small", "large"),
        "allowed_routes": ([], ["large"]),
        "parameters.temperature": (0.1, None),
    }
    assert not d.kind_changed and diff(a, _version(3, "text", "x")).kind_changed


def test_prompt_files_parse_and_refuse():
    doc = {"name": "p", "versions": [{"version": 1, "kind": "text", "template": "hi"}], "labels": {"production": 1}}
    assert parse(yaml.safe_dump(doc).encode()).labels == {"production": 1}
    shared = yaml.safe_dump({"name": "p", "tags": ["a"], "versions": [], "labels": {}}).encode()
    assert parse(shared).tags == ["a"]
    aliases = b"name: p\nvariables: &v []\nversions: []\n"
    with pytest.raises(AppError):  # an unknown field, even through an anchor
        parse(aliases)
    wide = (
        "name: p\nx: &x [" + ",".join(["1"] * 1000) + "]\ntags: [" + ",".join(["*x"] * (MAX_NODES // 1000 + 1)) + "]\n"
    )
    with pytest.raises(AppError) as caught:
        parse(wide.encode())
    assert "expands" in caught.value.detail
    for bad in (b"[1, 2]", b"name: [", b"!!python/name:os.system", b"\xff"):
        with pytest.raises(AppError) as caught:
            parse(bad)
        assert caught.value.code == "prompt_import_invalid"
    with pytest.raises(AppError) as caught:
        parse(b"#" * (1024 * 1024 + 1))
    assert caught.value.status == 413
