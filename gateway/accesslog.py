"""The gateway's access log: one line per request, after its answer has gone.

Each line is the kernel's JSON log record (request id and trace id included) with what an operator of an API
edge looks for first: the consumer (``partner:<id>``, ``client:<id>``, ``customer:<id>``, or ``-``), the route
(its routes.toml name, or the gateway's own path template), the status, the limit result and the time taken.
The edge (gateway/edge.py) writes it for every request, its own routes and the router's 404s included.
"""

from __future__ import annotations

import logging
import time

from litestar.types import HTTPScope

from gateway.exchange import Exchange

log = logging.getLogger("omnigate.gateway.access")


def record(scope: HTTPScope, current: Exchange, status: int, started: float) -> None:
    """Write the line of one request (``started``: its ``time.perf_counter()`` on arrival)."""
    if not log.isEnabledFor(logging.INFO):
        return
    route = current.route.name if current.route else scope.get("path_template") or "<unmatched>"
    log.info(
        "%s %s -> %s",
        scope["method"],
        scope["path"],
        status,
        extra={
            "data": {
                "consumer": current.consumer,
                "route": route,
                "status": status,
                "limit": current.limit,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        },
    )
