"""The shapes of the `/v1` answers: OpenAI's, as far as axops produces them — the gateway's own
answers (model list, errors, cached answers, answers translated from other providers, the usage
chunk with its cost) and the axops runtime's.

The `/v1` hot path does not build these models: it writes the same shapes as plain dicts with
orjson, which is much cheaper per request. These declarations are what tests check real answers
against (tests/integration/test_gateway.py, test_runtime_server.py), so the fast path cannot drift
from them. Fields OpenAI may add, and upstreams may pass through, are allowed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Usage(_Shape):
    prompt_tokens: int
    completion_tokens: int = 0  # embeddings report none
    total_tokens: int
    cost: float | None = None  # the gateway's addition to a stream's usage chunk, when the client asked for usage


class AssistantMessage(_Shape):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[dict] | None = None


class ChatChoice(_Shape):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason | None
    logprobs: dict | None = None


class ChatCompletion(_Shape):
    """`POST /v1/chat/completions`, not streamed."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None  # some upstreams report none; the gateway then counts tokens itself


class ChunkDelta(_Shape):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[dict] | None = None


class ChunkChoice(_Shape):
    index: int
    delta: ChunkDelta
    finish_reason: FinishReason | None
    logprobs: dict | None = None


class ChatCompletionChunk(_Shape):
    """One `data:` line of a streamed `POST /v1/chat/completions` (the last is `data: [DONE]`). The
    usage chunk, sent when the client asked for it (`stream_options.include_usage`), has no choices."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionChoice(_Shape):
    index: int
    text: str
    finish_reason: FinishReason | None
    logprobs: dict | None = None


class Completion(_Shape):
    """`POST /v1/completions` (a streamed one's chunks have the same shape)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class Embedding(_Shape):
    object: Literal["embedding"]
    index: int
    embedding: list[float]


class EmbeddingList(_Shape):
    """`POST /v1/embeddings`."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage


class Model(_Shape):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Shape):
    """`GET /v1/models`: the routes the caller may use."""

    object: Literal["list"]
    data: list[Model]


class ErrorBody(_Shape):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(_Shape):
    """Every `/v1` error (and a stream's error event), so OpenAI's SDKs raise the matching exception."""

    error: ErrorBody
