"""The difference between two versions of a prompt: template lines, variables and binding."""

from __future__ import annotations

import difflib

from axops.prompts.models import PromptVersion
from axops.prompts.schemas import (
    PromptBindingChange,
    PromptDiffLine,
    PromptDiffOut,
    PromptVariable,
    PromptVariableChange,
    PromptVariablesDiff,
)


def _lines(text: str) -> list[str]:
    return text.splitlines() or [""] if text else []


def _line_diff(before: list[str], after: list[str], message_index: int | None) -> list[PromptDiffLine]:
    out: list[PromptDiffLine] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if op == "equal":
            out += [PromptDiffLine(op=" ", text=t, message_index=message_index) for t in before[i1:i2]]
            continue
        out += [PromptDiffLine(op="-", text=t, message_index=message_index) for t in before[i1:i2]]
        out += [PromptDiffLine(op="+", text=t, message_index=message_index) for t in after[j1:j2]]
    return out


def _message_lines(message: dict) -> list[str]:
    return [f"[{message['role']}]", *_lines(message["content"])]


def template_diff(base: PromptVersion, head: PromptVersion) -> list[PromptDiffLine]:
    if base.kind == "text" and head.kind == "text":
        return _line_diff(_lines(base.template), _lines(head.template), None)  # type: ignore[arg-type]
    if base.kind == "chat" and head.kind == "chat":
        out: list[PromptDiffLine] = []
        before, after = list(base.template), list(head.template)
        for i in range(max(len(before), len(after))):
            a = _message_lines(before[i]) if i < len(before) else []
            b = _message_lines(after[i]) if i < len(after) else []
            out += _line_diff(a, b, i)
        return out

    # text ↔ chat: everything before against everything after
    def flat(v: PromptVersion) -> list[str]:
        if v.kind == "text":
            return _lines(v.template)  # type: ignore[arg-type]
        return [line for m in v.template for line in _message_lines(m)]

    return _line_diff(flat(base), flat(head), None)


def _flat_binding(binding: dict) -> dict:
    out = {"route": binding.get("route"), "allowed_routes": binding.get("allowed_routes") or []}
    for key, value in (binding.get("parameters") or {}).items():
        out[f"parameters.{key}"] = value
    return out


def diff(base: PromptVersion, head: PromptVersion) -> PromptDiffOut:
    before = {v["name"]: v for v in base.variables}
    after = {v["name"]: v for v in head.variables}
    a, b = _flat_binding(base.binding), _flat_binding(head.binding)
    return PromptDiffOut(
        base=base.version,
        head=head.version,
        template=template_diff(base, head),
        variables=PromptVariablesDiff(
            added=[PromptVariable(**after[n]) for n in after if n not in before],
            removed=[PromptVariable(**before[n]) for n in before if n not in after],
            changed=[
                PromptVariableChange(name=n, before=PromptVariable(**before[n]), after=PromptVariable(**after[n]))
                for n in before
                if n in after and before[n] != after[n]
            ],
        ),
        binding=[
            PromptBindingChange(key=k, before=a.get(k), after=b.get(k))
            for k in dict.fromkeys([*a, *b])
            if a.get(k) != b.get(k)
        ],
        kind_changed=base.kind != head.kind,
    )
