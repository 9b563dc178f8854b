"""Anthropic's Messages API behind the OpenAI-compatible front: chat requests are translated to
`POST /v1/messages`, answers and streamed events back to OpenAI's chat.completion shapes."""

from __future__ import annotations

import time

import orjson

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def to_anthropic(body: dict, model: str) -> dict:
    system = "\n\n".join(_text(m.get("content")) for m in body["messages"] if m.get("role") in ("system", "developer"))
    messages = [
        {"role": "assistant" if m.get("role") == "assistant" else "user", "content": _text(m.get("content"))}
        for m in body["messages"]
        if m.get("role") not in ("system", "developer")
    ]
    out: dict = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = system
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream"):
        out["stream"] = True
    return out


def from_anthropic(data: dict, model: str) -> dict:
    usage = data.get("usage") or {}
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    text = "".join(block.get("text", "") for block in data.get("content") or [] if block.get("type") == "text")
    return {
        "id": data.get("id", "chatcmpl-anthropic"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": _FINISH.get(data.get("stop_reason"), "stop"),
            }
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


class StreamTranslator:
    """Anthropic server-sent events in, OpenAI chat.completion.chunk lines out."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-anthropic"
        self.prompt_tokens = self.completion_tokens = 0
        self.done = False

    def _chunk(self, delta: dict, finish: str | None = None, **extra) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def feed(self, line: bytes) -> list[bytes]:
        if not line.startswith(b"data:"):
            return []  # `event:` lines and blanks: the data line says it all
        event = orjson.loads(line[5:])
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id = message.get("id", self.id)
            self.prompt_tokens = (message.get("usage") or {}).get("input_tokens", 0)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_delta" and (event.get("delta") or {}).get("type") == "text_delta":
            return [self._chunk({"content": event["delta"].get("text", "")})]
        if kind == "message_delta":
            self.completion_tokens = (event.get("usage") or {}).get("output_tokens", self.completion_tokens)
            reason = (event.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, _FINISH.get(reason, "stop"))] if reason else []
        if kind == "message_stop":
            self.done = True
            usage = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            }
            body = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [],
                "usage": usage,
            }
            return [b"data: " + orjson.dumps(body) + b"\n\n", b"data: [DONE]\n\n"]
        if kind == "error":
            message = (event.get("error") or {}).get("message", "upstream error")
            return [
                b"data: "
                + orjson.dumps(
                    {"error": {"message": message, "type": "api_error", "param": None, "code": "upstream_error"}}
                )
                + b"\n\n"
            ]
        return []
