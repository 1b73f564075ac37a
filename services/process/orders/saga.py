"""The order saga: validate -> reserve (held) -> accept (allocated) -> ERP sales order + confirm -> release to
the WMS (ship) or the store (pickup) -> ``released``; compensation (cancel the fulfilment documents and the ERP
order by reference, release stock) ends in ``failed`` or ``cancelled``.

Each step is an idempotent call (reservations by (order, line), ERP documents by our order id, WMS and POS
documents by ref), so a step interrupted by a crash, or whose answer was lost, is simply done again: the system
APIs look the document up by our reference first, and hold their per-ref lock while an earlier create's outcome
is in doubt (DESIGN §4, "Unknown outcomes"). The record names the next step before it runs and is written
again, with the step's result and the step after it, once it has run. Every write is a kernel state change
fenced by the order's lock, so a cancel racing a retry, or two replicas resuming the same saga, cannot
interleave.

A transient failure (an upstream 5xx, timeout or open breaker) after acceptance parks the order in
``pending_backend`` with a next-attempt time in the due set; the retry worker resumes it. Before acceptance
nothing is promised to the customer yet, so the order fails (not accepted), its stock is released, and the
caller hears 503: replaying its Idempotency-Key places the *same* order again (a new placement attempt).

Back-end facts (a shipment, a pickup, a receipt) may arrive before the saga recorded the step that caused them:
they are parked against the order and applied as soon as the order's state admits them (:meth:`settle_facts`),
so the order ends in the state the facts say, whatever the order in which facts and steps came in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from services.process.orders import pricing, sourcing
from services.process.orders.backends import AVAILABILITY, ERP, POS, SYSTEM_OF, WMS, Backends, Refused
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Group, OrderRecord, Store
from shared import context
from shared.changes import Change, now_entry
from shared.clock import now_ms, utcnow
from shared.locks import Fenced, Lock
from shared.models.availability import ReservationLineRequest, ReservationRequest
from shared.models.events import (
    DeliveryCompleted,
    Event,
    PickupCompleted,
    PickupReady,
    ShipmentDispatched,
)
from shared.models.fulfilment import FulfilmentLine, FulfilmentOrderRequest, PickupTaskRequest
from shared.models.inventory import Location
from shared.models.orders import (
    CancelRequest,
    OrderLine,
    OrderLineRequest,
    OrderRequest,
    SalesOrderLine,
    SalesOrderRequest,
)
from shared.problems import ProblemError

log = logging.getLogger("omnigate.orders.saga")

AFTER_RELEASE = frozenset({"released", "shipped", "ready_for_pickup", "delivered", "picked_up"})
FINAL = frozenset({"rejected", "failed", "cancelled"})
# A pickup order can be cancelled until it is collected: the store gives its held units back to the till.
PICKUP_CANCELLABLE = frozenset({"released", "ready_for_pickup"})


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


def member(order_id: str) -> str:
    return f"o:{order_id}"


def not_accepted(record: OrderRecord) -> bool:
    """Failed before acceptance because a back-end was away: nothing was promised; the key may place it again."""
    return (
        record.goal == "failed"
        and record.state in ("received", "reserved", "failed")
        and bool(record.errors)
        and bool(record.errors[0].get("upstream"))
    )


class Saga:
    def __init__(self, store: Store, backends: Backends, settings: OrdersSettings) -> None:
        self.store = store
        self.backends = backends
        self.settings = settings
        self.stores = StoreCache({})
        self._stores_lock = asyncio.Lock()

    # --- writes ------------------------------------------------------------------------------------------------

    def transition(
        self,
        change: Change,
        record: OrderRecord,
        state: str,
        system: str,
        *,
        document_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        entry = now_entry(state, system, document_id=document_id, correlation_id=record.correlation_id, detail=detail)
        change.transition(
            record,
            state,
            timeline=self.store.keys.timeline(record.id),
            entry=entry,
            domain="orders",
            source="orders",
            event_type=f"order.{state}",
            payload={
                "order_id": record.id,
                "owner": record.owner,
                "state": state,
                "total": record.total,
                "currency": record.currency,
                "reason": record.reason,
            },
        )

    def note(
        self, change: Change, record: OrderRecord, system: str, detail: str, *, document_id: str | None = None
    ) -> None:
        """A timeline entry that is not a transition (a document found, a fact that changes nothing yet)."""
        change.append(
            self.store.keys.timeline(record.id),
            now_entry(
                record.state, system, document_id=document_id, correlation_id=record.correlation_id, detail=detail
            ),
        )

    async def save(
        self, record: OrderRecord, lock: Lock, change: Change, *, acquire: bool = False, create: bool = False
    ) -> None:
        record.updated_at = utcnow()
        change.put(self.store.keys.order(record.id), record, create=create)
        if record.step == "done":
            # The driver's last write: out of the due set, and the lock goes with it unless facts are parked.
            change.not_due(member(record.id)).unlock_unless(self.store.keys.facts(record.id))
        await self.store.apply(lock, change, acquire=acquire)

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

    async def place(self, owner: str, request: OrderRequest, order_id: str, lock: Lock) -> OrderRecord:
        """Create order ``order_id`` and drive its saga as far as it goes now. ``lock`` is the order's lock, not
        yet held: the first write takes it and refuses to replace an existing order (``shared.changes.Exists``,
        ``Locked``: the caller answers from the order that exists)."""
        now = utcnow()
        record = OrderRecord(
            id=order_id,
            owner=owner,
            state="received",
            customer=request.customer,
            fulfilment=request.fulfilment,
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
        change = self.store.change().zadd(self.store.keys.owner(owner), now.timestamp(), order_id)
        change.zadd(self.store.keys.created, now.timestamp(), order_id)
        return await self._price_and_drive(record, request, lock, change, create=True)

    async def place_again(self, record: OrderRecord, lock: Lock) -> OrderRecord:
        """A replayed key whose order was not accepted (a back-end away) places the same order again: a new
        placement attempt, priced, sourced and reserved afresh. The caller holds the order's lock."""
        request = OrderRequest(
            customer=record.customer,
            fulfilment=record.fulfilment,
            currency=record.currency,
            payment_reference=record.payment_reference,
            lines=[OrderLineRequest(line_id=ln.line_id, sku=ln.sku, qty=ln.qty) for ln in record.lines],
        )
        record.placement += 1
        record.step, record.goal, record.compensating_from = "reserve", None, None
        record.reason = record.slug = None
        record.errors, record.attempts, record.erp_touched = None, 0, False
        record.correlation_id = context.request_id_var.get()
        return await self._price_and_drive(record, request, lock, self.store.change(), create=False)

    async def _price_and_drive(
        self, record: OrderRecord, request: OrderRequest, lock: Lock, change: Change, *, create: bool
    ) -> OrderRecord:
        acquire = not lock.held
        try:
            record.groups = await self._price_and_source(record, request)
        except Rejected as exc:
            record.reason, record.errors, record.step, record.slug = exc.detail, exc.errors, "done", exc.slug
            self.transition(change, record, "rejected", "orders", detail=exc.detail)
            await self.save(record, lock, change, acquire=acquire, create=create)
            await lock.release()
            return record
        change.due(member(record.id), now_ms() + self.store.lock_ttl_ms)  # resumed by a worker if we die
        detail = None if record.placement == 1 else f"placed again (attempt {record.placement})"
        self.transition(change, record, "received", "orders", document_id=record.id, detail=detail)
        await self.save(record, lock, change, acquire=acquire, create=create)
        try:
            async with lock.kept_alive():
                return await self.drive(record, lock)
        finally:
            await lock.release()

    async def _price_and_source(self, record: OrderRecord, request: OrderRequest) -> list[Group]:
        fulfilment = request.fulfilment
        ids = [ln.line_id for ln in request.lines]
        if len(set(ids)) != len(ids):
            raise ProblemError(
                "invalid-request",
                "line ids must be unique within an order",
                errors=[{"field": "lines", "detail": "duplicate line_id"}],
            )
        store: Location | None = None
        if fulfilment.mode == "ship":
            if fulfilment.ship_to is None:
                raise ProblemError(
                    "invalid-request",
                    "a ship order needs fulfilment.ship_to",
                    errors=[{"field": "fulfilment.ship_to", "detail": "missing"}],
                )
            country = fulfilment.ship_to.country
        else:
            if fulfilment.store is None:
                raise ProblemError(
                    "invalid-request",
                    "a pickup order needs fulfilment.store",
                    errors=[{"field": "fulfilment.store", "detail": "missing"}],
                )
            store = await self.store_location(fulfilment.store)
            if store is None or not store.pickup:
                raise Rejected(
                    "unprocessable",
                    f"store {fulfilment.store} does not exist or takes no pickups",
                    [{"field": "fulfilment.store", "value": fulfilment.store, "detail": "unknown store"}],
                )
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
        for line in record.lines:
            line.unit_price = price_of[line.sku].amount
        try:
            sums = pricing.totals(
                [(ln.unit_price, ln.qty) for ln in record.lines],
                country,
                tax_included=all(price_of[s].tax_included for s in skus),
            )
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

    async def _reject(
        self, record: OrderRecord, lock: Lock, slug: str, detail: str, errors: list[dict[str, Any]] | None, system: str
    ) -> None:
        record.reason, record.errors, record.step, record.slug = detail, errors, "done", slug
        change = self.store.change()
        self.transition(change, record, "rejected", system, detail=detail)
        await self.save(record, lock, change)

    # --- driving ----------------------------------------------------------------------------------------------

    async def drive(self, record: OrderRecord, lock: Lock) -> OrderRecord:
        """Run the remaining steps; returns when the saga is done, waiting for events, or parked for a retry.
        Facts parked against the order are applied on the way out."""
        while record.step != "done":
            try:
                await STEPS[record.step](self, record, lock)
            except Refused as exc:
                await self._refused(record, lock, exc)
            except ProblemError as exc:
                if exc.status < 500:
                    raise
                if await self._transient(record, lock, exc):
                    break
            except Fenced:
                log.warning("order %s: lock lost mid-saga; another driver continues it", record.id)
                return record
        if not lock.held:
            return record  # the last write released it: nothing was parked
        try:
            return await self.settle_facts(record, lock)
        except Fenced:
            return record

    async def _transient(self, record: OrderRecord, lock: Lock, exc: ProblemError) -> bool:
        """Handle an upstream being away (or busy with this order's document); True if parked for a retry."""
        upstream = exc.upstream or "unknown"
        detail = f"{exc.detail or exc.title}"
        if record.step in ("reserve", "accept"):
            # Nothing has been promised yet: fail now, releasing whatever the reservation call may have held.
            record.goal, record.reason = "failed", f"not accepted: {detail}"
            record.compensating_from, record.step = record.step, "compensate"
            record.errors = [{"upstream": upstream, "status": exc.status if exc.status >= 500 else 503}]
            return False
        record.attempts += 1
        record.reason = detail
        delay = backoff_s(record.attempts, self.settings.orders_retry_base_s, self.settings.orders_retry_max_s)
        if exc.retry_after:
            delay = max(delay, float(exc.retry_after))
        change = self.store.change().due(member(record.id), now_ms() + int(delay * 1000))
        if record.state in ("accepted", "confirmed"):
            self.transition(change, record, "pending_backend", SYSTEM_OF.get(upstream, upstream), detail=detail)
        await self.save(record, lock, change)
        log.info(
            "order %s waits for %s (attempt %d, next in %.1fs): %s", record.id, upstream, record.attempts, delay, detail
        )
        return True

    async def _refused(self, record: OrderRecord, lock: Lock, exc: Refused) -> None:
        system = SYSTEM_OF.get(exc.upstream, exc.upstream)
        if record.step == "reserve":
            slug = "insufficient-stock" if exc.slug == "insufficient-stock" else "unprocessable"
            await self._reject(record, lock, slug, f"{system}: {exc.detail}", exc.errors, system)
            return
        if record.step == "compensate":
            # Undoing what cannot be undone (say, the WMS has shipped): record it and finish.
            log.warning("order %s: compensation refused by %s: %s", record.id, exc.upstream, exc.detail)
            record.reason = f"{record.reason}; {system} refused compensation: {exc.detail}"
            record.step = "compensate:done"
            return
        record.goal = "failed"
        record.reason = f"{system} refused step {record.step}: {exc.detail}"
        record.errors = exc.errors
        record.compensating_from, record.step = record.step, "compensate"

    # --- steps -------------------------------------------------------------------------------------------------

    async def _reserve(self, record: OrderRecord, lock: Lock) -> None:
        """Reserve and allocate in one atomic call (the order is accepted at once, so a separate commit would
        only cost a hop); the timeline and events still show both transitions, written together after it."""
        request = ReservationRequest(
            order_id=record.id,
            owner=record.owner,
            ttl_s=self.settings.orders_reservation_ttl_s,
            lines=[
                ReservationLineRequest(line_id=ln.line_id, sku=ln.sku, location=ln.location or "", qty=ln.qty)
                for ln in record.lines
            ],
            allocate=True,
            attempt=record.placement,
        )
        reservations = await self.backends.reserve(request)
        change = self.store.change()
        self.transition(change, record, "reserved", "availability", document_id=reservations.order_id)
        self._accepted(change, record, reservations.order_id)
        await self.save(record, lock, change)

    async def _accept(self, record: OrderRecord, lock: Lock) -> None:
        # Sagas written before reserve allocated (or resumed from a held set) still commit separately.
        reservations = await self.backends.commit(record.id)
        change = self.store.change()
        self._accepted(change, record, reservations.order_id)
        await self.save(record, lock, change)

    def _accepted(self, change: Change, record: OrderRecord, document_id: str) -> None:
        record.step = "erp_order"
        record.reason = None
        # Written now, before the ERP step runs: a compensation from here on cancels the ERP document by
        # reference (a 404 there is "never created"), and the ERP step needs no write of its own before its call.
        record.erp_touched = True
        self.transition(change, record, "accepted", "availability", document_id=document_id, detail="stock allocated")

    async def _erp_order(self, record: OrderRecord, lock: Lock) -> None:
        if not record.erp_touched:
            record.erp_touched = True  # written before the call: a compensation must look for the document
            await self.save(record, lock, self.store.change())
        order = await self.backends.sales_order(
            SalesOrderRequest(
                ref=record.id,
                customer_id=record.customer.id,
                customer_name=record.customer.name,
                currency=record.currency,
                lines=[SalesOrderLine(sku=ln.sku, qty=ln.qty, unit_price=ln.unit_price) for ln in record.lines],
                note=f"omnigate order {record.id} ({record.owner}), payment {record.payment_reference}"[:1000],
            )
        )
        record.erp_name = order.name
        record.step = "erp_confirm"
        change = self.store.change()
        self.note(
            change,
            record,
            "erp",
            "sales order created" if order.created else "sales order found (created earlier)",
            document_id=order.name,
        )
        await self.save(record, lock, change)

    async def _erp_confirm(self, record: OrderRecord, lock: Lock) -> None:
        order = await self.backends.confirm_sales_order(record.id)
        record.step = "release"
        record.reason = None
        change = self.store.change()
        self.transition(change, record, "confirmed", "erp", document_id=order.name, detail="sales order confirmed")
        await self.save(record, lock, change)

    async def _release(self, record: OrderRecord, lock: Lock) -> None:
        by_id = {ln.line_id: ln for ln in record.lines}
        documents = []
        if record.fulfilment.mode == "pickup":
            group = record.groups[0]
            task = await self.backends.pickup_task(
                PickupTaskRequest(
                    ref=group.ref,
                    store=group.location,
                    customer_name=record.customer.name,
                    lines=[FulfilmentLine(sku=by_id[i].sku, qty=by_id[i].qty) for i in group.line_ids],
                )
            )
            group.document_id = task.pos_id
            documents.append(task.pos_id)
            system = "pos"
        else:
            assert record.fulfilment.ship_to is not None
            for group in record.groups:
                if group.document_id is None:
                    order = await self.backends.fulfilment_order(
                        FulfilmentOrderRequest(
                            ref=group.ref,
                            location=group.location,
                            ship_to=record.fulfilment.ship_to,
                            lines=[FulfilmentLine(sku=by_id[i].sku, qty=by_id[i].qty) for i in group.line_ids],
                        )
                    )
                    group.document_id = order.wms_id
                documents.append(group.document_id)
            system = "wms"
        record.step = "done"
        record.reason = None
        change = self.store.change()
        self.transition(
            change,
            record,
            "released",
            system,
            document_id=",".join(documents),
            detail=f"released to {', '.join(g.location for g in record.groups)}",
        )
        await self.save(record, lock, change)

    async def _compensate(self, record: OrderRecord, lock: Lock) -> None:
        goal = record.goal if record.goal in ("failed", "cancelled") else "failed"
        # What may exist is what the saga got as far as *sending*: documents are cancelled by reference, so one
        # whose create answer was lost is cancelled too (the system API waits out a create still in doubt).
        if record.compensating_from in ("release", "done") or any(g.document_id for g in record.groups):
            for group in record.groups:
                if record.fulfilment.mode == "pickup":
                    await self.backends.cancel_pickup_task(group.ref)
                elif not group.shipped:
                    await self.backends.cancel_fulfilment_order(group.ref)
        if record.erp_touched:
            await self.backends.cancel_sales_order(record.id)
        # Reserve ran (or its answer was lost): the stock it may hold is released; retried until it is, since
        # an allocated reservation never expires on its own.
        await self.backends.release(record.id)
        await self._finish(record, lock, goal)

    async def _compensated(self, record: OrderRecord, lock: Lock) -> None:
        await self._finish(record, lock, record.goal if record.goal in ("failed", "cancelled") else "failed")

    async def _finish(self, record: OrderRecord, lock: Lock, goal: str) -> None:
        record.step = "done"
        change = self.store.change()
        self.transition(change, record, goal, "orders", detail=record.reason)
        await self.save(record, lock, change)

    # --- cancel -----------------------------------------------------------------------------------------------

    def cancellable(self, record: OrderRecord) -> bool:
        if record.state in FINAL:
            return False
        if record.fulfilment.mode == "pickup" and record.state in PICKUP_CANCELLABLE:
            return True
        return record.state not in AFTER_RELEASE and record.step != "done"

    async def cancel(self, record: OrderRecord, lock: Lock, request: CancelRequest) -> OrderRecord:
        """Cancel (the caller holds the lock): compensate now, or park it if a back-end is away. A ship order
        can be cancelled until it is released to the WMS, a pickup until it is collected."""
        if record.state == "cancelled" or (record.goal == "cancelled" and record.step != "done"):
            return record
        if not self.cancellable(record):
            raise ProblemError(
                "conflict",
                f"order {record.id} is {record.state} and can no longer be cancelled",
                errors=[{"state": record.state}],
            )
        record.goal = "cancelled"
        record.reason = f"cancelled by {record.owner}" + (f": {request.reason}" if request.reason else "")
        record.compensating_from, record.step = record.step, "compensate"
        record.attempts = 0
        change = self.store.change().due(member(record.id), now_ms() + self.store.lock_ttl_ms)
        self.note(change, record, "orders", "cancel requested")
        await self.save(record, lock, change)
        return await self.drive(record, lock)

    # --- facts ------------------------------------------------------------------------------------------------

    async def settle_facts(self, record: OrderRecord, lock: Lock) -> OrderRecord:
        """Apply the facts parked against the order that its state now admits (the caller holds the lock).
        A fact the order is not ready for stays parked; one about a cancelled order is reported."""
        parked = await self.store.parked(record.id)
        if not parked:
            return record
        change = self.store.change()
        applied = False
        for event in parked:
            outcome = self._apply_fact(change, record, event)
            if outcome in ("applied", "reported"):
                change.hdel(self.store.keys.facts(record.id), event.id)
                applied = True
        if applied:
            await self.save(record, lock, change)
        return record

    def _apply_fact(self, change: Change, record: OrderRecord, event: Event) -> str:
        """``applied``, ``wait`` (not yet: the saga has not reached the step the fact follows), ``reported`` (about
        an order that ended otherwise) or ``skip`` (not an order fact)."""
        payload: Any
        if event.type == "shipment.dispatched":
            payload = msgspec.convert(event.payload, ShipmentDispatched, strict=False)
            ref, document = payload.order_ref, payload.shipment_ref
        elif event.type == "delivery.completed":
            payload = msgspec.convert(event.payload, DeliveryCompleted, strict=False)
            ref, document = payload.order_ref, payload.shipment_ref
        elif event.type in ("pickup.ready", "pickup.completed"):
            payload = msgspec.convert(
                event.payload, PickupReady if event.type == "pickup.ready" else PickupCompleted, strict=False
            )
            ref, document = payload.task_ref, payload.task_ref
        else:
            return "skip"  # not an order's fact: a return's receipt (returns.py settles those)
        group = next((g for g in record.groups if g.ref == ref), None)
        system = event.source
        if record.state in FINAL:
            log.warning("order %s is %s but %s reports %s for %s", record.id, record.state, system, event.type, ref)
            self.note(
                change,
                record,
                system,
                f"{event.type} after the order was {record.state}: reported",
                document_id=document,
            )
            return "reported"
        if record.state not in AFTER_RELEASE:
            return "wait"
        if event.type == "shipment.dispatched" and group is not None:
            group.shipped = True
        elif event.type == "delivery.completed" and group is not None:
            group.shipped = group.delivered = True
        targets = {
            "shipment.dispatched": ("shipped", {"released"}),
            "delivery.completed": ("delivered", {"released", "shipped"}),
            "pickup.ready": ("ready_for_pickup", {"released"}),
            "pickup.completed": ("picked_up", {"released", "ready_for_pickup"}),
        }
        target, sources = targets[event.type]
        done = (
            all(g.shipped for g in record.groups)
            if target == "shipped"
            else (all(g.delivered for g in record.groups) if target == "delivered" else True)
        )
        if record.state in sources and done:
            self.transition(change, record, target, system, document_id=document, detail=event.type)
        else:
            self.note(change, record, system, event.type, document_id=document)
        return "applied"


STEPS = {
    "reserve": Saga._reserve,
    "accept": Saga._accept,
    "erp_order": Saga._erp_order,
    "erp_confirm": Saga._erp_confirm,
    "release": Saga._release,
    "compensate": Saga._compensate,
    "compensate:done": Saga._compensated,
}

__all__ = ["Saga", "Rejected", "member", "not_accepted", "ERP", "WMS", "POS"]
