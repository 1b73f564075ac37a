"""experience-web's settings: the kernel's, with the web shop's page of orders (a full page)."""

from __future__ import annotations

from services.experience.common.settings import WebPageSize
from shared.settings import Settings


class WebSettings(Settings, kw_only=True, frozen=True):
    web_orders_page_size: WebPageSize = 20
