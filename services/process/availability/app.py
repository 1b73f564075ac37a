"""Wiring of ``process-availability``: the ATP projection, reservations, prices and reconciliation.

State lives in Redis only (see keys.py), so workers and replicas share it; this process holds caches and
background rounds, each under a lease or as a consumer-group member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.process.availability import routes
from services.process.availability.atp import AtpReader
from services.process.availability.deps import WIRING, Parts
from services.process.availability.keys import CATALOG, NAME, Keys
from services.process.availability.prices import Prices
from services.process.availability.projection import Projection
from services.process.availability.reconcile import Reconciler
from services.process.availability.reservations import Reservations
from services.process.availability.rounds import Rounds
from services.process.availability.scripts import Scripts
from services.process.availability.settings import AvailabilitySettings
from services.process.availability.stores import Locations
from shared.background import in_background
from shared.clock import worker_id
from shared.events import Consumer, EventBus
from shared.outbox import Outbox
from shared.service import create_service
from shared.settings import get_settings


def create_app(settings: AvailabilitySettings | None = None) -> Litestar:
    settings = settings or get_settings(AvailabilitySettings)

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
        reservations = Reservations(redis, keys, scripts, locations)
        prices = Prices(redis, keys, app.state.http, outbox.key)
        price_events = Consumer(
            bus,
            group=f"{NAME}-prices",
            name=worker_id(),
            domains=[CATALOG],
            handler=prices.apply_event,
            start_id="$",
            block_ms=500,
        )
        await price_events.ensure_groups()
        reconciler = Reconciler(redis, keys, projection, locations)
        WIRING.keep(
            app.state,
            Parts(
                atp=AtpReader(redis, keys),
                locations=locations,
                reservations=reservations,
                prices=prices,
                reconciler=reconciler,
                rounds=Rounds(
                    redis,
                    settings,
                    app.state.stop,
                    projection=projection,
                    prices=prices,
                    price_events=price_events,
                    reservations=reservations,
                    outbox=outbox,
                    reconciler=reconciler,
                ),
            ),
        )
        try:
            yield
        finally:
            await reconciler.close()

    return create_service(
        NAME,
        routes.ROUTES,
        title="Process API: availability",
        description="Available-to-promise per SKU and location from a stock projection fed by WMS and POS "
        "snapshots and events; atomic, leased reservations; a price projection that answers while the ERP is "
        "down; reconciliation against the systems of record. Every route needs an internal identity token "
        "(`X-Omnigate-Identity`): reads a caller with `availability:read` (prices: `catalog:read`), a service "
        "identity or an operator; reservations a service identity (process-orders) or an operator; price sync "
        "and reconciliations an operator (`channel=ops`, `ops:*`).",
        lifespan=[
            state_lifespan,
            in_background("availability-projection", lambda app: WIRING.of(app.state).rounds.build_and_consume()),
            in_background("availability-prices", lambda app: WIRING.of(app.state).rounds.price_sync()),
            in_background("availability-price-events", lambda app: WIRING.of(app.state).rounds.consume_price_events()),
            in_background("availability-expiry", lambda app: WIRING.of(app.state).rounds.expiry()),
            in_background("availability-outbox", lambda app: WIRING.of(app.state).rounds.relay()),
            in_background("availability-reconcile", lambda app: WIRING.of(app.state).rounds.reconcile()),
        ],
        settings=settings,
        dependencies=WIRING.dependencies,
    )
