"""Wiring of ``system-wms``: the canonical API over ShipBob (upstream ``wms``, developer API 2026-01), its webhook
receiver, the webhook subscription it makes at start and the leased inventory poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.wms.connector import WmsConnector
from services.system.wms.deps import WIRING, Parts
from services.system.wms.inventory_feed import InventoryFeed
from services.system.wms.routes import ROUTES
from services.system.wms.settings import WmsSettings
from services.system.wms.webhooks import signing_secret, wms_webhook
from shared.background import in_background, until_done
from shared.events import EventBus
from shared.idmap import IdMap
from shared.lease import Lease, run_under_lease
from shared.locks import Locks
from shared.service import create_service
from shared.settings import get_settings

NAME = "system-wms"


def create_app(settings: WmsSettings | None = None) -> Litestar:
    settings = settings or get_settings(WmsSettings)

    @asynccontextmanager
    async def wms_parts(app: Litestar) -> AsyncIterator[None]:
        # One connector per worker: its per-ref locks and the SKU <-> inventory id map sit in the state Redis, so
        # workers and replicas share them; the channel and centre lists are per-worker caches.
        connector = WmsConnector(
            app.state.http["wms"],
            settings.wms_access_token,
            Locks(app.state.redis, prefix=settings.key_prefix),
            IdMap(app.state.redis, prefix=settings.key_prefix, system="wms", kind="inventory"),
            settings.upstream_commit_limit_s,
            settings.http_timeout_s / 3,
            channel_id=settings.wms_channel_id,
            shipping_method=settings.wms_shipping_method,
        )
        bus = EventBus(app.state.redis, prefix=settings.key_prefix, service=NAME)
        feed = InventoryFeed(connector, bus, app.state.redis, prefix=settings.key_prefix)
        WIRING.keep(app.state, Parts(wms=connector, bus=bus, inventory_feed=feed))
        yield

    async def subscribe(app: Litestar) -> None:
        if not settings.wms_webhook_url:
            return
        wms = WIRING.of(app.state).wms
        await until_done(
            lambda: wms.subscribe(settings.wms_webhook_url, signing_secret(settings.wms_webhook_secret)),
            what="ShipBob webhook subscription",
            first_delay_s=0.5,
        )

    async def inventory_feed(app: Litestar) -> None:
        lease = Lease(
            app.state.redis,
            "wms-inventory-feed",
            prefix=settings.key_prefix,
            ttl_ms=int(max(30.0, settings.wms_inventory_poll_s * 4) * 1000),
        )
        await run_under_lease(
            lease,
            WIRING.of(app.state).inventory_feed.poll,
            interval_s=settings.wms_inventory_poll_s,
            stop=app.state.stop,
        )

    return create_service(
        NAME,
        [*ROUTES, wms_webhook],
        title="Omnigate system API: WMS",
        description="DC stock, fulfilment orders, shipments and return receipts in the canonical model, over "
        "ShipBob's developer API (2026-01); ShipBob webhooks become events on the `fulfilment` stream and a leased "
        "poll of its inventory history becomes `inventory.counted` events.",
        lifespan=[
            wms_parts,
            in_background("wms-webhook-subscription", subscribe),
            in_background("wms-inventory-feed", inventory_feed),
        ],
        settings=settings,
        dependencies=WIRING.dependencies,
    )
