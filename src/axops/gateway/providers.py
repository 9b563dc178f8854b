"""Provider adapters: how the gateway speaks to each kind of upstream (`Provider.kind`).

Clients always speak OpenAI's API to the gateway. An adapter says, for one provider kind, where a
call goes (`urls`: one per endpoint it serves), which headers it carries (`headers`), how the
OpenAI-shaped request body becomes the provider's (`body`), where its model list is (`models_url`,
for health checks), and — for a provider that does not speak OpenAI — how its answers and streamed
events come back in OpenAI's shapes (`answer`, `stream`).

Hot path rule: the adapter is looked up once per upstream when the route table loads, and its URLs
and headers are built then (see `table.Upstream`); a request only reads them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

import orjson

from axops.gateway.tokens import guess

# The gateway's endpoints and their paths under an OpenAI-compatible base URL.
PATHS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}
JSON = "application/json"


class Adapter(Protocol):
    """What the gateway needs of a provider kind; `up` is the `table.Upstream` being called."""

    kind: str  # Provider.kind
    name: str  # for people, in error messages
    telemetry_name: str  # gen_ai.provider.name in traces
    translates: bool  # False: answers and streams are OpenAI's already and pass through untouched

    def urls(self, up) -> dict[str, str]: ...  # endpoint ("chat", ...) → URL; an endpoint not served is absent
    def headers(self, up) -> dict[str, str]: ...
    def body(self, body: dict, up) -> dict: ...
    def models_url(self, up) -> str: ...
    def tokenizer(self, model: str) -> str | None: ...
    def answer(self, data: dict, model: str) -> dict: ...
    def stream(self, lines: AsyncIterable[bytes], model: str) -> AsyncIterable[bytes]: ...


class OpenAI:
    """Any OpenAI-compatible server: OpenAI itself, vLLM, TGI, Ollama, a deployment's axops replicas
    (their serve token is the provider's API key)."""

    kind = "openai"
    name = "OpenAI"
    telemetry_name = "openai"  # gen_ai.provider.name in traces
    translates = False  # answers and streams pass through as they come

    def urls(self, up) -> dict[str, str]:
        return {endpoint: f"{up.base_url}/{path}" for endpoint, path in PATHS.items()}

    def headers(self, up) -> dict[str, str]:
        return {"Content-Type": JSON, **({"Authorization": f"Bearer {up.api_key}"} if up.api_key else {})}

    def body(self, body: dict, up) -> dict:
        """The client's body with the upstream's own model name."""
        return {**body, "model": up.model}

    def models_url(self, up) -> str:
        return f"{up.base_url}/models"

    def tokenizer(self, model: str) -> str | None:
        """The tokenizer to count with when a target names none (and the upstream reports no usage)."""
        return guess(model)

    def answer(self, data: dict, model: str) -> dict:
        return data

    def stream(self, lines: AsyncIterable[bytes], model: str) -> AsyncIterable[bytes]:
        return lines


class Azure(OpenAI):
    """Azure OpenAI: the deployment (the target's model) is in the URL, the key in its own header."""

    kind = "azure"
    name = "Azure OpenAI"
    telemetry_name = "azure.ai.openai"
    API_VERSION = "2024-10-21"

    def urls(self, up) -> dict[str, str]:
        version = up.api_version or self.API_VERSION
        return {
            endpoint: f"{up.base_url}/openai/deployments/{up.model}/{path}?api-version={version}"
            for endpoint, path in PATHS.items()
        }

    def headers(self, up) -> dict[str, str]:
        return {"Content-Type": JSON, **({"api-key": up.api_key} if up.api_key else {})}

    def body(self, body: dict, up) -> dict:
        return body

    def models_url(self, up) -> str:
        return f"{up.base_url}/openai/models?api-version={up.api_version or self.API_VERSION}"


class Anthropic:
    """Anthropic's Messages API (chat only): chat requests are translated to `POST /v1/messages`,
    answers and streamed events back to OpenAI's chat.completion shapes."""

    kind = "anthropic"
    name = "Anthropic"
    telemetry_name = "anthropic"
    translates = True
    VERSION = "2023-06-01"
    DEFAULT_MAX_TOKENS = 1024

    @staticmethod
    def _base(up) -> str:
        return up.base_url if up.base_url.endswith("/v1") else f"{up.base_url}/v1"

    def urls(self, up) -> dict[str, str]:
        return {"chat": f"{self._base(up)}/messages"}

    def headers(self, up) -> dict[str, str]:
        return {
            "Content-Type": JSON,
            "anthropic-version": self.VERSION,
            **({"x-api-key": up.api_key} if up.api_key else {}),
        }

    def models_url(self, up) -> str:
        return f"{self._base(up)}/models"

    def tokenizer(self, model: str) -> str | None:
        return None  # no OpenAI encoding fits Claude's models

    def body(self, body: dict, up) -> dict:
        messages = body["messages"]
        system = "\n\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
        out: dict = {
            "model": up.model,
            "messages": [
                {"role": "assistant" if m.get("role") == "assistant" else "user", "content": _text(m.get("content"))}
                for m in messages
                if m.get("role") not in ("system", "developer")
            ],
            "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or self.DEFAULT_MAX_TOKENS,
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

    def answer(self, data: dict, model: str) -> dict:
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

    async def stream(self, lines: AsyncIterable[bytes], model: str) -> AsyncIterator[bytes]:
        translator = AnthropicStream(model)
        async for line in lines:
            for out in translator.feed(line.strip()):
                yield out


ADAPTERS: dict[str, Adapter] = {a.kind: a for a in (OpenAI(), Azure(), Anthropic())}

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class AnthropicStream:
    """Anthropic server-sent events in, OpenAI chat.completion.chunk lines out (one per stream)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-anthropic"
        self.prompt_tokens = self.completion_tokens = 0
        self.done = False

    def _line(self, choices: list, **extra) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def _chunk(self, delta: dict, finish: str | None = None) -> bytes:
        return self._line([{"index": 0, "delta": delta, "finish_reason": finish}])

    def feed(self, line: bytes) -> list[bytes]:
        if not line.startswith(b"data:"):
            return []  # `event:` lines and blanks: the data line says it all
        event = orjson.loads(line[5:])
        event_type = event.get("type")
        if event_type == "message_start":
            message = event.get("message") or {}
            self.id = message.get("id", self.id)
            self.prompt_tokens = (message.get("usage") or {}).get("input_tokens", 0)
            return [self._chunk({"role": "assistant", "content": ""})]
        if event_type == "content_block_delta" and (event.get("delta") or {}).get("type") == "text_delta":
            return [self._chunk({"content": event["delta"].get("text", "")})]
        if event_type == "message_delta":
            self.completion_tokens = (event.get("usage") or {}).get("output_tokens", self.completion_tokens)
            reason = (event.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, _FINISH.get(reason, "stop"))] if reason else []
        if event_type == "message_stop":
            self.done = True
            usage = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            }
            return [self._line([], usage=usage), b"data: [DONE]\n\n"]
        if event_type == "error":
            message = (event.get("error") or {}).get("message", "upstream error")
            error = {"error": {"message": message, "type": "api_error", "param": None, "code": "upstream_error"}}
            return [b"data: " + orjson.dumps(error) + b"\n\n"]
        return []
