"""OpenTelemetry traces, exported by OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set or `AXOPS_OTEL=true`; the exporter reads the other
standard `OTEL_*` variables itself (headers, timeout, service name...).

When tracing is off `tracer` is None and instrumented code skips its spans altogether: the hot
path pays one attribute check, not even the API's no-op tracer."""

from __future__ import annotations

import os
from contextvars import Token

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import SpanKind, Status, StatusCode

tracer: trace.Tracer | None = None
_provider = None

__all__ = [
    "Context",
    "SpanKind",
    "Status",
    "StatusCode",
    "attach_span",
    "configure",
    "context_of",
    "detach",
    "inject",
    "parent_of",
    "shutdown",
    "tracer",
]


def wanted(otel_setting: bool) -> bool:
    return otel_setting or bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(otel_setting: bool = False, exporter=None) -> bool:
    """Start tracing if it is wanted (or an exporter is given: tests pass an in-memory one, whose
    spans are then handed over as each ends). Returns whether tracing is on."""
    global tracer, _provider
    if exporter is None and not wanted(otel_setting):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from axops import __version__

    shutdown()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "axops"), "service.version": __version__}
        )
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, tracer = provider, provider.get_tracer("axops")
    return True


def shutdown() -> None:
    """Export what is buffered and stop tracing."""
    global tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    tracer = _provider = None


def parent_of(headers) -> Context:
    """The caller's trace context (W3C `traceparent`) from request headers, if it sent one."""
    return propagate.extract(headers)


def context_of(span) -> Context:
    return trace.set_span_in_context(span)


def attach_span(span) -> Token[Context]:
    """Make `span` the current one (for this task); returns the token for detach()."""
    return attach(trace.set_span_in_context(span))


def inject(headers: dict, span) -> None:
    """Add `traceparent` (and `tracestate`) naming `span` to outgoing request headers."""
    propagate.inject(headers, context=trace.set_span_in_context(span))
