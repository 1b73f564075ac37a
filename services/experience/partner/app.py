"""Wiring of ``experience-partner``: the partners' versioned contract, orders, returns and bulk availability
(common/app.py does the rest)."""

from __future__ import annotations

from litestar import Litestar

from services.experience.common.app import create_experience
from services.experience.partner.routes import CHANNEL, ROUTES
from services.experience.partner.settings import PartnerSettings
from shared.settings import get_settings

NAME = "experience-partner"


def create_app(settings: PartnerSettings | None = None) -> Litestar:
    settings = settings or get_settings(PartnerSettings)
    return create_experience(
        NAME,
        CHANNEL,
        ROUTES,
        title="Omnigate experience API: partner",
        description="The partners' stable `/partner/v1` contract: availability and price of up to 500 SKUs in one "
        "request; submit orders, list them (by status and last change), read their status and timeline, cancel "
        "them; return their lines and follow the returns. A partner sees only its own orders and returns. Every "
        "route needs an internal identity token (`X-Omnigate-Identity`) of the `partner` channel, with "
        "`availability:read` for availability, `orders:read` to read, `orders:write` to submit or cancel and "
        "`returns:write` to return.",
        settings=settings,
        page_size=settings.partner_orders_page_size,
    )
