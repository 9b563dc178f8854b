"""What calling a tool returns, whatever kind it is (HTTP, MCP, Python): the one shape the tool
service records and agents feed back to the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Why a call failed: the tool's own error is `tool_error`; the rest are the platform refusing or giving up.
ERROR_KINDS = (
    "invalid_arguments",  # the arguments do not match the parameter schema (the model is told)
    "timeout",  # the tool's timeout passed
    "tool_error",  # the tool answered with an error (HTTP 4xx/5xx, MCP isError, a Python exception)
    "crash",  # the process died (signal, out of memory)
    "output_too_large",
    "network_refused",  # a host outside the tool's allowlist
    "unavailable",  # the server could not be reached (an MCP server that went away, DNS, refused)
    "blocked",  # guardrails blocked the output (e.g. prompt injection in a tool result)
    "rejected",  # a person declined the call
)


@dataclass(slots=True)
class ToolOutcome:
    ok: bool
    output: Any = None  # JSON-able: str, number, list or dict
    error: str | None = None  # a message safe to show the model and the user: no secrets, no server paths
    error_kind: str | None = None  # one of ERROR_KINDS
    latency_ms: float = 0.0
    detail: dict | None = None  # kind-specific facts for the trace (HTTP status, stderr tail, sandbox limits hit)
