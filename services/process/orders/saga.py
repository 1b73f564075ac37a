"""The order saga: validate -> reserve (held) -> accept (allocated) -> ERP sales order + confirm -> release to
the WMS (ship) or the store (pickup) -> ``released``; compensation (release stock, cancel the ERP order) ends
in ``failed`` or ``cancelled``.

Each step is an idempotent call (reservations by (order, line), ERP documents by our order id, WMS and POS
documents by ref), so a step interrupted by a crash is simply done again. The record names the next step
before it runs and is written again, with the step's result and the step after it, once it has run: the
"before" of one step is the "after" of the previous one, one write per step. All writes are fenced by the
order's lock, so a cancel racing a retry, or two replicas resuming the same saga, cannot interleave.

A transient failure (an upstream 5xx, timeout or open breaker) after acceptance parks the order in
``pending_backend`` with a next-attempt time in the due set; the retry worker resumes it. Before acceptance
nothing is promised to the customer yet, so the order fails at once (held stock is released, or expires).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from shared import context
from shared.models.availability import ReservationLineRequest, ReservationRequest
from shared.models.common import utcnow
from shared.models.events import Event
from shared.models.fulfilment import FulfilmentLine, FulfilmentOrderRequest, PickupTaskRequest
from shared.models.inventory import Location
from shared.models.orders import CancelRequest, OrderLine, OrderRequest, SalesOrderLine, SalesOrderRequest
from shared.problems import ProblemError
from shared.settings import Settings

from services.process.orders import pricing, sourcing
from services.process.orders.backends import AVAILABILITY, ERP, POS, SYSTEM_OF, WMS, Backends, Refused
from services.process.orders.store import (
    Fenced,
    Group,
    OrderRecord,
    Store,
    Write,
    entry,
    now_ms,
)

log = logging.getLogger("omnigate.orders.saga")

AFTER_RELEASE = frozenset({"released", "shipped", "ready_for_pickup", "delivered", "picked_up"})
FINAL = frozenset({"rejected", "failed", "cancelled"})


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


def backoff_s(attempts: int, base: float, cap: float) -> float:
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


def order_event(record: OrderRecord) -> Event:
    return Event(
        id=f"orders:{record.id}:{record.state}", type=f"order.{record.state}", occurred_at=record.updated_at,
        source="orders", correlation_id=record.correlation_id, key=record.id,
        payload={"order_id": record.id, "owner": record.owner, "state": record.state, "total": record.total,
                 "currency": record.currency, "reason": record.reason},
    )


def member(order_id: str) -> str:
    return f"o:{order_id}"


class Saga:
    def __init__(self, store: Store, backends: Backends, settings: Settings) -> None:
        self.store = store
        self.backends = backends
        self.settings = settings
        self.stores = StoreCache({})
        self._stores_lock = asyncio.Lock()

    # --- writes ------------------------------------------------------------------------------------------------

    def transition(self, write: Write, record: OrderRecord, state: str, system: str, *,
                   document_id: str | None = None, detail: str | None = None) -> None:
        record.state = state  # type: ignore[assignment]
        record.updated_at = utcnow()
        write.timeline(record.id, entry(state, system, document_id=document_id, correlation_id=record.correlation_id,
                                        detail=detail))
        write.event("orders", order_event(record))

    async def save(self, record: OrderRecord, token: str, write: Write, *, acquire: bool = False) -> None:
        record.updated_at = utcnow()
        write.order(record)
        if record.step == "done":
            write.not_due(member(record.id))
        await self.store.apply(record.id, token, write, acquire=acquire)

    # --- placing an order -------------------------------------------------------------------------------------

    async def store_location(self, store_id: str) -> Location | None:
        cache = self.stores
        fresh = time.monotonic() - cache.loaded_at < self.settings.orders_stores_refresh_s
        if store_id in cache.stores and fresh:
            return cache.stores[store_id]
        if fresh and time.monotonic() - cache.refreshed_at < 5.0:
            return cache.stores.get(store_id)
        async with self._stores_lock:
            if time.monotonic() - cache.refreshed_at >= 5.0 or not fresh:
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

    async def place(self, owner: str, request: OrderRequest, order_id: str, token: str) -> OrderRecord:
        """Validate, price and source the order, then drive its saga as far as it goes now."""
        correlation_id = context.request_id_var.get()
        now = utcnow()
        record = OrderRecord(
            id=order_id, owner=owner, state="received", customer=request.customer, fulfilment=request.fulfilment,
            lines=[OrderLine(line_id=ln.line_id, sku=ln.sku, qty=ln.qty, unit_price=0) for ln in request.lines],
            currency=request.currency, subtotal=0, tax=0, total=0, payment_reference=request.payment_reference,
            created_at=now, updated_at=now, correlation_id=correlation_id,
        )
        try:
            groups = await self._price_and_source(record, request)
        except Rejected as exc:
            await self._reject(record, token, exc.slug, exc.detail, exc.errors, "orders", acquire=True)
            await self.store.unlock(record.id, token)
            return record
        record.groups = groups
        write = Write(self.store).index(owner, now.timestamp(), order_id)
        write.due(member(order_id), now_ms() + self.store.lock_ttl_ms)  # resumed by a worker if we die
        self.transition(write, record, "received", "orders", document_id=order_id)
        await self.save(record, token, write, acquire=True)
        async with self.store.held(order_id, token):
            return await self.drive(record, token)

    async def _price_and_source(self, record: OrderRecord, request: OrderRequest) -> list[Group]:
        fulfilment = request.fulfilment
        ids = [ln.line_id for ln in request.lines]
        if len(set(ids)) != len(ids):
            raise ProblemError("invalid-request", "line ids must be unique within an order",
                               errors=[{"field": "lines", "detail": "duplicate line_id"}])
        store: Location | None = None
        if fulfilment.mode == "ship":
            if fulfilment.ship_to is None:
                raise ProblemError("invalid-request", "a ship order needs fulfilment.ship_to",
                                   errors=[{"field": "fulfilment.ship_to", "detail": "missing"}])
            country = fulfilment.ship_to.country
        else:
            if fulfilment.store is None:
                raise ProblemError("invalid-request", "a pickup order needs fulfilment.store",
                                   errors=[{"field": "fulfilment.store", "detail": "missing"}])
            store = await self.store_location(fulfilment.store)
            if store is None or not store.pickup:
                raise Rejected("unprocessable", f"store {fulfilment.store} does not exist or takes no pickups",
                               [{"field": "fulfilment.store", "value": fulfilment.store, "detail": "unknown store"}])
            country = store.country
        skus = sorted({ln.sku for ln in request.lines})
        # Stock and prices in one hop (both are projections in process-availability).
        atp = await self.backends.availability(skus, [store.id] if store else None, prices=True)
        prices = atp.prices
        if prices is None:
            raise ProblemError("upstream-error", "process-availability answered no prices", upstream=AVAILABILITY)
        price_of = {p.sku: p for p in prices.prices}
        unknown = set(prices.missing) | set(atp.unknown) | {s for s in skus if s not in price_of}
        if unknown:
            raise Rejected("unprocessable", f"{len(unknown)} SKU(s) of this order are unknown",
                           [{"line_id": ln.line_id, "sku": ln.sku, "detail": "unknown SKU"}
                            for ln in request.lines if ln.sku in unknown])
        wrong = [ln for ln in request.lines if price_of[ln.sku].currency != request.currency]
        if wrong:
            raise Rejected("unprocessable", f"this estate prices these lines in another currency than {request.currency}",
                           [{"line_id": ln.line_id, "sku": ln.sku, "currency": price_of[ln.sku].currency}
                            for ln in wrong])
        for line in record.lines:
            line.unit_price = price_of[line.sku].amount
        try:
            sums = pricing.totals([(ln.unit_price, ln.qty) for ln in record.lines], country,
                                  tax_included=all(price_of[s].tax_included for s in skus))
        except ProblemError as exc:
            raise Rejected(exc.slug, exc.detail or exc.title, exc.errors) from None
        record.subtotal, record.tax, record.total = sums.subtotal, sums.tax, sums.total
        table: sourcing.Atp = {}
        for item in atp.items:
            table[item.sku] = {a.location: a.available for a in item.locations}
        try:
            if store is not None:
                placements = sourcing.for_pickup(request.lines, table, store.id)
            else:
                dcs = sorted({loc for per in table.values() for loc in per if loc.startswith("dc-")})
                placements = sourcing.for_ship(request.lines, table, dcs, allow_partial=fulfilment.allow_partial)
        except sourcing.Shortage as exc:
            raise Rejected("insufficient-stock", "not enough stock for this order", exc.errors) from None
        split = len(placements) > 1
        groups = []
        for n, placement in enumerate(placements, start=1):
            groups.append(Group(ref=f"{record.id}-{n}" if split else record.id, location=placement.location,
                                line_ids=placement.line_ids))
            for line in record.lines:
                if line.line_id in placement.line_ids:
                    line.location = placement.location
        return groups

    async def _reject(self, record: OrderRecord, token: str, slug: str, detail: str,
                      errors: list[dict[str, Any]] | None, system: str, *, acquire: bool = False) -> None:
        record.reason, record.errors, record.step = detail, errors, "done"
        record.slug = slug
        write = Write(self.store)
        if acquire:
            write.index(record.owner, record.created_at.timestamp(), record.id)
        self.transition(write, record, "rejected", system, detail=detail)
        await self.save(record, token, write, acquire=acquire)

    # --- driving ----------------------------------------------------------------------------------------------

    async def drive(self, record: OrderRecord, token: str) -> OrderRecord:
        """Run the remaining steps; returns when the saga is done, waiting for events, or parked for a retry."""
        while record.step != "done":
            try:
                await STEPS[record.step](self, record, token)
            except Refused as exc:
                await self._refused(record, token, exc)
            except ProblemError as exc:
                if exc.status < 500:
                    raise
                if await self._transient(record, token, exc):
                    return record
            except Fenced:
                log.warning("order %s: lock lost mid-saga; another driver continues it", record.id)
                return record
        return record

    async def _transient(self, record: OrderRecord, token: str, exc: ProblemError) -> bool:
        """Handle an upstream being away; True if the saga is parked for a retry."""
        upstream = exc.upstream or "unknown"
        detail = f"{exc.detail or exc.title}"
        if record.step in ("reserve", "accept"):
            # Nothing has been promised yet: fail now (held stock is released below, or expires).
            record.goal, record.reason, record.step = "failed", f"not accepted: {detail}", "compensate"
            record.errors = [{"upstream": upstream, "status": exc.status}]
            return False
        if record.step == "compensate" and not self._must_compensate_again(record):
            return False
        record.attempts += 1
        record.reason = detail
        delay = backoff_s(record.attempts, self.settings.orders_retry_base_s, self.settings.orders_retry_max_s)
        write = Write(self.store).due(member(record.id), now_ms() + int(delay * 1000))
        if record.state in ("accepted", "confirmed"):
            self.transition(write, record, "pending_backend", SYSTEM_OF.get(upstream, upstream), detail=detail)
        await self.save(record, token, write)
        log.info("order %s waits for %s (attempt %d, next in %.1fs): %s", record.id, upstream, record.attempts,
                 delay, detail)
        return True

    def _must_compensate_again(self, record: OrderRecord) -> bool:
        # An allocated reservation never expires and an ERP order stays open: those must be undone. Stock
        # that is only held expires on its own, so a held reservation is not worth waiting for.
        return record.erp_touched or record.state not in ("received", "reserved")

    async def _refused(self, record: OrderRecord, token: str, exc: Refused) -> None:
        system = SYSTEM_OF.get(exc.upstream, exc.upstream)
        if record.step == "reserve":
            slug = "insufficient-stock" if exc.slug == "insufficient-stock" else "unprocessable"
            await self._reject(record, token, slug, f"{system}: {exc.detail}", exc.errors, system)
            return
        if record.step == "compensate":
            # Undoing what cannot be undone (say, the ERP refuses to cancel): record it and finish.
            log.warning("order %s: compensation refused by %s: %s", record.id, exc.upstream, exc.detail)
            record.reason = f"{record.reason}; {system} refused compensation: {exc.detail}"
            record.step = "compensate:done"
            return
        record.goal = "failed"
        record.reason = f"{system} refused step {record.step}: {exc.detail}"
        record.errors = exc.errors
        record.step = "compensate"

    # --- steps -------------------------------------------------------------------------------------------------

    async def _reserve(self, record: OrderRecord, token: str) -> None:
        """Reserve and allocate in one atomic call (the order is accepted at once, so a separate commit would
        only cost a hop); the timeline and events still show both transitions, written together after it."""
        request = ReservationRequest(
            order_id=record.id, owner=record.owner, ttl_s=self.settings.orders_reservation_ttl_s,
            lines=[ReservationLineRequest(line_id=ln.line_id, sku=ln.sku, location=ln.location or "", qty=ln.qty)
                   for ln in record.lines],
            allocate=True,
        )
        reservations = await self.backends.reserve(request)
        write = Write(self.store)
        self.transition(write, record, "reserved", "availability", document_id=reservations.order_id)
        self._accepted(write, record, reservations.order_id)
        await self.save(record, token, write)

    async def _accept(self, record: OrderRecord, token: str) -> None:
        # Sagas written before reserve allocated (or resumed from a held set) still commit separately.
        reservations = await self.backends.commit(record.id)
        write = Write(self.store)
        self._accepted(write, record, reservations.order_id)
        await self.save(record, token, write)

    def _accepted(self, write: Write, record: OrderRecord, document_id: str) -> None:
        record.step = "erp_order"
        record.reason = None
        # Written now, before the ERP step runs: a compensation from here on looks for the ERP document (a
        # 404 there is "never created"), and the ERP step needs no write of its own before its call.
        record.erp_touched = True
        self.transition(write, record, "accepted", "availability", document_id=document_id, detail="stock allocated")

    async def _erp_order(self, record: OrderRecord, token: str) -> None:
        if not record.erp_touched:
            record.erp_touched = True  # written before the call: a compensation must look for the document
            await self.save(record, token, Write(self.store))
        order = await self.backends.sales_order(SalesOrderRequest(
            ref=record.id, customer=record.customer.name, currency=record.currency,
            lines=[SalesOrderLine(sku=ln.sku, qty=ln.qty, unit_price=ln.unit_price) for ln in record.lines],
            note=f"omnigate order {record.id} ({record.owner}), payment {record.payment_reference}"[:1000],
        ))
        record.erp_name = order.name
        record.step = "erp_confirm"
        write = Write(self.store).timeline(record.id, entry(
            record.state, "erp", document_id=order.name, correlation_id=record.correlation_id,
            detail="sales order created" if order.created else "sales order found (created earlier)"))
        await self.save(record, token, write)

    async def _erp_confirm(self, record: OrderRecord, token: str) -> None:
        order = await self.backends.confirm_sales_order(record.id)
        record.step = "release"
        record.reason = None
        write = Write(self.store)
        self.transition(write, record, "confirmed", "erp", document_id=order.name, detail="sales order confirmed")
        await self.save(record, token, write)

    async def _release(self, record: OrderRecord, token: str) -> None:
        by_id = {ln.line_id: ln for ln in record.lines}
        documents = []
        if record.fulfilment.mode == "pickup":
            group = record.groups[0]
            task = await self.backends.pickup_task(PickupTaskRequest(
                ref=group.ref, store=group.location, customer_name=record.customer.name,
                lines=[FulfilmentLine(sku=by_id[i].sku, qty=by_id[i].qty) for i in group.line_ids]))
            group.document_id = task.pos_id
            documents.append(task.pos_id)
            system = "pos"
        else:
            assert record.fulfilment.ship_to is not None
            for group in record.groups:
                if group.document_id is None:
                    order = await self.backends.fulfilment_order(FulfilmentOrderRequest(
                        ref=group.ref, location=group.location, ship_to=record.fulfilment.ship_to,
                        lines=[FulfilmentLine(sku=by_id[i].sku, qty=by_id[i].qty) for i in group.line_ids]))
                    group.document_id = order.wms_id
                documents.append(group.document_id)
            system = "wms"
        record.step = "done"
        record.reason = None
        write = Write(self.store)
        self.transition(write, record, "released", system, document_id=",".join(documents),
                        detail=f"released to {', '.join(g.location for g in record.groups)}")
        await self.save(record, token, write.unlock())  # the driver's last write: the lock goes with it

    async def _compensate(self, record: OrderRecord, token: str) -> None:
        goal = record.goal if record.goal in ("failed", "cancelled") else "failed"
        if record.fulfilment.mode == "ship":
            for group in record.groups:
                if group.document_id is not None and not group.shipped:
                    await self.backends.cancel_fulfilment_order(group.ref)
        if record.erp_touched:
            await self.backends.cancel_sales_order(record.id)
        try:
            await self.backends.release(record.id)
        except ProblemError:
            if self._must_compensate_again(record):
                raise
            log.info("order %s: held stock not released (%s away); it expires on its own", record.id, AVAILABILITY)
        await self._finish(record, token, goal)

    async def _compensated(self, record: OrderRecord, token: str) -> None:
        await self._finish(record, token, record.goal if record.goal in ("failed", "cancelled") else "failed")

    async def _finish(self, record: OrderRecord, token: str, goal: str) -> None:
        record.step = "done"
        write = Write(self.store)
        self.transition(write, record, goal, "orders", detail=record.reason)
        await self.save(record, token, write.unlock())  # the driver's last write: the lock goes with it

    # --- cancel -----------------------------------------------------------------------------------------------

    async def cancel(self, record: OrderRecord, token: str, request: CancelRequest) -> OrderRecord:
        """Cancel before release (the caller holds the lock): compensate now, or park it if a back-end is away."""
        if record.state == "cancelled":
            return record
        if record.state in AFTER_RELEASE or record.state in FINAL or record.step == "done":
            raise ProblemError("conflict", f"order {record.id} is {record.state} and can no longer be cancelled",
                               errors=[{"state": record.state}])
        record.goal = "cancelled"
        record.reason = f"cancelled by {record.owner}" + (f": {request.reason}" if request.reason else "")
        record.step = "compensate"
        write = Write(self.store).due(member(record.id), now_ms() + self.store.lock_ttl_ms)
        write.timeline(record.id, entry(record.state, "orders", correlation_id=context.request_id_var.get(),
                                        detail="cancel requested"))
        await self.save(record, token, write)
        return await self.drive(record, token)


STEPS = {
    "reserve": Saga._reserve,
    "accept": Saga._accept,
    "erp_order": Saga._erp_order,
    "erp_confirm": Saga._erp_confirm,
    "release": Saga._release,
    "compensate": Saga._compensate,
    "compensate:done": Saga._compensated,
}

__all__ = ["Saga", "Rejected", "member", "ERP", "WMS", "POS"]
