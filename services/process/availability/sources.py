"""Snapshots read from the system APIs: DC stock (system-wms), stores and store stock (system-pos), ERP
financial stock (system-erp). Used to build the projection at start and by reconciliation."""

from __future__ import annotations

from collections.abc import AsyncIterator

from shared.http import Upstreams
from shared.models.common import Page
from shared.models.inventory import Location, StockPosition
from shared.problems import ProblemError

PAGE = 1000
ERP_PAGE = 500


async def _pages(
    http: Upstreams, upstream: str, params: dict[str, str | int], limit: int
) -> AsyncIterator[list[StockPosition]]:
    cursor: str | None = None
    while True:
        query = dict(params, limit=limit)
        if cursor:
            query["cursor"] = cursor
        response = await http[upstream].get("/stock", params=query)
        if not response.ok:
            raise ProblemError(
                "upstream-error", f"{upstream}: GET /stock answered {response.status}", upstream=upstream
            )
        page = response.json(Page[StockPosition])
        yield page.items
        cursor = page.next_cursor
        if not cursor:
            return


async def dc_stock(http: Upstreams, location: str | None = None) -> AsyncIterator[list[StockPosition]]:
    """Every DC's stock (or one DC's) from system-wms, a page at a time."""
    async for items in _pages(http, "system-wms", {"location": location} if location else {}, PAGE):
        yield items


async def store_stock(http: Upstreams, store: str) -> AsyncIterator[list[StockPosition]]:
    async for items in _pages(http, "system-pos", {"location": store}, PAGE):
        yield items


async def erp_stock(http: Upstreams, location: str) -> AsyncIterator[list[StockPosition]]:
    async for items in _pages(http, "system-erp", {"location": location}, ERP_PAGE):
        yield items


async def stores(http: Upstreams) -> list[Location]:
    response = await http["system-pos"].get("/stores")
    if not response.ok:
        raise ProblemError(
            "upstream-error", f"system-pos: GET /stores answered {response.status}", upstream="system-pos"
        )
    return response.json(list[Location])
