"""Wiring of ``experience-mobile``: the mobile apps' compact order routes over process-orders and its compact
product and catalogue search over system-erp and process-availability (common/app.py does the rest)."""

from __future__ import annotations

from litestar import Litestar

from services.experience.common.app import create_experience
from services.experience.mobile.routes import CHANNEL, ROUTES
from services.experience.mobile.settings import MobileSettings
from shared.settings import get_settings

NAME = "experience-mobile"


def create_app(settings: MobileSettings | None = None) -> Litestar:
    settings = settings or get_settings(MobileSettings)
    return create_experience(
        NAME,
        CHANNEL,
        ROUTES,
        title="Omnigate experience API: mobile",
        description="The mobile apps' API, in compact payloads (only what a phone shows): a product with its "
        "price, an availability status with a count and the nearest store with it; the catalogue search, "
        "cursor-paged; the shopper's orders (id, status, total, a one-line summary), cursor-paged. Every GET "
        "carries an ETag and answers 304 to If-None-Match; products are cacheable by the gateway (Cache-Control, "
        "cache tags), orders `private, no-cache`. Every route needs an internal identity token "
        "(`X-Omnigate-Identity`) of the `mobile` channel, with `catalog:read` and `availability:read` for products, "
        "`orders:read` to read orders and `orders:write` to place or cancel.",
        settings=settings,
        page_size=settings.mobile_orders_page_size,
    )
