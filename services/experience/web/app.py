"""Wiring of ``experience-web``: the web shop's order routes over process-orders and its product detail over
system-erp and process-availability (common/app.py does the rest)."""

from __future__ import annotations

from litestar import Litestar

from services.experience.common.app import create_experience
from services.experience.web.routes import CHANNEL, ROUTES
from services.experience.web.settings import WebSettings
from shared.settings import get_settings

NAME = "experience-web"


def create_app(settings: WebSettings | None = None) -> Litestar:
    settings = settings or get_settings(WebSettings)
    return create_experience(
        NAME,
        CHANNEL,
        ROUTES,
        title="Omnigate experience API: web",
        description="The web shop's API: a product with its price and its availability (delivery, and pickup in the "
        "nearest stores with stock), cacheable by the gateway (ETag, Cache-Control, cache tags); place, list, follow "
        "and cancel the shopper's orders, shown in full with links. Every route needs the caller's internal identity "
        "token (`X-Omnigate-Identity`, minted by the gateway) of the `web` channel, with `catalog:read` and "
        "`availability:read` for products, `orders:read` to read orders and `orders:write` to place or cancel.",
        settings=settings,
        page_size=settings.web_orders_page_size,
    )
