"""The semantic cache's figures for the Cost page (`infra:read`; without gateway:admin, the caller's
teams' requests only). Its settings are a route's field, changed with the routes (`gateway:admin`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from axops.auth.deps import Principal, Session, require
from axops.core.state import SettingsDep
from axops.gateway import semantic_cache_service

router = APIRouter(prefix="/api/gateway/semantic-cache", tags=["gateway"])
Reader = Annotated[Principal, require("infra:read")]


class SemanticCacheTotals(BaseModel):
    hits: int
    misses: int
    hit_rate: float | None = Field(None, description="hits / (hits + misses); null without lookups")
    saved_cost: float = Field(description="What the hits would have cost upstream")


class SemanticCacheRoute(SemanticCacheTotals):
    route: str
    threshold: float | None = Field(None, description="The route's current threshold (null: not configured now)")
    enabled: bool


class SemanticCachePoint(SemanticCacheTotals):
    ts: datetime


class SemanticCacheStats(BaseModel):
    since: datetime
    until: datetime
    bucket: str = Field(description="hour (ranges up to 3 days) or day")
    currency: str
    totals: SemanticCacheTotals
    routes: list[SemanticCacheRoute]
    series: list[SemanticCachePoint]


@router.get("/stats")
async def stats(
    principal: Reader,
    session: Session,
    settings: SettingsDep,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> SemanticCacheStats:
    """Semantic cache hits, misses, hit rate and saved cost per route and over time (default: 7 days)."""
    found = await semantic_cache_service.stats(session, principal, since, until)
    return SemanticCacheStats(currency=settings.gateway_currency, **found)
