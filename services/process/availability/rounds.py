"""Background rounds of process-availability, each under its own lease so N replicas do it once:
price sync (due by schedule or request), expiry sweep, outbox relay, scheduled reconciliation. The event
consumer is not here: every worker is one member of the consumer group (see projection.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import Litestar

from shared.background import until_done
from shared.lease import Lease, run_under_lease
from shared.outbox import run_relay
from shared.problems import ProblemError

log = logging.getLogger("omnigate.availability.rounds")


def _lease(app: Litestar, name: str, ttl_ms: int) -> Lease:
    return Lease(app.state.redis, f"availability-{name}", prefix=app.state.settings.key_prefix, ttl_ms=ttl_ms)


async def _forever(app: Litestar, name: str, work: Any, interval_s: float, ttl_ms: int) -> None:
    lease = _lease(app, name, ttl_ms)
    # An upstream away is logged and retried next round by run_under_lease itself.
    await run_under_lease(lease, work, interval_s=interval_s, stop=app.state.stop)


async def prices(app: Litestar) -> None:
    """First sync at start (waiting out an ERP that is away), then whenever due."""
    state = app.state
    lease = _lease(app, "prices", 60_000)

    async def first() -> None:
        while await state.prices.due(state.settings.availability_price_sync_s):
            if await lease.acquire() is not None:
                await state.prices.sync(lease)
                return
            await asyncio.sleep(0.5)

    await until_done(first, what="first price sync")

    # Polled every 0.5 s so that a requested sync starts at once; after a failed sync (the ERP away) the next
    # try waits, doubling up to a minute, so an outage is not a warning twice a second.
    retry = {"at": 0.0, "delay": 1.0}

    async def round_(held: Lease) -> None:
        if time.monotonic() < retry["at"] or not await state.prices.due(state.settings.availability_price_sync_s):
            return
        try:
            count = await state.prices.sync(held)
        except ProblemError as exc:
            log.warning("price sync failed (%s); next try in %.0fs", exc.detail or exc.title, retry["delay"])
            retry["at"] = time.monotonic() + retry["delay"]
            retry["delay"] = min(60.0, retry["delay"] * 2)
            return
        retry["delay"] = 1.0
        log.info("price projection synced: %d prices", count)

    await run_under_lease(lease, round_, interval_s=0.5, stop=state.stop)


async def expiry(app: Litestar) -> None:
    async def round_(lease: Lease) -> None:
        await app.state.reservations.sweep(lease)

    await _forever(app, "expiry", round_, app.state.settings.availability_expiry_sweep_s, 10_000)


async def relay(app: Litestar) -> None:
    await run_relay(app.state.outbox, _lease(app, "outbox", 10_000), interval_s=app.state.settings.availability_relay_s,
                    stop=app.state.stop)


async def reconcile(app: Litestar) -> None:
    interval = app.state.settings.availability_reconcile_s
    await asyncio.sleep(interval)  # the start-up build is the first comparison

    async def round_(lease: Lease) -> None:
        report = await app.state.reconciler.start(None)
        log.info("scheduled reconciliation %s started", report.id)

    await _forever(app, "reconcile", round_, interval, int(interval * 1000) + 60_000)


async def build_and_consume(app: Litestar) -> None:
    await until_done(app.state.projection.ensure_built, what="stock projection build")
    await app.state.projection.consume(app.state.stop)
