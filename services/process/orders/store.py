"""Order and return state in Redis: records, timelines, the per-order lock, the due set and fenced writes.

Every write of an order's state goes through one Lua script that first checks the caller still holds the
order's lock (a holder that stalled past its TTL is refused: ``FENCED``), then applies the whole change at once:
the record, its timeline entries, the due set (sagas waiting for a retry or a resume), the owner's index and
the lifecycle events on the outbox. So a state and its event exist together or not at all, and two drivers of
one order can never interleave their writes.

Keys (all under ``<prefix>omnigate.orders:``): ``order:<id>`` (JSON record), ``timeline:<id>`` (list),
``owner:<owner>`` (sorted set of order ids by creation time), ``return:<id>``, ``lock:<order id>``, ``due``
(sorted set by next-attempt time, members ``o:<order id>`` / ``r:<order id>:<return id>``), ``claims`` (hash:
how often each saga was claimed by a retry worker: the per-saga counter that proves "resumed once").
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.models.common import utcnow
from shared.models.events import Event
from shared.models.orders import Customer, Fulfilment, Order, OrderLine, OrderState, TimelineEntry
from shared.models.returns import Return, ReturnLine, ReturnState
from shared.outbox import Outbox
from shared.problems import ProblemError

log = logging.getLogger("omnigate.orders.store")

# --- records ------------------------------------------------------------------------------------------------


class Group(msgspec.Struct, kw_only=True):
    """One fulfilment document: the whole order (ref = order id) or a split part (ref = ``<order id>-<n>``)."""

    ref: str
    location: str
    line_ids: list[str]
    document_id: str | None = None
    shipped: bool = False
    delivered: bool = False


class OrderRecord(msgspec.Struct, kw_only=True):
    """What the saga keeps about an order: the public order plus where the saga stands."""

    id: str
    owner: str
    state: OrderState
    customer: Customer
    fulfilment: Fulfilment
    lines: list[OrderLine]
    currency: str
    subtotal: int
    tax: int
    total: int
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    # The next saga step: reserve, accept, erp_order, erp_confirm, release, compensate, done.
    step: str = "reserve"
    # Where compensation ends: failed or cancelled.
    goal: str | None = None
    reason: str | None = None
    # A rejection's problem: its type slug and the lines it names.
    slug: str | None = None
    errors: list[dict[str, Any]] | None = None
    attempts: int = 0
    groups: list[Group] = []
    erp_touched: bool = False
    erp_name: str | None = None
    returned: dict[str, int] = {}
    returns: list[str] = []
    correlation_id: str | None = None

    def view(self) -> Order:
        return Order(
            id=self.id, owner=self.owner, state=self.state, customer=self.customer, fulfilment=self.fulfilment,
            lines=self.lines, currency=self.currency, subtotal=self.subtotal, tax=self.tax, total=self.total,
            payment_reference=self.payment_reference, created_at=self.created_at, updated_at=self.updated_at,
            reason=self.reason,
        )

    def line(self, line_id: str) -> OrderLine | None:
        return next((ln for ln in self.lines if ln.line_id == line_id), None)


class ReturnRecord(msgspec.Struct, kw_only=True):
    id: str
    order_id: str
    owner: str
    state: ReturnState
    lines: list[ReturnLine]
    line_ids: list[str]
    location: str
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    # announce, await_receipt, credit, done
    step: str = "announce"
    attempts: int = 0
    waiting: str | None = None
    document_id: str | None = None
    credit_memo: str | None = None
    correlation_id: str | None = None

    def view(self) -> Return:
        return Return(id=self.id, order_id=self.order_id, owner=self.owner, state=self.state, lines=self.lines,
                      location=self.location, created_at=self.created_at, updated_at=self.updated_at)


_encoder = msgspec.json.Encoder()
_order_decoder = msgspec.json.Decoder(OrderRecord)
_return_decoder = msgspec.json.Decoder(ReturnRecord)
_timeline_decoder = msgspec.json.Decoder(TimelineEntry)

TERMINAL: frozenset[str] = frozenset({"rejected", "cancelled", "failed", "delivered", "picked_up"})

# --- Lua ------------------------------------------------------------------------------------------------------

# KEYS[1] = the order's lock, then any keys the ops name by index. ARGV: token, ttl ms, acquire flag, ops...
# An op is a name and its arguments; a key argument is an index into KEYS.
_WRITE = """
if ARGV[3] == '1' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.error_reply('LOCKED') end
elseif redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local i = 4
while i <= #ARGV do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'SET' then
    redis.call('SET', key, ARGV[i + 2]); i = i + 3
  elseif op == 'ZADD' then
    redis.call('ZADD', key, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'ZREM' then
    redis.call('ZREM', key, ARGV[i + 2]); i = i + 3
  elseif op == 'RPUSH' then
    redis.call('RPUSH', key, ARGV[i + 2]); i = i + 3
  elseif op == 'XADD' then
    redis.call('XADD', key, '*', 'domain', ARGV[i + 2], 'data', ARGV[i + 3]); i = i + 4
  elseif op == 'DEL' then
    redis.call('DEL', key); i = i + 2
  else
    return redis.error_reply('unknown op ' .. op)
  end
end
return 1
"""
# KEYS: lock. ARGV: token, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# A retry worker claims a due saga: only if it is still due (a driver that finished removed it) and its lock
# is free. KEYS: lock, due, claims. ARGV: token, ttl ms, now ms, member, next score.
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[4])
if not score or tonumber(score) > tonumber(ARGV[3]) then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return 1
"""


class Locked(Exception):
    """The order's lock is held by another driver."""


class Fenced(Exception):
    """This driver lost the order's lock (it stalled past the TTL); its write was refused."""


def now_ms() -> int:
    return int(time.time() * 1000)


class Write:
    """One atomic change of an order (and maybe one of its returns), built up and then applied by the script."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.keys: list[str] = []
        self.args: list[str | bytes | int | float] = []
        self.unlocks = False

    def _key(self, key: str) -> int:
        try:
            return self.keys.index(key) + 2
        except ValueError:
            self.keys.append(key)
            return len(self.keys) + 1

    def order(self, record: OrderRecord) -> Write:
        self.args += ["SET", self._key(self.store.order_key(record.id)), _encoder.encode(record)]
        return self

    def ret(self, record: ReturnRecord) -> Write:
        self.args += ["SET", self._key(self.store.return_key(record.id)), _encoder.encode(record)]
        return self

    def timeline(self, order_id: str, entry: TimelineEntry) -> Write:
        self.args += ["RPUSH", self._key(self.store.timeline_key(order_id)), _encoder.encode(entry)]
        return self

    def due(self, member: str, at_ms: int) -> Write:
        self.args += ["ZADD", self._key(self.store.due_key), at_ms, member]
        return self

    def not_due(self, member: str) -> Write:
        self.args += ["ZREM", self._key(self.store.due_key), member]
        return self

    def index(self, owner: str, score: float, order_id: str) -> Write:
        self.args += ["ZADD", self._key(self.store.owner_key(owner)), score, order_id]
        return self

    def event(self, domain: str, event: Event) -> Write:
        self.args += ["XADD", self._key(self.store.outbox.key), domain, _encoder.encode(event)]
        return self

    def unlock(self) -> Write:
        """Release the order's lock in the same script as the driver's last write (KEYS[1] is the lock, and
        the fence was checked first): the release costs no round trip of its own."""
        self.args += ["DEL", 1]
        self.unlocks = True
        return self


class Store:
    def __init__(self, redis: Redis, outbox: Outbox, *, prefix: str, lock_ttl_s: float) -> None:
        self.redis = redis
        self.outbox = outbox
        self.base = f"{prefix}omnigate.orders:"
        self.due_key = self.base + "due"
        self.claims_key = self.base + "claims"
        self.workers_key = self.base + "workers"
        self.lock_ttl_ms = int(lock_ttl_s * 1000)
        self._write = redis.register_script(_WRITE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._claim = redis.register_script(_CLAIM)
        # Tokens whose lock a write already released (Write.unlock): held() has nothing left to release.
        self._released: set[str] = set()

    # --- keys -------------------------------------------------------------------------------------------------

    def order_key(self, order_id: str) -> str:
        return f"{self.base}order:{order_id}"

    def return_key(self, return_id: str) -> str:
        return f"{self.base}return:{return_id}"

    def timeline_key(self, order_id: str) -> str:
        return f"{self.base}timeline:{order_id}"

    def owner_key(self, owner: str) -> str:
        return f"{self.base}owner:{owner}"

    def lock_key(self, order_id: str) -> str:
        return f"{self.base}lock:{order_id}"

    def idempotency_key(self, owner: str, key: str) -> str:
        return f"{self.base}idem:{owner}:{key}"

    # --- reads ------------------------------------------------------------------------------------------------

    async def order(self, order_id: str) -> OrderRecord | None:
        raw = await self.redis.get(self.order_key(order_id))
        return _order_decoder.decode(raw) if raw is not None else None

    async def orders(self, order_ids: list[str]) -> list[OrderRecord]:
        if not order_ids:
            return []
        raws = await self.redis.mget([self.order_key(i) for i in order_ids])
        return [_order_decoder.decode(raw) for raw in raws if raw is not None]

    async def ret(self, return_id: str) -> ReturnRecord | None:
        raw = await self.redis.get(self.return_key(return_id))
        return _return_decoder.decode(raw) if raw is not None else None

    async def timeline(self, order_id: str) -> list[TimelineEntry]:
        return [_timeline_decoder.decode(raw) for raw in await self.redis.lrange(self.timeline_key(order_id), 0, -1)]

    async def owner_page(self, owner: str, before: float | None, limit: int) -> list[tuple[str, float]]:
        """The owner's order ids, newest first, strictly older than ``before`` (the cursor)."""
        top = f"({before!r}" if before is not None else "+inf"
        rows = await self.redis.zrevrangebyscore(self.owner_key(owner), top, "-inf", start=0, num=limit,
                                                 withscores=True)
        return [(member.decode(), score) for member, score in rows]

    # --- the per-order lock --------------------------------------------------------------------------------

    def new_token(self) -> str:
        return f"{os.getpid()}:{os.urandom(6).hex()}"

    async def apply(self, order_id: str, token: str, write: Write, *, acquire: bool = False) -> None:
        try:
            await self._write(keys=[self.lock_key(order_id), *write.keys],
                              args=[token, self.lock_ttl_ms, "1" if acquire else "0", *write.args])
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(order_id) from None
            if "LOCKED" in str(exc):
                raise Locked(order_id) from None
            raise
        if write.unlocks:
            self._released.add(token)

    async def try_lock(self, order_id: str, token: str) -> bool:
        return bool(await self.redis.set(self.lock_key(order_id), token, nx=True, px=self.lock_ttl_ms))

    async def unlock(self, order_id: str, token: str) -> None:
        await self._release(keys=[self.lock_key(order_id)], args=[token])

    async def claim(self, member: str, order_id: str, token: str, next_ms: int) -> bool:
        return bool(await self._claim(keys=[self.lock_key(order_id), self.due_key, self.claims_key],
                                      args=[token, self.lock_ttl_ms, now_ms(), member, next_ms]))

    async def due_members(self, limit: int) -> list[str]:
        return [m.decode() for m in await self.redis.zrangebyscore(self.due_key, "-inf", now_ms(), start=0, num=limit)]

    @asynccontextmanager
    async def held(self, order_id: str, token: str) -> AsyncIterator[None]:
        """Keep an acquired lock alive while the body runs (a slow back-end step may outlast one TTL)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lock_ttl_ms / 3000)
                if not await self._renew(keys=[self.lock_key(order_id)], args=[token, self.lock_ttl_ms]):
                    if token not in self._released:
                        log.warning("lost the lock of order %s while driving it", order_id)
                    return

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            if token in self._released:
                self._released.discard(token)
            else:
                await self.unlock(order_id, token)

    async def lock_waiting(self, order_id: str, token: str, wait_s: float) -> None:
        """Take the order's lock, waiting up to ``wait_s`` for another driver's step to end."""
        deadline = time.monotonic() + wait_s
        while not await self.try_lock(order_id, token):
            if time.monotonic() > deadline:
                raise ProblemError("conflict", f"order {order_id} is busy with another step; retry shortly",
                                   retry_after=1)
            await asyncio.sleep(0.025)


def entry(state: str, system: str, *, document_id: str | None = None, correlation_id: str | None = None,
          detail: str | None = None) -> TimelineEntry:
    return TimelineEntry(at=utcnow(), state=state, system=system, document_id=document_id,
                         correlation_id=correlation_id, detail=detail)


def new_order_id() -> str:
    return "o" + os.urandom(10).hex()


def new_return_id() -> str:
    return "r" + os.urandom(10).hex()

