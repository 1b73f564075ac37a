"""Pickup tasks: a Square order with a PICKUP fulfillment, and the hold that takes its units off the till.

DESIGN §4, "Store stock promised to pickups": when a store accepts a pickup, its units leave the till's sellable
stock (``IN_STOCK -> SOLD``, see mapping.py) and ``pickup.held`` tells the projections, with the counts Square
answered, so they replace the order's allocation by the hold in one update. The hold is given back
(``NONE -> IN_STOCK``) when the pickup is cancelled, and when it is collected: completing an order with catalog
lines takes the units out of IN_STOCK again, and that decrement must be the only one.

Per task ref Redis keeps the hash ``<prefix>omnigate.pos:pickup:<ref>``:

- ``digest`` the request the ref stands for; ``claimed_at`` when it was first claimed (the hold's
  ``occurred_at``, and the start of the search for an order whose create answer was lost); ``location_id``;
- ``order_id`` the Square order, once known;
- ``hold``: absent (never sent), ``sending`` (sent, or about to be: outcome unknown), ``held``, ``released``;
  ``unhold_at`` the give-back's ``occurred_at``, fixed at its first attempt;
- ``canceled_at``: a cancel found no order for the ref, so a later create of it is refused.

DESIGN §4, "Unknown outcomes": creating, cancelling and settling a task's hold run under one lock per ref, and
every Square write that may commit goes through ``lock.write``: when its answer is lost, the lock is kept until
Square's commit limit has passed, so the next holder (a retried create, a cancel, a completion) sees what the lost
call did. A hold whose outcome is unknown (``sending``) is resolved by sending it again: Square answers a repeated
idempotency key with its first answer if it landed, and makes it now if not; either way it is then definite.
"""

from __future__ import annotations

import logging
import re
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import msgspec
from redis.asyncio import Redis

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector, VersionMismatch
from services.system.pos.keys import Keys
from services.system.pos.settings import PosSettings
from shared import context, replies
from shared.events import EventBus
from shared.locks import Lock, Locks
from shared.models.common import REF_PATTERN
from shared.models.fulfilment import FulfilmentLine, PickupTask, PickupTaskRequest
from shared.models.returns import StoreReturn, StoreReturnRequest
from shared.problems import ProblemError, not_found

log = logging.getLogger("omnigate.system.pos")
_REF = re.compile(REF_PATTERN)
SENDING, HELD, RELEASED = "sending", "held", "released"
# How long a request waits for another one on the same ref before answering 409 with Retry-After.
LOCK_WAIT_S = 1.0
# An order whose create answer was lost is searched from this long before the claim (clock skew).
SEARCH_MARGIN = timedelta(minutes=1)
CANCEL_ATTEMPTS = 3


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Record(msgspec.Struct, kw_only=True):
    """What Redis holds for one task ref (see the module docstring)."""

    digest: str | None = None
    claimed_at: str | None = None
    location_id: str | None = None
    order_id: str | None = None
    hold: str | None = None
    unhold_at: str | None = None
    canceled_at: str | None = None


def is_over(order: mapping.SqOrder) -> bool:
    """Whether the pickup's units no longer wait on the shelf (collected, cancelled, failed)."""
    fulfillment = mapping.pickup_fulfillment(order)
    return order.state in ("COMPLETED", "CANCELED") or fulfillment is None or fulfillment.state in mapping.PICKUP_OVER


def is_collected(order: mapping.SqOrder) -> bool:
    fulfillment = mapping.pickup_fulfillment(order)
    return (
        fulfillment.state == "COMPLETED"
        if fulfillment is not None and fulfillment.state
        else order.state == "COMPLETED"
    )


async def task_lines(pos: SquareConnector, order: mapping.SqOrder) -> list[FulfilmentLine]:
    items = [li for li in order.line_items if li.catalog_object_id]
    skus = await pos.skus([li.catalog_object_id for li in items if li.catalog_object_id])
    return [
        FulfilmentLine(sku=sku, qty=mapping.quantity(li.quantity)) for sku, li in zip(skus, items, strict=True) if sku
    ]


