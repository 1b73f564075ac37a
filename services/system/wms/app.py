"""Wiring of ``system-wms``: the canonical API over the WMS (upstream ``wms``) and its webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.wms.connector import WmsConnector
from services.system.wms.deps import WIRING, Parts
from services.system.wms.routes import ROUTES
from services.system.wms.settings import WmsSettings
from services.system.wms.webhooks import wms_webhook
from shared.events import EventBus
from shared.locks import Locks
from shared.service import create_service
from shared.settings import get_settings

NAME = "system-wms"


@asynccontextmanager
async def wms_parts(app: Litestar) -> AsyncIterator[None]:
    settings: WmsSettings = app.state.settings
    # One connector per worker: its per-ref locks sit in the state Redis, so workers and replicas share them.
    connector = WmsConnector(
        app.state.http["wms"],
        settings.wms_api_key,
        Locks(app.state.redis, prefix=settings.key_prefix),
        settings.upstream_commit_limit_s,
        settings.http_timeout_s / 3,
    )
    WIRING.keep(
        app.state, Parts(wms=connector, bus=EventBus(app.state.redis, prefix=settings.key_prefix, service=NAME))
    )
    yield


def create_app(settings: WmsSettings | None = None) -> Litestar:
    return create_service(
        NAME,
        [*ROUTES, wms_webhook],
        title="Omnigate system API: WMS",
        description="DC stock, fulfilment orders, shipments and return receipts in the canonical model, over a "
        "3PL WMS; WMS webhooks become events on the `fulfilment` and `inventory` streams.",
        lifespan=[wms_parts],
        settings=settings or get_settings(WmsSettings),
        dependencies=WIRING.dependencies,
    )
