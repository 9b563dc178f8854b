"""A/B experiments on a prompt label: assignment of callers to variants, start, stop, promote, results."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

_SCALE = float(1 << 64)


def bucket(experiment_id: uuid.UUID | str, sticky_key: str) -> float:
    """A deterministic float in [0, 1) for this caller in this experiment."""
    digest = hashlib.blake2b(f"{experiment_id}:{sticky_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def choose(experiment_id: uuid.UUID | str, variants: Sequence[dict[str, Any]], sticky_key: str) -> int:
    """The version this caller gets: the same caller always lands on the same variant (sticky), and
    callers split between variants in proportion to their weights."""
    total = sum(float(v["weight"]) for v in variants)
    point = bucket(experiment_id, sticky_key) * total
    acc = 0.0
    for v in variants:
        acc += float(v["weight"])
        if point < acc:
            return int(v["version"])
    return int(variants[-1]["version"])
