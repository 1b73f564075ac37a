"""The web product page end to end (issue 9 (c)): ``GET /web/v1/products/{sku}`` through the gateway, every
request a cache miss, so each one takes all four hops (gateway -> experience-web -> system-erp -> the ERP sandbox,
and experience-web -> process-availability, concurrently), at a fixed rate below saturation: p50/p99 from the
scheduled send time (open loop) and the CPU each deployable's process tree spent per request.

A miss is forced honestly: each request carries a query parameter of its own (``?r=<n>``), which the gateway's
cache keys by and experience-web ignores, over the seeded SKUs in turn. The limits file allows far more than the
run sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from estate.launcher import Estate
from gateway.cli import mint_shopper_token
from gateway.settings import GatewaySettings
from tests.bench.gateway import gateway_estate
from tests.bench.load import cpu_seconds, fixed_rate

PREFIX = "bench-page:"
RATE = 50.0
MEASURED = ("gateway", "experience-web", "system-erp", "process-availability", "sandbox-erp")


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5 if quick else 20
    with gateway_estate(PREFIX) as (estate, _):
        settings = estate.settings_of(GatewaySettings)
        token = asyncio.run(mint_shopper_token(settings, customer="bench", channel="web"))
        return _measure(estate, {"Authorization": f"Bearer {token}"}, seconds)


def _measure(estate: Estate, auth: dict[str, str], seconds: int) -> dict[str, Any]:
    skus = [
        i["sku"]
        for i in httpx.get(estate.url("system-erp") + "/items", params={"limit": 100}, timeout=30).json()["items"]
    ]
    base = estate.url("gateway") + "/web/v1/products/"

    def url_of(i: int) -> str:
        return f"{base}{skus[i % len(skus)]}?r={i}"

    asyncio.run(fixed_rate(base + skus[0], rate=RATE, seconds=2, headers=auth, url_of=lambda i: url_of(10**6 + i)))
    pids = {name: estate.pid(name) for name in MEASURED}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = asyncio.run(fixed_rate(base + skus[0], rate=RATE, seconds=seconds, headers=auth, url_of=url_of))
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    cpu = {name: round((after[name] - before[name]) / max(result.sent, 1) * 1e6, 1) for name in pids}
    return {
        "bench": "product_page",
        "what": "GET /web/v1/products/{sku} through the gateway, every request a cache miss (four hops)",
        "summary": {
            "rate_rps": RATE,
            "sent": result.sent,
            "errors": result.errors,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "cpu_us_per_request": cpu,
            "cpu_us_per_request_total": round(sum(cpu.values()), 1),
        },
    }
