"""The floor of a Python hop for the gateway benchmark (tests/bench/gateway.py): a bare ASGI proxy, served by
granian as the gateway is (same flags, same worker count), that does per request only what no gateway can skip:
one Lua script call to the state Redis (as the gateway's limits take) and one aiohttp request to the upstream with
a fixed identity header, whose answer it relays. No route table, no credential check, no headers filtered, no
problem rendering, no metrics, no log: what it adds over the direct request is what the machine charges for one
more Python process on the path (granian, uvloop, redis-py, aiohttp and two loopback round trips).

Configured by the environment: ``BENCH_BARE_UPSTREAM`` (the upstream's base URL), ``BENCH_BARE_IDENTITY`` (the
``X-Omnigate-Identity`` value to send) and ``REDIS_URL``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from redis.asyncio import Redis

from tests.bench.raw_asgi import App, Receive, Scope, Send

SCRIPT = "return {1, tonumber(ARGV[1])}"


def create_app() -> App:
    """A granian factory target: the bare proxy described above."""
    upstream = os.environ["BENCH_BARE_UPSTREAM"]
    headers = {"X-Omnigate-Identity": os.environ["BENCH_BARE_IDENTITY"]}
    held: dict[str, Any] = {}

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                held["session"] = aiohttp.ClientSession(upstream)
                held["redis"] = Redis.from_url(os.environ["REDIS_URL"])
                held["sha"] = await held["redis"].script_load(SCRIPT)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await held["session"].close()
                await held["redis"].aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await held["redis"].evalsha(held["sha"], 0, 1)
        async with held["session"].get(scope["path"], headers=headers) as answer:
            body = await answer.read()
            fields = [(b"content-type", answer.headers.get("Content-Type", "application/json").encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": fields})
        await send({"type": "http.response.body", "body": body})

    return app
