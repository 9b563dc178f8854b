"""The model server's HTTP API: OpenAI-compatible `/v1/chat/completions`, `/v1/completions`,
`/v1/embeddings` and `/v1/models` over the continuous-batching engine (`axops.runtime.engine`),
plus `/health`, `/ready` and `/metrics`. Requests are parsed and checked here and handed to the
engine; answers and streamed chunks are built in OpenAI's shapes. serve.py starts it."""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections import deque

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from axops.runtime import engine as eng

REQUESTS = Counter("axops_runtime_requests_total", "Requests by endpoint and status", ["endpoint", "status"])
DEFAULT_MAX_TOKENS = 256


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


def _error(
    status: int, message: str, param: str | None = None, code: str | None = None, headers: dict | None = None
) -> Response:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "api_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Runtime:
    def __init__(self, served_name: str, model, tokenizer, engine: eng.Engine, load_seconds: float) -> None:
        self.served_name = served_name
        self.model = model
        self.tokenizer = tokenizer
        self.engine = engine
        self.load_seconds = load_seconds
        self.ready = False
        self.recent: deque[tuple[float, float, bool]] = deque(maxlen=20000)  # (ended, latency ms, server error)

    def finished(self, endpoint: str, status: str, started: float) -> None:
        REQUESTS.labels(endpoint, status).inc()
        now = time.monotonic()
        self.recent.append((now, (now - started) * 1000, status.startswith("5")))

    def window(self, seconds: float) -> dict:
        """Requests, server errors and p95 latency over the last `seconds` (what a canary is judged on)."""
        since = time.monotonic() - seconds
        rows = [r for r in self.recent if r[0] >= since]
        latencies = sorted(r[1] for r in rows)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
        return {
            "requests": len(rows),
            "errors": sum(r[2] for r in rows),
            "p95_ms": round(p95, 2) if p95 is not None else None,
        }

    # -- request parsing ------------------------------------------------------------------------

    def sampling(self, body: dict, prompt_tokens: int) -> eng.Sampling:
        def number(name: str, default: float, low: float, high: float) -> float:
            value = body.get(name, default)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise BadRequest(f"`{name}` must be a number between {low} and {high}.", param=name)
            return float(value)

        if body.get("n", 1) not in (1, None):
            raise BadRequest("Only `n` = 1 is supported by this server.", param="n")
        temperature = number("temperature", 1.0, 0.0, 2.0)
        top_p = number("top_p", 1.0, 0.0, 1.0)
        if top_p == 0:
            raise BadRequest("`top_p` must be greater than 0.", param="top_p")
        room = self.engine.max_context - prompt_tokens
        if room <= 0:
            raise BadRequest(
                f"This model's maximum context length is {self.engine.max_context} tokens. However, your "
                f"messages resulted in {prompt_tokens} tokens.",
                param="messages",
                code="context_length_exceeded",
            )
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = min(DEFAULT_MAX_TOKENS, room)
        elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise BadRequest("`max_tokens` must be a positive integer.", param="max_tokens")
        elif prompt_tokens + max_tokens > self.engine.max_context:
            raise BadRequest(
                f"This model's maximum context length is {self.engine.max_context} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
                f"completion).",
                param="max_tokens",
                code="context_length_exceeded",
            )
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
            raise BadRequest("`stop` must be a string or a list of up to 4 non-empty strings.", param="stop")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise BadRequest("`seed` must be an integer.", param="seed")
        return eng.Sampling(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed)

    def chat_prompt(self, messages) -> list[int]:
        if not isinstance(messages, list) or not messages:
            raise BadRequest("`messages` must be a non-empty list.", param="messages")
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise BadRequest("Each message needs a string `role` and a string `content`.", param="messages")
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def priority(self, request: Request, body: dict) -> int:
        value = body.get("priority", request.headers.get("x-axops-priority", 0))
        try:
            return max(-100, min(100, int(value)))
        except (TypeError, ValueError):
            raise BadRequest("`priority` must be an integer.", param="priority") from None

    # -- generation -----------------------------------------------------------------------------

    async def generate(self, request: Request, endpoint: str) -> Response:
        started = time.monotonic()
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        if not self.ready:
            return _error(503, "The model is still loading; try again shortly.", code="not_ready")
        try:
            if endpoint == "chat":
                prompt_ids = self.chat_prompt(body.get("messages"))
            else:
                prompt = body.get("prompt")
                if isinstance(prompt, list) and len(prompt) == 1:
                    prompt = prompt[0]
                if not isinstance(prompt, str):
                    raise BadRequest("`prompt` must be a string.", param="prompt")
                prompt_ids = self.tokenizer(prompt)["input_ids"] or [self.engine.pad_id]
            sampling = self.sampling(body, len(prompt_ids))
            priority = self.priority(request, body)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise BadRequest("`stream` must be a boolean.", param="stream")
        except BadRequest as exc:
            self.finished(endpoint, str(exc.status), started)
            return _error(exc.status, exc.message, exc.param, exc.code)
        queue: asyncio.Queue = asyncio.Queue()
        seq = eng.Sequence(prompt_ids, sampling, priority, eng.deliver_to(asyncio.get_running_loop(), queue))
        try:
            self.engine.submit(seq)
        except eng.QueueFull:
            self.finished(endpoint, "429", started)
            return _error(
                429,
                f"The server's queue is full ({self.engine.max_queue} waiting); retry shortly.",
                code="queue_full",
                headers={"Retry-After": "1"},
            )
        except eng.Draining:
            self.finished(endpoint, "503", started)
            return _error(503, "The server is shutting down; retry on another replica.", code="draining")
        ident = ("chatcmpl-" if endpoint == "chat" else "cmpl-") + uuid.uuid4().hex
        if stream:
            with_usage = (
                bool((body.get("stream_options") or {}).get("include_usage"))
                if isinstance(body.get("stream_options"), dict)
                else False
            )
            return StreamingResponse(
                self._stream(seq, queue, endpoint, ident, with_usage, started, _answer_name(body, self.served_name)),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        watcher = asyncio.create_task(_cancel_on_disconnect(request, seq))
        try:
            text, final = [], None
            while final is None:
                event = await queue.get()
                text.append(event.text)
                final = event if event.finish_reason else None
        finally:
            watcher.cancel()
        if final.finish_reason == "error":
            self.finished(endpoint, "500", started)
            return _error(500, final.error or "generation failed")
        self.finished(endpoint, "200", started)
        content = "".join(text)
        choice = (
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": final.finish_reason,
                "logprobs": None,
            }
            if endpoint == "chat"
            else {"index": 0, "text": content, "finish_reason": final.finish_reason, "logprobs": None}
        )
        answer = {
            "id": ident,
            "object": "chat.completion" if endpoint == "chat" else "text_completion",
            "created": int(time.time()),
            "model": _answer_name(body, self.served_name),
            "choices": [choice],
            "usage": _usage(final),
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    async def _stream(
        self, seq, queue: asyncio.Queue, endpoint: str, ident: str, with_usage: bool, started: float, name: str
    ):
        created = int(time.time())
        kind = "chat.completion.chunk" if endpoint == "chat" else "text_completion"

        def chunk(delta_text: str | None, finish: str | None, first: bool = False) -> bytes:
            if endpoint == "chat":
                delta = (
                    {"role": "assistant", "content": delta_text or ""}
                    if first
                    else ({"content": delta_text} if delta_text else {})
                )
                choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            else:
                choice = {"index": 0, "text": delta_text or "", "finish_reason": finish, "logprobs": None}
            return (
                b"data: "
                + orjson.dumps({"id": ident, "object": kind, "created": created, "model": name, "choices": [choice]})
                + b"\n\n"
            )

        status = "200"
        try:
            first = True
            while True:
                events = [await queue.get()]
                while not queue.empty():  # the client fell behind: send what piled up in one write
                    events.append(queue.get_nowait())
                out = []
                for event in events:
                    if event.finish_reason == "error":
                        status = "500"
                        out.append(
                            b"data: "
                            + orjson.dumps(
                                {
                                    "error": {
                                        "message": event.error,
                                        "type": "api_error",
                                        "param": None,
                                        "code": "generation_failed",
                                    }
                                }
                            )
                            + b"\n\n"
                        )
                        yield b"".join(out)
                        return
                    if event.text or first:
                        out.append(chunk(event.text, None, first))
                        first = False
                    if event.finish_reason:
                        out.append(chunk(None, event.finish_reason))
                        if with_usage:
                            out.append(
                                b"data: "
                                + orjson.dumps(
                                    {
                                        "id": ident,
                                        "object": kind,
                                        "created": created,
                                        "model": name,
                                        "choices": [],
                                        "usage": _usage(event),
                                    }
                                )
                                + b"\n\n"
                            )
                        out.append(b"data: [DONE]\n\n")
                        yield b"".join(out)
                        return
                if out:
                    yield b"".join(out)
        except asyncio.CancelledError:  # the client went away: the engine drops the sequence at its next step
            status = "499"
            seq.cancel()
            raise
        finally:
            seq.cancel()
            self.finished(endpoint, status, started)

    async def embeddings(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "The request body is not valid JSON.")
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(x, str) for x in inputs)
            or len(inputs) > 256
        ):
            return _error(400, "`input` must be a string or a list of up to 256 strings.", param="input")
        if not self.ready:
            return _error(503, "The model is still loading; try again shortly.", code="not_ready")
        encoded = self.tokenizer(inputs, add_special_tokens=True)["input_ids"]
        longest = max(len(ids) for ids in encoded)
        if longest > self.engine.max_context:
            return _error(
                400,
                f"An input has {longest} tokens; this model's maximum context length is {self.engine.max_context}.",
                param="input",
                code="context_length_exceeded",
            )
        vectors = await asyncio.wrap_future(
            self.engine.run_exclusive(lambda: _embed(self.model, encoded, self.engine.pad_id))
        )
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        tokens = sum(len(ids) for ids in encoded)
        REQUESTS.labels("embeddings", "200").inc()
        return Response(
            orjson.dumps(
                {
                    "object": "list",
                    "data": data,
                    "model": _answer_name(body, self.served_name),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            ),
            media_type="application/json",
        )


def _answer_name(body: dict, served_name: str) -> str:
    """Answers name the model as it was asked for (a deployment keeps its replicas when renamed by a
    promotion), or the served name."""
    model = body.get("model")
    return model if isinstance(model, str) and 0 < len(model) <= 200 else served_name


def _usage(final: eng.Event) -> dict:
    return {
        "prompt_tokens": final.prompt_tokens,
        "completion_tokens": final.completion_tokens,
        "total_tokens": final.prompt_tokens + final.completion_tokens,
    }


def _embed(model, encoded: list[list[int]], pad_id: int) -> list[list[float]]:
    """Mean of the last hidden states over each input's tokens, L2-normalised."""
    import torch

    width = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, seq in enumerate(encoded):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        hidden = out.hidden_states[-1].float()
        pooled = (hidden * mask.to(device).unsqueeze(-1)).sum(1) / mask.to(device).sum(1, keepdim=True)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().tolist()


async def _cancel_on_disconnect(request: Request, seq) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            seq.cancel()
            return


def _authorised(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def build_app(runtime: Runtime, token: str | None = None) -> Starlette:
    """token: what every /v1 request must send as `Authorization: Bearer`; None: no check (a model
    directory served by hand)."""

    def guarded(handler):
        async def checked(request: Request) -> Response:
            if token is not None and not _authorised(request, token):
                return _error(
                    401,
                    "This model server answers its gateway only: send its token as 'Authorization: Bearer'.",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await handler(request)

        return checked

    async def chat(request: Request) -> Response:
        return await runtime.generate(request, "chat")

    async def completions(request: Request) -> Response:
        return await runtime.generate(request, "completions")

    async def embeddings(request: Request) -> Response:
        return await runtime.embeddings(request)

    async def models(request: Request) -> Response:
        data = [
            {
                "id": runtime.served_name,
                "object": "model",
                "created": 0,
                "owned_by": "axops",
                "max_model_len": runtime.engine.max_context,
            }
        ]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    async def health(request: Request) -> Response:
        e = runtime.engine
        try:
            window = min(max(float(request.query_params.get("window_s", 60)), 1.0), 3600.0)
        except ValueError:
            window = 60.0
        return Response(
            orjson.dumps(
                {
                    "status": "ok",
                    "ready": runtime.ready,
                    "draining": e.draining,
                    "queued": e.queued,
                    "running": e.running,
                    "load_seconds": round(runtime.load_seconds, 3),
                    "window": runtime.window(window),
                }
            ),
            media_type="application/json",
        )

    async def ready(request: Request) -> Response:
        ok = runtime.ready and not runtime.engine.draining
        return Response(orjson.dumps({"ready": ok}), status_code=200 if ok else 503, media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", guarded(chat), methods=["POST"]),
            Route("/v1/completions", guarded(completions), methods=["POST"]),
            Route("/v1/embeddings", guarded(embeddings), methods=["POST"]),
            Route("/v1/models", guarded(models), methods=["GET"]),
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics),
        ]
    )
