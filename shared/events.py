"""The event bus on Redis Streams (DESIGN §4): publish once per event id, consume in groups.

Streams are ``<prefix>omnigate.events.<domain>``. Publishing and the de-duplication mark happen in one Lua
script, so a re-delivered webhook (same source id, same event id) is never a second entry, and a crash cannot
leave a mark without the entry. Consumers ack after processing, skip ids their group already processed,
re-claim messages left pending by a failed or dead consumer, and move a message to ``omnigate.dead`` after
``max_deliveries`` failed deliveries, whence :meth:`EventBus.replay_dead` puts it back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared import clock, metrics, outage, replies, scripts
from shared.background import run_rounds
from shared.models.events import Event
from shared.problems import ProblemError

log = logging.getLogger("omnigate.events")

DAY_MS = 86_400_000
Handler = Callable[[Event], Awaitable[None]]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


class EventBus:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "",
        service: str = "omnigate",
        retention_ms: int = 7 * DAY_MS,
        dead_retention_ms: int = 30 * DAY_MS,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.service = service
        self.retention_ms = retention_ms
        self.dead_retention_ms = dead_retention_ms
        self._publish = scripts.kernel(redis, "publish")

    def stream(self, domain: str) -> str:
        return f"{self.prefix}omnigate.events.{domain}"

    @property
    def dead_stream(self) -> str:
        return f"{self.prefix}omnigate.dead"

    def _seen_key(self, event_id: str) -> str:
        return f"{self.prefix}omnigate.published:{event_id}"

    def processed_key(self, group: str, event_id: str) -> str:
        return f"{self.prefix}omnigate.processed:{group}:{event_id}"

    async def publish(self, domain: str, event: Event) -> str | None:
        """Append ``event`` to its domain's stream; returns the entry id, or None for a duplicate id."""
        minid = max(0, clock.now_ms() - self.retention_ms)
        entry = await self._publish(
            keys=[self._seen_key(event.id), self.stream(domain)],
            args=[self.retention_ms, event.id, event.type, _encoder.encode(event), minid],
        )
        outcome = "published" if entry else "duplicate"
        metrics.EVENTS.labels(self.service, domain, outcome).inc()
        return replies.lua_text(entry) if entry else None

    async def publish_many(self, domain: str, events: Sequence[Event]) -> int:
        published = 0
        for event in events:
            if await self.publish(domain, event):
                published += 1
        return published

    async def replay_dead(self, count: int = 100) -> int:
        """Put dead letters back on their stream for another round; returns how many were replayed."""
        entries = replies.entries(await self.redis.xrange(self.dead_stream, count=count))
        replayed = 0
        for entry_id, fields in entries:
            stream = fields[b"stream"].decode()
            minid = max(0, clock.now_ms() - self.retention_ms)
            await self.redis.xadd(
                stream,
                {b"id": fields[b"id"], b"type": fields[b"type"], b"data": fields[b"data"]},
                minid=minid,
                approximate=True,
            )
            await self.redis.xdel(self.dead_stream, entry_id)
            replayed += 1
        return replayed


