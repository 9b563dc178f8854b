"""The hook through which `/v1/chat/completions` with `model: "agent:NAME"` runs an agent.

The gateway sits below the agents package and may not import it: `axops.agents.gateway` sets
`runner` when it is imported (the app imports it). The proxy calls it after the caller's key is
checked for `gateway:invoke` and `agents:write`; the agent's own model calls come back through
`/v1` with the run's key, so limits, guardrails, budgets and usage records apply to each of them."""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from axops.gateway.prompting import Refused

PREFIX = "agent:"


class AgentRunner(Protocol):
    async def answer(self, request: Request, principal, name: str, body: dict) -> Response | Refused:
        """Run the agent `name` on the caller's messages; an OpenAI chat completion (or its chunks)."""
        ...


runner: AgentRunner | None = None


def register(r: AgentRunner) -> None:
    global runner
    runner = r


def is_agent(body) -> bool:
    return isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"].startswith(PREFIX)
