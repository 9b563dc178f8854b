"""Running a Python tool in the sandbox (axops.sandbox, bubblewrap): the version's source and
function, the tool's timeout as the wall-clock limit, its allowlist as the only network."""

from __future__ import annotations

import asyncio
import inspect
import math
import time
import uuid
from typing import Any

from axops.tools.outcome import ERROR_KINDS, ToolOutcome

STDERR_TAIL = 2000


def check_spec(spec: dict) -> dict:
    source, function = spec.get("source"), spec.get("function")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source is required")
    if len(source) > 200_000:
        raise ValueError("source is longer than 200,000 characters")
    if not isinstance(function, str) or not function.isidentifier():
        raise ValueError("function must be a Python identifier")
    try:
        compile(source, "<tool>", "exec")
    except SyntaxError as exc:
        raise ValueError(f"source line {exc.lineno}: {exc.msg}") from None
    out = {"source": source, "function": function}
    if spec.get("dataset_version_id") is not None:
        try:
            out["dataset_version_id"] = str(uuid.UUID(str(spec["dataset_version_id"])))
        except ValueError:
            raise ValueError("dataset_version_id must be a UUID") from None
    return out


def _sandbox() -> tuple[Any, Any] | None:
    """The sandbox's `run_python` and `Limits`, wherever the package exposes them."""
    try:
        from axops import sandbox
    except ImportError:  # pragma: no cover - the package is part of axops
        return None
    run_python, limits = getattr(sandbox, "run_python", None), getattr(sandbox, "Limits", None)
    if run_python is None:
        try:
            from axops.sandbox.runner import run_python
        except ImportError:
            return None
    if limits is None:
        from axops.sandbox.isolation import Limits as limits
    return run_python, limits


def _limits(limits_class: Any, timeout_s: float) -> Any:
    """The sandbox's defaults, with the tool's timeout as the wall clock and as the CPU budget."""
    try:
        return limits_class(wall_s=timeout_s, cpu_s=max(1, math.ceil(timeout_s)))
    except TypeError:
        return limits_class()


async def run(
    spec: dict, arguments: dict, *, timeout_s: float, allow_hosts: list[str], files: dict[str, bytes] | None = None
) -> ToolOutcome:
    """`files` are copied into the sandbox's work directory (a dataset version's file: `data.parquet`)."""
    started = time.perf_counter()
    found = _sandbox()
    if found is None:
        return ToolOutcome(ok=False, error_kind="unavailable", error="The Python sandbox is not available.")
    run_python, limits_class = found
    call: dict[str, Any] = dict(limits=_limits(limits_class, timeout_s), allow_hosts=tuple(allow_hosts))
    if files:
        call["files"] = files
    if inspect.iscoroutinefunction(run_python):
        result = await run_python(spec["source"], spec["function"], arguments, **call)
    else:
        result = await asyncio.to_thread(run_python, spec["source"], spec["function"], arguments, **call)
    latency = round((time.perf_counter() - started) * 1000, 3)
    detail = {
        "duration_ms": getattr(result, "duration_ms", None),
        "stdout": (getattr(result, "stdout", "") or "")[-STDERR_TAIL:],
        "stderr": (getattr(result, "stderr", "") or "")[-STDERR_TAIL:],
    }
    if result.ok:
        return ToolOutcome(ok=True, output=result.value, latency_ms=latency, detail=detail)
    kind = result.error_kind if result.error_kind in ERROR_KINDS else "tool_error"
    return ToolOutcome(
        ok=False, error=result.error or "The tool failed.", error_kind=kind, latency_ms=latency, detail=detail
    )
