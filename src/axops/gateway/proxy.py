"""The OpenAI-compatible hot path (`/v1`): plain Starlette handlers with orjson, no per-request
validation models, no database round trip (keys and routes are cached in memory), usage
queued for batch writing. Upstreams are called through one pooled aiohttp session.

Failover: a connection error, timeout, 5xx, 429 or context-length refusal moves to the next
target (strategy order, then fallbacks) within the route's deadline. Once a stream has started
it is relayed chunk by chunk and not retried; a break mid-stream ends it with an error event.

Around it: state.py holds the process-wide Gateway, table.py the routes and upstreams, providers.py
how each provider kind is called, call.py a request's bookkeeping (usage record, instruments,
spans), openai_schemas.py the shapes answered. Hot path rules: no database round trip, nothing
looked up per request that can be resolved when the table loads, no validation models."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from axops.auth.deps import get_principal
from axops.core import context, metrics, telemetry
from axops.core.errors import AppError
from axops.gateway import agent_hook, cache, guarding, prompting, semantic_cache, transfer
from axops.gateway.call import Call, attempt_span, end_attempt
from axops.gateway.instruments import CACHE_HITS, CACHE_MISSES
from axops.gateway.limits import retry_after
from axops.gateway.state import Gateway
from axops.gateway.table import Target, failure_kind, plan

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
log = logging.getLogger("axops.gateway")
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SPAN = "axops.span"  # the request's trace span, in the ASGI scope: whoever takes it out ends it


def openai_error(
    status: int, message: str, code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """An error in OpenAI's shape, so SDKs raise the matching exception."""
    body = {"error": {"message": message, "type": _ERROR_TYPES.get(status, "api_error"), "param": param, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


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


def _text_of(answer: dict) -> str:
    choice = (answer.get("choices") or [{}])[0]
    return (choice.get("message") or {}).get("content") or choice.get("text") or ""


def _is_context_error(status: int, body: bytes) -> bool:
    return status in (400, 413) and (b"context_length" in body or b"maximum context length" in body)


_SPANS = {
    "/v1/chat/completions": "gateway.chat",
    "/v1/completions": "gateway.completions",
    "/v1/embeddings": "gateway.embeddings",
    "/v1/models": "gateway.models",
}


async def _relay(
    call: Call,
    response: aiohttp.ClientResponse,
    client_wants_usage: bool,
    cache_key: str | None = None,
    cache_ttl: int = 0,
    semantic: semantic_cache.Lookup | None = None,
) -> AsyncIterator[bytes]:
    """Pass the upstream's server-sent events through as they come; note the usage chunk (and,
    when the answer is to be cached, its text). When the client asked for usage, its chunk carries
    the cost too. The lines are kept if the usage may have to be counted from them."""
    tokens, status, error = None, 200, None
    upstream = call.target.upstream
    parts: list[str] | None = [] if cache_key or semantic or call.principal.log_content else None
    kept: list[bytes] | None = [] if call.target.tokenizer else None
    finish, kept_answer = None, False

    async def keep() -> None:
        """Cache the answer once it is whole: before [DONE] goes out, so the client's next request finds it."""
        nonlocal kept_answer
        if kept_answer or parts is None or not (cache_key or semantic):
            return
        kept_answer = True
        entry = {
            "content": "".join(parts),
            "finish_reason": finish or "stop",
            "cost": call.cost_of(tokens),
            "prompt_tokens": tokens[0] if tokens else 0,
            "completion_tokens": tokens[1] if tokens else 0,
        }
        if cache_key:
            await call.gw.cache.put(cache_key, entry, cache_ttl)
        semantic_cache.remember(call.gw, semantic, entry)

    try:
        async for line in upstream.adapter.stream(response.content, call.model):
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
            if line.startswith(b"data: [DONE]"):
                await keep()
            yield line
        upstream.succeeded(call.elapsed_ms())
        await keep()  # the stream ran to its end (without [DONE] from some servers)
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, error = 502, f"upstream broke off the stream: {type(exc).__name__}"
        upstream.failed("stream_broken")
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
        outcome = "semantic_miss" if semantic else "miss" if cache_key else "off"
        call.record(status, error, tokens, cache=outcome, text="".join(parts or ()), answer=kept)


async def _forward(request: Request, raw: bytes, endpoint: str) -> Response:
    gw: Gateway = request.app.state.axops.gateway
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
    if endpoint == "chat" and agent_hook.is_agent(body):
        return await _agent(request, principal, body)
    if isinstance(body, dict) and "prompt_id" in body:  # a saved prompt: rendered, then routed as any request
        if prompting.resolver is None:
            return openai_error(400, "This server does not serve saved prompts.", param="prompt_id")
        applied = await prompting.resolver.apply(gw.db, principal, body, endpoint)
        if isinstance(applied, prompting.Refused):
            return openai_error(applied.status, applied.message, code=applied.code, param=applied.param)
        response = await _route(request, gw, principal, orjson.dumps(applied.body), applied.body, endpoint, applied)
        response.headers["x-axops-prompt"] = f"{applied.prompt_name}:{applied.prompt_version}"
        return response
    return await _route(request, gw, principal, raw, body, endpoint)


async def _agent(request: Request, principal, body: dict) -> Response:
    if not principal.can("agents:write"):
        return openai_error(403, "This key may not run agents (it lacks the 'agents:write' permission).")
    if agent_hook.runner is None:
        return openai_error(404, "This server does not run agents.", code="model_not_found", param="model")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return openai_error(400, "`messages` is required and must be a non-empty list.", param="messages")
    if "stream" in body and not isinstance(body["stream"], bool):
        return openai_error(400, "`stream` must be a boolean.", param="stream")
    answer = await agent_hook.runner.answer(request, principal, body["model"][len(agent_hook.PREFIX) :], body)
    if isinstance(answer, prompting.Refused):
        return openai_error(answer.status, answer.message, code=answer.code, param=answer.param)
    return answer


async def _route(
    request: Request, gw: Gateway, principal, raw: bytes, body, endpoint: str, prompt: prompting.Applied | None = None
) -> Response:
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
    access = await transfer.admit(gw, principal, route)  # access policies (axops.policy)
    if isinstance(access, transfer.Refusal):
        return openai_error(access.status, access.message, code=access.code, param="model")
    if route.max_prompt_chars and len(raw) > route.max_prompt_chars:
        return openai_error(
            400,
            f"The request is {len(raw):,} characters; this model accepts at most {route.max_prompt_chars:,}.",
            code="context_length_exceeded",
            param="messages",
        )

    guarded = await guarding.check_input(gw, principal, route, body, endpoint)
    if guarded is not None and guarded.blocked:
        return openai_error(guarded.status, guarded.blocked, code=guarded.code)
    cacheable = guarded is None or not guarded.active  # checked or restored answers are per request
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
        and cacheable
        and cache.cacheable(body, request.headers.get("x-axops-cache") == "use")
    ):
        cache_key = cache.key_of(route.id, body)
        hit = await gw.cache.get(cache_key)
        if hit:
            CACHE_HITS.inc()
            call = Call(
                gw,
                principal,
                endpoint,
                body["model"],
                stream,
                policies,
                estimated,
                body,
                request.scope.pop(SPAN, None),
                prompt,
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
        CACHE_MISSES.inc()
    semantic = None
    if (
        endpoint == "chat"
        and route.semantic
        and cacheable
        and cache.cacheable(body, request.headers.get("x-axops-cache") == "use")
    ):
        semantic = await semantic_cache.lookup(gw, principal, route, body)
        if semantic is not None and semantic.entry is not None:
            span = request.scope.pop(SPAN, None)
            call = Call(gw, principal, endpoint, body["model"], stream, policies, estimated, body, span, prompt)
            return semantic_cache.replay(call, semantic)
    client_wants_usage = False
    if stream:
        options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
        client_wants_usage = bool(options.get("include_usage"))
        body["stream_options"] = {**options, "include_usage": True}  # count tokens from the upstream's own figures
    call = Call(
        gw, principal, endpoint, body["model"], stream, policies, estimated, body, request.scope.pop(SPAN, None), prompt
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
        if up.external and not access.external_ok(body, endpoint):  # PII or transfer forbidden: internal only
            continue
        url = up.urls.get(endpoint)
        if url is None:
            last_error = f"{up.key} ({up.adapter.name}) serves {', '.join(up.urls)} only"
            continue
        call.attempts += 1
        call.target = target
        payload = up.adapter.body(body, up)
        headers = up.headers  # built once per upstream; aiohttp copies what it is given
        attempt = None
        if call.span is not None:
            attempt = attempt_span(call, up)
            headers = {**headers}
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
                end_attempt(attempt, response.status)
                if _is_context_error(response.status, data):  # only a fallback with a longer context can help
                    up.in_flight -= 1
                    refusal = (response.status, data)
                    if route.fallbacks and target not in route.fallbacks:
                        continue
                    break
                if response.status in _RETRYABLE:
                    if response.status >= 500:
                        up.failed("status", response.status)
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
                    **({"x-axops-cache": "semantic-miss"} if semantic else {}),
                }
                relay = _relay(call, response, client_wants_usage, cache_key, route.cache_ttl_s, semantic)
                return StreamingResponse(
                    guarding.guard_stream(relay, guarded, body["model"]) if guarded and guarded.active else relay,
                    media_type="text/event-stream",
                    headers=headers,
                )
            data = await response.read()
            result = orjson.loads(data)
            if not isinstance(result, dict):
                raise TypeError("not a JSON object")
            if up.adapter.translates:
                result = up.adapter.answer(result, body["model"])
                data = orjson.dumps(result)
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError) as exc:
            end_attempt(attempt, None, type(exc).__name__)
            up.failed(failure_kind(exc))
            up.in_flight -= 1
            last_status, last_error = 502, f"{up.key}: {type(exc).__name__}"
            continue
        up.in_flight -= 1
        up.succeeded(call.elapsed_ms())
        end_attempt(attempt, 200)
        tokens = _usage_of(result)
        if guarded is not None and guarded.active:
            if not guarded.check_answer(result):
                call.record(200, None, tokens, answer=result)
                return openai_error(400, guarded.blocked, code=guarding.CODE)
            data = orjson.dumps(result)
        call.record(
            200,
            None,
            tokens,
            cache="semantic_miss" if semantic else "miss" if cache_key else "off",
            text=_text_of(result) if principal.log_content else "",
            answer=result,
        )
        headers = {"x-axops-upstream": up.key}
        if tokens is not None:  # else counted after the answer has gone: the usage record has the cost
            headers["x-axops-cost"] = str(call.cost_of(tokens))
        if cache_key or semantic:
            headers["x-axops-cache"] = "semantic-miss" if semantic else "miss"
            if (entry := cache.entry_from_answer(result, call.cost_of(tokens))) is not None:
                if cache_key:
                    await gw.cache.put(cache_key, entry, route.cache_ttl_s)
                semantic_cache.remember(gw, semantic, entry)
        return Response(data, media_type="application/json", headers=headers)
    if call.attempts == 0 and access.skipped:  # only external targets, and the request may not leave
        refused = transfer.refused_transfer(body["model"])
        call.record(refused.status, refused.code)
        return openai_error(refused.status, refused.message, code=refused.code, param="model")
    if refusal is not None:  # the prompt is too long for every upstream: their own answer says so
        call.record(refusal[0], "context length exceeded")
        return Response(refusal[1], status_code=refusal[0], media_type="application/json")
    call.record(last_status, last_error)
    return openai_error(
        last_status, f"No upstream could answer for '{body['model']}' ({last_error}).", code="upstream_error"
    )


async def forward_json(request: Request, payload: dict) -> Response:
    """A non-streaming chat call on behalf of another endpoint (`/api/inference/{model}`)."""
    return await _forward(request, orjson.dumps({**payload, "stream": False}), "chat")


async def chat_completions(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "chat")


async def completions(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "completions")


async def embeddings(request: Request, body: bytes) -> Response:
    return await _forward(request, body, "embeddings")


async def list_models(request: Request, body: bytes) -> Response:
    gw: Gateway = request.app.state.axops.gateway
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
    names = await transfer.callable_names(gw, principal, names)  # routes an access policy refuses are not listed
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
