"""Wiring of ``experience-mobile``: the mobile apps' compact order routes (common/app.py does the rest)."""

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
        [ROUTES],
        title="Omnigate experience API: mobile",
        description="The mobile apps' API: the shopper's orders in compact payloads (id, status, total, a "
        "one-line summary), cursor-paged. Every route needs an internal identity token (`X-Omnigate-Identity`) of "
        "the `mobile` channel, with `orders:read` to read and `orders:write` to place or cancel.",
        settings=settings,
        page_size=settings.mobile_orders_page_size,
    )
