"""Transactional outbox on Redis: events written with the state change that caused them, relayed later.

A service adds the event to its outbox stream in the same MULTI/EXEC (or Lua script) that writes its state,
so an event exists if and only if the change does. A relay, run under a lease, publishes outbox entries to
the event bus and deletes them; a crash between publishing and deleting re-publishes, which the bus dedupes
by event id.
"""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import replies
from shared.events import EventBus
from shared.lease import Lease, run_under_lease
from shared.models.events import Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


class Outbox:
    def __init__(self, redis: Redis, bus: EventBus, *, name: str, prefix: str = "") -> None:
        self.redis = redis
        self.bus = bus
        self.key = f"{prefix}omnigate.outbox:{name}"

    def add(self, pipe: Pipeline, domain: str, event: Event) -> None:
        """Queue ``event`` on the caller's transaction (a ``redis.pipeline(transaction=True)``)."""
        pipe.xadd(self.key, {b"domain": domain.encode(), b"data": _encoder.encode(event)})

    async def relay_once(self, batch: int = 200) -> int:
        """Publish up to ``batch`` outbox entries in order; returns how many were relayed."""
        entries = replies.entries(await self.redis.xrange(self.key, count=batch))
        for entry_id, fields in entries:
            await self.bus.publish(fields[b"domain"].decode(), _decoder.decode(fields[b"data"]))
            await self.redis.xdel(self.key, entry_id)
        return len(entries)

    async def pending(self) -> int:
        return int(await self.redis.xlen(self.key))


async def run_relay(outbox: Outbox, lease: Lease, *, interval_s: float, stop: asyncio.Event, batch: int = 500) -> None:
    """The one outbox relay of a deployable: one replica at a time (the lease) publishes the outbox in order,
    batch after batch while there is a backlog and the lease is still this worker's."""

    async def drain(held: Lease) -> None:
        while await outbox.relay_once(batch) == batch and await held.renew():
            pass

    await run_under_lease(lease, drain, interval_s=interval_s, stop=stop)
