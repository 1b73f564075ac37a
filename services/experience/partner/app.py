"""Wiring of ``experience-partner``: the partners' versioned order contract (common/app.py does the rest)."""

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
        [ROUTES],
        title="Omnigate experience API: partner",
        description="The partners' stable `/partner/v1` contract: submit orders, read their status and timeline, "
        "cancel them; a partner sees only its own orders. Every route needs an internal identity token "
        "(`X-Omnigate-Identity`) of the `partner` channel, with `orders:read` or `orders:write`.",
        settings=settings,
        page_size=settings.partner_orders_page_size,
    )
