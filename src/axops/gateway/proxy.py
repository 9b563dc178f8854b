"""The OpenAI-compatible hot path (`/v1`): plain Starlette handlers with orjson, no per-request
validation models, no database round trip (keys and routes are cached in memory), usage
queued for batch writing. Upstreams are called through one pooled aiohttp session.

Failover: a connection error, timeout, 5xx, 429 or context-length refusal moves to the next
target (strategy order, then fallbacks) within the route's deadline. Once a stream has started
it is relayed chunk by chunk and not retried; a break mid-stream ends it with an error event."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import orjson
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from axops.auth import audit
from axops.auth.deps import get_principal
from axops.auth.scoping import SYSTEM
from axops.core import context, metrics, telemetry
from axops.core.errors import AppError
from axops.gateway import anthropic, cache
from axops.gateway.limits import Limits, Policy, retry_after
from axops.gateway.table import RouteTable, Target, plan
from axops.gateway.tokens import TokenCounter, Tokenizers
from axops.gateway.usage import ContentLogWriter, UsageWriter

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
log = logging.getLogger("axops.gateway")
# Labels stay bounded: route names and upstreams are admin-defined; status as a class.
REQUESTS = Counter("axops_gateway_requests_total", "Gateway requests", ["model", "upstream", "status"])
LATENCY = Histogram(
    "axops_gateway_latency_seconds",
    "Gateway request latency",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TTFT = Histogram(
    "axops_gateway_ttft_seconds",
    "Time to the first streamed byte",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS = Counter("axops_gateway_tokens_total", "Tokens through the gateway", ["model", "kind"])
COUNTED = Counter(
    "axops_gateway_tokens_counted_total",
    "Tokens the gateway counted itself (the upstream reported no usage)",
    ["model", "kind"],
)
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
AZURE_API_VERSION = "2024-10-21"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SPAN = "axops.span"  # the request's trace span, in the ASGI scope: whoever takes it out ends it


def openai_error(
    status: int, message: str, code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """An error in OpenAI's shape, so SDKs raise the matching exception."""
    body = {"error": {"message": message, "type": _ERROR_TYPES.get(status, "api_error"), "param": param, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Gateway:
    """Process-wide gateway state, built in the app's lifespan."""

    def __init__(
        self, db, secret: str, redis_url: str | None = None, health_interval_s: float = 15.0, storage=None
    ) -> None:
        self.db = db
        self.health_interval_s = health_interval_s
        self._health: asyncio.Task | None = None
        self.secret = secret
        self.limits = Limits(redis_url)
        self.tokenizers = Tokenizers(db, storage)
        self.counter = TokenCounter(self.tokenizers)
        self.table = RouteTable(self.limits, self.tokenizers)
        self.cache = cache.RedisCache(redis_url) if redis_url else cache.LocalCache()
        self.usage = UsageWriter(db)
        self.logs = ContentLogWriter(db, interval_s=1.0, batch=1000)
        self.client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
        self.client = aiohttp.ClientSession(
            connector=connector,
            json_serialize=lambda v: orjson.dumps(v).decode(),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
        )
        self.counter.start()
        self.usage.start()
        self.logs.start()
        if self.health_interval_s > 0:
            self._health = asyncio.create_task(self._health_loop())

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            try:
                await self.table.ensure(self.db, self.secret)
                await self.check_health()
            except Exception:  # a failed round is retried next interval; the gateway keeps serving
                log.exception("gateway.health_check_failed")

    async def check_health(self) -> dict[str, bool]:
        """Ask every upstream in use for its model list: failures count towards its circuit
        breaker, an answer closes the circuit — so a dead upstream is skipped before a client
        meets it, and a recovered one comes back without waiting for traffic."""
        upstreams = {t.upstream.key: t.upstream for r in self.table.routes.values() for t in [*r.targets, *r.fallbacks]}

        async def probe(up) -> bool:
            url, headers = _health_request(up)
            try:
                async with self.client.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    ok = r.status < 500
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                up.failures, up.probing = 0, False
            else:
                up.failed()
            return ok

        results = await asyncio.gather(*(probe(up) for up in upstreams.values()))
        return dict(zip(upstreams, results, strict=True))

    async def stop(self) -> None:
        if self._health:
            self._health.cancel()
        await self.counter.stop()  # the calls still being counted, then their usage records are written
        await self.usage.stop()
        await self.logs.stop()
        if self.client:
            await self.client.close()
        for backend in (self.limits.buckets, self.cache):
            if hasattr(backend, "close"):
                await backend.close()


def _usage_of(data: dict) -> tuple[int, int] | None:
    """The upstream's own counts; None when it reported none."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


PASSES = 2  # every target, then (after a jittered pause) every target once more


async def _tries(route, deadline: float) -> AsyncIterator[Target]:
    """The targets to try in order, with a second pass after a jittered backoff if time allows."""
    for attempt in range(PASSES):
        if attempt:
            pause = random.uniform(0.1, 0.3) * 2 ** (attempt - 1)
            if time.perf_counter() + pause >= deadline:
                return
            await asyncio.sleep(pause)
        for target in plan(route):
            yield target


def _health_request(up) -> tuple[str, dict]:
    url, headers, _ = _upstream_request(up, "models", {"messages": []})
    if up.kind == "anthropic":
        url = url.removesuffix("/messages") + "/models"
    elif up.kind == "azure":
        url = f"{up.base_url}/openai/models?api-version={up.api_version or AZURE_API_VERSION}"
    return url, {k: v for k, v in headers.items() if k != "Content-Type"}


def _upstream_request(up, path: str, body: dict) -> tuple[str, dict, dict]:
    """URL, headers and body of the call to one upstream, in the API its provider speaks."""
    if up.kind == "anthropic":
        base = up.base_url if up.base_url.endswith("/v1") else f"{up.base_url}/v1"
        headers = {"Content-Type": "application/json", "anthropic-version": anthropic.VERSION}
        if up.api_key:
            headers["x-api-key"] = up.api_key
        return f"{base}/messages", headers, anthropic.to_anthropic(body, up.model)
    if up.kind == "azure":  # the deployment is in the URL; the key in its own header
        headers = {"Content-Type": "application/json", **({"api-key": up.api_key} if up.api_key else {})}
        return (
            f"{up.base_url}/openai/deployments/{up.model}/{path}?api-version={up.api_version or AZURE_API_VERSION}",
            headers,
            body,
        )
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {up.api_key}"} if up.api_key else {})}
    return f"{up.base_url}/{path}", headers, {**body, "model": up.model}


def _text_of(answer: dict) -> str:
    choice = (answer.get("choices") or [{}])[0]
    return (choice.get("message") or {}).get("content") or choice.get("text") or ""


def _is_context_error(status: int, body: bytes) -> bool:
    return status in (400, 413) and (b"context_length" in body or b"maximum context length" in body)


class _Call:
    """Bookkeeping of one gateway request: who, which route, attempts, timing; writes its usage record
    (and, with tracing on, ends its span)."""

    def __init__(
        self,
        gw: Gateway,
        principal,
        endpoint: str,
        model: str,
        stream: bool,
        policies: list[Policy],
        estimated_tokens: int,
        body: dict,
        span=None,
    ) -> None:
        self.gw, self.principal, self.endpoint, self.model, self.stream = gw, principal, endpoint, model, stream
        self.body = body
        self.policies, self.estimated_tokens = policies, estimated_tokens
        self.request_id = context.current().request_id
        self.started = time.perf_counter()
        self.attempts = 0
        self.target: Target | None = None
        self.ttft_ms: float | None = None
        self.span = span  # the request's span when tracing is on; this call ends it
        self.attempt_span = None  # a stream's upstream call, ended when the stream is

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def cost_of(self, tokens: tuple[int, int] | None) -> float:
        t = self.target
        return (tokens[0] * t.input_price + tokens[1] * t.output_price) / 1e6 if t and tokens else 0.0

    def record(
        self,
        status: int,
        error: str | None = None,
        tokens: tuple[int, int] | None = None,
        cache: str = "off",
        saved_cost: float = 0.0,
        text: str = "",
        answer=None,
    ) -> None:
        """`tokens` as the upstream reported them. None: it reported none — then, if the target has a
        tokenizer, `answer` (the JSON answer, or the stream's lines) is counted first, off the request path."""
        latency_ms = self.elapsed_ms()
        ended = time.time_ns() if self.span is not None else None
        t = self.target
        if tokens is None and answer is not None and t is not None and t.tokenizer:

            def counted(found: tuple[int, int] | None) -> None:
                self._write(
                    status, error, found or (0, 0), cache, saved_cost, text, latency_ms, ended, found is not None
                )

            self.gw.counter.submit(t.tokenizer, self.endpoint, self.body, answer, counted)
            return
        self._write(status, error, tokens or (0, 0), cache, saved_cost, text, latency_ms, ended, False)

    def _write(
        self,
        status: int,
        error: str | None,
        tokens: tuple[int, int],
        cache: str,
        saved_cost: float,
        text: str,
        latency_ms: float,
        ended: int | None,
        counted: bool,
    ) -> None:
        if self.principal.log_content:
            self.gw.logs.log(
                request_id=self.request_id,
                api_key_id=self.principal.api_key_id,
                user_id=self.principal.user_id,
                model=self.model,
                status=status,
                request=self.body,
                response=text or error or "",
            )
        t = self.target
        cost = self.cost_of(tokens)
        p = self.principal
        upstream = t.upstream.key if t else "none"
        series = _series(self.model, "cache" if cache == "hit" else upstream, status // 100)
        series[0].inc()
        series[1].observe(latency_ms / 1000)
        if self.ttft_ms is not None:
            series[2].observe(self.ttft_ms / 1000)
        if tokens[0] or tokens[1]:
            series[3].inc(tokens[0])
            series[4].inc(tokens[1])
            if counted:
                COUNTED.labels(self.model, "prompt").inc(tokens[0])
                COUNTED.labels(self.model, "completion").inc(tokens[1])
        self.gw.usage.record(
            request_id=self.request_id,
            api_key_id=p.api_key_id if p else None,
            user_id=p.user_id if p else None,
            team_id=min(p.team_ids) if p and p.team_ids else None,
            endpoint=self.endpoint,
            model=self.model,
            upstream=t.upstream.key if t else None,
            stream=self.stream,
            status=status,
            error=error,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            cost=cost,
            latency_ms=latency_ms,
            ttft_ms=self.ttft_ms,
            attempts=self.attempts,
            cache=cache,
            saved_cost=saved_cost,
        )
        if self.span is not None:
            self._end_span(status, error, tokens, cache, cost, counted, ended)
        if (
            self.policies
            and any(p.tpm or p.monthly_budget is not None for p in self.policies)
            and not self.gw.limits.settle_tokens_now(self.policies, self.estimated_tokens, sum(tokens))
        ):
            task = asyncio.create_task(self._settle(sum(tokens), cost))
            _background.add(task)
            task.add_done_callback(_background.discard)

    def _end_span(
        self,
        status: int,
        error: str | None,
        tokens: tuple[int, int],
        cache: str,
        cost: float,
        counted: bool,
        ended: int | None,
    ) -> None:
        span = self.span
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": tokens[0],
                "gen_ai.usage.output_tokens": tokens[1],
                "axops.tokens_counted": counted,
                "axops.cache": cache,
                "axops.attempts": self.attempts,
                "axops.cost": cost,
                "axops.status": status,
                "http.response.status_code": 200
                if self.attempt_span is not None
                else status,  # a stream that broke had started
            }
        )
        if self.target is not None:
            span.set_attributes(
                {"axops.upstream": self.target.upstream.key, "gen_ai.response.model": self.target.upstream.model}
            )
        if error:
            span.set_attribute("error.type", str(status))
            if status >= 500:
                span.set_status(telemetry.Status(telemetry.StatusCode.ERROR, error))
        if self.attempt_span is not None:
            _end_attempt(self.attempt_span, 200, error if status >= 500 else None, ended)
        span.end(end_time=ended)

    async def _settle(self, tokens: int, cost: float) -> None:
        for p in await self.gw.limits.settle(self.policies, self.estimated_tokens, tokens, cost):
            await audit.record_now(
                self.gw.db.sessionmaker,
                "gateway.budget_warning",
                resource_type=f"gateway_limit_{p.scope}",
                resource_id=p.subject_id,
                actor=SYSTEM,
                summary={
                    "budget": p.monthly_budget,
                    "spent": round(self.gw.limits.spend_of(p), 6),
                    "warn_ratio": p.warn_ratio,
                },
            )


_background: set[asyncio.Task] = set()
_children: dict[tuple, tuple] = {}


def _series(model: str, upstream: str, status_class: int) -> tuple:
    """The metric children of one label set, looked up once (labels() is not free on the hot path)."""
    key = (model, upstream, status_class)
    found = _children.get(key)
    if found is None:
        found = _children[key] = (
            REQUESTS.labels(model, upstream, f"{status_class}xx"),
            LATENCY.labels(model),
            TTFT.labels(model),
            TOKENS.labels(model, "prompt"),
            TOKENS.labels(model, "completion"),
        )
    return found


_OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
_PROVIDERS = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic"}
_SPANS = {
    "/v1/chat/completions": "gateway.chat",
    "/v1/completions": "gateway.completions",
    "/v1/embeddings": "gateway.embeddings",
    "/v1/models": "gateway.models",
}


def _attempt_span(call: _Call, up):
    """A child span for one upstream call (tracing is on), named as the GenAI conventions name client calls."""
    url = urlsplit(up.base_url)
    return telemetry.tracer.start_span(
        f"{_OPERATIONS[call.endpoint]} {up.model}",
        context=telemetry.context_of(call.span),
        kind=telemetry.SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": _OPERATIONS[call.endpoint],
            "gen_ai.request.model": up.model,
            "gen_ai.provider.name": _PROVIDERS.get(up.kind, up.kind),
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "axops.upstream": up.key,
            "axops.attempt": call.attempts,
        },
    )


def _end_attempt(span, status: int | None, error: str | None = None, ended: int | None = None) -> None:
    if span is None:
        return
    if status:
        span.set_attribute("http.response.status_code", status)
    if error or (status or 0) >= 400:
        span.set_attribute("error.type", error or str(status))
        span.set_status(telemetry.Status(telemetry.StatusCode.ERROR, error))
    span.end(end_time=ended)


async def _openai_lines(response: aiohttp.ClientResponse, kind: str, model: str) -> AsyncIterator[bytes]:
    """The upstream's stream as OpenAI chat.completion.chunk lines (translated for Anthropic)."""
    if kind != "anthropic":
        async for line in response.content:
            yield line
        return
    translator = anthropic.StreamTranslator(model)
    async for line in response.content:
        for out in translator.feed(line.strip()):
            yield out


async def _relay(
    call: _Call,
    response: aiohttp.ClientResponse,
    client_wants_usage: bool,
    cache_key: str | None = None,
    cache_ttl: int = 0,
) -> AsyncIterator[bytes]:
    """Pass the upstream's server-sent events through as they come; note the usage chunk (and,
    when the answer is to be cached, its text). When the client asked for usage, its chunk carries
    the cost too. The lines are kept if the usage may have to be counted from them."""
    tokens, status, error = None, 200, None
    upstream = call.target.upstream
    parts: list[str] | None = [] if cache_key or call.principal.log_content else None
    kept: list[bytes] | None = [] if call.target.tokenizer else None
    finish = None
    try:
        async for line in _openai_lines(response, upstream.kind, call.model):
            if call.ttft_ms is None:
                call.ttft_ms = call.elapsed_ms()
            if kept is not None:
                kept.append(line)
            if parts is not None and line.startswith(b"data: {"):
                choice = (orjson.loads(line[6:]).get("choices") or [{}])[0]
                delta = choice.get("delta") or {}
                if delta.get("tool_calls") or delta.get("function_call"):
                    parts = None  # not replayable from text: not cached
                else:
                    parts.append(delta.get("content") or "")
                    finish = choice.get("finish_reason") or finish
            if (
                line.startswith(b"data: {")
                and b'"usage"' in line
                and b'"usage":null' not in line
                and b'"usage": null' not in line
            ):
                try:
                    chunk = orjson.loads(line[6:])
                except orjson.JSONDecodeError:
                    chunk = {}
                tokens = _usage_of(chunk) or tokens
                if not client_wants_usage and not chunk.get("choices"):
                    continue  # the usage-only chunk we asked for on the client's behalf
                if client_wants_usage and tokens is not None:
                    chunk["usage"]["cost"] = call.cost_of(tokens)
                    line = b"data: " + orjson.dumps(chunk) + line[len(line.rstrip()) :]
            yield line
        upstream.succeeded(call.elapsed_ms())
        if parts is not None and cache_key:  # the stream ran to its end
            entry = {
                "content": "".join(parts),
                "finish_reason": finish or "stop",
                "cost": call.cost_of(tokens),
                "prompt_tokens": tokens[0] if tokens else 0,
                "completion_tokens": tokens[1] if tokens else 0,
            }
            await call.gw.cache.put(cache_key, entry, cache_ttl)
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, error = 502, f"upstream broke off the stream: {type(exc).__name__}"
        upstream.failed()
        message = {
            "error": {
                "message": "The upstream model server broke off the stream.",
                "type": "api_error",
                "param": None,
                "code": "upstream_error",
            }
        }
        yield b"data: " + orjson.dumps(message) + b"\n\n"
    except asyncio.CancelledError:  # the client went away: stop the upstream generating too
        status, error = 499, "client disconnected"
        raise
    finally:
        upstream.in_flight -= 1
        response.close()
        call.record(status, error, tokens, cache="miss" if cache_key else "off", text="".join(parts or ()), answer=kept)


async def _forward(request: Request, raw: bytes, path: str, endpoint: str) -> Response:
    gw: Gateway = request.app.state.gateway
    try:
        principal = await get_principal(request)
    except AppError as exc:
        return openai_error(exc.status, exc.detail or "Invalid API key.", code="invalid_api_key")
    if not principal.can("gateway:invoke"):
        return openai_error(403, "This key may not call models (it lacks the 'gateway:invoke' permission).")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return openai_error(400, "The request body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return openai_error(400, "`model` is required and must be a string.", param="model")
    if endpoint == "chat" and not isinstance(body.get("messages"), list):
        return openai_error(400, "`messages` is required and must be a list.", param="messages")
    if endpoint == "completions" and not isinstance(body.get("prompt"), (str, list)):
        return openai_error(400, "`prompt` is required and must be a string or a list.", param="prompt")
    if endpoint == "embeddings" and not isinstance(body.get("input"), (str, list)):
        return openai_error(400, "`input` is required and must be a string or a list.", param="input")
    if "stream" in body and not isinstance(body["stream"], bool):
        return openai_error(400, "`stream` must be a boolean.", param="stream")
    if (span := request.scope.get(SPAN)) is not None:
        span.set_attribute("gen_ai.request.model", body["model"])
    await gw.table.ensure(gw.db, gw.secret)
    route = gw.table.usable(principal, body["model"])
    if route is None:
        return openai_error(
            404,
            f"The model '{body['model']}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    if route.max_prompt_chars and len(raw) > route.max_prompt_chars:
        return openai_error(
            400,
            f"The request is {len(raw):,} characters; this model accepts at most {route.max_prompt_chars:,}.",
            code="context_length_exceeded",
            param="messages",
        )

    policies = gw.limits.applicable(principal)
    estimated = len(raw) // 4 + (body.get("max_tokens") if isinstance(body.get("max_tokens"), int) else 0)
    if policies:
        if any(p.monthly_budget is not None for p in policies):
            await gw.limits.refresh_spend(gw.db)
        refused = await gw.limits.admit(policies, estimated)
        if refused is not None:
            message, wait = refused
            if not wait:  # a spent budget: no point retrying before the month turns
                return openai_error(429, message, code="budget_exceeded")
            return openai_error(429, message, code="rate_limit_exceeded", headers={"Retry-After": retry_after(wait)})

    stream = bool(body.get("stream")) and endpoint != "embeddings"
    cache_key = None
    if (
        endpoint == "chat"
        and route.cache_ttl_s
        and cache.cacheable(body, request.headers.get("x-axops-cache") == "use")
    ):
        cache_key = cache.key_of(route.id, body)
        hit = await gw.cache.get(cache_key)
        cache.LOOKUPS.labels("hit" if hit else "miss").inc()
        if hit:
            call = _Call(
                gw, principal, endpoint, body["model"], stream, policies, estimated, body, request.scope.pop(SPAN, None)
            )
            call.record(
                200,
                None,
                (hit["prompt_tokens"], hit["completion_tokens"]),
                cache="hit",
                saved_cost=hit["cost"],
                text=hit["content"],
            )
            headers = {"x-axops-cache": "hit", "x-axops-cost": "0.0"}
            if stream:
                with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(
                    iter(cache.as_stream(hit, body["model"], with_usage)),
                    media_type="text/event-stream",
                    headers=headers,
                )
            return Response(cache.as_answer(hit, body["model"]), media_type="application/json", headers=headers)
    client_wants_usage = False
    if stream:
        options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
        client_wants_usage = bool(options.get("include_usage"))
        body["stream_options"] = {**options, "include_usage": True}  # count tokens from the upstream's own figures
    call = _Call(
        gw, principal, endpoint, body["model"], stream, policies, estimated, body, request.scope.pop(SPAN, None)
    )
    deadline = call.started + route.timeout_s
    last_status, last_error = 502, "no upstream is configured for this model"
    refusal: tuple[int, bytes] | None = None
    async for target in _tries(route, deadline):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            last_status, last_error = 504, "the route's deadline passed"
            break
        up = target.upstream
        if up.kind == "anthropic" and endpoint != "chat":
            last_error = f"{up.key} (Anthropic) serves chat only"
            continue
        call.attempts += 1
        call.target = target
        url, headers, payload = _upstream_request(up, path, body)
        attempt = None
        if call.span is not None:
            attempt = _attempt_span(call, up)
            telemetry.inject(headers, attempt)  # the upstream's own spans join the trace
        timeout = aiohttp.ClientTimeout(
            total=None if stream else min(up.timeout_s, remaining),
            sock_connect=min(10.0, remaining),
            sock_read=min(up.timeout_s, remaining),
        )
        up.in_flight += 1
        try:
            response = await gw.client.post(url, data=orjson.dumps(payload), headers=headers, timeout=timeout)
            if response.status >= 400:
                data = await response.read()
                response.release()
                _end_attempt(attempt, response.status)
                if _is_context_error(response.status, data):  # only a fallback with a longer context can help
                    up.in_flight -= 1
                    refusal = (response.status, data)
                    if route.fallbacks and target not in route.fallbacks:
                        continue
                    break
                if response.status in _RETRYABLE:
                    if response.status >= 500:
                        up.failed()
                    up.in_flight -= 1
                    last_status, last_error = 502, f"{up.key} answered {response.status}"
                    continue
                up.in_flight -= 1  # the request itself is wrong: the upstream's own error goes back as is
                call.record(response.status, f"{up.key} answered {response.status}")
                return Response(data, status_code=response.status, media_type="application/json")
            if stream:
                call.attempt_span = attempt
                headers = {
                    "x-axops-upstream": up.key,
                    "Cache-Control": "no-cache",
                    **({"x-axops-cache": "miss"} if cache_key else {}),
                }
                return StreamingResponse(
                    _relay(call, response, client_wants_usage, cache_key, route.cache_ttl_s),
                    media_type="text/event-stream",
                    headers=headers,
                )
            data = await response.read()
            result = orjson.loads(data)
            if not isinstance(result, dict):
                raise TypeError("not a JSON object")
            if up.kind == "anthropic":
                result = anthropic.from_anthropic(result, body["model"])
                data = orjson.dumps(result)
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError) as exc:
            _end_attempt(attempt, None, type(exc).__name__)
            up.failed()
            up.in_flight -= 1
            last_status, last_error = 502, f"{up.key}: {type(exc).__name__}"
            continue
        up.in_flight -= 1
        up.succeeded(call.elapsed_ms())
        _end_attempt(attempt, 200)
        tokens = _usage_of(result)
        call.record(
            200,
            None,
            tokens,
            cache="miss" if cache_key else "off",
            text=_text_of(result) if principal.log_content else "",
            answer=result,
        )
        headers = {"x-axops-upstream": up.key}
        if tokens is not None:  # else counted after the answer has gone: the usage record has the cost
            headers["x-axops-cost"] = str(call.cost_of(tokens))
        if cache_key:
            headers["x-axops-cache"] = "miss"
            if (entry := cache.entry_from_answer(result, call.cost_of(tokens))) is not None:
                await gw.cache.put(cache_key, entry, route.cache_ttl_s)
        return Response(data, media_type="application/json", headers=headers)
    if refusal is not None:  # the prompt is too long for every upstream: their own answer says so
        call.record(refusal[0], "context length exceeded")
        return Response(refusal[1], status_code=refusal[0], media_type="application/json")
    call.record(last_status, last_error)
    return openai_error(
        last_status, f"No upstream could answer for '{body['model']}' ({last_error}).", code="upstream_error"
    )


async def forward_json(request: Request, payload: dict) -> Response:
    """A non-streaming chat call on behalf of another endpoint (`/api/inference/{model}`)."""
    return await _forward(request, orjson.dumps({**payload, "stream": False}), "chat/completions", "chat")


async def chat_completions(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "chat/completions", "chat")


async def completions(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "completions", "completions")


async def embeddings(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "embeddings", "embeddings")


async def list_models(request: Request, body: bytes) -> Response:
    gw: Gateway = request.app.state.gateway
    try:
        principal = await get_principal(request)
    except AppError as exc:
        return openai_error(exc.status, exc.detail or "Invalid API key.", code="invalid_api_key")
    await gw.table.ensure(gw.db, gw.secret)
    names = (
        sorted(n for n, r in gw.table.routes.items() if r.usable_by(principal))
        if principal.can("gateway:invoke")
        else []
    )
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "axops"} for n in names]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


