"""A local OpenAI-compatible upstream for gateway tests, with switchable faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import Callable

from aiohttp import web

from tests.tool_server import LoopbackServer


def embedding(text) -> list[float]:
    """A deterministic vector per text (equal texts: cosine 1): 8 numbers from its SHA-256."""
    digest = hashlib.sha256(str(text).encode()).digest()
    return [b / 255 - 0.5 for b in digest[:8]]


def bag_of_words(text, dim: int = 64) -> list[float]:
    """A deterministic embedding where texts sharing words land close: each word (lower-cased, without
    punctuation; Korean words as they are) adds 1 to a dimension chosen by its hash."""
    vector = [0.0] * dim
    for word in "".join(c if c.isalnum() else " " for c in str(text).lower()).split():
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dim] += 1.0
    return vector


class MockUpstream:
    """An OpenAI-compatible server with switchable faults: ok, error500, garbage, break_stream,
    slow_stream (a word every 0.2 s for a long time; notes when its reader goes away), no_usage
    (answers and streams without token counts, as some servers do)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mode = "ok"
        self.answer: str | None = None  # the text chat answers give instead of "hello from <name>"
        # Chosen per request (the request body given): the chat answer's text, and whether to fail with a 500.
        self.answer_for: Callable[[dict], str] | None = None
        self.fail_for: Callable[[dict], bool] | None = None
        self.words: list[str] | None = None  # the answer's pieces: one stream chunk each (joined when not streamed)
        # The vector of each embeddings input (default: [0.1, 0.2, 0.3] for every text; `embedding` below
        # gives a deterministic one per text).
        self.embedding_for: Callable[[str], list[float]] | None = None
        self.requests: list[dict] = []
        # SCRIPTED mode: chat answers taken in order from `script`, each {"content": str} or
        # {"tool_calls": [{"name", "arguments" (dict or raw str), "id"?}]}; when it runs out the last repeats.
        # `cost_per_call` makes usage report prompt/completion tokens of 10 each for route prices to apply.
        self.script: list[dict] | None = None
        self.scripted = 0  # answers given from the script
        self.abandoned = threading.Event()  # a slow stream's reader went away
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.start()

    def start(self) -> None:
        async def up():
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self.chat)
            app.router.add_post("/v1/completions", self.completions)
            app.router.add_get("/v1/models", self.models)
            app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.chat)  # Azure OpenAI's layout
            app.router.add_post("/v1/embeddings", self.embeddings)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)

    def _scripted(self, body: dict) -> dict:
        entry = self.script[min(self.scripted, len(self.script) - 1)]
        self.scripted += 1
        message: dict = {"role": "assistant", "content": entry.get("content")}
        finish = "stop"
        if entry.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": c.get("id") or f"call_{self.scripted}_{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
                    },
                }
                for i, c in enumerate(entry["tool_calls"])
            ]
            finish = "tool_calls"
        return {
            "id": f"s{self.scripted}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(
            {
                **body,
                "_path": request.path_qs,
                "_api_key": request.headers.get("api-key"),
                "_traceparent": request.headers.get("traceparent"),
            }
        )
        if self.script is not None and not body.get("stream"):
            return web.json_response(self._scripted(body))
        if self.mode == "error500" or (self.fail_for is not None and self.fail_for(body)):
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if self.mode == "garbage":
            return web.Response(text="<html>not json", content_type="application/json")
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        words = ["hello", " from", f" {self.name}"] if self.answer is None else [self.answer]
        if self.answer_for is not None:
            words = [self.answer_for(body)]
        if self.words is not None:
            words = list(self.words)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}
        if not body.get("stream"):
            answer = {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "usage": usage,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}
                ],
            }
            if self.mode == "no_usage":
                del answer["usage"]
            return web.json_response(answer)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.mode == "slow_stream":
            words = [f" w{i}" for i in range(300)]
        for i, word in enumerate(words):
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
            try:
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            except (ConnectionResetError, RuntimeError):
                self.abandoned.set()
                return response
            if self.mode == "slow_stream":
                await asyncio.sleep(0.2)
                if request.transport is None or request.transport.is_closing():
                    self.abandoned.set()
                    return response
            if self.mode == "break_stream" and i == 1:
                request.transport.close()  # the connection drops mid-stream
                return response
        if (body.get("stream_options") or {}).get("include_usage") and self.mode != "no_usage":
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({**body, "_path": request.path_qs})
        prompt = len(str(body.get("prompt", "")).split())
        return web.json_response(
            {
                "id": "t1",
                "object": "text_completion",
                "created": 0,
                "model": body["model"],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3},
                "choices": [{"index": 0, "text": f"hello from {self.name}", "finish_reason": "stop"}],
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        texts = body["input"] if isinstance(body.get("input"), list) else [body.get("input")]
        vector = self.embedding_for or (lambda text: [0.1, 0.2, 0.3])
        return web.json_response(
            {
                "object": "list",
                "model": body["model"],
                "usage": {"prompt_tokens": 2 * len(texts), "total_tokens": 2 * len(texts)},
                "data": [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(texts)],
            }
        )


class MockAnthropic(MockUpstream):
    """Anthropic's Messages API, as far as the gateway uses it."""

    def start(self) -> None:
        async def up():
            app = web.Application()
            app.router.add_post("/v1/messages", self.messages)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({**body, "_headers": {k.lower(): v for k, v in request.headers.items()}})
        words = ["bonjour", " from", " claude"]
        prompt = sum(len(m["content"].split()) for m in body["messages"])
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": "".join(words)}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": prompt, "output_tokens": len(words)},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {"id": "msg_1", "usage": {"input_tokens": prompt, "output_tokens": 1}},
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            *[
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
                )
                for w in words
            ],
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(words)}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        return response


class Receiver(LoopbackServer):
    """An HTTP receiver of alert notifications (Slack-format or signed webhooks) on a loopback port: it
    records each POST (path, headers, raw body) and answers the next status of `statuses` (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.echo = False
        self.received = threading.Event()
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        self.received.set()
        status = self.statuses.pop(0) if self.statuses else 200
        if self.echo:  # a receiver that repeats what it was sent in its error (as some do)
            return web.Response(status=status, text=f"bad request to {request.url}")
        return web.Response(status=status, text="ok" if status < 400 else "receiver broke")
