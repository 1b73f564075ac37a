"""experience-mobile's settings: the kernel's, with a phone's page of orders and of products (one screen: ten rows)
and what its product answers promise: how long a shared cache may keep one, how long one waits for availability."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.experience.common.products import PAGE_MAX
from services.experience.common.settings import MobilePageSize
from shared.settings import Settings


class MobileSettings(Settings, kw_only=True, frozen=True):
    mobile_orders_page_size: MobilePageSize = 10
    mobile_products_page_size: Annotated[
        int,
        Meta(
            ge=1,
            le=PAGE_MAX,
            description=f"Products per page of `GET /mobile/v1/products` (1-{PAGE_MAX}: the SKUs one stores search "
            "of process-availability takes).",
        ),
    ] = 10
    mobile_product_max_age_s: Annotated[
        int,
        Meta(
            ge=0,
            le=3600,
            description="Seconds a shared cache (the gateway's) may keep a whole mobile product answer or page "
            "(`Cache-Control: public, max-age`); a degraded one is `no-store`.",
        ),
    ] = 30
    mobile_product_budget_s: Annotated[
        float,
        Meta(
            gt=0,
            le=30,
            description="The longest a mobile product answer or page waits for availability and price "
            "(process-availability: one attempt, no retries) before it is sent without them, degraded "
            "(`status: unknown`, `no-store`); these timeouts count against process-availability's breaker.",
        ),
    ] = 2.0
