"""Wiring of ``system-wms``: the canonical API over the WMS (upstream ``wms``) and its webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.wms.routes import ROUTES
from shared.events import EventBus
from shared.service import create_service
from shared.settings import Settings, get_settings

NAME = "system-wms"


@asynccontextmanager
async def event_bus(app: Litestar) -> AsyncIterator[None]:
    app.state.bus = EventBus(app.state.redis, prefix=app.state.settings.key_prefix, service=NAME)
    yield


def create_app(settings: Settings | None = None) -> Litestar:
    return create_service(
        NAME,
        ROUTES,
        title="Omnigate system API: WMS",
        description="DC stock, fulfilment orders, shipments and return receipts in the canonical model, over a "
        "3PL WMS; WMS webhooks become events on the `fulfilment` and `inventory` streams.",
        lifespan=[event_bus],
        settings=settings or get_settings(),
    )
