"""Built-in agent templates: every YAML file validates (as the server checks at start), and the Korean
summariser's splitter keeps whole sentences within the chunk size."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from axops.agents import templates
from axops.agents.template_schemas import TemplateFile
from axops.core.errors import Invalid
from axops.tools import service as tools


def _function(template_id: str, tool_name: str):
    (tool,) = [t for t in templates.builtin_templates()[template_id].tools if t.name == tool_name]
    namespace: dict = {}
    exec(compile(tool.spec["source"], "<template>", "exec"), namespace)  # our own shipped source
    return namespace[tool.spec["function"]]


def test_built_ins_load_with_both_languages_and_valid_tools():
    built = templates.builtin_templates()
    assert set(built) == {"ko-summariser", "ticket-triage", "sql-analyst"}
    for t in built.values():
        assert set(t.name) == {"ko", "en"} and set(t.description) == {"ko", "en"}
        assert t.tools and all(x.spec["function"] and x.spec["source"] for x in t.tools)
    assert [x.uses_dataset for x in built["sql-analyst"].tools] == [True]
    assert [x.uses_dataset for x in built["ko-summariser"].tools] == [False]


def test_a_template_with_a_broken_tool_is_refused():
    raw = {
        "id": "broken",
        "name": {"ko": "깨짐", "en": "Broken"},
        "description": {"ko": "", "en": ""},
        "agent": {"system_prompt": "x"},
        "tools": [{"name": "t", "kind": "python", "source": "def f(:\n", "function": "f"}],
    }
    template = TemplateFile.model_validate(raw)
    with pytest.raises(Invalid):
        tools.check_version("python", template.tools[0].parameters, template.tools[0].spec)
    with pytest.raises(ValidationError):
        TemplateFile.model_validate({**raw, "tools": [{**raw["tools"][0], "kind": "http", "uses_dataset": True}]})
    with pytest.raises(ValidationError):
        TemplateFile.model_validate({**raw, "surprise": 1})


def test_splitter_keeps_sentences_whole_and_cuts_only_overlong_ones():
    split = _function("ko-summariser", "split_text")
    text = "오늘은 맑습니다. 내일은 비가 옵니까? 모레는 눈이 옵니다!\n새 문단입니다. " + "가" * 450 + "."
    out = split(text, max_chars=200)
    assert out["sentences"] == 5
    assert out["chunks"][0] == "오늘은 맑습니다. 내일은 비가 옵니까? 모레는 눈이 옵니다! 새 문단입니다."
    assert [len(c) for c in out["chunks"][1:]] == [200, 200, 51]
    assert out["count"] == len(out["chunks"])
    assert split("", max_chars=200) == {"count": 0, "sentences": 0, "chunks": []}
