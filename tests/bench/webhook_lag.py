"""POS sale -> canonical event lag: from the moment a sale is rung up at the sandbox till until the canonical
``inventory.counted`` event is on the Redis stream (sandbox webhook, signature check, mapping, publish).

Sales are sent at a fixed rate (open loop); each lag is measured from just before the sale request.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from redis.asyncio import Redis

from estate.launcher import Estate

ENV = {
    "OMNIGATE_SEED_SKUS": "500",
    "OMNIGATE_SEED_STORES": "6",
    "OMNIGATE_LOG_LEVEL": "WARNING",
    "OMNIGATE_KEY_PREFIX": "bench-lag:",
}
RATE = 20.0


def run(quick: bool = False) -> dict[str, Any]:
    sales = 40 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        estate = Estate(data_dir=Path(tmp), free_ports=True, env=ENV, only=["sandbox-pos", "system-pos"])
        estate.start(timeout=90)
        try:
            return asyncio.run(_measure(estate, sales))
        finally:
            redis = Redis.from_url(estate.settings.redis_url)
            asyncio.run(_clean(redis, ENV["OMNIGATE_KEY_PREFIX"]))
            estate.stop()


async def _clean(redis: Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)
    await redis.aclose()


def _stocked_pairs(estate: Estate, wanted: int) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    stores = httpx.get(estate.url("system-pos") + "/stores", timeout=30).json()
    for store in stores:
        page = httpx.get(
            estate.url("system-pos") + "/stock", params={"location": store["id"], "limit": 500}, timeout=30
        ).json()
        for position in page["items"]:
            pairs.extend([(store["id"], position["sku"])] * position["on_hand"])
            if len(pairs) >= wanted:
                return pairs[:wanted]
    return pairs


async def _read_lags(
    redis: Redis, stream: str, sent_at: dict[str, float], lags: dict[str, float], wanted: int, done: asyncio.Event
) -> None:
    """Record each sale's lag as its canonical event reaches the stream, until ``wanted`` are seen or ``done``."""
    last = "$"
    while not done.is_set():
        response = await redis.xread({stream: last}, block=500, count=500)
        now = time.perf_counter()
        for _, entries in response or []:
            for entry_id, fields in entries:
                last = entry_id
                square_event = fields[b"id"].decode().split(":")[1]
                if square_event in sent_at and square_event not in lags:
                    lags[square_event] = now - sent_at[square_event]
        if len(lags) >= wanted:
            done.set()


async def _sell_at_rate(sim: str, pairs: list[tuple[str, str]], sent_at: dict[str, float]) -> None:
    """Ring up one sale per pair at ``RATE`` a second (open loop); each sale's Square event ids are stamped with
    the time just before its request."""
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()

        async def sell(store: str, sku: str) -> None:
            t0 = time.perf_counter()
            async with session.post(sim, json={"store": store, "sku": sku, "qty": 1}) as resp:
                body = await resp.json()
            for event_id in body.get("event_ids", []):
                sent_at[event_id] = t0

        tasks = []
        for i, (store, sku) in enumerate(pairs):
            delay = start + i / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(sell(store, sku)))
        await asyncio.gather(*tasks)


def _summary(sales: int, lags: dict[str, float]) -> dict[str, float | int | None]:
    ms = sorted(v * 1000 for v in lags.values())
    return {
        "sales": sales,
        "events_seen": len(ms),
        "rate_per_s": RATE,
        "lag_p50_ms": round(statistics.median(ms), 2) if ms else None,
        "lag_p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2) if ms else None,
        "lag_max_ms": round(ms[-1], 2) if ms else None,
    }


async def _measure(estate: Estate, sales: int) -> dict[str, Any]:
    pairs = _stocked_pairs(estate, sales)
    stream = f"{ENV['OMNIGATE_KEY_PREFIX']}omnigate.events.inventory"
    redis = Redis.from_url(estate.settings.redis_url)
    sent_at: dict[str, float] = {}
    lags: dict[str, float] = {}
    done = asyncio.Event()
    reading = asyncio.create_task(_read_lags(redis, stream, sent_at, lags, len(pairs), done))
    await asyncio.sleep(0.2)
    await _sell_at_rate(estate.url("sandbox-pos") + "/_sim/sale", pairs, sent_at)
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    except TimeoutError:
        done.set()
    await reading
    await redis.aclose()
    return {"bench": "webhook_lag", "summary": _summary(len(pairs), lags)}
