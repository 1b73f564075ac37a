"""The order saga's step machine: once intake (intake.py) has priced and sourced an order, reserve (held) ->
accept (allocated) -> ERP sales order + confirm -> release to the WMS (ship) or the store (pickup) ->
``released``; compensation (cancel the fulfilment documents and the ERP order by reference, release stock) ends
in ``failed`` or ``cancelled``. The steps are ``records.Step``; :data:`STEPS` maps each to the method that runs it.

Each step is an idempotent call (reservations by (order, line), ERP documents by our order id, WMS and POS
documents by ref), so a step interrupted by a crash, or whose answer was lost, is simply done again: the system
APIs look the document up by our reference first, and hold their per-ref lock while an earlier create's outcome
is in doubt (DESIGN §4, "Unknown outcomes"). The record names the next step before it runs and is written
again, with the step's result and the step after it, once it has run. Every write is a kernel state change
fenced by the order's lock, so a cancel racing a retry, or two replicas resuming the same saga, cannot
interleave. The loop that runs the steps, and these writes, are driver.py's, shared with a return's steps.

A transient failure (an upstream 5xx, timeout or open breaker) after acceptance parks the order in
``pending_backend`` with a next-attempt time in the due set; the retry worker resumes it. Before acceptance
nothing is promised to the customer yet, so the order fails (not accepted), its stock is released, and the
caller hears 503: replaying its Idempotency-Key places the *same* order again (a new placement attempt).

Back-end facts (a shipment, a pickup, a receipt) may arrive before the saga recorded the step that caused them:
they are parked against the order and applied as soon as the order's state admits them (:meth:`settle_facts`),
so the order ends in the state the facts say, whatever the order in which facts and steps came in. A shipment
also leaves its parcel on the order (carrier, tracking number, tracking URL: ``Order.shipments``), once per parcel
however often its fact arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from services.process.orders.backends import SYSTEM_OF, Backends, Refused
from services.process.orders.carriers import tracking_url
from services.process.orders.driver import Driver
from services.process.orders.intake import Intake, Rejected, received, request_of
from services.process.orders.records import AFTER_RELEASE, FINAL, Group, OrderRecord, Step
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Store
from shared import context
from shared.changes import Change
from shared.clock import now_ms
from shared.locks import Fenced, Lock
from shared.models.availability import ReservationLineRequest, ReservationRequest
from shared.models.common import to_utc
from shared.models.events import (
    DeliveryCompleted,
    Event,
    PickupCompleted,
    PickupReady,
    ShipmentDispatched,
)
from shared.models.fulfilment import FulfilmentLine, FulfilmentOrderRequest, PickupTaskRequest
from shared.models.orders import CancelRequest, OrderRequest, OrderShipment, SalesOrderLine, SalesOrderRequest
from shared.problems import ProblemError

log = logging.getLogger("omnigate.orders.saga")


def member(order_id: str) -> str:
    return f"o:{order_id}"


class Saga(Driver[OrderRecord]):
    kind = "order"

    def __init__(self, store: Store, backends: Backends, intake: Intake, settings: OrdersSettings) -> None:
        super().__init__(store, settings)
        self.backends = backends
        self.intake = intake

    # --- what is an order's own (driver.py) -------------------------------------------------------------------

    def _key(self, record: OrderRecord) -> str:
        return self.store.keys.order(record.id)

    def _member(self, record: OrderRecord) -> str:
        return member(record.id)

    def _order_id(self, record: OrderRecord) -> str:
        return record.id

    def _payload(self, record: OrderRecord, state: str) -> dict[str, object]:
        return {
            "order_id": record.id,
            "owner": record.owner,
            "state": state,
            "total": record.total,
            "currency": record.currency,
            "reason": record.reason,
        }

    def _settled(self, record: OrderRecord) -> bool:
        return record.step == Step.DONE

    def _last_write(self, change: Change, record: OrderRecord) -> None:
        # The driver's last write: out of the due set, and the lock goes with it unless facts are parked.
        super()._last_write(change, record)
        change.unlock_unless(self.store.keys.facts(record.id))

    async def _step(self, record: OrderRecord, lock: Lock) -> None:
        await STEPS[record.step](self, record, lock)

    # --- placing an order -------------------------------------------------------------------------------------

    async def place(self, owner: str, request: OrderRequest, order_id: str, lock: Lock) -> OrderRecord:
        """Create order ``order_id`` and drive its saga as far as it goes now. ``lock`` is the order's lock, not
        yet held: the first write takes it and refuses to replace an existing order (``shared.changes.Exists``,
        ``Locked``: the caller answers from the order that exists)."""
        record = received(owner, request, order_id)
        created = record.created_at.timestamp()
        change = self.store.change().zadd(self.store.keys.owner(owner), created, order_id)
        change.zadd(self.store.keys.created, created, order_id)
        return await self._price_and_drive(record, request, lock, change, create=True)

    async def place_again(self, record: OrderRecord, lock: Lock) -> OrderRecord:
        """A replayed key whose order was not accepted (a back-end away) places the same order again: a new
        placement attempt, priced, sourced and reserved afresh. The caller holds the order's lock."""
        request = request_of(record)
        record.place_again(context.request_id_var.get())
        return await self._price_and_drive(record, request, lock, self.store.change(), create=False)

    async def _price_and_drive(
        self, record: OrderRecord, request: OrderRequest, lock: Lock, change: Change, *, create: bool
    ) -> OrderRecord:
        acquire = not lock.held
        try:
            record.groups = await self.intake.price_and_source(record, request)
        except Rejected as exc:
            record.reject(exc.slug, exc.detail, exc.errors)
            self.transition(change, record, "rejected", "orders", detail=exc.detail)
            await self._save_placement(record, lock, change, acquire=acquire, create=create)
            await lock.release()
            return record
        change.due(member(record.id), now_ms() + self.store.lock_ttl_ms)  # resumed by a worker if we die
        detail = None if record.placement == 1 else f"placed again (attempt {record.placement})"
        self.transition(change, record, "received", "orders", document_id=record.id, detail=detail)
        await self._save_placement(record, lock, change, acquire=acquire, create=create)
        try:
            async with lock.kept_alive():
                return await self.drive(record, lock)
        finally:
            await lock.release()

    async def _save_placement(
        self, record: OrderRecord, lock: Lock, change: Change, *, acquire: bool, create: bool
    ) -> None:
        """Save a placement; if the order's lock lapsed meanwhile (a slow pricing or sourcing call), another
        driver has taken the order over and continues it: the request learns its outcome by repeating itself
        with the same Idempotency-Key (409 ``request-in-flight``, nothing written by this attempt)."""
        try:
            await self.save(record, lock, change, acquire=acquire, create=create)
        except Fenced as exc:
            log.warning("order %s: lock lost while placing; another driver continues it", record.id)
            raise ProblemError(
                "request-in-flight",
                "another worker continues this order; repeat the request with the same Idempotency-Key",
                retry_after=1,
            ) from exc

    async def _reject(
        self, record: OrderRecord, lock: Lock, slug: str, detail: str, errors: list[dict[str, Any]] | None, system: str
    ) -> None:
        record.reject(slug, detail, errors)
        change = self.store.change()
        self.transition(change, record, "rejected", system, detail=detail)
        await self.save(record, lock, change)

    # --- driving ----------------------------------------------------------------------------------------------

    async def drive(self, record: OrderRecord, lock: Lock) -> OrderRecord:
        """Run the remaining steps; returns when the saga is done, waiting for events, or parked for a retry.
        Facts parked against the order are applied on the way out."""
        if not await self._run(record, lock):
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
        if record.step in (Step.RESERVE, Step.ACCEPT):
            # Nothing has been promised yet: fail now, releasing whatever the reservation call may have held.
            record.compensate("failed", f"not accepted: {detail}")
            record.errors = [{"upstream": upstream, "status": exc.status if exc.status >= 500 else 503}]
            return False
        change, delay = self._retry(record, exc)
        record.reason = detail
        if record.state in ("accepted", "confirmed"):
            self.transition(change, record, "pending_backend", SYSTEM_OF.get(upstream, upstream), detail=detail)
        await self.save(record, lock, change)
        log.info(
            "order %s waits for %s (attempt %d, next in %.1fs): %s", record.id, upstream, record.attempts, delay, detail
        )
        return True

    async def _refused(self, record: OrderRecord, lock: Lock, exc: Refused) -> None:
        system = SYSTEM_OF.get(exc.upstream, exc.upstream)
        if record.step == Step.RESERVE:
            slug = "insufficient-stock" if exc.slug == "insufficient-stock" else "unprocessable"
            await self._reject(record, lock, slug, f"{system}: {exc.detail}", exc.errors, system)
            return
        if record.step == Step.COMPENSATE:
            # Undoing what cannot be undone (say, the WMS has shipped): record it and finish.
            log.warning("order %s: compensation refused by %s: %s", record.id, exc.upstream, exc.detail)
            record.reason = f"{record.reason}; {system} refused compensation: {exc.detail}"
            record.step = Step.COMPENSATED
            return
        record.compensate("failed", f"{system} refused step {record.step}: {exc.detail}")
        record.errors = exc.errors

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
        record.step = Step.ERP_ORDER
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
        record.step = Step.ERP_CONFIRM
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
        record.step = Step.RELEASE
        record.reason = None
        change = self.store.change()
        self.transition(change, record, "confirmed", "erp", document_id=order.name, detail="sales order confirmed")
        await self.save(record, lock, change)

    async def _release(self, record: OrderRecord, lock: Lock) -> None:
        documents = []
        for group in record.groups:  # a pickup order is one group, at its store
            if group.document_id is None:  # else an earlier attempt of this step created it
                group.document_id = await self._document(record, group)
            documents.append(group.document_id)
        system = "pos" if record.fulfilment.mode == "pickup" else "wms"
        record.step = Step.DONE
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

    async def _document(self, record: OrderRecord, group: Group) -> str:
        """Create (or find, by its ref) one group's fulfilment document: a pickup task at the store, or a
        fulfilment order at the DC; returns its id."""
        by_id = {ln.line_id: ln for ln in record.lines}
        lines = [FulfilmentLine(sku=by_id[i].sku, qty=by_id[i].qty) for i in group.line_ids]
        if record.fulfilment.mode == "pickup":
            task = await self.backends.pickup_task(
                PickupTaskRequest(ref=group.ref, store=group.location, customer_name=record.customer.name, lines=lines)
            )
            return task.pos_id
        assert record.fulfilment.ship_to is not None
        order = await self.backends.fulfilment_order(
            FulfilmentOrderRequest(
                ref=group.ref, location=group.location, ship_to=record.fulfilment.ship_to, lines=lines
            )
        )
        return order.wms_id

    async def _compensate(self, record: OrderRecord, lock: Lock) -> None:
        goal = record.goal if record.goal in ("failed", "cancelled") else "failed"
        # What may exist is what the saga got as far as *sending*: documents are cancelled by reference, so one
        # whose create answer was lost is cancelled too (the system API waits out a create still in doubt).
        if record.compensating_from in (Step.RELEASE, Step.DONE) or any(g.document_id for g in record.groups):
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
        record.step = Step.DONE
        change = self.store.change()
        self.transition(change, record, goal, "orders", detail=record.reason)
        await self.save(record, lock, change)

    # --- cancel -----------------------------------------------------------------------------------------------

    async def cancel(self, record: OrderRecord, lock: Lock, request: CancelRequest) -> OrderRecord:
        """Cancel (the caller holds the lock): compensate now, or park it if a back-end is away. A ship order
        can be cancelled until it is released to the WMS, a pickup until it is collected."""
        if record.state == "cancelled" or (record.goal == "cancelled" and record.step != Step.DONE):
            return record
        record.cancel(f"cancelled by {record.owner}" + (f": {request.reason}" if request.reason else ""))
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
            if outcome in ("applied", "reported", "duplicate"):
                change.hdel(self.store.keys.facts(record.id), event.id)
                applied = True
        if applied:
            await self.save(record, lock, change)
        return record

    def _apply_fact(self, change: Change, record: OrderRecord, event: Event) -> str:
        """``applied``, ``wait`` (not yet: the saga has not reached the step the fact follows), ``reported`` (about
        an order that ended otherwise), ``duplicate`` (a parcel the order keeps already: nothing changes, not even
        the timeline) or ``skip`` (not an order fact).

        A shipment, once applied or reported, is kept on the order with its carrier, tracking number and tracking
        URL (:meth:`OrderRecord.add_shipment`, once per parcel); the timeline entry it makes names them."""
        fact = read_fact(event)
        if fact is None:
            return "skip"  # not an order's fact: a return's receipt (returns.py settles those)
        parcel = fact.parcel
        if parcel is not None and record.has_shipment(parcel.shipment_ref, parcel.carrier, parcel.tracking_number):
            log.info("order %s: %s of %s again (event %s): kept once", record.id, event.type, fact.document, event.id)
            return "duplicate"
        system = event.source
        if record.state in FINAL:
            log.warning(
                "order %s is %s but %s reports %s for %s", record.id, record.state, system, event.type, fact.ref
            )
            if parcel is not None:  # the parcel is on its way all the same: it can be followed
                record.add_shipment(shipment_of(record, parcel, event))
            self.note(
                change,
                record,
                system,
                f"{fact.detail} after the order was {record.state}: reported",
                document_id=fact.document,
            )
            return "reported"
        if record.state not in AFTER_RELEASE:
            return "wait"
        group = next((g for g in record.groups if g.ref == fact.ref), None)
        if parcel is not None:
            record.add_shipment(shipment_of(record, parcel, event))
            if group is not None:
                record.parcel_dispatched(group, parcel.shipment_ref, parcel.lines)
        elif event.type == "delivery.completed" and group is not None:
            record.parcel_delivered(group, fact.document)
        target, sources = _reached(record, event.type)
        if record.state in sources and _every_part(record, target):
            self.transition(change, record, target, system, document_id=fact.document, detail=fact.detail)
        else:
            self.note(change, record, system, fact.detail, document_id=fact.document)
        return "applied"


