"""ATP reads and event->ATP lag of process-availability, on the sandbox estate.

Reported:
- single-SKU ``GET /availability/{sku}`` and 100-SKU ``POST /availability/query``: max throughput (wrk, closed
  loop), CPU per request of the process-availability process tree (from /proc) during saturation, and p50/p99
  at a fixed rate below saturation (open loop). ``added_p50_ms`` compares the single-SKU read with the same
  service's ``/healthz`` at the same rate: what the ATP read itself adds (target <= 2 ms).
- event->ATP lag over POS sales: from just before ``POST /_sim/sale`` until ``GET /availability/{sku}`` shows
  the new store figure (Square webhook, system-pos, the inventory stream, the consumer, the projection).

Every read carries a shopper's identity token with ``availability:read`` (as an experience API passes it on):
the figures include verifying it (an LRU hit after the first request).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec

from estate.launcher import Estate
from shared.identity import HEADER, Identity
from tests.bench.load import cpu_seconds, fixed_rate, saturate
from tests.estate import mint_callers

ENV = {
    "OMNIGATE_SEED_SKUS": "1000",
    "OMNIGATE_SEED_STORES": "6",
    "OMNIGATE_LOG_LEVEL": "WARNING",
    "OMNIGATE_KEY_PREFIX": "bench-avail:",
}
ONLY = ["sandbox-erp", "sandbox-wms", "sandbox-pos", "system-erp", "system-wms", "system-pos", "process-availability"]
WORKERS = {"system-pos": 2, "process-availability": 2}
SINGLE_RATE = 200.0
BULK_RATE = 50.0
SALE_RATE = 20.0


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5 if quick else 15
    sales = 40 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        estate = Estate(data_dir=Path(tmp), free_ports=True, env=ENV, only=ONLY, workers=WORKERS)
        estate.start(timeout=90)
        try:
            reads = _reads(estate, seconds)
            lag = asyncio.run(_lag(estate, sales))
        finally:
            estate.stop()
            _clean(estate)
    summary = {**reads.pop("summary"), **lag}
    return {"bench": "availability", "summary": summary, **reads}


def _clean(estate: Estate) -> None:
    import redis

    client = redis.Redis.from_url(estate.settings.redis_url)
    for key in client.scan_iter(match=f"{ENV['OMNIGATE_KEY_PREFIX']}*", count=1000):
        client.delete(key)
    client.close()


def _reader(estate: Estate) -> dict[str, str]:
    """The identity header of a web shopper allowed to read ATP, minted as the gateway mints it."""
    shopper = Identity(sub="c-bench", channel="web", customer_id="c-bench", scopes=frozenset({"availability:read"}))
    (token,) = mint_callers(estate.settings.redis_url, ENV["OMNIGATE_KEY_PREFIX"], [shopper])
    return {HEADER: token}


def _reads(estate: Estate, seconds: int) -> dict[str, Any]:
    base = estate.url("process-availability")
    reader = _reader(estate)
    skus = [
        i["sku"]
        for i in httpx.get(estate.url("system-erp") + "/items", params={"limit": 500}, timeout=30).json()["items"]
    ]
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/availability/{skus[0]}", headers=reader, timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the projection was not built within 60 s")
        time.sleep(0.2)
    single_url = f"{base}/availability/{skus[7]}"
    bulk_url = f"{base}/availability/query"
    bulk_body = msgspec.json.encode({"skus": skus[:100]})
    headers = {"Content-Type": "application/json", **reader}
    assert httpx.post(bulk_url, content=bulk_body, headers=headers).json()["unknown"] == []
    pid = estate.pid("process-availability")

    saturate(single_url, seconds=2, connections=16, headers=reader)  # warm-up
    cpu0 = cpu_seconds(pid)
    single = saturate(single_url, seconds=seconds, connections=16, headers=reader)
    single_cpu_us = (cpu_seconds(pid) - cpu0) / max(single.requests, 1) * 1e6
    cpu0 = cpu_seconds(pid)
    bulk = saturate(bulk_url, seconds=seconds, connections=16, method="POST", body=bulk_body, headers=headers)
    bulk_cpu_us = (cpu_seconds(pid) - cpu0) / max(bulk.requests, 1) * 1e6

    baseline_fixed = asyncio.run(fixed_rate(f"{base}/healthz", rate=SINGLE_RATE, seconds=seconds))
    single_fixed = asyncio.run(fixed_rate(single_url, rate=SINGLE_RATE, seconds=seconds, headers=reader))
    bulk_fixed = asyncio.run(
        fixed_rate(bulk_url, rate=BULK_RATE, seconds=seconds, method="POST", body=bulk_body, headers=headers)
    )
    return {
        "summary": {
            "single_max_rps": round(single.rps, 1),
            "single_cpu_us_per_request": round(single_cpu_us, 1),
            "single_fixed_rate_rps": SINGLE_RATE,
            "single_p50_ms": single_fixed.p50_ms,
            "single_p99_ms": single_fixed.p99_ms,
            "healthz_p50_ms": baseline_fixed.p50_ms,
            "added_p50_ms": round(single_fixed.p50_ms - baseline_fixed.p50_ms, 3),
            "added_p50_target_ms": 2.0,
            "bulk100_max_rps": round(bulk.rps, 1),
            "bulk100_cpu_us_per_request": round(bulk_cpu_us, 1),
            "bulk100_fixed_rate_rps": BULK_RATE,
            "bulk100_p50_ms": bulk_fixed.p50_ms,
            "bulk100_p99_ms": bulk_fixed.p99_ms,
            "errors": single.non_2xx + bulk.non_2xx + single_fixed.errors + bulk_fixed.errors + baseline_fixed.errors,
        },
        "saturation": {"single": asdict(single), "bulk100": asdict(bulk)},
        "fixed_rate": {
            "healthz": asdict(baseline_fixed),
            "single": asdict(single_fixed),
            "bulk100": asdict(bulk_fixed),
        },
    }


def _pairs(estate: Estate, wanted: int) -> list[tuple[str, str]]:
    """Distinct (store, sku) pairs with stock, so every sale's new figure is unambiguous."""
    pairs: list[tuple[str, str]] = []
    stores = httpx.get(estate.url("system-pos") + "/stores", timeout=30).json()
    pages = {
        s["id"]: httpx.get(
            estate.url("system-pos") + "/stock", params={"location": s["id"], "limit": 1000}, timeout=30
        ).json()["items"]
        for s in stores
    }
    for i in range(1000):
        for store, items in pages.items():
            if i < len(items) and items[i]["on_hand"] >= 1:
                pairs.append((store, items[i]["sku"]))
                if len(pairs) >= wanted:
                    return pairs
    return pairs