class Pickups:
    def __init__(self, pos: SquareConnector, redis: Redis, bus: EventBus, settings: PosSettings) -> None:
        self.pos = pos
        self.redis = redis
        self.bus = bus
        self.settings = settings
        self.locks = Locks(redis, prefix=settings.key_prefix)
        self.keys = Keys(settings.key_prefix)

    def key(self, ref: str) -> str:
        return self.keys.pickup(ref)

    def _locked(self, ref: str) -> AbstractAsyncContextManager[Lock]:
        limit = self.settings.upstream_commit_limit_s
        return self.locks.locked(f"pos:pickup:{ref}", ttl_s=limit, wait_s=LOCK_WAIT_S, settle_s=limit)

    async def record(self, ref: str) -> Record | None:
        raw = await self.redis.hgetall(self.key(ref))
        if not raw:
            return None
        fields = {replies.text(k): replies.text(v) for k, v in raw.items()}
        return Record(**{name: fields.get(name) for name in Record.__struct_fields__})

    # --- the Square order of a ref ---------------------------------------------------------------------------

    async def _lookup(self, ref: str, record: Record | None, *, search: bool) -> mapping.SqOrder | None:
        """The order of ``ref``: by the id we hold, else (``search``) by SearchOrders over the time since the
        claim, for a create whose answer was lost. Called under the ref's lock (or for a read), so a create
        still running has either finished or passed Square's commit limit."""
        if record is None:
            return None
        if record.order_id:
            order = await self.pos.retrieve_order(record.order_id)
            if order is None:
                raise ProblemError(
                    "upstream-error", f"pos: order {record.order_id} of pickup {ref} has gone", upstream="pos"
                )
            return order
        if not (search and record.location_id and record.claimed_at):
            return None
        since = datetime.fromisoformat(record.claimed_at) - SEARCH_MARGIN
        order = await self.pos.find_order(record.location_id, ref, since)
        if order is not None:
            await self.redis.hsetnx(self.key(ref), "order_id", order.id)
        return order

    # --- routes ----------------------------------------------------------------------------------------------

    async def create(
        self, req: PickupTaskRequest, digest: str, location_id: str, variation_ids: list[str]
    ) -> tuple[PickupTask, bool]:
        """Create the task's order (or find the one an earlier attempt made) and hold its units."""
        key = self.key(req.ref)
        async with self._locked(req.ref) as lock:
            await claim(self.redis, key, digest)
            first = bool(await self.redis.hsetnx(key, "claimed_at", _now()))
            await self.redis.hsetnx(key, "location_id", location_id)
            record = await self.record(req.ref)
            assert record is not None
            if record.canceled_at and not record.order_id:
                raise ProblemError("conflict", f"pickup task {req.ref} was cancelled before it was created")
            # A repeated create looks first: an earlier attempt may have created the order and lost the answer.
            order = await self._lookup(req.ref, record, search=not first)
            if order is None:
                order = await lock.write(self.pos.create_order(mapping.pickup_order(req, location_id, variation_ids)))
            created = bool(await self.redis.hsetnx(key, "order_id", order.id))
            await self._settle(lock, req.ref, order)
            return mapping.pickup_task(order, req.ref, req.lines, created=created), created

    async def task(self, ref: str) -> PickupTask:
        order = await self._lookup(ref, await self.record(ref), search=True)
        if order is None:
            raise not_found(f"pickup task {ref}")
        return mapping.pickup_task(order, ref, await task_lines(self.pos, order), created=False)

    async def cancel(self, ref: str) -> PickupTask:
        """Cancel the task's PICKUP fulfillment and give its hold back; a cancelled task answers as it is."""
        async with self._locked(ref) as lock:
            order = await self._lookup(ref, await self.record(ref), search=True)
            if order is None:
                # Nothing was created (the lock saw any lost create through): keep it that way.
                await self.redis.hsetnx(self.key(ref), "canceled_at", _now())
                raise not_found(f"pickup task {ref}")
            if is_collected(order):
                raise ProblemError("conflict", f"pickup task {ref} was already collected at the store")
            if not is_over(order):
                order = await self._cancel_order(lock, ref, order)
            await self._settle(lock, ref, order)
            return mapping.pickup_task(order, ref, await task_lines(self.pos, order), created=False)

    async def fulfillment_over(self, order: mapping.SqOrder) -> None:
        """A webhook says the order's pickup was collected or cancelled at the store: give the hold back, so
        that Square's own completion decrement (or nothing, for a cancel) is all the stock that moves."""
        ref = order.reference_id
        if not ref or not _REF.match(ref):
            return
        record = await self.record(ref)
        if record is None or record.digest is None or (record.order_id and record.order_id != order.id):
            return  # not one of our tasks
        async with self._locked(ref) as lock:
            await self._settle(lock, ref, order)

    # --- the order and its hold ------------------------------------------------------------------------------

    async def _cancel_order(self, lock: Lock, ref: str, order: mapping.SqOrder) -> mapping.SqOrder:
        for _ in range(CANCEL_ATTEMPTS):
            fulfillment = mapping.pickup_fulfillment(order)
            assert fulfillment is not None and fulfillment.uid is not None  # not over: it has one
            try:
                return await lock.write(
                    self.pos.update_order(order.id, mapping.cancel_update(ref, order, fulfillment.uid))
                )
            except VersionMismatch:
                fresh = await self.pos.retrieve_order(order.id)
                if fresh is None:
                    raise ProblemError(
                        "upstream-error", f"pos: order {order.id} of pickup {ref} has gone", upstream="pos"
                    ) from None
                order = fresh
                if is_collected(order):
                    raise ProblemError("conflict", f"pickup task {ref} was collected at the store meanwhile") from None
                if is_over(order):
                    return order
        raise ProblemError("conflict", f"the POS order of pickup task {ref} keeps changing; retry", retry_after=1)

    async def _settle(self, lock: Lock, ref: str, order: mapping.SqOrder) -> None:
        """Bring the hold to where the order says it belongs: held while the pickup waits on the shelf, given
        back once it is over (if it was ever sent)."""
        raw = await self.redis.hget(self.key(ref), "hold")
        hold = replies.text_or_none(raw)
        if not is_over(order):
            if hold in (None, SENDING):
                await self._hold(lock, ref, order)
        elif hold in (SENDING, HELD):
            if hold == SENDING:
                await self._hold(lock, ref, order)  # make the unknown outcome definite before giving it back
            await self._unhold(lock, ref, order)

    async def _hold(self, lock: Lock, ref: str, order: mapping.SqOrder) -> None:
        key = self.key(ref)
        await self.redis.hsetnx(key, "claimed_at", _now())
        occurred_at = replies.text(await self.redis.hget(key, "claimed_at") or b"")
        await self.redis.hset(key, "hold", SENDING)
        try:
            counts = await lock.write(self.pos.change_inventory(mapping.hold_changes(ref, order, occurred_at)))
        except ProblemError as exc:
            if not exc.in_doubt:
                await self.redis.hdel(key, "hold")  # refused: it did not happen (a replay would have answered)
            raise
        stock = [c for c in counts if mapping.is_stock(c) and c.location_id == order.location_id]
        skus = await self.pos.skus([c.catalog_object_id for c in stock])
        pairs = [(sku, c) for sku, c in zip(skus, stock, strict=True) if sku is not None]
        stamps = [c.calculated_at for _, c in pairs]
        event = mapping.held_event(
            ref,
            mapping.store_id(order.location_id),
            await task_lines(self.pos, order),
            pairs,
            max(stamps) if stamps else datetime.fromisoformat(occurred_at),
            context.request_id_var.get(),
        )
        await self.bus.publish("fulfilment", event)  # before `held`: a crash in between re-sends and re-publishes
        await self.redis.hset(key, "hold", HELD)
        log.info(
            "pickup %s: %d line(s) held off the till at %s", ref, len(mapping.catalog_lines(order)), order.location_id
        )

    async def _unhold(self, lock: Lock, ref: str, order: mapping.SqOrder) -> None:
        key = self.key(ref)
        await self.redis.hsetnx(key, "unhold_at", _now())
        occurred_at = replies.text(await self.redis.hget(key, "unhold_at") or b"")
        await lock.write(self.pos.change_inventory(mapping.unhold_changes(ref, order, occurred_at)))
        await self.redis.hset(key, "hold", RELEASED)
        log.info("pickup %s: hold given back at %s", ref, order.location_id)