# The state an order fact moves an order to, and the states it moves it from.
TARGETS: dict[str, tuple[str, frozenset[str]]] = {
    "shipment.dispatched": ("shipped", frozenset({"released"})),
    "delivery.completed": ("delivered", frozenset({"released", "shipped"})),
    "pickup.ready": ("ready_for_pickup", frozenset({"released"})),
    "pickup.completed": ("picked_up", frozenset({"released", "ready_for_pickup"})),
}


@dataclass(frozen=True, slots=True)
class OrderFact:
    """What an order fact names: the fulfilment document's ref (``ref``: the order's, or a split part's), the
    back-end's document (``document``), the timeline's detail, and for a shipment its parcel."""

    ref: str
    document: str
    detail: str
    parcel: ShipmentDispatched | None = None


def read_fact(event: Event) -> OrderFact | None:
    """The order fact an event carries, or None if it is not one (a return's receipt)."""
    if event.type == "shipment.dispatched":
        parcel = msgspec.convert(event.payload, ShipmentDispatched, strict=False)
        detail = f"{event.type}: {parcel.carrier} {parcel.tracking_number}"
        return OrderFact(ref=parcel.order_ref, document=parcel.shipment_ref, detail=detail, parcel=parcel)
    if event.type == "delivery.completed":
        delivered = msgspec.convert(event.payload, DeliveryCompleted, strict=False)
        return OrderFact(ref=delivered.order_ref, document=delivered.shipment_ref, detail=event.type)
    if event.type == "pickup.ready":
        ready = msgspec.convert(event.payload, PickupReady, strict=False)
        return OrderFact(ref=ready.task_ref, document=ready.task_ref, detail=event.type)
    if event.type == "pickup.completed":
        collected = msgspec.convert(event.payload, PickupCompleted, strict=False)
        return OrderFact(ref=collected.task_ref, document=collected.task_ref, detail=event.type)
    return None


