"""What may be logged to a run: the limits, params and tags as key → string maps, metric points as columns."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from axops.core.errors import Invalid
from axops.experiments.schemas import KEY_RULE, MAX_KEY, valid_key

MAX_METRICS = 10_000  # per log_batch call of the axops API (the MLflow API: 1000)
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def _now_ms() -> int:
    return int(time.time() * 1000)


def strings(kind: str, values: Any, max_items: int, max_value: int) -> dict[str, str]:
    """Params or tags (`kind`) as key → string: keys by the key rule, numbers and booleans as text."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise Invalid(f"{kind} must be an object of key → value strings.")
    if len(values) > max_items:
        raise Invalid(f"At most {max_items} {kind} per call ({len(values)} given).")
    out = {}
    for k, v in values.items():
        if not valid_key(k):
            raise Invalid(f"Invalid {kind} key {str(k)[:MAX_KEY]!r}: keys are {KEY_RULE}.")
        if isinstance(v, bool) or v is None:
            v = "" if v is None else str(v).lower()
        elif isinstance(v, int | float):
            v = repr(v) if isinstance(v, float) else str(v)
        elif not isinstance(v, str):
            raise Invalid(f"{kind}.{k} must be a string or a number.")
        if len(v) > max_value:
            raise Invalid(f"{kind}.{k} is longer than {max_value} characters.")
        out[k] = v
    return out


def _float(v: Any, i: int) -> float:
    if isinstance(v, bool):
        raise Invalid(f"metrics[{i}].value must be a number.")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "infinity", "-inf", "-infinity", "+inf", "+infinity"):
        return float(v.strip().lower().replace("infinity", "inf"))
    raise Invalid(f"metrics[{i}].value must be a number.")


def _int(v: Any, what: str, i: int) -> int:
    if isinstance(v, bool):
        raise Invalid(f"metrics[{i}].{what} must be an integer.")
    if isinstance(v, int):
        n = v
    elif (isinstance(v, float) and v.is_integer()) or (isinstance(v, str) and v.lstrip("-").isdigit()):
        n = int(v)
    else:
        raise Invalid(f"metrics[{i}].{what} must be an integer.")
    if not -(2**63) <= n < 2**63:
        raise Invalid(f"metrics[{i}].{what} is out of range.")
    return n


def metric_columns(metrics: Iterable[Any], max_items: int = MAX_METRICS) -> tuple[list, list, list, list]:
    """Validate metric points (dicts with key, value, step, timestamp) into four column lists."""
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    now = None
    for i, m in enumerate(metrics):
        if i >= max_items:
            raise Invalid(f"At most {max_items} metric points per call.")
        if not isinstance(m, dict):
            raise Invalid(f"metrics[{i}] must be an object with key, value, step and timestamp.")
        key = m.get("key")
        if not valid_key(key):
            raise Invalid(f"Invalid metric key {str(key)[:MAX_KEY]!r} (metrics[{i}].key): keys are {KEY_RULE}.")
        keys.append(key)
        values.append(_float(m.get("value"), i))
        step = m.get("step")
        steps.append(0 if step is None else _int(step, "step", i))
        ts = m.get("timestamp")
        if ts is None:
            now = now or _now_ms()
            ts = now
        stamps.append(_int(ts, "timestamp", i))
    return keys, values, steps, stamps
