"""Wiring of ``system-erp``: the canonical ERP API in front of an Odoo JSON-2 back-end (upstream ``erp``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.erp import routes
from services.system.erp.connector import UPSTREAM, OdooConnector
from services.system.erp.deps import WIRING, Parts
from services.system.erp.price_feed import PriceFeed
from services.system.erp.settings import ErpSettings
from shared.background import in_background, until_done
from shared.events import EventBus
from shared.lease import Lease, run_under_lease
from shared.service import create_service
from shared.settings import get_settings

NAME = "system-erp"


def create_app(settings: ErpSettings | None = None) -> Litestar:
    settings = settings or get_settings(ErpSettings)

    @asynccontextmanager
    async def connector_lifespan(app: Litestar) -> AsyncIterator[None]:
        connector = OdooConnector(app.state.http[UPSTREAM], app.state.redis, settings)
        bus = EventBus(app.state.redis, prefix=settings.key_prefix, service=NAME)
        WIRING.keep(
            app.state,
            Parts(erp=connector, price_feed=PriceFeed(connector, bus, app.state.redis, prefix=settings.key_prefix)),
        )
        yield

    async def warm_up(app: Litestar) -> None:
        await until_done(WIRING.of(app.state).erp.warm_up, what="erp id maps", first_delay_s=1.0)

    async def price_feed(app: Litestar) -> None:
        if settings.erp_price_poll_s <= 0:
            return
        lease = Lease(
            app.state.redis,
            "erp-price-feed",
            prefix=settings.key_prefix,
            ttl_ms=int(max(30.0, settings.erp_price_poll_s * 4) * 1000),
        )
        await run_under_lease(
            lease, WIRING.of(app.state).price_feed.poll, interval_s=settings.erp_price_poll_s, stop=app.state.stop
        )

    return create_service(
        NAME,
        routes.ROUTES,
        title="System API: ERP",
        description="Items, prices, financial stock, sales orders and credit memos of the ERP in Omnigate's "
        "canonical model; speaks Odoo's external JSON-2 API to the back-end. Price changes are published as "
        "`price.changed` events on the `catalog` stream (Odoo has no webhooks: the feed polls `write_date`).",
        lifespan=[
            connector_lifespan,
            in_background("erp-idmap-warm-up", warm_up),
            in_background("erp-price-feed", price_feed),
        ],
        settings=settings,
        dependencies=WIRING.dependencies,
    )
