"""Background rounds of process-availability, each under its own lease so N replicas do it once:
price sync (due by schedule or request), expiry sweep, outbox relay, scheduled reconciliation, and the
projection's build and event consumer (every worker is one member of the consumer group, see projection.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass

from redis.asyncio import Redis

from services.process.availability.prices import Prices
from services.process.availability.projection import Projection
from services.process.availability.reconcile import Reconciler
from services.process.availability.reservations import Reservations
from services.process.availability.settings import AvailabilitySettings
from shared.background import until_done, wait_until_set
from shared.events import Consumer
from shared.lease import Lease, run_under_lease
from shared.outbox import Outbox, run_relay
from shared.problems import ProblemError

log = logging.getLogger("omnigate.availability.rounds")


@dataclass(frozen=True, slots=True)
class Rounds:
    """The loops of one worker, built by app.py with what they work on."""

    redis: Redis
    settings: AvailabilitySettings
    stop: asyncio.Event
    _: KW_ONLY
    projection: Projection
    prices: Prices
    price_events: Consumer
    reservations: Reservations
    outbox: Outbox
    reconciler: Reconciler

    def _lease(self, name: str, ttl_ms: int) -> Lease:
        return Lease(self.redis, f"availability-{name}", prefix=self.settings.key_prefix, ttl_ms=ttl_ms)

    async def _forever(
        self, name: str, work: Callable[[Lease], Awaitable[object]], interval_s: float, ttl_ms: int
    ) -> None:
        # An upstream away is logged and retried next round by run_under_lease itself.
        await run_under_lease(self._lease(name, ttl_ms), work, interval_s=interval_s, stop=self.stop)

    async def build_and_consume(self) -> None:
        await until_done(self.projection.ensure_built, what="stock projection build")
        await self.projection.consume(self.stop)

    async def price_sync(self) -> None:
        """First sync at start (waiting out an ERP that is away), then whenever due."""
        lease = self._lease("prices", 60_000)
        every = self.settings.availability_price_sync_s

        async def first() -> None:
            while await self.prices.due(every):
                if await lease.acquire() is not None:
                    await self.prices.sync(lease)
                    return
                await asyncio.sleep(0.5)

        await until_done(first, what="first price sync")

        # Polled every 0.5 s so that a requested sync starts at once; after a failed sync (the ERP away) the next
        # try waits, doubling up to a minute, so an outage is not a warning twice a second.
        retry = {"at": 0.0, "delay": 1.0}

        async def round_(held: Lease) -> None:
            if time.monotonic() < retry["at"] or not await self.prices.due(every):
                return
            try:
                synced = await self.prices.sync(held)
            except ProblemError as exc:
                log.warning("price sync failed (%s); next try in %.0fs", exc.detail or exc.title, retry["delay"])
                retry["at"] = time.monotonic() + retry["delay"]
                retry["delay"] = min(60.0, retry["delay"] * 2)
                return
            retry["delay"] = 1.0
            log.info("price projection synced: %d prices, %d changed", synced.count, synced.applied)

        await run_under_lease(lease, round_, interval_s=0.5, stop=self.stop)

    async def consume_price_events(self) -> None:
        await self.price_events.run(self.stop)

    async def expiry(self) -> None:
        async def round_(lease: Lease) -> None:
            await self.reservations.sweep(lease)

        await self._forever("expiry", round_, self.settings.availability_expiry_sweep_s, 10_000)

    async def relay(self) -> None:
        await run_relay(
            self.outbox, self._lease("outbox", 10_000), interval_s=self.settings.availability_relay_s, stop=self.stop
        )

    async def reconcile(self) -> None:
        interval = self.settings.availability_reconcile_s
        if await wait_until_set(self.stop, interval):  # the start-up build is the first comparison
            return

        async def round_(lease: Lease) -> None:
            report = await self.reconciler.start(None)
            log.info("scheduled reconciliation %s started", report.id)

        await self._forever("reconcile", round_, interval, int(interval * 1000) + 60_000)
