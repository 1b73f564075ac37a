"""What the gateway adds to a request (issue 8): an authenticated, rate-limited, uncached read through the gateway
against the same read sent straight to the experience API behind it, and both against a bare ASGI app on the
same server, in one run, on one machine, over loopback.

The read is ``GET /web/v1/orders/{id}`` of a shopper's order:
- **gateway**: with ``Authorization: Bearer <shopper token>``; the gateway checks the token (an LRU hit after the
  first request), counts the client-IP and shopper limits in Redis (moving window), takes the internal identity
  from its minter's LRU and forwards to experience-web, which calls process-orders;
- **direct**: the same request to experience-web with the ``X-Omnigate-Identity`` the gateway would send (same
  identity, minted with the gateway's key by ``gateway.cli.mint_identity``);
- **raw**: a bare ASGI app (tests/bench/raw_asgi.py) answering the order's own bytes, served by granian with the
  gateway's flags and worker count: the floor of the server itself;
- **bare**: a bare ASGI proxy (tests/bench/bare_proxy.py) in front of experience-web, served the same way, doing
  one Lua call to Redis and the hop with the same identity header and nothing else: the floor of any Python hop on
  this machine, against which the gateway's added latency is read.

For each: max throughput (wrk, closed loop, ``CONNECTIONS`` connections), then p50/p99 at one fixed rate for all
(open loop, latency from the scheduled send time; tests/bench/load.py; ``ROUNDS`` interleaved rounds pooled): ``FIXED_RATE``, or half the slowest
one's maximum if that is lower, so the rate stays below saturation on a loaded machine. Reported besides: the
gateway's added p50/p99 (gateway minus direct; target: added p50 <= 1 ms), the CPU of the gateway's process tree
per request (the direct path has no gateway, so that is the CPU the gateway adds) during its saturation and
fixed-rate phases, the upstreams' (experience-web, process-orders) CPU per request for context, and the answers by
status (the gateway's own ``omnigate_http_requests_total``). The limits file allows far more than the run sends: a
429 would make the figures meaningless, so the run fails on one.

The load generator shares the machine's cores with every process measured; Redis is the one at ``REDIS_URL`` and
may serve other work, so its CPU is not reported.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from estate.launcher import Deployable, Estate, LaunchError, free_port, load_estate, serve_command
from gateway.cli import SHOPPER_SCOPES, identity_of, mint_identity, mint_shopper_token
from gateway.settings import GatewaySettings
from shared.identity import HEADER
from shared.settings import url_env_name
from tests.bench.load import FixedRate, Saturation, cpu_seconds, fixed_rate, pooled, saturate

PREFIX = "bench-gateway:"
ONLY = [
    "sandbox-erp",
    "sandbox-wms",
    "sandbox-pos",
    "system-erp",
    "system-wms",
    "system-pos",
    "process-availability",
    "process-orders",
    "experience-web",
    "gateway",
]
UPSTREAMS = ("experience-web", "process-orders")
# The gateway's start wants a URL for every upstream of routes.toml; these are never called here (port 9: discard).
UNUSED = {url_env_name(name): "http://127.0.0.1:9" for name in ("experience-mobile", "experience-partner")}
# Far above what the run sends (a few thousand requests a minute from one shopper on one IP): nothing is refused,
# yet every request still counts both limits in Redis.
LIMITS = """
[plans]
bench = "1000000/minute"

[clients]
default = "1000000/minute"

[channels.web]
shopper = "1000000/minute"
ip = "1000000/minute"

[channels.mobile]
shopper = "1000000/minute"
ip = "1000000/minute"
"""
CUSTOMER = "bench-shopper"
CONNECTIONS = 16
FIXED_RATE = 100.0
ROUNDS = 5  # fixed-rate rounds, the ways interleaved
ADDED_P50_TARGET_MS = 1.0
SETTLED = {"released", "shipped", "rejected", "cancelled", "failed", "pending_backend"}
_SERVED = re.compile(r"^omnigate_http_requests_total\{(.*)\} (\S+)$", re.MULTILINE)
_STATUS = re.compile(r'status="(\d+)"')


def bench_env(prefix: str) -> dict[str, str]:
    """The settings of a benchmark's estate: a small seed, warnings only, and a key prefix of its own."""
    return {
        "OMNIGATE_SEED_SKUS": "300",
        "OMNIGATE_SEED_STORES": "6",
        "OMNIGATE_LOG_LEVEL": "WARNING",
        "OMNIGATE_KEY_PREFIX": prefix,
    }