def shipment_of(record: OrderRecord, fact: ShipmentDispatched, event: Event) -> OrderShipment:
    """The parcel a ``shipment.dispatched`` fact reports, as the order keeps it: shipped when the fact happened
    (``event.occurred_at``, UTC), with the vendor's tracking link or the carrier's page (carriers.py) for the
    order's ship-to address."""
    return OrderShipment(
        shipment_ref=fact.shipment_ref,
        carrier=fact.carrier,
        tracking_number=fact.tracking_number,
        tracking_url=tracking_url(
            fact.carrier, fact.tracking_number, record.fulfilment.ship_to, given=fact.tracking_url
        ),
        shipped_at=to_utc(event.occurred_at),
        location=fact.location,
        lines=fact.lines,
    )


def _reached(record: OrderRecord, kind: str) -> tuple[str, frozenset[str]]:
    """The state a fact of ``kind`` moves the order to, and from which states: a parcel's dispatch or delivery
    moves it as far as its parts have come (a dispatch that completes parts whose deliveries were reported first
    moves it to ``delivered``)."""
    if kind in ("shipment.dispatched", "delivery.completed") and record.groups and _every_part(record, "delivered"):
        return TARGETS["delivery.completed"]
    return TARGETS[kind]


def _every_part(record: OrderRecord, target: str) -> bool:
    """Whether every part of a split order has come as far as ``target`` (shipped, delivered); other targets
    move the order at once."""
    if target == "shipped":
        return all(g.shipped for g in record.groups)
    if target == "delivered":
        return all(g.delivered for g in record.groups)
    return True


STEPS = {
    Step.RESERVE: Saga._reserve,
    Step.ACCEPT: Saga._accept,
    Step.ERP_ORDER: Saga._erp_order,
    Step.ERP_CONFIRM: Saga._erp_confirm,
    Step.RELEASE: Saga._release,
    Step.COMPENSATE: Saga._compensate,
    Step.COMPENSATED: Saga._compensated,
}
