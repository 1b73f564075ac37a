"""Wiring of ``system-erp``: the canonical ERP API in front of an Odoo JSON-2 back-end (upstream ``erp``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.erp import routes
from services.system.erp.connector import UPSTREAM, OdooConnector
from shared.background import in_background, until_done
from shared.service import create_service
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def connector_lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.erp = OdooConnector(app.state.http[UPSTREAM], app.state.redis, settings)
        yield

    async def warm_up(app: Litestar) -> None:
        await until_done(app.state.erp.warm_up, what="erp id maps", first_delay_s=1.0)

    return create_service(
        "system-erp",
        routes.ROUTES,
        title="System API: ERP",
        description="Items, prices, financial stock, sales orders and credit memos of the ERP in Omnigate's "
        "canonical model; speaks Odoo's external JSON-2 API to the back-end.",
        lifespan=[connector_lifespan, in_background("erp-idmap-warm-up", warm_up)],
        settings=settings,
    )
