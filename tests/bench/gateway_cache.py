"""The gateway's whole policy path on a cache hit (issue 9 (a); target >= 0.15 of the raw app's requests/s per
worker), against a raw ASGI app and against HAProxy with the equivalent policy, in one run on one machine.

- **gateway**: ``GET /web/v1/products/{sku}`` with ``TOKENS`` distinct shoppers' access tokens, round robin (wrk
  Lua), so the validated-token LRU holds many callers; each request checks the token, counts the client-IP and
  shopper limits in Redis (one round trip), reads the cache (a hit) and answers. The limits file allows far more
  than the run sends: only 200s count, and the shoppers' limit counters in Redis must add up to exactly one
  count per request (one limit check per request).
- **raw**: a bare ASGI app answering the same bytes under granian with the gateway's worker count (the floor).
- **haproxy** (Debian's HAProxy, a peer row): the same tokens checked with ``jwt_verify`` (RS256, the gateway's
  public key) and their expiry, a per-subject request-rate stick table, and HAProxy's ``cache`` in front of
  experience-web; ``nbthread`` = the gateway's worker count. Not run when haproxy is not installed (the run says so).

Each for ``seconds`` with wrk (``CONNECTIONS`` connections, one wrk thread), after a warm-up; the CPU of the
gateway's process tree per request is read from /proc.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from joserfc.jwk import RSAKey

from estate.launcher import Estate, LaunchError, free_port, load_estate
from gateway.cli import SHOPPER_SCOPES, identity_of, mint_identity, mint_shopper_token
from gateway.keys import Keys
from gateway.settings import GatewaySettings
from shared.identity import HEADER
from tests.bench.gateway import _raw_env, _server, gateway_estate
from tests.bench.load import cpu_seconds, ensure_tool, ensure_wrk

PREFIX = "bench-gwcache:"
TOKENS = 1000
CONNECTIONS = 16
TARGET_RATIO = 0.15


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 5 if quick else 15
    wrk = ensure_wrk()
    if wrk is None:
        raise LaunchError("wrk is needed (Debian package wrk)")
    with gateway_estate(PREFIX) as (estate, work):
        tmp = str(work)
        settings = estate.settings_of(GatewaySettings)
        path, tokens, body = _prepare(estate, settings)
        workers = {d.name: d.workers for d in load_estate()}["gateway"]
        rows: dict[str, Any] = {}
        script = _wrk_script(work, path, tokens)
        gateway_url = estate.url("gateway")
        counts: list[int] = []
        rows["gateway"] = _wrk(
            wrk,
            gateway_url,
            script,
            seconds,
            pid=estate.pid("gateway"),
            measured=lambda: counts.append(_limit_counts(estate)),
        )
        counted = counts[1] - counts[0]
        with _server(work, "raw", "tests.bench.raw_asgi:create_app", _raw_env(tmp, body), workers) as (url, pid):
            rows["raw"] = _wrk(wrk, url, script, seconds, pid=pid)
        identity = asyncio.run(mint_identity(settings, identity_of("web", "bench", SHOPPER_SCOPES), ttl_s=900))
        with _haproxy(work, estate, settings, identity, workers) as haproxy_url:
            if haproxy_url is not None:
                probe = httpx.get(haproxy_url + path, headers={"Authorization": f"Bearer {tokens[1]}"}, timeout=10)
                rows["haproxy_probe"] = {"status": probe.status_code, "body": probe.text[:200]}
                rows["haproxy"] = _wrk(wrk, haproxy_url, script, seconds, pid=None)
    raw_rps = rows["raw"]["rps"]
    summary: dict[str, Any] = {
        "tokens": TOKENS,
        "workers": workers,
        "gateway_rps": rows["gateway"]["rps"],
        "raw_rps": raw_rps,
        "gateway_to_raw": round(rows["gateway"]["rps"] / raw_rps, 3),
        "target_ratio": TARGET_RATIO,
        "target_met": rows["gateway"]["rps"] / raw_rps >= TARGET_RATIO,
        "gateway_cpu_us_per_request": rows["gateway"]["cpu_us_per_request"],
        "gateway_non_2xx": rows["gateway"]["non_2xx"],
        "limit_counts_per_request": round(counted / max(1, rows["gateway"]["requests"]), 3),
    }
    if "haproxy" in rows:
        summary["haproxy_rps"] = rows["haproxy"]["rps"]
        summary["haproxy_to_raw"] = round(rows["haproxy"]["rps"] / raw_rps, 3)
        summary["haproxy_non_2xx"] = rows["haproxy"]["non_2xx"]
    else:
        summary["haproxy"] = "not installed (Debian package haproxy): no peer row"
    if rows["gateway"]["non_2xx"]:
        raise RuntimeError(f"the gateway answered {rows['gateway']['non_2xx']} non-2xx: the figures mean nothing")
    return {"bench": "gateway_cache", "seconds": seconds, "connections": CONNECTIONS, "summary": summary, "rows": rows}


def _prepare(estate: Estate, settings: GatewaySettings) -> tuple[str, list[str], bytes]:
    """A stocked SKU's product page (cached through the gateway), TOKENS shoppers' tokens, and the page's bytes."""
    sku = httpx.get(estate.url("system-erp") + "/items", params={"limit": 1}, timeout=30).json()["items"][0]["sku"]
    httpx.post(
        estate.url("sandbox-wms") + "/_sim/count", json={"warehouse": "TLB", "sku": sku, "on_hand": 100}, timeout=30
    ).raise_for_status()

    async def mint_all() -> list[str]:
        return [await mint_shopper_token(settings, customer=f"bench-{i}", channel="web") for i in range(TOKENS)]

    tokens = asyncio.run(mint_all())
    path = f"/web/v1/products/{sku}"
    deadline = time.monotonic() + 30
    while True:  # until a hit: the stock change's purge has landed and the page is kept
        answer = httpx.get(estate.url("gateway") + path, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=30)
        if answer.status_code == 200 and "hit" in answer.headers.get("cache-status", ""):
            return path, tokens, answer.content
        if time.monotonic() > deadline:
            raise LaunchError(f"the product page never became a cache hit: {answer.status_code} {answer.headers}")
        time.sleep(0.2)


