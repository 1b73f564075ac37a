"""Wiring of ``system-erp``: the canonical ERP API in front of an Odoo JSON-2 back-end (upstream ``erp``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.erp import routes
from services.system.erp.connector import UPSTREAM, OdooConnector
from shared.service import create_service
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def connector_lifespan(app: Litestar) -> AsyncIterator[None]:
        connector = OdooConnector(app.state.http[UPSTREAM], app.state.redis, settings)
        app.state.erp = connector
        # The id maps fill in the background: readiness must not depend on the ERP being up.
        task = asyncio.create_task(connector.warm_up(), name="erp-idmap-warm-up")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return create_service(
        "system-erp",
        routes.ROUTES,
        title="System API: ERP",
        description="Items, prices, financial stock, sales orders and credit memos of the ERP in Omnigate's "
        "canonical model; speaks Odoo's external JSON-2 API to the back-end.",
        lifespan=[connector_lifespan],
        settings=settings,
    )