@contextmanager
def gateway_estate(prefix: str) -> Iterator[tuple[Estate, Path]]:
    """The estate the gateway benchmarks measure (:data:`ONLY`, limits far above what a run sends) in a temporary
    directory under the key ``prefix``, with that directory; stopped, and its keys removed, afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        limits = work / "limits.toml"
        limits.write_text(LIMITS)
        env = {**bench_env(prefix), **UNUSED, "OMNIGATE_GATEWAY_LIMITS_FILE": str(limits)}
        estate = Estate(data_dir=work / "estate", free_ports=True, env=env, only=ONLY)
        estate.start(timeout=120)
        try:
            yield estate, work
        finally:
            estate.stop()
            clean(estate, prefix)


def clean(estate: Estate, prefix: str) -> None:
    """Remove a benchmark estate's keys from the shared Redis."""
    client = redis.Redis.from_url(estate.redis_url or "")
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


@dataclass(frozen=True)
class Way:
    """One way to the order: its URL, the headers it needs, and the process trees whose CPU it costs."""

    name: str
    url: str
    headers: dict[str, str]
    pids: dict[str, int]


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5 if quick else 15
    with gateway_estate(PREFIX) as (estate, work):
        tmp = str(work)
        order_path, auth, identity, body = _seed(estate)
        workers = {d.name: d.workers for d in load_estate()}["gateway"]
        bare_env = {
            "BENCH_BARE_UPSTREAM": estate.url("experience-web"),
            "BENCH_BARE_IDENTITY": identity[HEADER],
            "REDIS_URL": estate.redis_url or "",
        }
        with (
            _server(Path(tmp), "raw", "tests.bench.raw_asgi:create_app", _raw_env(tmp, body), workers) as raw,
            _server(Path(tmp), "bare", "tests.bench.bare_proxy:create_app", bare_env, workers) as bare,
        ):
            (raw_url, raw_pid), (bare_url, bare_pid) = raw, bare
            upstream_pids = {name: estate.pid(name) for name in UPSTREAMS}
            ways = [
                Way(
                    "gateway",
                    estate.url("gateway") + order_path,
                    auth,
                    {"gateway": estate.pid("gateway"), **upstream_pids},
                ),
                Way("direct", estate.url("experience-web") + order_path, identity, upstream_pids),
                Way("raw", raw_url + "/web/v1/orders/raw", {}, {"raw": raw_pid}),
                Way("bare", bare_url + order_path, {}, {"bare": bare_pid, **upstream_pids}),
            ]
            result = _measure(estate, ways, seconds)
            result["order_bytes"] = len(body)
            result["gateway_workers"] = workers
            return result


def _seed(estate: Estate) -> tuple[str, dict[str, str], dict[str, str], bytes]:
    """One shopper's order, placed through the gateway on a SKU stocked for it and left to settle. Returns its
    path, the shopper's Authorization header, the identity header the gateway sends for them, and the order's
    body as experience-web answers it."""
    settings = estate.settings_of(GatewaySettings)
    token = asyncio.run(mint_shopper_token(settings, customer=CUSTOMER, channel="web"))
    auth = {"Authorization": f"Bearer {token}"}
    # The identity the gateway derives from that token (gateway/authenticate.py): customer, web, its scopes.
    shopper = identity_of("web", CUSTOMER, SHOPPER_SCOPES)
    identity = {HEADER: asyncio.run(mint_identity(settings, shopper, ttl_s=900))}
    operator = {HEADER: asyncio.run(mint_identity(settings, identity_of("ops", "bench")))}

    sku = httpx.get(estate.url("system-erp") + "/items", params={"limit": 1}, timeout=30).json()["items"][0]["sku"]
    httpx.post(
        estate.url("sandbox-wms") + "/_sim/count", json={"warehouse": "TLB", "sku": sku, "on_hand": 100}, timeout=30
    ).raise_for_status()

    def stocked() -> bool:
        answer = httpx.post(
            estate.url("process-availability") + "/availability/query",
            json={"skus": [sku]},
            headers=operator,
            timeout=30,
        ).json()
        return any(a["location"] == "dc-tlb" and a["available"] > 0 for a in answer["items"][0]["locations"])

    _wait(stocked, 60, f"stock of {sku} in the availability projection")
    order = {
        "customer": {"id": CUSTOMER, "name": "Bench Shopper"},
        "fulfilment": {
            "mode": "ship",
            "ship_to": {
                "name": "Bench Shopper",
                "line1": "Dam 1",
                "city": "Amsterdam",
                "postal_code": "1012 JS",
                "country": "NL",
            },
        },
        "lines": [{"line_id": "1", "sku": sku, "qty": 1}],
        "currency": "EUR",
        "payment_reference": "psp-bench-1",
    }
    gateway = estate.url("gateway")
    placed = httpx.post(
        gateway + "/web/v1/orders", json=order, headers={**auth, "Idempotency-Key": uuid.uuid4().hex}, timeout=30
    )
    if placed.status_code != 201:
        raise RuntimeError(f"the benchmark's order was not placed: {placed.status_code} {placed.text}")
    path = f"/web/v1/orders/{placed.json()['id']}"
    # Let the saga finish, so no background step runs (and costs CPU) while the reads are measured.
    _wait(lambda: httpx.get(gateway + path, headers=auth, timeout=30).json()["state"] in SETTLED, 60, "order settles")
    through = httpx.get(gateway + path, headers=auth, timeout=30)
    direct = httpx.get(estate.url("experience-web") + path, headers=identity, timeout=30)
    if through.status_code != 200 or direct.status_code != 200 or through.content != direct.content:
        raise RuntimeError(f"gateway and direct reads differ: {through.status_code} {direct.status_code}")
    return path, auth, identity, direct.content


