"""Fulfilment facts advance orders and returns: a consumer group on the ``fulfilment`` stream.

``shipment.dispatched`` -> shipped, ``delivery.completed`` -> delivered (a split order moves when all its
parts have), ``pickup.ready`` -> ready_for_pickup, ``pickup.completed`` -> picked_up, ``receipt.received`` of a
return's receipt -> the return goes on to its credit memo. Facts about documents that are not ours (a supplier
delivery, a till sale) are acknowledged and ignored. Each update runs under the order's lock; a fact that
arrives while a step holds it waits briefly, and if the order stays busy it is re-delivered later.
"""

from __future__ import annotations

import asyncio
import logging
import os

import msgspec
from litestar import Litestar

from shared import context
from shared.events import Consumer, EventBus
from shared.models.events import DeliveryCompleted, Event, PickupCompleted, PickupReady, ReceiptReceived, ShipmentDispatched

from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.store import Write, entry

log = logging.getLogger("omnigate.orders.tracking")
GROUP = "process-orders"

# event type -> (order state it leads to, states it may come from)
ADVANCE: dict[str, tuple[str, frozenset[str]]] = {
    "shipment.dispatched": ("shipped", frozenset({"released"})),
    "delivery.completed": ("delivered", frozenset({"released", "shipped"})),
    "pickup.ready": ("ready_for_pickup", frozenset({"released"})),
    "pickup.completed": ("picked_up", frozenset({"released", "ready_for_pickup"})),
}
_PAYLOADS: dict[str, type[msgspec.Struct]] = {
    "shipment.dispatched": ShipmentDispatched, "delivery.completed": DeliveryCompleted,
    "pickup.ready": PickupReady, "pickup.completed": PickupCompleted, "receipt.received": ReceiptReceived,
}


def order_id_of(ref: str) -> str:
    """Our fulfilment refs are the order id, or ``<order id>-<n>`` for a part of a split order."""
    return ref.rsplit("-", 1)[0] if "-" in ref else ref


class Tracker:
    def __init__(self, saga: Saga, returns: Returns) -> None:
        self.saga = saga
        self.returns = returns
        self.store = saga.store
        self.wait_s = saga.settings.orders_lock_ttl_s * 2

    async def handle(self, event: Event) -> None:
        payload_type = _PAYLOADS.get(event.type)
        if payload_type is None:
            return
        payload = msgspec.convert(event.payload, payload_type)
        context.begin(event.correlation_id, None)
        if isinstance(payload, ReceiptReceived):
            await self._receipt(payload)
            return
        ref = payload.task_ref if isinstance(payload, (PickupReady, PickupCompleted)) else payload.order_ref
        order_id = order_id_of(ref)
        if not order_id.startswith("o") or await self.store.order(order_id) is None:
            return
        token = self.store.new_token()
        await self.store.lock_waiting(order_id, token, self.wait_s)
        async with self.store.held(order_id, token):
            record = await self.store.order(order_id)
            if record is None:
                return
            target, sources = ADVANCE[event.type]
            group = next((g for g in record.groups if g.ref == ref), None)
            if isinstance(payload, ShipmentDispatched) and group is not None:
                group.shipped = True
            if isinstance(payload, DeliveryCompleted) and group is not None:
                group.shipped = group.delivered = True
            done = all(g.shipped for g in record.groups) if target == "shipped" else (
                all(g.delivered for g in record.groups) if target == "delivered" else True)
            write = Write(self.store)
            document = getattr(payload, "shipment_ref", None) or ref
            system = event.source
            if record.state in sources and done:
                self.saga.transition(write, record, target, system, document_id=document, detail=event.type)
            else:
                write.timeline(record.id, entry(record.state, system, document_id=document,
                                                correlation_id=event.correlation_id, detail=event.type))
            await self.saga.save(record, token, write)

    async def _receipt(self, payload: ReceiptReceived) -> None:
        ret = await self.store.ret(payload.receipt_ref)
        if ret is None:
            return  # a supplier delivery or another system's receipt
        token = self.store.new_token()
        await self.store.lock_waiting(ret.order_id, token, self.wait_s)
        async with self.store.held(ret.order_id, token):
            ret = await self.store.ret(payload.receipt_ref)
            if ret is not None:
                await self.returns.received(ret, token, payload.receipt_ref)


async def run_tracker(app: Litestar) -> None:
    bus: EventBus = app.state.bus
    consumer = Consumer(bus, group=GROUP, name=f"{os.uname().nodename}-{os.getpid()}", domains=["fulfilment"],
                        handler=app.state.tracker.handle, claim_idle_ms=5_000)
    await consumer.run(asyncio.Event())