_HANDLERS = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/completions"): completions,
    ("POST", "/v1/embeddings"): embeddings,
    ("GET", "/v1/models"): list_models,
}


class _TooLarge(Exception):
    pass


class FastPath:
    """The ASGI entry of `/v1` requests, called ahead of the API's routing and middleware stack;
    they still get a request id, the body limit and the latency metric."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        handler = _HANDLERS.get((scope["method"], scope["path"]))
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        client = scope.get("client")
        token = context.bind(context.RequestContext(request_id=request_id, client_ip=client[0] if client else None))
        response = None
        if telemetry.tracer is not None and handler is not None:
            parent = telemetry.parent_of({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
            scope[SPAN] = telemetry.tracer.start_span(
                _SPANS[scope["path"]],
                context=parent,
                kind=telemetry.SpanKind.SERVER,
                attributes={
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "axops.request_id": request_id,
                },
            )
        try:
            if handler is None:
                response = openai_error(404, f"Unknown endpoint: {scope['method']} {scope['path']}.")
            else:
                try:
                    response = await handler(Request(scope), await self._body(receive))
                except _TooLarge:
                    response = openai_error(
                        413, f"The request body exceeds {self.max_body_bytes:,} bytes.", code="request_too_large"
                    )
                except Exception:  # answered in OpenAI's shape; the traceback goes to the log
                    log.exception("gateway.internal_error")
                    response = openai_error(500, f"Internal error (request id {request_id}).")
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
        finally:
            status = response.status_code if response else 500
            metrics.observe_request(
                scope["method"], scope["path"] if handler else "unmatched", status, time.perf_counter() - started
            )
            if (span := scope.pop(SPAN, None)) is not None:  # no call took it over: refused, or the model list
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(telemetry.Status(telemetry.StatusCode.ERROR))
                span.end()
            context.reset(token)

    async def _body(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
