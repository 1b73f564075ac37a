"""Wiring of ``sandbox-wms``: a reference ShipBob back-end (developer API ``2026-01`` subset) over SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from litestar import Litestar

from services.sandbox.common.app import create_sandbox, seed_database
from services.sandbox.common.deps import sandbox
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.wms import db, routes, sim
from services.sandbox.wms.seed import seed as seed_catalogue
from services.sandbox.wms.settings import SandboxWmsSettings
from shared.settings import get_settings


def create_app(settings: SandboxWmsSettings | None = None) -> Litestar:
    settings = settings or get_settings(SandboxWmsSettings)
    built: list[Litestar] = []

    def conn() -> sqlite3.Connection:
        return sandbox(built[0].state).db

    app = create_sandbox(
        "sandbox-wms",
        [routes.api, *sim.ROUTES],
        title="Sandbox WMS (ShipBob 2026-01 subset)",
        description="Channels, locations, inventory levels and history, orders with split shipments, returns, "
        "warehouse receiving orders and Standard Webhooks-signed subscriptions, as ShipBob's developer API "
        "(2026-01) serves them; see services/sandbox/wms/README.md.",
        schema=db.SCHEMA,
        seed=seed_catalogue,
        render_error=routes.render_error,
        signer=sim.make_signer(conn),
        settings=settings,
    )
    built.append(app)
    return app


def seed(settings: SandboxSettings, *, force: bool = False) -> Path | None:
    """``omnigate seed``: this sandbox's database afresh from the deterministic catalogue (the sandbox stopped)."""
    return seed_database(settings, "sandbox-wms", db.SCHEMA, seed_catalogue, force=force)
