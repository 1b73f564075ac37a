"""POS sale -> fresh availability served by the gateway (issue 9 (b); target p99 <= 250 ms).

For each sale: the SKU's web product page is first read through the gateway until it is a cache hit (the answer
a shopper would get from the cache), then one unit is sold at a store's till in the POS sandbox, and the page is
read again every ``POLL_S`` until its ETag changes: the sale went through Square's webhook (via the gateway) to
system-pos, its ``inventory`` event to process-availability's projection, the projection's
``availability.changed`` through its outbox to the stream, the gateway's purge group dropped the cached page, and
experience-web answered the new figures. The lag is from just before the sale request to the first changed
answer. Sales follow each other (one in flight), over stocked (store, SKU) pairs of the seeded estate.

The limits file allows far more than the polling sends; a 429 or an error fails the run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx

from estate.launcher import Estate, LaunchError
from gateway.cli import mint_shopper_token
from gateway.settings import GatewaySettings
from tests.bench.gateway import gateway_estate

PREFIX = "bench-fresh:"
POLL_S = 0.005
WARM_TIMEOUT_S = 5.0
FRESH_TIMEOUT_S = 5.0
P99_TARGET_MS = 250.0


def run(quick: bool = False) -> dict[str, Any]:
    sales = 40 if quick else 200
    with gateway_estate(PREFIX) as (estate, _):
        token = asyncio.run(mint_shopper_token(estate.settings_of(GatewaySettings), customer="bench", channel="web"))
        return _measure(estate, {"Authorization": f"Bearer {token}"}, sales)


def _stocked_pairs(estate: Estate, wanted: int) -> list[tuple[str, str]]:
    """(store, SKU) pairs with a unit on the shelf each, one SKU per sale where the seed allows."""
    pairs: list[tuple[str, str]] = []
    for store in httpx.get(estate.url("system-pos") + "/stores", timeout=30).json():
        page = httpx.get(
            estate.url("system-pos") + "/stock", params={"location": store["id"], "limit": 500}, timeout=30
        ).json()
        pairs.extend((store["id"], p["sku"]) for p in page["items"] if p["on_hand"] > 0)
    if len(pairs) < wanted:
        raise LaunchError(f"the seed has {len(pairs)} stocked store positions, {wanted} wanted")
    return pairs[:wanted]


def _until(client: httpx.Client, url: str, done: Any, timeout: float) -> httpx.Response:
    deadline = time.perf_counter() + timeout
    while True:
        answer = client.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:300]}")
        if done(answer):
            return answer
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{url}: gave up after {timeout} s ({answer.headers.get('cache-status')})")
        time.sleep(POLL_S)


def _measure(estate: Estate, auth: dict[str, str], sales: int) -> dict[str, Any]:
    pairs = _stocked_pairs(estate, sales)
    lags: list[float] = []
    polls: list[int] = []
    with httpx.Client(base_url=estate.url("gateway"), headers=auth, timeout=10) as client:
        for store, sku in pairs:
            url = f"/web/v1/products/{sku}"
            cached = _until(client, url, lambda a: "hit" in a.headers.get("cache-status", ""), WARM_TIMEOUT_S)
            before = cached.headers["etag"]
            count = [0]

            def changed(answer: httpx.Response, before: str = before, count: list[int] = count) -> bool:
                count[0] += 1
                return answer.headers["etag"] != before

            started = time.perf_counter()
            sold = httpx.post(estate.url("sandbox-pos") + "/_sim/sale", json={"store": store, "sku": sku, "qty": 1})
            if sold.status_code != 200:
                raise RuntimeError(f"sale of {sku} at {store}: {sold.status_code} {sold.text[:300]}")
            _until(client, url, changed, FRESH_TIMEOUT_S)
            lags.append((time.perf_counter() - started) * 1000)
            polls.append(count[0])
    ms = sorted(lags)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    return {
        "bench": "freshness",
        "what": "POS sale at the till -> the gateway serves the product page with the new availability",
        "summary": {
            "sales": len(ms),
            "lag_p50_ms": round(statistics.median(ms), 1),
            "lag_p90_ms": round(ms[int(len(ms) * 0.9) - 1], 1),
            "lag_p99_ms": round(p99, 1),
            "lag_max_ms": round(ms[-1], 1),
            "p99_target_ms": P99_TARGET_MS,
            "p99_met": p99 <= P99_TARGET_MS,
            "poll_interval_ms": POLL_S * 1000,
            "reads_per_sale_p50": statistics.median(polls),
        },
    }
