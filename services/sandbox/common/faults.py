"""Fault injection and hit counting for the sandbox back-ends (``/_faults``, ``/_stats``).

Tests stage latency, error rates and outages per route (a path prefix) and read how many requests actually
reached the back-end: that count is what proves a breaker answered without calling it. State lives in the
sandbox's SQLite file, so it survives a restart and is the same for every worker.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, put
from litestar.params import JSONBody
from litestar.types import ASGIApp, Receive, Scope, Send
from msgspec import Meta

SCHEMA = """
CREATE TABLE IF NOT EXISTS _faults (
  route TEXT PRIMARY KEY, latency_ms INTEGER NOT NULL DEFAULT 0,
  error_rate REAL NOT NULL DEFAULT 0, outage INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _hits (route TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

# Paths that are the sandbox's own controls or probes, never faulted or counted.
_CONTROL_PREFIXES = ("/_", "/healthz", "/readyz", "/metrics", "/schema")

ErrorBody = Callable[[int], tuple[bytes, str]]


class FaultSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    route: Annotated[str, Meta(pattern=r"^/[A-Za-z0-9._/{}:-]{0,200}$")] = "/"
    latency_ms: Annotated[int, Meta(ge=0, le=120_000)] = 0
    error_rate: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    outage: bool = False


class Stats(msgspec.Struct):
    total: int
    routes: dict[str, int]


class FaultInjector:
    """ASGI layer in front of a sandbox's routes: counts each request, then applies the matching fault."""

    def __init__(self, inner: ASGIApp, conn_getter: Callable[[], sqlite3.Connection], error_body: ErrorBody) -> None:
        self.inner = inner
        self.conn_getter = conn_getter
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_CONTROL_PREFIXES):
            await self.inner(scope, receive, send)
            return
        conn = self.conn_getter()
        path = scope["path"]
        key = f"{scope['method']} {path}"
        conn.execute(
            "INSERT INTO _hits(route, count) VALUES (?, 1) ON CONFLICT(route) DO UPDATE SET count = count + 1", (key,)
        )
        fault = conn.execute(
            "SELECT latency_ms, error_rate, outage FROM _faults WHERE ? LIKE route || '%' "
            "ORDER BY length(route) DESC LIMIT 1",
            (path,),
        ).fetchone()
        if fault is not None:
            latency_ms, error_rate, outage = fault
            if latency_ms:
                await asyncio.sleep(latency_ms / 1000)
            if outage:
                await _answer(send, 503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
                return
            if error_rate and random.random() < error_rate:
                body, media_type = self.error_body(500)
                await _answer(send, 500, body, media_type)
                return
        await self.inner(scope, receive, send)


async def _answer(send: Send, status: int, body: bytes, media_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _conn(request: Request[Any, Any, Any]) -> sqlite3.Connection:
    return request.app.state.db  # type: ignore[no-any-return]


@put("/_faults", tags=["sandbox"], summary="Stage a fault on a route prefix ('/' = every route)", status_code=200)
async def put_fault(request: Request[Any, Any, Any], data: JSONBody[FaultSpec]) -> FaultSpec:
    _conn(request).execute(
        "INSERT INTO _faults(route, latency_ms, error_rate, outage) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(route) DO UPDATE SET latency_ms=excluded.latency_ms, error_rate=excluded.error_rate, "
        "outage=excluded.outage",
        (data.route, data.latency_ms, data.error_rate, int(data.outage)),
    )
    return data


@get("/_faults", tags=["sandbox"], summary="Faults in force")
async def list_faults(request: Request[Any, Any, Any]) -> list[FaultSpec]:
    rows = _conn(request).execute("SELECT route, latency_ms, error_rate, outage FROM _faults ORDER BY route")
    return [FaultSpec(route=r[0], latency_ms=r[1], error_rate=r[2], outage=bool(r[3])) for r in rows]


@delete("/_faults", tags=["sandbox"], summary="Clear every fault", status_code=204)
async def clear_faults(request: Request[Any, Any, Any]) -> None:
    _conn(request).execute("DELETE FROM _faults")


@get("/_stats", tags=["sandbox"], summary="Requests that reached the back-end, per method and path")
async def stats(request: Request[Any, Any, Any]) -> Stats:
    rows = _conn(request).execute("SELECT route, count FROM _hits ORDER BY route").fetchall()
    routes = {r[0]: r[1] for r in rows}
    return Stats(total=sum(routes.values()), routes=routes)


@delete("/_stats", tags=["sandbox"], summary="Reset the hit counters", status_code=204)
async def reset_stats(request: Request[Any, Any, Any]) -> None:
    _conn(request).execute("DELETE FROM _hits")


ROUTES = [put_fault, list_faults, clear_faults, stats, reset_stats]