class StoreReturns:
    """Counter returns, once per ref: a Square return order and the restock that puts the units back on the
    shelf, both replayed by Square for their idempotency keys, so a repeat (or a retry after a lost answer) is
    the same document."""

    def __init__(self, pos: SquareConnector, redis: Redis, settings: PosSettings) -> None:
        self.pos = pos
        self.redis = redis
        self.keys = Keys(settings.key_prefix)

    async def create(
        self, data: StoreReturnRequest, digest: str, location_id: str, variation_ids: list[str]
    ) -> tuple[StoreReturn, bool]:
        key = self.keys.store_return(data.ref)
        await claim(self.redis, key, digest)
        await self.redis.hsetnx(key, "occurred_at", _now())
        occurred_at = replies.text(await self.redis.hget(key, "occurred_at") or b"")
        order = await self.pos.create_order(mapping.return_order(data, location_id, variation_ids))
        await self.pos.change_inventory(mapping.restock_changes(data, location_id, variation_ids, occurred_at))
        created = bool(await self.redis.hsetnx(key, "order_id", order.id))
        return mapping.store_return(data, order, created), created


async def claim(redis: Redis, key: str, digest: str) -> None:
    """Remember which request a ref stands for; the same ref with another request is a conflict."""
    await redis.hsetnx(key, "digest", digest)
    stored = await redis.hget(key, "digest")
    if stored is not None and replies.text(stored) != digest:
        raise ProblemError("conflict", "this ref was already used for a different request")
