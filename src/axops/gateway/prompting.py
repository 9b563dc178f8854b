"""The hook through which a `/v1` request naming a saved prompt (`prompt_id`, `prompt_variables`)
is rendered before it is routed, and the body rewrite that applies a rendered prompt.

The gateway sits below the prompts package and may not import it: `axops.prompts.gateway` sets
`resolver` when it is imported (the app imports it). Requests without `prompt_id` never reach it.

What a rendered prompt does to the body (`apply_rendered`):
- chat: its messages (a text prompt: one `user` message) go before the caller's `messages`;
- completions: a text prompt goes before the caller's `prompt` (optional); a chat prompt is refused;
- binding: `route` is the model when the caller named none; non-empty `allowed_routes` restrict the
  model; `parameters` fill only what the caller did not set;
- `prompt_id` and `prompt_variables` are removed before the body goes upstream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

PROMPT_FIELDS = ("prompt_id", "prompt_variables")


@dataclass(frozen=True, slots=True)
class Applied:
    """The body to route, and what to record on the usage record and in `x-axops-prompt`."""

    body: dict
    prompt_name: str
    prompt_version: int
    experiment_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """An OpenAI-shaped error to answer instead."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None


class PromptResolver(Protocol):
    async def apply(self, db, principal, body: dict, endpoint: str) -> Applied | Refused:
        """Resolve `body["prompt_id"]` for this caller, render it with `body["prompt_variables"]` and
        return the rewritten body (see `apply_rendered`) or a refusal."""
        ...


resolver: PromptResolver | None = None


def register(r: PromptResolver) -> None:
    global resolver
    resolver = r


def apply_rendered(
    body: dict, endpoint: str, text: str | None, messages: list[dict] | None, binding: dict
) -> dict | Refused:
    """The caller's body with the rendered prompt (`text` or `messages`) and its binding applied."""
    out = {k: v for k, v in body.items() if k not in PROMPT_FIELDS}
    if endpoint == "chat":
        rendered = messages if messages is not None else [{"role": "user", "content": text}]
        given = out.get("messages", [])
        if isinstance(given, list):  # else left as is: the gateway's own check refuses it
            out["messages"] = [*rendered, *given]
    elif messages is not None:
        return Refused(
            400,
            "This prompt is a chat prompt; /v1/completions takes text prompts only (use /v1/chat/completions).",
            code="prompt_kind_mismatch",
            param="prompt_id",
        )
    else:
        given = out.get("prompt")
        if given is None or given == "":
            out["prompt"] = text
        elif isinstance(given, str):
            out["prompt"] = _join(text, given)
        elif isinstance(given, list) and all(isinstance(p, str) for p in given):
            out["prompt"] = [_join(text, p) for p in given] or text
        else:
            return Refused(400, "With `prompt_id`, `prompt` must be a string or a list of strings.", param="prompt")
    route = binding.get("route")
    if route and not (isinstance(out.get("model"), str) and out["model"]):
        out["model"] = route
    allowed = binding.get("allowed_routes") or ()
    if allowed and out.get("model") not in allowed:
        named = f"not '{out['model']}'" if isinstance(out.get("model"), str) else "name one of them in `model`"
        return Refused(
            400,
            f"This prompt may be used with {', '.join(allowed)} only: {named}.",
            code="prompt_route_not_allowed",
            param="model",
        )
    for name, value in (binding.get("parameters") or {}).items():
        if value is not None and name not in out:
            out[name] = value
    return out


def _join(text: str, prompt: str) -> str:
    return text + prompt if not text or text[-1].isspace() else f"{text}\n{prompt}"