async def _lag(estate: Estate, sales: int) -> dict[str, Any]:
    pairs = _pairs(estate, sales)
    base = estate.url("process-availability")
    sim = estate.url("sandbox-pos") + "/_sim/sale"
    lags: list[float] = []
    timeouts = 0
    reader = _reader(estate)

    async def store_atp(session: aiohttp.ClientSession, store: str, sku: str) -> int:
        async with session.get(f"{base}/availability/{sku}", headers=reader) as resp:
            body = await resp.json()
        return next((e["available"] for e in body["locations"] if e["location"] == store), 0)

    async def one(session: aiohttp.ClientSession, store: str, sku: str) -> None:
        nonlocal timeouts
        before = await store_atp(session, store, sku)
        t0 = time.perf_counter()
        async with session.post(sim, json={"store": store, "sku": sku, "qty": 1}) as resp:
            await resp.read()
            if resp.status != 200:
                timeouts += 1
                return
        while time.perf_counter() - t0 < 10:
            if await store_atp(session, store, sku) != before:
                lags.append(time.perf_counter() - t0)
                return
            await asyncio.sleep(0.002)
        timeouts += 1

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        tasks = []
        for i, (store, sku) in enumerate(pairs):
            delay = start + i / SALE_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, store, sku)))
        await asyncio.gather(*tasks)
    ms = sorted(v * 1000 for v in lags)
    return {
        "lag_sales": len(pairs),
        "lag_seen": len(ms),
        "lag_timeouts": timeouts,
        "lag_rate_per_s": SALE_RATE,
        "lag_p50_ms": round(statistics.median(ms), 2) if ms else None,
        "lag_p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2) if ms else None,
        "lag_max_ms": round(ms[-1], 2) if ms else None,
    }
