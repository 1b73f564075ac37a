"""Fault injection and hit counting for the sandbox back-ends (``/_faults``, ``/_stats``).

Tests stage latency, error rates, outages and connection resets per route (a path prefix, optionally one
method) and read how many requests actually reached the back-end: that count is what proves a breaker answered
without calling it. A fault strikes either *before* the back-end handles the request (nothing is done: an
outage, a slow network) or *after* it (``"when": "after"``: the back-end has done the work and committed it,
then the answer is lost: delayed past the caller's timeout, replaced by a 500, or cut off mid-body). The
after-commit mode is how the unknown-outcome cases of DESIGN §4 are staged. ``times`` limits a fault to its
next N matching requests. State lives in the sandbox's SQLite file, so it survives a restart and is the same
for every worker.

A back-end has a request time limit of its own (Odoo's ``limit_time_real``): a request the back-end has not
started within ``upstream_commit_limit_s`` is dropped, never executed, so an injected delay *before* a request
can never make the back-end commit later than that limit. Callers size their wait for an unknown outcome by
the same setting.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable
from typing import Annotated, Literal

import msgspec
from litestar import delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from msgspec import Meta

from services.sandbox.common.errors import OPERATOR_PREFIXES, Reason, Renderer, VendorError
from shared.service import is_http

_COLUMNS = ("route", "method", "latency_ms", "error_rate", "outage", "reset", "after", "times", "exact")
SCHEMA = """
CREATE TABLE IF NOT EXISTS _faults (
  route TEXT NOT NULL, method TEXT NOT NULL DEFAULT '', latency_ms INTEGER NOT NULL DEFAULT 0,
  error_rate REAL NOT NULL DEFAULT 0, outage INTEGER NOT NULL DEFAULT 0, reset INTEGER NOT NULL DEFAULT 0,
  after INTEGER NOT NULL DEFAULT 0, times INTEGER, exact INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (route, method));
CREATE TABLE IF NOT EXISTS _hits (route TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the control tables; a ``_faults`` table of an older layout is replaced (faults are transient)."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(_faults)")]
    if columns and tuple(columns) != _COLUMNS:
        conn.execute("DROP TABLE _faults")
    conn.executescript(SCHEMA)


class FaultSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One staged fault. ``route`` is a path prefix (``/`` = every route), or the whole path with ``exact``;
    ``method`` narrows it to one method.

    ``when`` = ``before``: ``latency_ms`` delays the request, ``outage`` answers 503, ``error_rate`` answers 500
    that often; the back-end does nothing. ``when`` = ``after``: the back-end handles the request and commits,
    then ``latency_ms`` delays the answer, ``error_rate`` replaces it by a 500 that often, and ``reset`` cuts
    the connection mid-body. ``times`` = how many more matching requests the fault strikes (absent: until cleared).
    """

    route: Annotated[str, Meta(pattern=r"^/[A-Za-z0-9._/{}:-]{0,200}$")] = "/"
    method: Literal["", "GET", "POST", "PUT", "PATCH", "DELETE"] = ""
    when: Literal["before", "after"] = "before"
    latency_ms: Annotated[int, Meta(ge=0, le=120_000)] = 0
    error_rate: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    outage: bool = False
    reset: bool = False
    times: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    exact: bool = False

    def __post_init__(self) -> None:
        if self.when == "after" and self.outage:
            raise ValueError("an outage strikes before the back-end acts; use when=before")
        if self.when == "before" and self.reset:
            raise ValueError("a reset after the answer is when=after")


class Stats(msgspec.Struct):
    total: int
    routes: dict[str, int]


class _Fault(msgspec.Struct):
    route: str
    method: str
    latency_ms: int
    error_rate: float
    outage: bool
    reset: bool
    after: bool


class FaultInjector:
    """ASGI layer in front of a sandbox's routes: counts each request, then applies the matching fault."""

    def __init__(
        self,
        inner: ASGIApp,
        conn_getter: Callable[[], sqlite3.Connection],
        render_error: Renderer,
        commit_limit_s: float,
    ) -> None:
        self.inner = inner
        self.conn_getter = conn_getter
        self.render_error = render_error
        self.commit_limit_s = commit_limit_s

    def _take(self, conn: sqlite3.Connection, path: str, method: str) -> _Fault | None:
        """The most specific fault for this request, its ``times`` counted down in the same transaction."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT route, method, latency_ms, error_rate, outage, reset, after, times FROM _faults "
                "WHERE (? LIKE route || '%' AND exact = 0 OR ? = route) AND (method = '' OR method = ?) "
                "ORDER BY length(route) DESC, length(method) DESC LIMIT 1",
                (path, path, method),
            ).fetchone()
            if row is not None and row[7] is not None:
                if row[7] <= 1:
                    conn.execute("DELETE FROM _faults WHERE route = ? AND method = ?", (row[0], row[1]))
                else:
                    conn.execute(
                        "UPDATE _faults SET times = times - 1 WHERE route = ? AND method = ?", (row[0], row[1])
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if row is None:
            return None
        return _Fault(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), bool(row[6]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_http(scope) or scope["path"].startswith(OPERATOR_PREFIXES):
            await self.inner(scope, receive, send)
            return
        conn = self.conn_getter()
        path = scope["path"]
        conn.execute(
            "INSERT INTO _hits(route, count) VALUES (?, 1) ON CONFLICT(route) DO UPDATE SET count = count + 1",
            (f"{scope['method']} {path}",),
        )
        fault = self._take(conn, path, scope["method"])
        if fault is None:
            await self.inner(scope, receive, send)
        elif fault.after:
            await self._after(fault, scope, receive, send)
        else:
            await self._before(fault, scope, receive, send)

    async def _before(self, fault: _Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.latency_ms:
            if fault.latency_ms / 1000 > self.commit_limit_s:
                # Past the back-end's own request time limit: the request is dropped, never executed.
                await asyncio.sleep(self.commit_limit_s)
                await self._error(send, 504, "timeout", "the request could not be started in time and was dropped")
                return
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.outage:
            await _answer(send, 503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
            return
        if fault.error_rate and random.random() < fault.error_rate:
            await self._error(send, 500, "internal", "An internal error has occurred.")
            return
        await self.inner(scope, receive, send)

    async def _after(self, fault: _Fault, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.inner(scope, receive, hold)  # the back-end does the work and commits; the answer waits here
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.reset:
            # Headers promising more body than follows, and the connection closed after it: the client sees the
            # connection end mid-response at once, as a reset (aiohttp: ClientPayloadError; httpx:
            # RemoteProtocolError), with nothing logged as an error here. Without `connection: close` the server
            # kept the connection open until its idle timeout (30 s), so a "reset" was a slow hang.
            status = next((m.get("status") for m in held if m["type"] == "http.response.start"), 200)
            promised = [
                (b"content-type", b"application/json"),
                (b"content-length", b"1048576"),
                (b"connection", b"close"),
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": status if isinstance(status, int) else 200,
                    "headers": promised,
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": False})
            return
        if fault.error_rate and random.random() < fault.error_rate:
            await self._error(send, 500, "internal", "An internal error has occurred.")
            return
        for message in held:
            await send(message)

    async def _error(self, send: Send, status: int, reason: Reason, message: str) -> None:
        """An injected failure, in the vendor's error shape (the sandbox's renderer)."""
        body, media_type = self.render_error(VendorError(status=status, reason=reason, message=message))
        await _answer(send, status, body, media_type)


async def _answer(send: Send, status: int, body: bytes, media_type: str) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


@put("/_faults", tags=["sandbox"], summary="Stage a fault on a route prefix ('/' = every route)", status_code=200)
async def put_fault(conn: NamedDependency[sqlite3.Connection], data: JSONBody[FaultSpec]) -> FaultSpec:
    conn.execute(
        "INSERT INTO _faults(route, method, latency_ms, error_rate, outage, reset, after, times, exact) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(route, method) DO UPDATE SET latency_ms=excluded.latency_ms, "
        "error_rate=excluded.error_rate, outage=excluded.outage, reset=excluded.reset, after=excluded.after, "
        "times=excluded.times, exact=excluded.exact",
        (
            data.route,
            data.method,
            data.latency_ms,
            data.error_rate,
            int(data.outage),
            int(data.reset),
            int(data.when == "after"),
            data.times,
            int(data.exact),
        ),
    )
    return data


@get("/_faults", tags=["sandbox"], summary="Faults in force")
async def list_faults(conn: NamedDependency[sqlite3.Connection]) -> list[FaultSpec]:
    rows = conn.execute(
        "SELECT route, method, latency_ms, error_rate, outage, reset, after, times, exact FROM _faults "
        "ORDER BY route, method"
    )
    return [
        FaultSpec(
            route=r[0],
            method=r[1],
            latency_ms=r[2],
            error_rate=r[3],
            outage=bool(r[4]),
            reset=bool(r[5]),
            when="after" if r[6] else "before",
            times=r[7],
            exact=bool(r[8]),
        )
        for r in rows
    ]


@delete("/_faults", tags=["sandbox"], summary="Clear every fault", status_code=204)
async def clear_faults(conn: NamedDependency[sqlite3.Connection]) -> None:
    conn.execute("DELETE FROM _faults")


@get("/_stats", tags=["sandbox"], summary="Requests that reached the back-end, per method and path")
async def stats(conn: NamedDependency[sqlite3.Connection]) -> Stats:
    rows = conn.execute("SELECT route, count FROM _hits ORDER BY route").fetchall()
    routes = {r[0]: r[1] for r in rows}
    return Stats(total=sum(routes.values()), routes=routes)


@delete("/_stats", tags=["sandbox"], summary="Reset the hit counters", status_code=204)
async def reset_stats(conn: NamedDependency[sqlite3.Connection]) -> None:
    conn.execute("DELETE FROM _hits")


ROUTES = [put_fault, list_faults, clear_faults, stats, reset_stats]