class Consumer:
    """One member of a consumer group reading one or more domains.

    Handlers must be idempotent per event id anyway (a crash between processing and ack re-delivers); the
    group's processed-id mark makes the common re-delivery a no-op.
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        group: str,
        name: str,
        domains: Sequence[str],
        handler: Handler,
        start_id: str = "0",
        block_ms: int = 1000,
        batch: int = 100,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
    ) -> None:
        self.bus = bus
        self.group = group
        self.name = name
        self.streams = [bus.stream(d) for d in domains]
        self.handler = handler
        self.start_id = start_id
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self.bus.redis.xgroup_create(stream, self.group, id=self.start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, stop: asyncio.Event, *, drained: Callable[[int], Awaitable[object]] | None = None) -> None:
        """Poll until ``stop``; the poll blocks up to ``block_ms`` itself, so rounds follow each other at once
        (after a failed round - Redis away, or a bug - the loop waits a second).

        ``drained(started_ms)`` follows every round that handled less than a full batch, i.e. read what was on the
        streams when it started (a projection marks how fresh it is with it).
        """
        ready = False

        async def round_() -> None:
            nonlocal ready
            if not ready:
                await self.ensure_groups()
                ready = True
            started = clock.now_ms()
            try:
                handled = await self.poll_once()
            except Exception:
                await asyncio.sleep(1.0)  # back off before run_rounds reports it and polls again
                raise
            if drained is not None and handled < self.batch:
                await drained(started)

        await run_rounds(f"consumer {self.group}/{self.name}", round_, interval_s=0, stop=stop)

    async def poll_once(self) -> int:
        """Handle re-claimable pending messages, then new ones; returns how many were handled."""
        handled = 0
        for stream in self.streams:
            reply = await self.bus.redis.xautoclaim(
                stream, self.group, self.name, min_idle_time=self.claim_idle_ms, start_id="0-0", count=self.batch
            )
            for entry_id, fields in replies.autoclaimed(reply):
                if fields:  # a trimmed entry comes back empty
                    await self._handle(stream, entry_id, fields)
                    handled += 1
                else:
                    await self.bus.redis.xack(stream, self.group, entry_id)
        response = await self.bus.redis.xreadgroup(
            self.group, self.name, {s: ">" for s in self.streams}, count=self.batch, block=self.block_ms
        )
        for stream, entries in replies.read_batches(response):
            for entry_id, fields in entries:
                await self._handle(stream, entry_id, fields)
                handled += 1
        return handled

    async def _handle(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        redis = self.bus.redis
        event_id = fields.get(b"id", b"").decode()
        processed_key = self.bus.processed_key(self.group, event_id)
        if await redis.exists(processed_key):
            await redis.xack(stream, self.group, entry_id)
            metrics.EVENTS.labels(self.bus.service, stream, "skipped_duplicate").inc()
            return
        try:
            event = _decoder.decode(fields[b"data"])
            await self.handler(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(stream, entry_id, fields, exc)
            return
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(processed_key, b"1", px=self.bus.retention_ms)
            pipe.xack(stream, self.group, entry_id)
            await pipe.execute()
        metrics.EVENTS.labels(self.bus.service, stream, "processed").inc()

    async def _failed(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], exc: Exception) -> None:
        redis = self.bus.redis
        pending = await redis.xpending_range(stream, self.group, min=entry_id, max=entry_id, count=1)
        deliveries = int(pending[0]["times_delivered"]) if pending else self.max_deliveries
        log.warning(
            "handler of %s failed on %s (delivery %s of %s): %r",
            self.group,
            fields.get(b"id", b"?").decode(),
            deliveries,
            self.max_deliveries,
            exc,
            exc_info=not isinstance(
                exc, (msgspec.DecodeError, msgspec.ValidationError, ProblemError, *outage.REDIS_DOWN)
            ),
        )
        metrics.EVENTS.labels(self.bus.service, stream, "failed").inc()
        if deliveries < self.max_deliveries:
            return  # stays pending; re-claimed after claim_idle_ms
        minid = max(0, clock.now_ms() - self.bus.dead_retention_ms)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.bus.dead_stream,
                {
                    b"stream": stream.encode(),
                    b"group": self.group.encode(),
                    b"entry": entry_id,
                    b"id": fields.get(b"id", b""),
                    b"type": fields.get(b"type", b""),
                    b"data": fields.get(b"data", b""),
                    b"error": repr(exc).encode()[:2000],
                    b"deliveries": str(deliveries).encode(),
                },
                minid=minid,
                approximate=True,
            )
            pipe.xack(stream, self.group, entry_id)
            await pipe.execute()
        metrics.EVENTS.labels(self.bus.service, stream, "dead_lettered").inc()
