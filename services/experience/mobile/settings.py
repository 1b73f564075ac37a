"""experience-mobile's settings: the kernel's, with a phone's page of orders (one screen: ten rows)."""

from __future__ import annotations

from services.experience.common.settings import MobilePageSize
from shared.settings import Settings


class MobileSettings(Settings, kw_only=True, frozen=True):
    mobile_orders_page_size: MobilePageSize = 10
