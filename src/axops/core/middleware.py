"""Pure ASGI middleware: request context and id, security headers, body size limit, access log, latency
metrics and, with tracing on, a span per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from axops.core import context, metrics, telemetry
from axops.core.errors import problem_response
from axops.core.logging import event

log = logging.getLogger("axops.http")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Vuetify and ECharts set inline styles, hence style-src 'unsafe-inline'; scripts only from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# Sent on HTTPS responses only (browsers ignore it over HTTP); no includeSubDomains: other hosts of the
# domain may still serve plain HTTP.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        large_body_prefixes: tuple[str, ...] = (),
        max_upload_bytes: int = 0,
        body_limits: tuple[tuple[str, int], ...] = (),
        behind_tls_proxy: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_body_prefixes = large_body_prefixes
        self.max_upload_bytes = max_upload_bytes
        self.body_limits = body_limits  # (path prefix, at least this many bytes): JSON batch endpoints
        # A proxy terminates TLS in front of every request: treat them as HTTPS (Secure cookies, HSTS).
        self.behind_tls_proxy = behind_tls_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.behind_tls_proxy:
            scope["scheme"] = "https"
        https = scope.get("scheme") == "https"
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        client = scope.get("client")
        ctx = context.RequestContext(
            request_id=request_id,
            client_ip=client[0] if client else None,
            user_agent=headers.get("user-agent", "")[:200] or None,
        )
        token = context.bind(ctx)
        start = time.perf_counter()
        status = 500
        started = False
        span = attached = None
        if telemetry.tracer is not None:
            span = telemetry.tracer.start_span(
                scope["method"],
                context=telemetry.parent_of(headers),
                kind=telemetry.SpanKind.SERVER,
                attributes={
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "axops.request_id": request_id,
                },
            )
            attached = telemetry.attach_span(span)  # the spans of whatever this request does are its children

        api = scope["path"].startswith("/api/")

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if https and HSTS[0] not in present:
                    extra.append(HSTS)
                if api and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        limit = self.max_body_bytes
        if any(scope["path"].startswith(p) for p in self.large_body_prefixes):
            limit = self.max_upload_bytes  # uploads stream; they get the (much larger) upload limit
        elif limit:
            for prefix, at_least in self.body_limits:
                if scope["path"].startswith(prefix):
                    limit = max(limit, at_least)
        try:
            if limit:
                declared = headers.get("content-length")
                if declared is not None and (not declared.isdigit() or int(declared) > limit):
                    await self._too_large(send_wrapper, limit)
                    return
                receive = self._limited(receive, limit)
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            if not started:
                await self._too_large(send_wrapper, limit or 0)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or ("static" if status < 400 else "unmatched")
            metrics.observe_request(scope["method"], template, status, elapsed)
            if span is not None and attached is not None:  # both or neither
                span.update_name(f"{scope['method']} {template}")
                span.set_attributes({"http.route": template, "http.response.status_code": status})
                if status >= 500:
                    span.set_status(telemetry.Status(telemetry.StatusCode.ERROR))
                span.end()
                telemetry.detach(attached)
            # Reads that succeed quickly are logged at DEBUG; changes, errors and slow requests at INFO.
            quiet = scope["method"] in ("GET", "HEAD") and status < 400 and elapsed < 1.0
            event(
                log,
                "http.request",
                level=logging.DEBUG if quiet else logging.INFO,
                method=scope["method"],
                path=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client_ip=ctx.client_ip,
            )
            context.reset(token)

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge()
            return message

        return wrapped

    @staticmethod
    async def _too_large(send: Send, limit: int) -> None:
        response = problem_response(
            413, "payload_too_large", "Payload too large", f"The request body exceeds the limit of {limit} bytes."
        )
        await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
