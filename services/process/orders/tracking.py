"""Fulfilment facts advance orders and returns: a consumer group on the ``fulfilment`` stream.

``shipment.dispatched`` -> shipped (each parcel, with its carrier, tracking number and tracking URL, is kept on
the order once: ``Order.shipments``), ``delivery.completed`` -> delivered (a split order moves when all its
parts have), ``pickup.ready`` -> ready_for_pickup, ``pickup.completed`` -> picked_up, ``receipt.received`` of a
return's receipt -> the return goes on to its credit memo. Facts about documents that are not ours (a supplier
delivery, a till sale) are acknowledged and ignored.

A fact is first *parked* against its order (kept in Redis by event id, and the order made due), then applied
under the order's lock if that is free at once; if a saga step holds the lock, the holder applies it when its
turn ends, or the retry worker as soon as the lock is free. A fact the order is not ready for (a shipment of a
fulfilment order whose create answer is still being retried) stays parked until the saga catches up: it never
waits in stream redelivery, which would dead-letter it after a few attempts (DESIGN §4, "Facts win").
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.settings import OrdersSettings
from shared import context
from shared.clock import worker_id
from shared.events import Consumer, EventBus
from shared.locks import Lock
from shared.models.events import Event, ReceiptReceived

log = logging.getLogger("omnigate.orders.tracking")
GROUP = "process-orders"
ORDER_FACTS = frozenset({"shipment.dispatched", "delivery.completed", "pickup.ready", "pickup.completed"})
# How long a fact waits for a busy order's lock before it is left parked for the lock's holder.
LOCK_WAIT_S = 0.2


def order_id_of(ref: str) -> str:
    """Our fulfilment refs are the order id, or ``<order id>-<n>`` for a part of a split order."""
    return ref.rsplit("-", 1)[0] if "-" in ref else ref


class Facts:
    """Parks facts against their orders and applies them under the order's lock."""

    def __init__(self, saga: Saga, returns: Returns) -> None:
        self.saga = saga
        self.returns = returns
        self.store = saga.store

    async def handle(self, event: Event) -> None:
        if event.type == "receipt.received":
            receipt = msgspec.convert(event.payload, ReceiptReceived, strict=False)
            ret = await self.store.ret(receipt.receipt_ref)
            if ret is None:
                return  # a supplier delivery or another system's receipt
            order_id = ret.order_id
        elif event.type in ORDER_FACTS:
            ref = str(event.payload.get("task_ref") or event.payload.get("order_ref") or "")
            order_id = order_id_of(ref)
            if not order_id.startswith("o") or await self.store.order(order_id) is None:
                return  # not one of our orders
        else:
            return
        context.begin(event.correlation_id, None)
        await self.store.park(order_id, event)
        lock = self.store.lock(order_id)
        if not await lock.try_acquire():
            await asyncio.sleep(LOCK_WAIT_S)
            if not await lock.try_acquire():
                return  # the holder, or the retry worker once the lock is free, applies it
        try:
            async with lock.kept_alive():
                await self.settle(order_id, lock)
        finally:
            await lock.release()

    async def settle(self, order_id: str, lock: Lock) -> None:
        """Apply what is parked against the order (the caller holds its lock)."""
        record = await self.store.order(order_id)
        if record is not None:
            await self.saga.settle_facts(record, lock)
        if lock.held:  # (an order's last write releases its lock only when nothing is parked any more)
            await self.returns.settle_receipts(order_id, lock)


async def run_tracker(bus: EventBus, facts: Facts, settings: OrdersSettings, stop: asyncio.Event) -> None:
    """This worker's member of the ``fulfilment`` consumer group, until ``stop``."""
    consumer = Consumer(
        bus,
        group=GROUP,
        name=worker_id(),
        domains=["fulfilment"],
        handler=facts.handle,
        claim_idle_ms=int(settings.orders_claim_idle_s * 1000),
    )
    await consumer.run(stop)
