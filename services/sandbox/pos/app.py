"""sandbox-pos: a reference Square v2 back-end (subset) over SQLite, seeded from the shared catalogue."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.sandbox.common.app import create_sandbox, current_catalogue, seed_database
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.pos import db, routes, sim, square
from services.sandbox.pos.seed import seed as seed_catalogue
from services.sandbox.pos.settings import SandboxPosSettings
from shared.settings import get_settings

NAME = "sandbox-pos"


def create_app(settings: SandboxPosSettings | None = None) -> Litestar:
    settings = settings or get_settings(SandboxPosSettings)
    signature_key = settings.pos_webhook_signature_key

    def signer(url: str, body: bytes, _headers: dict[str, str]) -> dict[str, str]:
        # Square signs the notification URL followed by the raw body (docs: webhooks/step3validate).
        return {"x-square-hmacsha256-signature": square.sign(signature_key, url, body)}

    return create_sandbox(
        NAME,
        [routes.ROUTER, *sim.ROUTES],
        title="Sandbox POS (Square v2 subset)",
        description="Locations, catalog search (objects and items), inventory counts and changes, orders and signed "
        "inventory.count.updated / order.fulfillment.updated webhooks, as Square's v2 API serves them.",
        schema=db.SCHEMA,
        seed=seed_catalogue,
        render_error=square.render_error,
        signer=signer,
        settings=settings,
        prepare=lambda conn: db.prepare(conn, current_catalogue(settings)),
    )


def seed(settings: SandboxSettings, *, force: bool = False) -> Path | None:
    """``omnigate seed``: this sandbox's database afresh from the deterministic catalogue (the sandbox stopped)."""
    return seed_database(settings, "sandbox-pos", db.SCHEMA, seed_catalogue, force=force)
