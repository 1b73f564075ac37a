"""What the system-API hop costs: GET /items/{sku} on system-erp against the same read made directly on the
ERP sandbox, in one run, on one machine.

Reported: max throughput of each (wrk, closed loop), CPU per request of the system-erp process tree during the
saturation run (from /proc), and p50/p99 at a fixed rate below saturation (open loop). Targets (issue 2): the
hop adds <= 450 us of CPU per request and <= 1 ms to p50 at the fixed rate.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import msgspec

from estate.launcher import Estate
from services.sandbox.erp.settings import SandboxErpSettings
from services.system.erp.connector import ALL_RECORDS
from services.system.erp.mapping import PRODUCT_FIELDS
from tests.bench.load import cpu_seconds, fixed_rate, saturate

ENV = {
    "OMNIGATE_SEED_SKUS": "1000",
    "OMNIGATE_SEED_STORES": "4",
    "OMNIGATE_LOG_LEVEL": "WARNING",
    "OMNIGATE_KEY_PREFIX": "bench-hop:",
}
FIXED_RATE = 200.0


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5 if quick else 15
    with tempfile.TemporaryDirectory() as tmp:
        estate = Estate(data_dir=Path(tmp), free_ports=True, env=ENV, only=["sandbox-erp", "system-erp"])
        estate.start(timeout=90)
        try:
            return _measure(estate, seconds)
        finally:
            estate.stop()


def _measure(estate: Estate, seconds: int) -> dict[str, Any]:
    erp_api_key = estate.settings_of(SandboxErpSettings).erp_api_key
    system = estate.url("system-erp")
    items = httpx.get(system + "/items", params={"limit": 1}, timeout=10).json()["items"]
    sku = items[0]["sku"]
    direct_url = estate.url("sandbox-erp") + "/json/2/product.product/search_read"
    # The same Odoo call system-erp makes for GET /items/{sku}.
    direct_body = msgspec.json.encode(
        {
            "domain": [["default_code", "=", sku]],
            "fields": PRODUCT_FIELDS,
            "order": "id asc",
            "limit": 1,
            "context": ALL_RECORDS,
        }
    )
    direct_headers = {"Authorization": f"bearer {erp_api_key}", "Content-Type": "application/json"}
    assert httpx.post(direct_url, content=direct_body, headers=direct_headers).status_code == 200
    hop_url = f"{system}/items/{sku}"
    assert httpx.get(hop_url).status_code == 200

    # Warm both paths (connection pools, id maps, SQLite page cache).
    saturate(hop_url, seconds=2, connections=16)
    saturate(direct_url, seconds=2, connections=16, method="POST", body=direct_body, headers=direct_headers)

    system_pid, sandbox_pid = estate.pid("system-erp"), estate.pid("sandbox-erp")

    cpu0_sb = cpu_seconds(sandbox_pid)
    direct = saturate(
        direct_url, seconds=seconds, connections=16, method="POST", body=direct_body, headers=direct_headers
    )
    direct_sandbox_cpu_us = (cpu_seconds(sandbox_pid) - cpu0_sb) / max(direct.requests, 1) * 1e6

    cpu0_sys, cpu0_sb = cpu_seconds(system_pid), cpu_seconds(sandbox_pid)
    hop = saturate(hop_url, seconds=seconds, connections=16)
    hop_system_cpu_us = (cpu_seconds(system_pid) - cpu0_sys) / max(hop.requests, 1) * 1e6
    hop_sandbox_cpu_us = (cpu_seconds(sandbox_pid) - cpu0_sb) / max(hop.requests, 1) * 1e6

    direct_fixed = asyncio.run(
        fixed_rate(
            direct_url, rate=FIXED_RATE, seconds=seconds, method="POST", body=direct_body, headers=direct_headers
        )
    )
    hop_fixed = asyncio.run(fixed_rate(hop_url, rate=FIXED_RATE, seconds=seconds))

    summary = {
        "direct_max_rps": round(direct.rps, 1),
        "hop_max_rps": round(hop.rps, 1),
        "hop_cpu_us_per_request": round(hop_system_cpu_us, 1),
        "hop_cpu_target_us": 450,
        "fixed_rate_rps": FIXED_RATE,
        "direct_p50_ms": direct_fixed.p50_ms,
        "hop_p50_ms": hop_fixed.p50_ms,
        "added_p50_ms": round(hop_fixed.p50_ms - direct_fixed.p50_ms, 3),
        "added_p50_target_ms": 1.0,
        "direct_p99_ms": direct_fixed.p99_ms,
        "hop_p99_ms": hop_fixed.p99_ms,
        "errors": direct.non_2xx + hop.non_2xx + direct_fixed.errors + hop_fixed.errors,
    }
    return {
        "bench": "system_hop",
        "read": {"hop": "GET /items/{sku} on system-erp", "direct": "POST /json/2/product.product/search_read"},
        "summary": summary,
        "saturation": {"direct": asdict(direct), "hop": asdict(hop)},
        "cpu_us_per_request": {
            "system_erp_during_hop": round(hop_system_cpu_us, 1),
            "sandbox_during_hop": round(hop_sandbox_cpu_us, 1),
            "sandbox_during_direct": round(direct_sandbox_cpu_us, 1),
        },
        "fixed_rate": {"direct": asdict(direct_fixed), "hop": asdict(hop_fixed)},
    }
