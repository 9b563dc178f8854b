""" "Suggest an improvement": a gateway route, called as the caller (their key's limits, their usage
record), rewrites a version's template from a meta-prompt; the answer is accepted only if it is a
template of the same kind that passes the save-time checks with the version's own variables and
keeps every variable the version used. The caller saves it as a new version if they like it."""

from __future__ import annotations

import difflib
import json
import re

import orjson
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from axops import templating
from axops.auth.deps import Principal
from axops.core.errors import AppError, Invalid
from axops.gateway import proxy
from axops.prompts import service
from axops.prompts.experiment_schemas import SuggestIn

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n(.*?)```", re.DOTALL)

SYSTEM = """You improve prompt templates of an LLM application.
The template is Jinja2: keep every {{ variable }} and {% ... %} block it uses, with exactly the same
variable names, and add no new variables. Keep its kind ({kind}) and its purpose.
Keep the template's language. If it is written in Korean, write natural, fluent Korean: keep its
speech level (for example 합쇼체 or 해요체) consistent, do not translate it into English, and keep
Korean terms the reader expects.
Answer with exactly one fenced JSON block and nothing else:
```json
{"template": ..., "explanation": "what you changed and why, in the template's language"}
```
For a text template "template" is a string; for a chat template it is a list of
{"role": "system" | "user" | "assistant", "content": "..."} messages."""

USER = """Goal: {goal}

Declared variables:
{variables}

Current template (version {version}, kind {kind}):
```json
{template}
```"""

DEFAULT_GOAL = "Make it clearer, more specific and more robust to unexpected input."
DEFAULT_GOAL_KO = "더 명확하고 구체적이며, 예상하지 못한 입력에도 안정적으로 동작하게 개선해 주세요."


def _unusable(why: str) -> Invalid:
    return Invalid(f"The route's answer is not a usable template: {why}", code="prompt_suggestion_unusable", reason=why)


def meta_prompt(kind: str, template, variables: list[dict], version: int, goal: str) -> list[dict]:
    text = template if isinstance(template, str) else "\n".join(m["content"] for m in template)
    korean = bool(_HANGUL.search(text))
    declared = "\n".join(f"- {v['name']} ({v.get('type', 'string')}): {v.get('description', '')}" for v in variables)
    return [
        {"role": "system", "content": SYSTEM.replace("{kind}", kind)},
        {
            "role": "user",
            "content": USER.format(
                goal=goal or (DEFAULT_GOAL_KO if korean else DEFAULT_GOAL),
                variables=declared or "(none)",
                version=version,
                kind=kind,
                template=json.dumps(template, ensure_ascii=False, indent=2),
            ),
        },
    ]


def parse_answer(answer: str) -> dict:
    """The JSON object of the answer: a fenced block, else the outermost braces."""
    candidates = [m.group(1) for m in _FENCE.finditer(answer)]
    start, end = answer.find("{"), answer.rfind("}")
    if start != -1 and end > start:
        candidates.append(answer[start : end + 1])
    for c in candidates:
        try:
            data = json.loads(c)
        except ValueError:
            continue
        if isinstance(data, dict) and "template" in data:
            return data
    raise _unusable("no JSON object with a template in it")


def checked_candidate(kind: str, original, variables: list[dict], data: dict):
    template = data["template"]
    if kind == "chat" and isinstance(template, list):
        template = [
            {"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m for m in template
        ]
    try:
        templating.check_template(kind, template, variables)
    except templating.TemplateError as exc:
        raise _unusable(str(exc)) from None
    lost = set(templating.placeholders(kind, original)) - set(templating.placeholders(kind, template))
    if lost:
        raise _unusable(f"it no longer uses the variable(s) {', '.join(sorted(lost))}")
    return template


def line_diff(kind: str, before, after) -> list[dict]:
    """Line diff of two templates (per message for chat, by position)."""

    def lines(text: str) -> list[str]:
        return text.splitlines() or [""]

    out: list[dict] = []
    pairs = (
        [(None, before, after)]
        if kind == "text"
        else [
            (
                i,
                f"[{before[i]['role']}]\n{before[i]['content']}" if i < len(before) else "",
                f"[{after[i]['role']}]\n{after[i]['content']}" if i < len(after) else "",
            )
            for i in range(max(len(before), len(after)))
        ]
    )
    for index, a, b in pairs:
        a_lines, b_lines = (lines(a) if a else []), (lines(b) if b else [])
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a_lines, b=b_lines, autojunk=False).get_opcodes():
            if op == "equal":
                out += [{"op": " ", "text": t, "message_index": index} for t in a_lines[i1:i2]]
                continue
            out += [{"op": "-", "text": t, "message_index": index} for t in a_lines[i1:i2]]
            out += [{"op": "+", "text": t, "message_index": index} for t in b_lines[j1:j2]]
    return out


async def suggest(session: AsyncSession, principal: Principal, request: Request, name: str, data: SuggestIn) -> dict:
    prompt = await service.get_prompt(session, principal, name)
    version = await service.get_version(session, principal, prompt.name, data.version)
    messages = meta_prompt(version.kind, version.template, version.variables, version.version, data.goal)
    # Through the gateway's own path as the caller: their key's routes, limits and usage record.
    response = await proxy.forward_json(request, {"model": data.route, "messages": messages, "temperature": 0.2})
    body = orjson.loads(response.body)
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        failure = AppError(error.get("message") or "The route could not answer.")
        failure.status, failure.code, failure.title = (
            response.status_code,
            error.get("code") or "upstream_error",
            "Suggestion failed",
        )
        raise failure
    choice = (body.get("choices") or [{}])[0] if isinstance(body, dict) else {}
    answer = (choice.get("message") or {}).get("content") or ""
    parsed = parse_answer(answer)
    template = checked_candidate(version.kind, version.template, version.variables, parsed)
    explanation = parsed.get("explanation")
    return {
        "candidate": {"kind": version.kind, "template": template},
        "explanation": explanation if isinstance(explanation, str) else "",
        "diff": line_diff(version.kind, version.template, template),
        "base_version": version.version,
        "route": data.route,
    }
