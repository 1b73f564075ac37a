"""Wiring of ``sandbox-wms``: the reference 3PL back-end documented in README.md."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.sandbox.common.app import create_sandbox, seed_database
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.wms import db, routes, sim
from services.sandbox.wms.seed import seed as seed_catalogue
from services.sandbox.wms.settings import SandboxWmsSettings
from shared.settings import get_settings


def create_app(settings: SandboxWmsSettings | None = None) -> Litestar:
    settings = settings or get_settings(SandboxWmsSettings)
    return create_sandbox(
        "sandbox-wms",
        [routes.api, *sim.ROUTES],
        title="Sandbox WMS",
        description="A typical 3PL REST API (stock, fulfillment orders, shipments, receipts, signed webhooks) over "
        "SQLite; see services/sandbox/wms/README.md.",
        schema=db.SCHEMA,
        seed=seed_catalogue,
        error_body=lambda status: routes.error_body(status),
        signer=sim.make_signer(settings.wms_webhook_secret),
        settings=settings,
    )


def seed(settings: SandboxSettings, *, force: bool = False) -> Path | None:
    """``omnigate seed``: this sandbox's database afresh from the deterministic catalogue (the sandbox stopped)."""
    return seed_database(settings, "sandbox-wms", db.SCHEMA, seed_catalogue, force=force)