def _wrk_script(work: Path, path: str, tokens: list[str]) -> Path:
    script = work / "tokens.lua"
    listed = ",\n".join(f'"{t}"' for t in tokens)
    script.write_text(
        f"local tokens = {{\n{listed}\n}}\nlocal i = 0\n"
        "request = function()\n"
        "  i = i % #tokens + 1\n"
        f'  return wrk.format("GET", "{path}", {{["Authorization"] = "Bearer " .. tokens[i]}})\n'
        "end\n"
    )
    return script


def _wrk(
    wrk: str, url: str, script: Path, seconds: int, *, pid: int | None, measured: Callable[[], object] = lambda: None
) -> dict[str, Any]:
    """Warm up 2 s, then ``seconds`` of load; ``measured()`` is called just before and just after the measure."""
    subprocess.run([wrk, "-t1", f"-c{CONNECTIONS}", "-d2s", "-s", str(script), url], capture_output=True, check=True)
    measured()
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = cpu_seconds(pid) if pid else 0.0
    measured()
    requests = int(out.split(" requests in")[0].split()[-1])
    rps = float(out.split("Requests/sec:")[1].split()[0])
    non_2xx = int(out.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in out else 0
    return {
        "requests": requests,
        "rps": round(rps, 1),
        "non_2xx": non_2xx,
        "cpu_us_per_request": round((after - before) / max(requests, 1) * 1e6, 1) if pid else None,
    }


def _limit_counts(estate: Estate) -> int:
    """Units counted in the shoppers' limit windows (one list entry per counted request and shopper)."""
    client = redis.Redis.from_url(estate.redis_url or "")
    try:
        pattern = f"{Keys(PREFIX).ratelimit}:*:customer:bench-*"
        return sum(int(client.llen(key)) for key in client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@contextmanager
def _haproxy(
    work: Path, estate: Estate, settings: GatewaySettings, identity: str, workers: int
) -> Iterator[str | None]:
    binary = ensure_tool("haproxy")
    if binary is None:
        yield None
        return
    jwks = httpx.get(estate.url("gateway") + "/.well-known/jwks.json", timeout=10).json()
    pem = work / "gateway-key.pem"
    pem.write_bytes(RSAKey.import_key(jwks["keys"][0]).as_pem(private=False))
    port = free_port()
    upstream = estate.url("experience-web").removeprefix("http://")
    config = work / "haproxy.cfg"
    config.write_text(
        f"""global
    nbthread {workers}
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
cache products
    total-max-size 64
    max-age 30
backend limits
    stick-table type string len 64 size 20k expire 60s store http_req_rate(60s)
frontend edge
    bind 127.0.0.1:{port}
    http-request set-var(txn.bearer) http_auth_bearer
    http-request deny deny_status 401 unless {{ var(txn.bearer) -m found }}
    http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_header_query('$.alg') -m str RS256 }}
    http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_verify("RS256","{pem}") -m int 1 }}
    http-request set-var(txn.now) date()
    http-request deny deny_status 401 if {{ var(txn.bearer),jwt_payload_query('$.exp','int'),sub(txn.now) -m int lt 0 }}
    http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('$.sub')
    http-request track-sc0 var(txn.sub) table limits
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 1000000 }}
    # checked: the token goes no further (HAProxy keeps no answer to a request that still carries one)
    http-request del-header Authorization
    http-request cache-use products
    http-response cache-store products
    default_backend web
backend web
    http-request set-header {HEADER} {identity}
    server web {upstream}
"""
    )
    process = subprocess.Popen([binary, "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise LaunchError(f"haproxy did not start: {error}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
