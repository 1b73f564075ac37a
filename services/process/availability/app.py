"""Wiring of ``process-availability``: the ATP projection, reservations, prices and reconciliation.

State lives in Redis only (see keys.py), so workers and replicas share it; this process holds caches and
background rounds, each under a lease or as a consumer-group member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.process.availability import rounds, routes
from services.process.availability.atp import AtpReader
from services.process.availability.keys import NAME, Keys
from services.process.availability.prices import Prices
from services.process.availability.projection import Projection
from services.process.availability.reconcile import Reconciler
from services.process.availability.reservations import Reservations
from services.process.availability.scripts import Scripts
from services.process.availability.stores import Locations
from shared.background import in_background
from shared.clock import worker_id
from shared.events import Consumer, EventBus
from shared.outbox import Outbox
from shared.service import create_service
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def state_lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = app.state.redis
        keys = Keys(settings.key_prefix)
        bus = EventBus(redis, prefix=settings.key_prefix, service=NAME)
        outbox = Outbox(redis, bus, name="availability", prefix=settings.key_prefix)
        scripts = Scripts(redis, keys, outbox.key)
        locations = Locations(redis, keys)
        projection = Projection(redis, keys, scripts, app.state.http, settings, locations, bus)
        # The group exists before the build reads a snapshot: nothing published from now on is missed.
        await projection.consumer.ensure_groups()
        app.state.keys = keys
        app.state.outbox = outbox
        app.state.locations = locations
        app.state.projection = projection
        app.state.atp = AtpReader(redis, keys)
        app.state.reservations = Reservations(redis, keys, scripts, locations)
        app.state.prices = Prices(redis, keys, app.state.http)
        app.state.price_events = Consumer(
            bus, group=f"{NAME}-prices", name=worker_id(), domains=["catalog"],
            handler=app.state.prices.apply_event, start_id="$", block_ms=500,
        )
        await app.state.price_events.ensure_groups()
        app.state.reconciler = Reconciler(redis, keys, projection, locations)
        try:
            yield
        finally:
            await app.state.reconciler.close()

    return create_service(
        NAME,
        routes.ROUTES,
        title="Process API: availability",
        description="Available-to-promise per SKU and location from a stock projection fed by WMS and POS "
        "snapshots and events; atomic, leased reservations; a price projection that answers while the ERP is "
        "down; reconciliation against the systems of record.",
        lifespan=[
            state_lifespan,
            in_background("availability-projection", rounds.build_and_consume),
            in_background("availability-prices", rounds.prices),
            in_background("availability-price-events", lambda app: app.state.price_events.run(app.state.stop)),
            in_background("availability-expiry", rounds.expiry),
            in_background("availability-outbox", rounds.relay),
            in_background("availability-reconcile", rounds.reconcile),
        ],
        settings=settings,
    )
