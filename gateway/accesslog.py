"""The gateway's access log: one line per request, after its answer has gone.

Each line is the kernel's JSON log record (request id and trace id included) with what an operator of an API
edge looks for first: the consumer (``partner:<id>``, ``client:<id>``, ``customer:<id>``, or ``-``), the route
(its routes.toml name, or the gateway's own path template), the status, the limit result and the time taken.
This layer is outside Litestar's router, so the router's own 404/405 answers are logged too, and it adds the
headers the policies collected (``RateLimit``...) to every answer, refusals included.
"""

from __future__ import annotations

import logging
import time

from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway import exchange
from shared.service import is_http

log = logging.getLogger("omnigate.gateway.access")


class AccessLog:
    """An outer ASGI layer (a kernel ``Wrapper``) around the gateway."""

    def __init__(self, app: Litestar, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_http(scope):
            await self.inner(scope, receive, send)
            return
        current = exchange.begin()
        status = [500]
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if current.headers:  # what a refusal already carries is not sent twice
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    added = [(k.lower().encode(), v.encode()) for k, v in current.headers.items()]
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k, v) for k, v in added if k not in present),
                    ]
            await send(message)

        try:
            await self.inner(scope, receive, send_with_headers)
        finally:
            route = current.route.name if current.route else scope.get("path_template") or "<unmatched>"
            log.info(
                "%s %s -> %s",
                scope["method"],
                scope["path"],
                status[0],
                extra={
                    "data": {
                        "consumer": current.consumer,
                        "route": route,
                        "status": status[0],
                        "limit": current.limit,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )
