"""The floor of the server itself for the gateway benchmark (tests/bench/gateway.py): a bare ASGI application,
served by granian as the gateway is (same flags, same worker count), that answers every request with one fixed
JSON body read at start from the file named by ``BENCH_RAW_BODY_FILE`` (the benchmark writes the order's own
body there, so the bytes on the wire are the same). No framework, no middleware, no I/O per request: what is
left is granian, uvloop and the ASGI calls (https://asgi.readthedocs.io/en/latest/specs/www.html).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def create_app() -> App:
    """A granian factory target: the application answering ``200`` with the body of ``BENCH_RAW_BODY_FILE``."""
    body = Path(os.environ["BENCH_RAW_BODY_FILE"]).read_bytes()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    end = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # ASGI lifespan: nothing to start or stop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send(start)
        await send(end)

    return app
