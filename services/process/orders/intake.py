"""Order intake: from what a channel submits to an order the saga can run - priced, taxed and sourced.

The shape of a request (unique line ids, a ship order's address, a pickup order's store) is the model's own
check (``shared.models.orders.OrderRequest``), refused as a 400 before any of this runs. What intake checks is
what only this estate knows: the pickup store exists and takes pickups, the SKUs are known and priced in the
order's currency, the destination has a tax rate, and some location has the stock. Prices and stock come from
process-availability's projections in one hop, so an order is priced and sourced while the ERP is away
(DESIGN §4); the reservation the saga makes next is the real stock check, this snapshot may already be stale.

A refusal is :class:`Rejected`: the saga records the order as ``rejected`` with that problem. The pure decisions
are in pricing.py (totals and tax) and sourcing.py (where the lines go); this module feeds them and writes what
they decide onto the order record.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from services.process.orders import pricing, sourcing
from services.process.orders.backends import AVAILABILITY, Backends
from services.process.orders.records import Group, OrderRecord
from services.process.orders.settings import OrdersSettings
from shared import context
from shared.clock import utcnow
from shared.models.availability import AvailabilityQueryResult
from shared.models.catalog import Price
from shared.models.inventory import Location
from shared.models.orders import Fulfilment, OrderLine, OrderLineRequest, OrderRequest, requested
from shared.problems import ProblemError

# A store id the cache does not know refreshes the POS's store list at most this often.
MISS_REFRESH_S = 5.0


class Rejected(Exception):
    """The order cannot be accepted; ``slug``/``errors`` become the problem the channel sees."""

    def __init__(self, slug: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.errors = errors


@dataclass
class StoreCache:
    """The POS's stores (for pickup validation and the store's country); refreshed now and then, on a miss
    at most every few seconds, so an unknown store id cannot storm the POS."""

    stores: dict[str, Location]
    loaded_at: float = 0.0
    refreshed_at: float = 0.0


def received(owner: str, request: OrderRequest, order_id: str) -> OrderRecord:
    """A new order as received: not priced yet (see :meth:`Intake.price_and_source`)."""
    now = utcnow()
    return OrderRecord(
        id=order_id,
        owner=owner,
        state="received",
        customer=request.customer,
        fulfilment=request.fulfilment.canonical(),
        lines=[OrderLine(line_id=ln.line_id, sku=ln.sku, qty=ln.qty, unit_price=0) for ln in request.lines],
        currency=request.currency,
        subtotal=0,
        tax=0,
        total=0,
        payment_reference=request.payment_reference,
        created_at=now,
        updated_at=now,
        correlation_id=context.request_id_var.get(),
    )


def request_of(record: OrderRecord) -> OrderRequest:
    """The request an order was placed with, to place it again."""
    return OrderRequest(
        customer=record.customer,
        fulfilment=requested(record.fulfilment),
        currency=record.currency,
        payment_reference=record.payment_reference,
        lines=[OrderLineRequest(line_id=ln.line_id, sku=ln.sku, qty=ln.qty) for ln in record.lines],
    )


class Intake:
    def __init__(self, backends: Backends, settings: OrdersSettings) -> None:
        self.backends = backends
        self.settings = settings
        self.stores = StoreCache({})
        self._stores_lock = asyncio.Lock()

    async def store_location(self, store_id: str) -> Location | None:
        cache = self.stores
        fresh = time.monotonic() - cache.loaded_at < self.settings.orders_stores_refresh_s
        if store_id in cache.stores and fresh:
            return cache.stores[store_id]
        if fresh and time.monotonic() - cache.refreshed_at < MISS_REFRESH_S:
            return cache.stores.get(store_id)
        async with self._stores_lock:
            if time.monotonic() - cache.refreshed_at >= MISS_REFRESH_S or not fresh:
                try:
                    stores = await self.backends.stores()
                except ProblemError:
                    if not cache.stores:
                        raise
                    stores = None  # keep serving the stores we know while the POS is away
                cache.refreshed_at = time.monotonic()
                if stores is not None:
                    cache.stores = {s.id: s for s in stores}
                    cache.loaded_at = cache.refreshed_at
        return cache.stores.get(store_id)

    async def price_and_source(self, record: OrderRecord, request: OrderRequest) -> list[Group]:
        """Price ``record``'s lines and total, and return where its lines are fulfilled from (one group per
        fulfilment document). Raises :class:`Rejected` for an order this estate cannot take; what was priced
        before the refusal stays on the record, as the rejected order shows it."""
        country, store = await self._destination(request.fulfilment.canonical())
        skus = sorted({ln.sku for ln in request.lines})
        # Stock and prices in one hop (both are projections in process-availability).
        atp = await self.backends.availability(skus, [store.id] if store else None, prices=True)
        price_of = self._prices(request, skus, atp)
        self._price(record, price_of, country, tax_included=all(price_of[s].tax_included for s in skus))
        return self._source(record, request, atp, store)

    async def _destination(self, fulfilment: Fulfilment) -> tuple[str, Location | None]:
        """The country the order is taxed for, and the pickup store (None for a ship order)."""
        if fulfilment.mode == "ship":
            assert fulfilment.ship_to is not None  # a ship request always has one (ShipToHome)
            return fulfilment.ship_to.country, None
        assert fulfilment.store is not None  # a pickup request always has one (PickupInStore)
        store = await self.store_location(fulfilment.store)
        if store is None or not store.pickup:
            raise Rejected(
                "unprocessable",
                f"store {fulfilment.store} does not exist or takes no pickups",
                [{"field": "fulfilment.store", "value": fulfilment.store, "detail": "unknown store"}],
            )
        return store.country, store

    @staticmethod
    def _prices(request: OrderRequest, skus: list[str], atp: AvailabilityQueryResult) -> dict[str, Price]:
        """The price of every SKU of the order, in the order's currency."""
        prices = atp.prices
        if prices is None:
            raise ProblemError("upstream-error", "process-availability answered no prices", upstream=AVAILABILITY)
        price_of = {p.sku: p for p in prices.prices}
        unknown = set(prices.missing) | set(atp.unknown) | {s for s in skus if s not in price_of}
        if unknown:
            raise Rejected(
                "unprocessable",
                f"{len(unknown)} SKU(s) of this order are unknown",
                [
                    {"line_id": ln.line_id, "sku": ln.sku, "detail": "unknown SKU"}
                    for ln in request.lines
                    if ln.sku in unknown
                ],
            )
        wrong = [ln for ln in request.lines if price_of[ln.sku].currency != request.currency]
        if wrong:
            raise Rejected(
                "unprocessable",
                f"this estate prices these lines in another currency than {request.currency}",
                [{"line_id": ln.line_id, "sku": ln.sku, "currency": price_of[ln.sku].currency} for ln in wrong],
            )
        return price_of

    @staticmethod
    def _price(record: OrderRecord, price_of: dict[str, Price], country: str, *, tax_included: bool) -> None:
        for line in record.lines:
            line.unit_price = price_of[line.sku].amount
        try:
            sums = pricing.totals([(ln.unit_price, ln.qty) for ln in record.lines], country, tax_included=tax_included)
        except ProblemError as exc:
            raise Rejected(exc.slug, exc.detail or exc.title, exc.errors) from None
        record.subtotal, record.tax, record.total = sums.subtotal, sums.tax, sums.total

    @staticmethod
    def _source(
        record: OrderRecord, request: OrderRequest, atp: AvailabilityQueryResult, store: Location | None
    ) -> list[Group]:
        table: sourcing.Atp = {}
        for item in atp.items:
            table[item.sku] = {a.location: a.available for a in item.locations}
        try:
            if store is not None:
                placements = sourcing.for_pickup(request.lines, table, store.id)
            else:
                dcs = sorted({loc for per in table.values() for loc in per if loc.startswith("dc-")})
                placements = sourcing.for_ship(
                    request.lines, table, dcs, allow_partial=request.fulfilment.allow_partial
                )
        except sourcing.Shortage as exc:
            raise Rejected("insufficient-stock", "not enough stock for this order", exc.errors) from None
        split = len(placements) > 1
        groups = []
        for n, placement in enumerate(placements, start=1):
            groups.append(
                Group(
                    ref=f"{record.id}-{n}" if split else record.id,
                    location=placement.location,
                    line_ids=placement.line_ids,
                )
            )
            for line in record.lines:
                if line.line_id in placement.line_ids:
                    line.location = placement.location
        return groups
