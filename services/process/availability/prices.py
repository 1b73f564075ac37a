"""The price projection (DESIGN §4): the ERP's prices copied into Redis so checkout works while the ERP is down.

A sync pages through system-erp ``GET /prices`` into a scratch hash and swaps it in with one fenced Lua
(``RENAME``), so readers never see half a catalogue and a holder that lost its lease cannot overwrite a newer
sync. Syncs run at start, on a schedule and on request (``POST /prices/sync`` asks the lease holder and waits).
Between syncs, ``price.changed`` events (system-erp's feed, stream ``catalog``) update single prices at once
when newer than what the projection holds. The swap keeps a price such an event made newer while the sync ran;
a sync that overlapped an event still asks for another sync (an equal ``as_of`` is the sync's, and the ERP may
have changed the price twice within its one-second ``write_date``): the projection always converges on the ERP.

Whenever either path changes a price the projection holds, the same script writes ``price.applied`` (domain
``catalog``, payload ``PriceApplied``) to the outbox, which the relay publishes: the signal caches of priced
answers purge on (DESIGN §5). The rules of what counts as a change, and the event id, are in price_event.lua.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from redis.asyncio import Redis

from services.process.availability.keys import Keys
from shared import replies, scripts
from shared.clock import iso_ms, now_ms
from shared.http import Upstreams
from shared.lease import Lease
from shared.models.availability import PriceQueryResult
from shared.models.catalog import Price
from shared.models.common import Page
from shared.models.events import Event
from shared.problems import ProblemError

PAGE = 500
HERE = Path(__file__).resolve().parent
_price = msgspec.json.Decoder(Price)
_encoder = msgspec.json.Encoder()


class SyncStatus(msgspec.Struct, kw_only=True):
    state: str
    count: int | None = None
    synced_at_ms: int | None = None


class SyncResult(msgspec.Struct, kw_only=True, frozen=True):
    count: int  # prices in the projection after the sync
    applied: int  # of them, how many changed (a ``price.applied`` each)


class Prices:
    def __init__(self, redis: Redis, keys: Keys, http: Upstreams, outbox_key: str) -> None:
        self.redis = redis
        self.keys = keys
        self.http = http
        self.outbox_key = outbox_key
        event = HERE / "price_event.lua"
        self._swap = scripts.load(redis, HERE / "price_swap.lua", prelude=[scripts.KERNEL / "fence.lua", event])
        self._apply = scripts.load(redis, HERE / "price_apply.lua", prelude=event)

    async def apply_event(self, event: Event) -> None:
        """A ``price.changed`` event: the price, if newer than the projection's (and its ``price.applied`` if
        the figures changed, in the same script)."""
        if event.type != "price.changed":
            return
        price = msgspec.convert(event.payload, Price, strict=False)
        body = _encoder.encode(price)
        as_of = msgspec.json.decode(body)["as_of"]  # the same text the projection stores
        now = now_ms()
        await self._apply(
            keys=[self.keys.prices, self.keys.prices_meta, self.outbox_key, self.keys.prices_touched],
            args=[price.sku, body, as_of, now, iso_ms(now)],
        )

    async def pages(self) -> AsyncIterator[list[Price]]:
        """Every price in the ERP, a page at a time (system-erp ``GET /prices``, cursor-paged).

        Raises ``ProblemError`` (``upstream-error``, or what the hop client raises for an upstream away)."""
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            response = await self.http["system-erp"].get("/prices", params=params)
            if not response.ok:
                raise ProblemError(
                    "upstream-error", f"system-erp: GET /prices answered {response.status}", upstream="system-erp"
                )
            page = response.json(Page[Price])
            yield page.items
            cursor = page.next_cursor
            if not cursor:
                return

    async def sync(self, lease: Lease) -> SyncResult:
        """One full sync under ``lease``: the prices it swapped in and the ``price.applied`` events it wrote."""
        started = now_ms()
        await self.redis.delete(self.keys.prices_next, self.keys.prices_next_differed)
        count = 0
        try:
            async for items in self.pages():
                if items:
                    await self._stage(items)
                    count += len(items)
        except ProblemError as exc:
            await self.redis.hset(
                self.keys.prices_meta, mapping={"error": exc.detail or exc.title, "error_at": now_ms()}
            )
            raise
        applied = await self._swap(
            keys=[
                lease.key,
                self.keys.prices_next,
                self.keys.prices_next_differed,
                self.keys.prices,
                self.keys.prices_meta,
                self.outbox_key,
                self.keys.prices_touched,
            ],
            args=[lease.value, started, count, iso_ms(now_ms())],
        )
        return SyncResult(count=count, applied=int(applied))

    async def _stage(self, page: list[Price]) -> None:
        """One page of a sync into the scratch hash, and which of its prices differ from the projection's now
        (the swap compares only those, and what events wrote meanwhile, instead of the whole catalogue)."""
        skus = [p.sku for p in page]
        encoded = [_encoder.encode(p) for p in page]
        held = await self.redis.hmget(self.keys.prices, skus)
        differed = [sku for sku, raw, was in zip(skus, encoded, held, strict=True) if was != raw]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.prices_next, mapping={sku: raw for sku, raw in zip(skus, encoded, strict=True)})
            if differed:
                pipe.sadd(self.keys.prices_next_differed, *differed)
            await pipe.execute()

    async def due(self, interval_s: float) -> bool:
        """A sync is due when never done, older than the interval, or requested after the last one."""
        synced, requested = await self.redis.hmget(self.keys.prices_meta, ["synced_at", "requested"])
        if synced is None:
            return True
        if requested is not None and int(requested) >= int(synced):
            return True
        return now_ms() - int(synced) >= interval_s * 1000

    async def request_sync(self, wait_s: float) -> SyncStatus:
        """Ask whichever worker holds the price lease to sync now; wait for it up to ``wait_s``."""
        requested = now_ms()
        await self.redis.hset(self.keys.prices_meta, "requested", requested)
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            synced, count, error, error_at = await self.redis.hmget(
                self.keys.prices_meta, ["synced_at", "count", "error", "error_at"]
            )
            if synced is not None and int(synced) >= requested:
                return SyncStatus(state="done", count=int(count or 0), synced_at_ms=int(synced))
            if error is not None and error_at is not None and int(error_at) >= requested:
                raise ProblemError(
                    "upstream-unavailable",
                    f"price sync failed: {replies.text(error)}",
                    upstream="system-erp",
                    retry_after=5,
                )
        return SyncStatus(state="running")

    async def _ready(self) -> None:
        if not await self.redis.hexists(self.keys.prices_meta, "synced_at"):
            raise ProblemError("service-unavailable", "the price projection has not been synced yet", retry_after=2)

    async def get(self, sku: str) -> Price | None:
        raw = await self.redis.hget(self.keys.prices, sku)
        if raw is None:
            await self._ready()
            return None
        return _price.decode(raw)

    async def query(self, skus: list[str]) -> PriceQueryResult:
        unique = list(dict.fromkeys(skus))
        raws = await self.redis.hmget(self.keys.prices, unique)
        prices = [_price.decode(raw) for raw in raws if raw is not None]
        missing = [sku for sku, raw in zip(unique, raws, strict=True) if raw is None]
        if missing and not prices:
            await self._ready()
        return PriceQueryResult(prices=prices, missing=missing)
