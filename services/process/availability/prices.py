"""The price projection (DESIGN §4): the ERP's prices copied into Redis so checkout works while the ERP is down.

A sync pages through system-erp ``GET /prices`` into a scratch hash and swaps it in with one fenced Lua
(``RENAME``), so readers never see half a catalogue and a holder that lost its lease cannot overwrite a newer
sync. Syncs run at start, on a schedule and on request (``POST /prices/sync`` asks the lease holder and waits).
Between syncs, ``price.changed`` events (system-erp's feed, stream ``catalog``) update single prices at once
when newer than what the projection holds. A sync that overlapped such an event may have swapped in the older
price, so the swap asks for another sync: the projection always converges on the ERP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from redis.asyncio import Redis

from services.process.availability.keys import Keys
from shared import replies, scripts
from shared.clock import now_ms
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


class Prices:
    def __init__(self, redis: Redis, keys: Keys, http: Upstreams) -> None:
        self.redis = redis
        self.keys = keys
        self.http = http
        self._swap = scripts.load(redis, HERE / "price_swap.lua", prelude=scripts.KERNEL / "fence.lua")
        self._apply = scripts.load(redis, HERE / "price_apply.lua")

    async def apply_event(self, event: Event) -> None:
        """A ``price.changed`` event: the price, if newer than the projection's."""
        if event.type != "price.changed":
            return
        price = msgspec.convert(event.payload, Price, strict=False)
        body = _encoder.encode(price)
        as_of = msgspec.json.decode(body)["as_of"]  # the same text the projection stores
        await self._apply(keys=[self.keys.prices, self.keys.prices_meta], args=[price.sku, body, as_of, now_ms()])

    async def sync(self, lease: Lease) -> int:
        """One full sync under ``lease``; returns the number of prices."""
        started = now_ms()
        await self.redis.delete(self.keys.prices_next)
        cursor: str | None = None
        count = 0
        try:
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
                if page.items:
                    await self.redis.hset(
                        self.keys.prices_next, mapping={p.sku: _encoder.encode(p) for p in page.items}
                    )
                    count += len(page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
        except ProblemError as exc:
            await self.redis.hset(
                self.keys.prices_meta, mapping={"error": exc.detail or exc.title, "error_at": now_ms()}
            )
            raise
        await self._swap(
            keys=[lease.key, self.keys.prices_next, self.keys.prices, self.keys.prices_meta],
            args=[lease.value, started, count],
        )
        return count

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
