"""The environment local runtimes (replicas, training jobs) start with.

A runtime talks to the control plane with its own scoped key; it gets none of the server's own
settings and credentials (its secret key, database URL, object-store and hub credentials)."""

from __future__ import annotations

import os

_SERVER_ONLY_PREFIXES = ("AXOPS_", "AWS_", "PG", "REDIS_")
_SERVER_ONLY = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "DATABASE_URL"}


def runtime_environment(**own: str) -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(_SERVER_ONLY_PREFIXES) and k not in _SERVER_ONLY
    }
    return {**inherited, **own}
