"""Wiring of ``sandbox-erp``: a subset of Odoo's external JSON-2 API over SQLite, seeded from the catalogue."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.sandbox.common.app import create_sandbox, seed_database
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.erp import db, orm, routes, sim
from services.sandbox.erp.seed import seed as seed_catalogue
from services.sandbox.erp.settings import SandboxErpSettings
from shared.settings import get_settings


def create_app(settings: SandboxErpSettings | None = None) -> Litestar:
    settings = settings or get_settings(SandboxErpSettings)
    return create_sandbox(
        "sandbox-erp",
        [routes.json2, *sim.ROUTES],
        title="Sandbox ERP",
        description="A subset of Odoo's external JSON-2 API (product.product, stock.warehouse, stock.quant, "
        "res.partner, sale.order, account.move) over SQLite, with Odoo's error objects and fault injection.",
        schema=db.SCHEMA,
        seed=seed_catalogue,
        render_error=routes.render_error,
        settings=settings,
        prepare=orm.prepare,
    )


def seed(settings: SandboxSettings, *, force: bool = False) -> Path | None:
    """``omnigate seed``: this sandbox's database afresh from the deterministic catalogue (the sandbox stopped)."""
    return seed_database(settings, "sandbox-erp", db.SCHEMA, seed_catalogue, force=force)