def _raw_env(tmp: str, body: bytes) -> dict[str, str]:
    body_file = Path(tmp) / "raw-body.json"
    body_file.write_bytes(body)
    return {"BENCH_RAW_BODY_FILE": str(body_file)}


@contextmanager
def _server(tmp: Path, name: str, module: str, env: dict[str, str], workers: int) -> Iterator[tuple[str, int]]:
    """A benchmark's own ASGI app under granian, with the launcher's command line: its base URL and pid."""
    app = Deployable(name=name, layer="edge", module=module, port=free_port())
    cmd = serve_command(app, port=app.port, workers=workers)
    with (tmp / f"{name}.log").open("ab") as log:
        popen = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{app.port}"
    try:
        _wait(lambda: _answers(url + "/healthz"), 30, f"the {name} app")
        yield url, popen.pid
    finally:
        popen.terminate()
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def _measure(estate: Estate, ways: list[Way], seconds: int) -> dict[str, Any]:
    saturation: dict[str, Saturation] = {}
    fixed: dict[str, FixedRate] = {}
    cpu: dict[str, dict[str, dict[str, float]]] = {way.name: {} for way in ways}
    served = _gateway_statuses(estate)
    load_before = os.getloadavg()[0]
    for way in ways:
        saturate(way.url, seconds=2, connections=CONNECTIONS, headers=way.headers)  # warm pools and LRUs
        before = _cpu(way.pids)
        saturation[way.name] = saturate(way.url, seconds=seconds, connections=CONNECTIONS, headers=way.headers)
        cpu[way.name]["saturation"] = _per_request(before, _cpu(way.pids), saturation[way.name].requests)
    # One rate for all three, below the slowest one's saturation (half of it at most): on a loaded machine the
    # gateway's maximum can fall under FIXED_RATE, and an open loop above saturation measures only its queue.
    rate = min(FIXED_RATE, float(int(min(s.rps for s in saturation.values()) / 2)) or 1.0)
    # Interleaved rounds, latencies pooled per way: a drift of the machine's other load during the run weighs on
    # every way alike instead of on whichever was measured when it happened.
    samples: dict[str, list[float]] = {way.name: [] for way in ways}
    sent = {way.name: 0 for way in ways}
    errors = {way.name: 0 for way in ways}
    for _ in range(ROUNDS):
        for way in ways:
            before = _cpu(way.pids)
            one = asyncio.run(
                fixed_rate(way.url, rate=rate, seconds=seconds / ROUNDS, headers=way.headers, samples=samples[way.name])
            )
            after = _cpu(way.pids)
            sent[way.name] += one.sent
            errors[way.name] += one.errors
            for name in way.pids:
                cpu[way.name].setdefault("fixed_rate", {}).setdefault(name, 0.0)
                cpu[way.name]["fixed_rate"][name] += after[name] - before[name]
    for way in ways:
        fixed[way.name] = pooled(samples[way.name], rate=rate, sent=sent[way.name], errors=errors[way.name])
        cpu[way.name]["fixed_rate"] = {
            name: round(seconds_used / max(sent[way.name], 1) * 1e6, 1)
            for name, seconds_used in cpu[way.name]["fixed_rate"].items()
        }
    statuses = _delta(served, _gateway_statuses(estate))  # warm-up included: no request may be refused
    refused = statuses.get("429", 0)
    if refused:
        raise RuntimeError(f"the gateway refused {refused} requests (429): raise the benchmark's limits")
    g, d, r, b = fixed["gateway"], fixed["direct"], fixed["raw"], fixed["bare"]
    summary = {
        "fixed_rate_rps": rate,
        "fixed_rate_wanted_rps": FIXED_RATE,
        "gateway_max_rps": round(saturation["gateway"].rps, 1),
        "direct_max_rps": round(saturation["direct"].rps, 1),
        "raw_max_rps": round(saturation["raw"].rps, 1),
        "bare_max_rps": round(saturation["bare"].rps, 1),
        "gateway_p50_ms": g.p50_ms,
        "direct_p50_ms": d.p50_ms,
        "raw_p50_ms": r.p50_ms,
        "bare_p50_ms": b.p50_ms,
        "gateway_p99_ms": g.p99_ms,
        "direct_p99_ms": d.p99_ms,
        "raw_p99_ms": r.p99_ms,
        "bare_p99_ms": b.p99_ms,
        "added_p50_ms": round(g.p50_ms - d.p50_ms, 3),
        "added_p99_ms": round(g.p99_ms - d.p99_ms, 3),
        # What the floor of a Python hop adds (the bare proxy): the part of the gateway's added p50 that no
        # gateway in Python on this machine avoids.
        "bare_added_p50_ms": round(b.p50_ms - d.p50_ms, 3),
        "added_p50_target_ms": ADDED_P50_TARGET_MS,
        "added_p50_met": g.p50_ms - d.p50_ms <= ADDED_P50_TARGET_MS,
        "gateway_cpu_us_per_request_fixed_rate": cpu["gateway"]["fixed_rate"]["gateway"],
        "gateway_cpu_us_per_request_saturation": cpu["gateway"]["saturation"]["gateway"],
        "bare_cpu_us_per_request_saturation": cpu["bare"]["saturation"]["bare"],
        "upstream_cpu_us_per_request_direct_saturation": round(
            sum(cpu["direct"]["saturation"][name] for name in UPSTREAMS), 1
        ),
        "gateway_answers_by_status": statuses,
        "status_429": refused,
        "errors": sum(s.non_2xx for s in saturation.values()) + sum(f.errors for f in fixed.values()),
    }
    return {
        "bench": "gateway",
        "read": {
            "gateway": "GET /web/v1/orders/{id} on the gateway, Authorization: Bearer <shopper token>",
            "direct": "GET /web/v1/orders/{id} on experience-web, X-Omnigate-Identity as the gateway sends it",
            "raw": "GET on a bare ASGI app under granian answering the order's bytes",
            "bare": "GET /web/v1/orders/{id} on a bare proxy (one Redis script call, the hop) to experience-web",
        },
        "seconds_per_phase": seconds,
        "connections": CONNECTIONS,
        "summary": summary,
        "saturation": {name: asdict(s) for name, s in saturation.items()},
        "fixed_rate": {name: asdict(f) for name, f in fixed.items()},
        "cpu_us_per_request": cpu,
        "python": sys.version.split()[0],
        # The machine's 1-minute load average (this run's own load included) when the measures start and end:
        # well above the core count, the latencies include waiting for a core (other work shares the machine).
        "loadavg_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
    }


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def _per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU microseconds per request of each process tree between two readings."""
    return {name: round((after[name] - before[name]) / max(requests, 1) * 1e6, 1) for name in before}


def _gateway_statuses(estate: Estate) -> dict[str, int]:
    """The gateway's answers so far by status, proxied routes only (its /metrics, every worker)."""
    text = httpx.get(estate.url("gateway") + "/metrics", timeout=10).text
    counts: dict[str, int] = {}
    for labels, value in _SERVED.findall(text):
        status = _STATUS.search(labels)
        if status and "/web/v1/orders" in labels:
            counts[status.group(1)] = counts.get(status.group(1), 0) + int(float(value))
    return counts


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LaunchError(f"the gateway benchmark gave up waiting for {what}")
        time.sleep(0.3)
