"""experience-web's settings: the kernel's, with the web shop's page of orders (a full page) and what its product
answers promise: how long a shared cache may keep one, how long one waits for availability, how many stores."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.experience.common.settings import WebPageSize
from shared.settings import Settings


class WebSettings(Settings, kw_only=True, frozen=True):
    web_orders_page_size: WebPageSize = 20
    web_product_max_age_s: Annotated[
        int,
        Meta(
            ge=0,
            le=3600,
            description="Seconds a shared cache (the gateway's) may keep a whole product answer "
            "(`Cache-Control: public, max-age`); a degraded one is `no-store`.",
        ),
    ] = 30
    web_product_budget_s: Annotated[
        float,
        Meta(
            gt=0,
            le=30,
            description="The longest a product answer waits for availability and price (process-availability: one "
            "attempt, no retries) before it is sent without them, degraded (`status: unknown`, `no-store`); these "
            "timeouts count against process-availability's breaker.",
        ),
    ] = 2.0
    web_pickup_stores: Annotated[
        int,
        Meta(
            ge=1,
            le=20,
            description="Pickup stores with stock a product answer lists: the nearest with a postal code, else "
            "those with the most.",
        ),
    ] = 5
