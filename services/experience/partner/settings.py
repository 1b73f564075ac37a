"""experience-partner's settings: the kernel's, with a partner's page of orders (batch jobs page through many:
the largest page process-orders serves)."""

from __future__ import annotations

from services.experience.common.settings import PartnerPageSize
from shared.settings import Settings


class PartnerSettings(Settings, kw_only=True, frozen=True):
    partner_orders_page_size: PartnerPageSize = 100
