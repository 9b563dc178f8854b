"""Exact-match answer cache for deterministic chat requests (temperature 0, or the client sends
`x-axops-cache: use`) on routes that enable it.

The key is the normalised request (sorted JSON without `stream`, `stream_options` and `user`)
plus the route. What is kept is the answer itself — text, finish reason, token counts and the
cost it had — so a hit can be replayed either as one JSON answer or as a stream. Answers with
tool calls or several choices are not cached. In process (LRU with TTL), or in Redis when
configured so every replica shares it."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import OrderedDict

import orjson

from axops.core import shared

_IGNORED = ("stream", "stream_options", "user")


def cacheable(body: dict, forced: bool) -> bool:
    n = body.get("n", 1)
    return (forced or body.get("temperature") == 0) and n in (1, None) and not body.get("logprobs")


def key_of(route_id: str, body: dict) -> str:
    normal = {k: v for k, v in body.items() if k not in _IGNORED}
    return hashlib.sha256(route_id.encode() + b"\0" + orjson.dumps(normal, option=orjson.OPT_SORT_KEYS)).hexdigest()


def entry_from_answer(answer: dict, cost: float) -> dict | None:
    """The part of a chat.completion worth keeping, or None when it cannot be replayed faithfully."""
    choices = answer.get("choices") or []
    if len(choices) != 1:
        return None
    message = choices[0].get("message") or {}
    if message.get("tool_calls") or message.get("function_call") or not isinstance(message.get("content"), str):
        return None
    usage = answer.get("usage") or {}
    return {
        "content": message["content"],
        "finish_reason": choices[0].get("finish_reason") or "stop",
        "cost": cost,
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
    }


def _usage(entry: dict) -> dict:
    p, c = entry["prompt_tokens"], entry["completion_tokens"]
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def as_answer(entry: dict, model: str) -> bytes:
    return orjson.dumps(
        {
            "id": f"chatcmpl-cache-{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": entry["content"]},
                    "finish_reason": entry["finish_reason"],
                }
            ],
            "usage": _usage(entry),
        }
    )


def as_stream(entry: dict, model: str, with_usage: bool) -> list[bytes]:
    base = {
        "id": f"chatcmpl-cache-{int(time.time() * 1000)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    chunks = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": entry["content"]}, "finish_reason": None}
            ],
        },
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": entry["finish_reason"]}]},
    ]
    if with_usage:
        chunks.append({**base, "choices": [], "usage": {**_usage(entry), "cost": 0.0}})  # a hit costs nothing
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


class LocalCache:
    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()

    async def get(self, key: str) -> dict | None:
        item = self._entries.get(key)
        if item is None or item[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)
        return item[1]

    async def put(self, key: str, entry: dict, ttl_s: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, entry)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


class RedisCache:
    """Shared by every replica; while Redis cannot be reached a lookup is a miss and nothing is kept."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def get(self, key: str) -> dict | None:
        try:
            raw = await shared.get(self.url).call(lambda c: c.get(f"axops:cache:{key}"))
        except shared.Unavailable:
            return None
        return orjson.loads(raw) if raw else None

    async def put(self, key: str, entry: dict, ttl_s: int) -> None:
        with contextlib.suppress(shared.Unavailable):
            await shared.get(self.url).call(lambda c: c.set(f"axops:cache:{key}", orjson.dumps(entry), ex=ttl_s))

    async def close(self) -> None:
        await shared.close(self.url)
