"""Orders end to end on the sandbox estate: an order counts when it is ``released`` (reserved, accepted, ERP
sales order created and confirmed, fulfilment order at the WMS), sustained for 60 s (``--quick``: 10 s).

Every deployable runs as in production here (two workers for system and process APIs). Stock comes from
cycle counts at the WMS sandbox (``/_sim/count``), which reach the availability projection as
``inventory.counted``. Load is closed-loop: ``CONCURRENCY`` clients each post an order, wait for its answer, and
post the next. CPU is read from /proc for every process of the estate (and the Redis server, which other
work on the machine may share: reported apart) and divided by released orders.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from estate.launcher import Estate
from tests.bench.load import cpu_seconds
from tests.estate import owner_headers

ENV = {
    "OMNIGATE_SEED_SKUS": "300",
    "OMNIGATE_SEED_STORES": "6",
    "OMNIGATE_LOG_LEVEL": "WARNING",
    "OMNIGATE_KEY_PREFIX": "bench-orders:",
}
WORKERS = {"system-erp": 2, "system-wms": 2, "system-pos": 2, "process-availability": 2, "process-orders": 2}
CONCURRENCY = 32
SKUS = 40
STOCK_PER_SKU = 100_000
ADDRESS = {"name": "Bench Customer", "line1": "Dam 1", "city": "Amsterdam", "postal_code": "1012 JS", "country": "NL"}


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 10 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        estate = Estate(data_dir=Path(tmp), free_ports=True, env=ENV, workers=WORKERS)
        estate.start(timeout=120)
        try:
            skus = _stock(estate)
            # Identity tokens as the gateway mints them (one per shopper, minted before the clock starts).
            owners = [f"web:bench-{n}" for n in range(CONCURRENCY)]
            identities = owner_headers(estate.settings.redis_url, ENV["OMNIGATE_KEY_PREFIX"], owners)
            return asyncio.run(_measure(estate, skus, seconds, identities))
        finally:
            estate.stop()
            _clean(estate)


def _clean(estate: Estate) -> None:
    import redis

    client = redis.Redis.from_url(estate.redis_url or "")
    for key in client.scan_iter(match=f"{ENV['OMNIGATE_KEY_PREFIX']}*", count=1000):
        client.delete(key)
    client.close()


def _stock(estate: Estate) -> list[str]:
    items = httpx.get(estate.url("system-erp") + "/items", params={"limit": SKUS}, timeout=30).json()["items"]
    skus = [i["sku"] for i in items]
    for sku in skus:
        httpx.post(
            estate.url("sandbox-wms") + "/_sim/count",
            json={"warehouse": "TLB", "sku": sku, "on_hand": STOCK_PER_SKU},
            timeout=30,
        ).raise_for_status()
    (operator,) = owner_headers(estate.settings.redis_url, ENV["OMNIGATE_KEY_PREFIX"], ["ops:bench"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.post(
            estate.url("process-availability") + "/availability/query",
            json={"skus": skus},
            headers=operator,  # every process-availability route needs an identity; operators may read
            timeout=30,
        ).json()
        if all(
            any(a["location"] == "dc-tlb" and a["available"] >= STOCK_PER_SKU - 100 for a in item["locations"])
            for item in answer["items"]
        ):
            return skus
        time.sleep(0.5)
    raise RuntimeError("stock for the benchmark did not reach the availability projection")


def _redis_pid(url: str) -> int | None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "redis-server" in cmd and f":{port}" in cmd:
                return int(entry.name)
    return None


async def _measure(estate: Estate, skus: list[str], seconds: int, identities: list[dict[str, str]]) -> dict[str, Any]:
    url = estate.url("process-orders") + "/orders"
    pids = {name: estate.pid(name) for name in estate.names}
    redis_pid = _redis_pid(estate.redis_url or "")
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    released = 0

    async def client(n: int, session: aiohttp.ClientSession, deadline: float) -> None:
        nonlocal released
        i = 0
        while time.monotonic() < deadline:
            i += 1
            body = {
                "customer": {"id": f"b-{n}", "name": "Bench Customer"},
                "fulfilment": {"mode": "ship", "ship_to": ADDRESS},
                "lines": [{"line_id": "1", "sku": skus[(n * 7 + i) % len(skus)], "qty": 1}],
                "currency": "EUR",
                "payment_reference": f"psp-{n}-{i}",
            }
            headers = {**identities[n], "Idempotency-Key": uuid.uuid4().hex}
            started = time.perf_counter()
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    data = await resp.json(content_type=None)
                    state = data.get("state") if resp.status < 300 else f"http-{resp.status}"
            except aiohttp.ClientError as exc:
                state = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            outcomes[str(state)] = outcomes.get(str(state), 0) + 1
            if state == "released":
                released += 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY), timeout=timeout) as session:
        # Warm-up: connection pools, id maps, breakers.
        await asyncio.gather(*(client(n, session, time.monotonic() + 2) for n in range(CONCURRENCY)))
        latencies.clear()
        outcomes.clear()
        released = 0
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
        bench_before = os.times()
        started = time.monotonic()
        await asyncio.gather(*(client(n, session, started + seconds) for n in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    redis_cpu = (cpu_seconds(redis_pid) - redis_before) if redis_pid else None
    bench_after = os.times()
    generator_cpu = (bench_after.user - bench_before.user) + (bench_after.system - bench_before.system)
    per_order = {name: round(s * 1000 / max(1, released), 3) for name, s in cpu.items()}
    estate_cpu_ms = sum(cpu.values()) * 1000 / max(1, released)
    redis_ms = redis_cpu * 1000 / max(1, released) if redis_cpu is not None else None
    ms = sorted(x * 1000 for x in latencies)
    rate = released / elapsed
    summary = {
        "released_per_s": round(rate, 1),
        "target_per_s": 150,
        "meets_target": rate >= 150,
        "cpu_ms_per_order_all_processes": round(estate_cpu_ms + (redis_ms or 0.0), 2),
        "cpu_ms_per_order_estate": round(estate_cpu_ms, 2),
        "cpu_ms_per_order_redis": round(redis_ms, 2) if redis_ms is not None else None,
        "latency_p50_ms": round(statistics.median(ms), 1) if ms else None,
        "latency_p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1) if ms else None,
        "outcomes": outcomes,
    }
    return {
        "summary": summary,
        "seconds": round(elapsed, 1),
        "concurrency": CONCURRENCY,
        "released": released,
        "cpu_ms_per_order_by_deployable": per_order,
        "load_generator_cpu_ms_per_order": round(generator_cpu * 1000 / max(1, released), 2),
        "notes": "closed loop; the load generator shares the 2 cores; Redis may be shared with other work",
    }
