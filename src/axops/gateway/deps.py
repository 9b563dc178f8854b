"""The gateway's process-wide state as a route dependency (core's AppState cannot name its type)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from axops.gateway.state import Gateway


async def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.axops.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]
