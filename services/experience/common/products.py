"""The reads a product answer (one product, or a page of a catalogue search) is composed of, made concurrently
where they can be, with the optional parts' failures kept apart; and what those reads say of one SKU, read once
for every channel's views.

A product is known by the ERP (system-erp ``GET /items/{sku}``, or a page of its search ``GET /items?q=``):
without the item (or the page) there is no answer, so its refusal (404, a 400 for a search or cursor it refuses)
or its absence (the kernel's 503/504 naming system-erp) is the caller's answer, and the other reads are
cancelled. Availability and price (process-availability: one ``POST /availability/query`` with prices for the
product or for every SKU of the page, and ``GET /availability/stores`` when a postal code is given, also one call
for a whole page) are parts of the answer a shopper can do without for a moment: each is read in one attempt
within the ``budget_s`` the channel grants them (common/backends.py says why), and if process-availability is
away (a 5xx, a breaker open) or slower than that, the part is :class:`Unavailable` with the reason, and the
channel's views answer without it. A refusal by process-availability (a postal code no store is near: 422) is
about the request, so it is the caller's answer.

A page's SKUs are known only once system-erp answered, so its reads run in two steps: the search, then the
availability query and the stores search together. A product's three reads run at once.

**Cursors.** The public cursor of a search is ours (the kernel's codec, listing ``products``), wrapping
system-erp's cursor: callers never hold a system API's cursor, a cursor of another listing (an order page's, a
raw system-erp one) is a 400 before any hop, and system-erp still checks that the cursor it issued continues the
same search (its own 400 otherwise, relayed).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from services.experience.common.backends import AVAILABILITY, ERP, STORES_SKUS, AvailabilityClient, CatalogClient
from shared import cursor as cursors
from shared.models.availability import AvailabilityQueryResult, PriceQueryResult, StoreAvailability
from shared.models.catalog import Item, Price
from shared.models.inventory import Availability, Location
from shared.problems import ProblemError

T = TypeVar("T")
# The listing tag of the public cursor of a catalogue search.
CURSOR_TAG = "products"
# The largest page of a catalogue search: every SKU of it fits one stores search (process-availability's cap).
PAGE_MAX = STORES_SKUS
StockStatus = Literal["in_stock", "store_only", "out_of_stock"]


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A part that could not be read now, and why (shown to the caller as ``reason``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class NearStore:
    """A pickup store with the SKU on its shelf: ``available`` units, ``distance_km`` from the postal code given
    (great-circle, process-availability's; None when the store has no coordinates)."""

    store: Location
    distance_km: float | None
    available: int


@dataclass(frozen=True, slots=True)
class Stocked:
    """What process-availability's figures say of one SKU.

    ``ship``: ship-to-home (the DCs, which ship orders come from; None when the projection never held the SKU);
    ``dcs``: the DCs behind it; ``on_shelf``: each store with the SKU for pickup and its units (> 0);
    ``near``: with a postal code, the stores with the SKU nearest first (among the 100 pickup stores nearest to
    it), None without one."""

    ship: Availability | None
    dcs: list[str]
    on_shelf: dict[str, int]
    near: list[NearStore] | None

    @property
    def status(self) -> StockStatus:
        """``in_stock``: it can be delivered; ``store_only``: only picked up in a store; else ``out_of_stock``."""
        if self.ship is not None and self.ship.available > 0:
            return "in_stock"
        return "store_only" if self.on_shelf else "out_of_stock"


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the layer below said about one SKU.

    ``stock``: its ATP and price (a SKU the projection never held is in ``stock.unknown``); for a page, the one
    answer for every SKU of it. ``stores``: the pickup stores nearest to the postal code, nearest first, when one
    was given (``None`` without a postal code, or when the projection never held the SKU)."""

    item: Item
    stock: AvailabilityQueryResult | Unavailable
    stores: list[StoreAvailability] | Unavailable | None
    postal: str | None

    def price(self) -> Price | None | Unavailable:
        """The SKU's price from the price projection; None when it holds none (not for sale)."""
        if isinstance(self.stock, Unavailable):
            return self.stock
        if self.stock.prices is None:
            # Asked with prices: true; an answer without them breaks process-availability's own contract.
            raise ProblemError(
                "upstream-error", f"{AVAILABILITY}: answered a query with prices without prices", upstream=AVAILABILITY
            )
        return next((p for p in self.stock.prices.prices if p.sku == self.item.sku), None)

    def stocked(self) -> Stocked | Unavailable:
        """The SKU's availability; :class:`Unavailable` if its ATP, or the stores near the postal code given,
        could not be read now."""
        stock, stores = self.stock, self.stores
        if isinstance(stock, Unavailable):
            return stock
        if isinstance(stores, Unavailable):
            return stores
        sku = self.item.sku
        found = next((a for a in stock.items if a.sku == sku), None)
        positions = found.locations if found is not None else []
        on_shelf = {a.location: a.available for a in positions if a.location.startswith("store-") and a.available > 0}
        near = None if self.postal is None else _near(sku, stores or [])
        return Stocked(
            ship=found.ship if found is not None else None,
            dcs=[a.location for a in positions if a.location.startswith("dc-")],
            on_shelf=on_shelf,
            near=near,
        )


def _near(sku: str, stores: list[StoreAvailability]) -> list[NearStore]:
    """The stores with ``sku`` on the shelf, in process-availability's order (nearest first)."""
    shown = []
    for near in stores:
        available = sum(line.available for line in near.lines if line.sku == sku)
        if available > 0:
            distance = near.distance_km if math.isfinite(near.distance_km) else None
            shown.append(NearStore(store=near.store, distance_km=distance, available=available))
    return shown


@dataclass(frozen=True, slots=True)
class PageFacts:
    """A page of a catalogue search: system-erp's items, in its order, and the public cursor of the next page
    (None on the last); ``stock`` and ``stores`` are as :class:`ProductFacts` has them, one read for the page."""

    items: list[Item]
    next_cursor: str | None
    stock: AvailabilityQueryResult | Unavailable
    stores: list[StoreAvailability] | Unavailable | None
    postal: str | None

    def products(self) -> list[ProductFacts]:
        return [ProductFacts(item, self.stock, self.stores, self.postal) for item in self.items]


async def _optional(read: Coroutine[Any, Any, T]) -> T | Unavailable:
    """``read``'s answer, or :class:`Unavailable` if process-availability failed (5xx, its budget's timeout,
    breaker open). Its refusals (4xx) are the request's fault and are raised."""
    try:
        return await read
    except ProblemError as exc:
        if exc.status < 500:
            raise
        return Unavailable(exc.detail or exc.title)


async def _together(*reads: Coroutine[Any, Any, Any] | None) -> list[Any]:
    """The answers of ``reads`` run at once (None stays None). The first failure cancels the others and is
    raised as it came."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(read) if read is not None else None for read in reads]
    except BaseExceptionGroup as failed:
        # A task group gathers every failure; the first is the one that cancelled the rest.
        first = failed.exceptions[0]
        if isinstance(first, Exception):
            raise first from None
        raise
    return [task.result() if task is not None else None for task in tasks]


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
    item, stock, stores = await _together(
        catalog.item(sku, token=token),
        _optional(availability.query([sku], token=token, budget_s=budget_s)),
        _optional(availability.stores([sku], postal, token=token, budget_s=budget_s)) if postal is not None else None,
    )
    return ProductFacts(item=item, stock=stock, stores=stores, postal=postal)


def public_cursor(erp_cursor: str | None) -> str | None:
    """Our cursor for system-erp's ``erp_cursor`` (None stays None: the last page)."""
    if erp_cursor is None:
        return None
    wrapped = cursors.encode(CURSOR_TAG, erp_cursor)
    if len(wrapped) > cursors.MAX_CURSOR:
        raise ProblemError(
            "upstream-error",
            f"{ERP}: answered a cursor of {len(erp_cursor)} characters, too long to page with",
            upstream=ERP,
        )
    return wrapped


def erp_cursor(public: str | None) -> str | None:
    """system-erp's cursor inside our ``public`` one (None: the first page); a cursor we did not issue is a 400
    problem naming ``cursor``."""
    found = cursors.decode(public, CURSOR_TAG, str)
    return None if found is None else str(found[0])


_NO_STOCK = AvailabilityQueryResult(items=[], prices=PriceQueryResult(prices=[]))


async def read_page(
    catalog: CatalogClient,
    availability: AvailabilityClient,
    q: str | None,
    cursor: str | None,
    limit: int,
    postal: str | None,
    *,
    token: str,
    budget_s: float,
) -> PageFacts:
    """One page of the catalogue search for ``q`` (every item without it) after our ``cursor``, ``limit`` items
    at most (1-:data:`PAGE_MAX`), with the stock and prices of every SKU on it in one process-availability query
    and (with ``postal``) the stores nearest to it in one stores search, the two at once, on behalf of the caller
    whose identity ``token`` is carried. An empty page asks process-availability nothing."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValueError(f"a page of products holds 1-{PAGE_MAX} items, not {limit}")
    page = await catalog.search(q, erp_cursor(cursor), limit, token=token)
    next_cursor = public_cursor(page.next_cursor)
    skus = list(dict.fromkeys(item.sku for item in page.items))  # each once: Odoo does not make SKUs unique
    if not skus:
        return PageFacts([], next_cursor, _NO_STOCK, None if postal is None else [], postal)
    stock, stores = await _together(
        _optional(availability.query(skus, token=token, budget_s=budget_s)),
        _optional(availability.stores(skus, postal, token=token, budget_s=budget_s)) if postal is not None else None,
    )
    if postal is not None and stores is None and not isinstance(stock, Unavailable):
        # The projection never held one of the SKUs (the stores search's 404): ask again for those it holds.
        never = set(stock.unknown)
        held = [sku for sku in skus if sku not in never]
        stores = await _optional(availability.stores(held, postal, token=token, budget_s=budget_s)) if held else []
        stores = [] if stores is None else stores
    return PageFacts(page.items, next_cursor, stock, stores, postal)
