"""The bookkeeping of one `/v1` request: who called, which route and upstream, attempts, timing.
When it ends, `Call.record` queues its usage record (and content log), updates the instruments,
settles rate limits and budgets and, with tracing on, ends its spans."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from axops.auth import audit
from axops.auth.scoping import SYSTEM
from axops.core import context, telemetry
from axops.gateway.instruments import COUNTED, series
from axops.gateway.limits import Policy
from axops.gateway.table import Target
from axops.gateway.usage_writer import prompt_features

_background: set[asyncio.Task] = set()
_OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}


class Call:
    """One gateway request, from admission to its usage record (writes it, and ends its span)."""

    def __init__(
        self,
        gw,
        principal,
        endpoint: str,
        model: str,
        stream: bool,
        policies: list[Policy],
        estimated_tokens: int,
        body: dict,
        span=None,
        prompt=None,
    ) -> None:
        self.gw, self.principal, self.endpoint, self.model, self.stream = gw, principal, endpoint, model, stream
        self.body = body
        self.policies, self.estimated_tokens = policies, estimated_tokens
        ctx = context.current()
        self.request_id, self.client_ip = ctx.request_id, ctx.client_ip
        self.started = time.perf_counter()
        self.attempts = 0
        self.target: Target | None = None
        self.ttft_ms: float | None = None
        self.span = span  # the request's span when tracing is on; this call ends it
        self.attempt_span = None  # a stream's upstream call, ended when the stream is
        self.prompt = prompt  # prompting.Applied: the saved prompt (and A/B experiment) the request was made with

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
        p, pr = self.principal, self.prompt
        upstream = t.upstream.key if t else "none"
        children = series(self.model, "cache" if cache in ("hit", "semantic") else upstream, status // 100)
        children[0].inc()
        children[1].observe(latency_ms / 1000)
        if self.ttft_ms is not None:
            children[2].observe(self.ttft_ms / 1000)
        if tokens[0] or tokens[1]:
            children[3].inc(tokens[0])
            children[4].inc(tokens[1])
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
            prompt_name=pr.prompt_name if pr is not None else None,
            prompt_version=pr.prompt_version if pr is not None else None,
            prompt_experiment_id=pr.experiment_id if pr is not None else None,
            features=prompt_features(self.body) if isinstance(self.body, dict) else None,
            client_ip=self.client_ip,
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
            end_attempt(self.attempt_span, 200, error if status >= 500 else None, ended)
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


def attempt_span(call: Call, up):
    """A child span for one upstream call (tracing is on), named as the GenAI conventions name client calls."""
    url = urlsplit(up.base_url)
    return telemetry.tracer.start_span(
        f"{_OPERATIONS[call.endpoint]} {up.model}",
        context=telemetry.context_of(call.span),
        kind=telemetry.SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": _OPERATIONS[call.endpoint],
            "gen_ai.request.model": up.model,
            "gen_ai.provider.name": up.adapter.telemetry_name,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "axops.upstream": up.key,
            "axops.attempt": call.attempts,
        },
    )


def end_attempt(span, status: int | None, error: str | None = None, ended: int | None = None) -> None:
    if span is None:
        return
    if status:
        span.set_attribute("http.response.status_code", status)
    if error or (status or 0) >= 400:
        span.set_attribute("error.type", error or str(status))
        span.set_status(telemetry.Status(telemetry.StatusCode.ERROR, error))
    span.end(end_time=ended)
