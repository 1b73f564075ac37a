"""Order and return state in Redis: records (their types and rules are records.py's), timelines, parked facts,
the per-order lock and the due set.

Every change of an order's state is one kernel :class:`shared.changes.Change`, fenced by the order's lock
(``shared.locks``): the record, its timeline entries, the due set (sagas waiting for a retry or a resume), the
owner's index and the lifecycle events on the outbox, written at once or not at all. An order is *created*
once: the first write of an id refuses to replace a record that exists (``Exists``), so a repeated request
can never re-place an order.

The keys are in keys.py; the order's lock is the kernel lock ``order:<id>``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from redis.asyncio import Redis

from services.process.orders.keys import Keys
from services.process.orders.records import OrderRecord, ReturnRecord
from shared import replies, scripts
from shared.changes import Change, Changes
from shared.clock import now_ms
from shared.locks import Lock, Locks
from shared.models.events import Event
from shared.models.orders import TimelineEntry
from shared.outbox import Outbox

_order_decoder = msgspec.json.Decoder(OrderRecord)
_return_decoder = msgspec.json.Decoder(ReturnRecord)
_timeline_decoder = msgspec.json.Decoder(TimelineEntry)
_event_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()

_CLAIM = Path(__file__).with_name("claim.lua")
# Orders read at a time while a filtered listing looks for matches (one ZREVRANGEBYSCORE and one MGET each).
_CHUNK = 100


class Store:
    def __init__(self, redis: Redis, outbox: Outbox, *, prefix: str, lock_ttl_s: float) -> None:
        self.redis = redis
        self.outbox = outbox
        self.keys = Keys(prefix)
        self.lock_ttl_s = lock_ttl_s
        self.lock_ttl_ms = int(lock_ttl_s * 1000)
        self.locks = Locks(redis, prefix=prefix)
        self.changes = Changes(redis)
        self._claim = scripts.load(redis, _CLAIM)

    # --- reads ------------------------------------------------------------------------------------------------

    async def order(self, order_id: str) -> OrderRecord | None:
        raw = await self.redis.get(self.keys.order(order_id))
        return _order_decoder.decode(raw) if raw is not None else None

    async def orders(self, order_ids: list[str]) -> list[OrderRecord]:
        if not order_ids:
            return []
        raws = await self.redis.mget([self.keys.order(i) for i in order_ids])
        return [_order_decoder.decode(raw) for raw in raws if raw is not None]

    async def ret(self, return_id: str) -> ReturnRecord | None:
        raw = await self.redis.get(self.keys.ret(return_id))
        return _return_decoder.decode(raw) if raw is not None else None

    async def timeline(self, order_id: str) -> list[TimelineEntry]:
        return [_timeline_decoder.decode(raw) for raw in await self.redis.lrange(self.keys.timeline(order_id), 0, -1)]

    async def owner_page(self, owner: str, before: float | None, limit: int) -> list[tuple[str, float]]:
        """The owner's order ids, newest first, strictly older than ``before`` (the cursor)."""
        top = f"({before!r}" if before is not None else "+inf"
        rows = await self.redis.zrevrangebyscore(
            self.keys.owner(owner), top, "-inf", start=0, num=limit, withscores=True
        )
        return replies.scored(rows)

    async def owner_orders(
        self,
        owner: str,
        before: float | None,
        limit: int,
        *,
        keep: Callable[[OrderRecord], bool] | None = None,
        budget: int,
    ) -> tuple[list[OrderRecord], float | None]:
        """A page of the owner's orders, newest first (by creation), strictly older than ``before`` (the
        position a cursor carries, epoch seconds), and the position after it (None: nothing older is left).

        ``keep`` filters the orders (a status, a time): without it the page is the next ``limit`` orders and a
        position is given only if more follow. With it, the owner's index is read in chunks and each order kept
        or skipped, looking at no more than ``budget`` orders in all: a page that ran out of budget holds fewer
        than ``limit`` orders (none, maybe) and the position after the last order looked at, so the next page
        goes on from there; a caller follows positions until there is none."""
        found: list[tuple[OrderRecord, float]] = []
        looked = 0
        position = before
        while True:
            wanted = limit + 1 - len(found)
            chunk = wanted if keep is None else min(budget - looked, max(wanted, _CHUNK))
            rows = await self.owner_page(owner, position, chunk)
            if rows:
                raws = await self.redis.mget([self.keys.order(order_id) for order_id, _ in rows])
                for (_, score), raw in zip(rows, raws, strict=True):
                    if raw is None:
                        continue
                    record = _order_decoder.decode(raw)
                    if record.owner == owner and (keep is None or keep(record)):
                        found.append((record, score))
                looked += len(rows)
                position = rows[-1][1]
            if len(found) > limit:
                return [record for record, _ in found[:limit]], found[limit - 1][1]
            if len(rows) < chunk:  # the index has nothing older
                return [record for record, _ in found], None
            if looked >= budget:
                return [record for record, _ in found], position

    async def created_since(self, since_s: float, offset: int, limit: int) -> list[str]:
        """Ids of orders created since ``since_s`` (epoch seconds), oldest first, a page at a time (orders are
        only ever added at the end, so an offset is a stable position)."""
        rows = await self.redis.zrangebyscore(self.keys.created, since_s, "+inf", start=offset, num=limit)
        return replies.members(rows)

    async def parked(self, order_id: str) -> list[Event]:
        """Facts parked against the order, oldest first."""
        raws = await self.redis.hvals(self.keys.facts(order_id))
        return sorted((_event_decoder.decode(raw) for raw in raws), key=lambda e: (e.occurred_at, e.id))

    # --- writes -----------------------------------------------------------------------------------------------

    def change(self) -> Change:
        return Change(outbox=self.outbox.key, due=self.keys.due)

    async def apply(self, lock: Lock, change: Change, *, acquire: bool = False) -> None:
        await self.changes.apply(lock, change, acquire=acquire)

    async def park(self, order_id: str, event: Event) -> None:
        """Keep a back-end fact against its order until the saga can apply it (idempotent by event id), and
        make the order due now, so whoever holds it next applies it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self.keys.facts(order_id), event.id, _encoder.encode(event))
            pipe.zadd(self.keys.due, {f"o:{order_id}": now_ms()}, nx=True)
            await pipe.execute()

    # --- the per-order lock --------------------------------------------------------------------------------

    def lock(self, order_id: str) -> Lock:
        return self.locks.lock(f"order:{order_id}", ttl_s=self.lock_ttl_s)

    async def claim(self, member: str, lock: Lock, next_ms: int) -> bool:
        """A retry worker claims a due saga: only if it is still due and its lock is free (see recovery.py)."""
        claimed = await self._claim(
            keys=[lock.key, self.keys.due, self.keys.claims], args=[lock.value, lock.ttl_ms, now_ms(), member, next_ms]
        )
        if claimed:
            lock.adopt()
        return bool(claimed)

    async def due_members(self, limit: int) -> list[str]:
        return replies.members(await self.redis.zrangebyscore(self.keys.due, "-inf", now_ms(), start=0, num=limit))
