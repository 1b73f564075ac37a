"""Wiring of ``sandbox-wms``: the reference 3PL back-end documented in README.md."""

from __future__ import annotations

from litestar import Litestar

from services.sandbox.common.kit import create_sandbox
from services.sandbox.wms import db, routes, seed, sim
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    return create_sandbox(
        "sandbox-wms",
        [routes.api, *sim.ROUTES],
        title="Sandbox WMS",
        description="A typical 3PL REST API (stock, fulfillment orders, shipments, receipts, signed webhooks) over "
        "SQLite; see services/sandbox/wms/README.md.",
        schema=db.SCHEMA,
        seed=seed.seed,
        error_body=lambda status: routes.error_body(status),
        signer=sim.make_signer(settings.wms_webhook_secret),
        settings=settings,
    )
