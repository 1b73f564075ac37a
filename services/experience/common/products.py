"""The reads a product answer is composed of, made concurrently, with the optional parts' failures kept apart.

A product is known by the ERP (system-erp ``GET /items/{sku}``): without the item there is no answer, so its
refusal (404) or its absence (the kernel's 503/504 naming system-erp) is the caller's answer, and the other reads
are cancelled. Availability and price (process-availability: one ``POST /availability/query`` with prices, and
``GET /availability/stores`` when a postal code is given) are parts of the answer a shopper can do without for a
moment: each is read in one attempt within the ``budget_s`` the channel grants them (common/backends.py says
why), and if process-availability is away (a 5xx, a breaker open) or slower than that, the part is
:class:`Unavailable` with the reason, and the channel's views answer without it. A refusal by
process-availability (a postal code no store is near: 422) is about the request, so it is the caller's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from services.experience.common.backends import AvailabilityClient, CatalogClient
from shared.models.availability import AvailabilityQueryResult, StoreAvailability
from shared.models.catalog import Item
from shared.problems import ProblemError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A part that could not be read now, and why (shown to the caller as ``reason``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the layer below said about one SKU.

    ``stock``: its ATP and price (a SKU the projection never held is in ``stock.unknown``). ``stores``: the pickup
    stores nearest to the postal code, nearest first, when one was given (``None`` without a postal code, or
    when the projection never held the SKU)."""

    item: Item
    stock: AvailabilityQueryResult | Unavailable
    stores: list[StoreAvailability] | Unavailable | None
    postal: str | None


async def _optional(read: Awaitable[T]) -> T | Unavailable:
    """``read``'s answer, or :class:`Unavailable` if process-availability failed (5xx, its budget's timeout,
    breaker open). Its refusals (4xx) are the request's fault and are raised."""
    try:
        return await read
    except ProblemError as exc:
        if exc.status < 500:
            raise
        return Unavailable(exc.detail or exc.title)


async def read_product(
    catalog: CatalogClient,
    availability: AvailabilityClient,
    sku: str,
    postal: str | None,
    *,
    token: str,
    budget_s: float,
) -> ProductFacts:
    """The item, its stock and price, and (with ``postal``) its nearest stores, read at once on behalf of the
    caller whose identity ``token`` is carried. The first failure that is the caller's answer (the item missing
    or unreadable, a refused postal code) cancels the other reads and is raised as it came."""
    try:
        async with asyncio.TaskGroup() as group:
            item = group.create_task(catalog.item(sku, token=token))
            stock = group.create_task(_optional(availability.sku(sku, token=token, budget_s=budget_s)))
            stores = (
                group.create_task(_optional(availability.stores(sku, postal, token=token, budget_s=budget_s)))
                if postal is not None
                else None
            )
    except BaseExceptionGroup as failed:
        # A task group gathers every failure; the first is the one that cancelled the rest.
        first = failed.exceptions[0]
        if isinstance(first, Exception):
            raise first from None
        raise
    return ProductFacts(
        item=item.result(),
        stock=stock.result(),
        stores=stores.result() if stores is not None else None,
        postal=postal,
    )
