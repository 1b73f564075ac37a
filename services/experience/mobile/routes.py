"""HTTP routes of ``experience-mobile`` (DESIGN §10): the experience kit's order routes under ``/mobile/v1`` in the
mobile apps' shapes (views.py), and a product and the catalogue search in compact payloads. Every route takes the
caller's verified identity and needs the ``mobile`` channel (the kit's guard, common/deps.py).

Every GET answers with a strong ETag of its body and 304 on ``If-None-Match`` (shared/caching.py), so a phone on a
slow network revalidates instead of downloading again:

- products (``GET /mobile/v1/products/{sku}``, ``GET /mobile/v1/products?q=&cursor=``) are composed as web's are
  (common/products.py) and answered under the cache contract the gateway's cache follows: ``public, max-age``
  with their tags when whole, ``no-store`` when degraded (common/routes.py ``product_answer``);
- orders are one shopper's: ``private, no-cache`` (never kept by a shared cache, revalidated before every use).

Every list is cursor-paged: orders with process-orders' cursor, products with ours (the kernel's codec, wrapping
system-erp's search cursor).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request, Response, Router, get
from litestar.di import NamedDependency

from services.experience.common.backends import AvailabilityClient, CatalogClient
from services.experience.common.deps import AVAILABILITY, CATALOG
from services.experience.common.products import read_page, read_product
from services.experience.common.routes import (
    NOT_MODIFIED,
    IfNoneMatch,
    cache_headers,
    order_routes,
    problem_specs,
    product_answer,
)
from services.experience.mobile import views
from services.experience.mobile.settings import MobileSettings
from shared import params
from shared.identity import CarriedIdentity, Channel

CHANNEL: Final[Channel] = "mobile"
# Orders: one shopper's answers, revalidated by the phone before every use, never kept by a shared cache.
ORDERS_CACHE_CONTROL = "private, no-cache"
_encoder = msgspec.json.Encoder()

_CACHE_CONTROL = (
    "`public, max-age=30` (OMNIGATE_MOBILE_PRODUCT_MAX_AGE_S) when every part was read; `no-store` when "
    "availability or price could not be (a degraded answer: never kept, never served as fresh)."
)
_PROBLEMS = {
    401: "no valid identity token (X-Omnigate-Identity)",
    403: "the identity is of another channel, or lacks catalog:read or availability:read",
    422: "the postal code cannot be placed near any store",
    504: "system-erp did not answer in time",
}


@get(
    "/products/{sku:str}",
    tags=["products"],
    summary="One product, compact: price, availability and the nearest store with it (catalog:read and "
    "availability:read)",
    opt={"scope": (CATALOG, AVAILABILITY)},
    response_headers=cache_headers(
        _CACHE_CONTROL,
        tags="On a cacheable answer: `sku:<SKU>`, and `location:<store id>` of the nearest store shown; the "
        "gateway purges by them.",
    ),
    response_description="The product; `status: unknown` and `unknown` naming the parts when availability or "
    "price could not be read now (the answer is then `no-store`)",
    responses={
        **NOT_MODIFIED,
        **problem_specs(
            {
                400: "the SKU or the postal code is not valid",
                404: "the ERP has no item with this SKU",
                503: "system-erp is away (the product itself is unknown): retry after Retry-After",
                **_PROBLEMS,
            }
        ),
    },
)
async def get_product(
    request: Request[Any, Any, Any],
    sku: params.Sku,
    allowed: NamedDependency[CarriedIdentity],
    catalog: NamedDependency[CatalogClient],
    availability: NamedDependency[AvailabilityClient],
    settings: NamedDependency[MobileSettings],
    postal: params.OptionalPostal = None,
    if_none_match: IfNoneMatch = None,
) -> Response[views.MobileProduct]:
    """SKU and name from the ERP; price (minor units of its currency) from the price projection; whether it can
    be delivered or picked up and how many units; with `postal` the nearest store with it on its shelf."""
    facts = await read_product(
        catalog, availability, sku, postal, token=allowed.token, budget_s=settings.mobile_product_budget_s
    )
    shown = views.product(facts)
    return product_answer(
        request,
        _encoder.encode(shown.body),
        max_age_s=settings.mobile_product_max_age_s,
        degraded=shown.degraded,
        tags=shown.tags,
    )


@get(
    "/products",
    tags=["products"],
    summary="Search the catalogue, compact and cursor-paged (catalog:read and availability:read)",
    opt={"scope": (CATALOG, AVAILABILITY)},
    response_headers=cache_headers(
        _CACHE_CONTROL,
        tags="On a cacheable answer: `sku:<SKU>` for every product of the page and `location:<store id>` for each "
        "nearest store shown (space-separated; absent on an empty page); the gateway purges by them.",
    ),
    response_description="A page of products in the ERP's order (OMNIGATE_MOBILE_PRODUCTS_PAGE_SIZE of them, 10 "
    "by default); `next_cursor` is null on the last page",
    responses={
        **NOT_MODIFIED,
        **problem_specs(
            {
                400: "`q` is empty, blank, longer than 100 characters or holds a control character; the postal "
                "code is not valid; the cursor is not one this search issued",
                503: "system-erp is away (the catalogue cannot be searched): retry after Retry-After",
                **_PROBLEMS,
            }
        ),
    },
)
async def search_products(
    request: Request[Any, Any, Any],
    allowed: NamedDependency[CarriedIdentity],
    catalog: NamedDependency[CatalogClient],
    availability: NamedDependency[AvailabilityClient],
    settings: NamedDependency[MobileSettings],
    q: params.SearchText = None,
    cursor: params.Cursor = None,
    postal: params.OptionalPostal = None,
    if_none_match: IfNoneMatch = None,
) -> Response[views.MobileProductPage]:
    """The products whose name, SKU, barcode or category contains `q` (case-insensitively, literally; trimmed
    and NFC-normalised), or every product without it, in the ERP's order, each as on its own screen. Pass
    `next_cursor` back as `cursor`, with the same `q`, for the next page."""
    facts = await read_page(
        catalog,
        availability,
        params.search_text(q),
        cursor,
        settings.mobile_products_page_size,
        postal,
        token=allowed.token,
        budget_s=settings.mobile_product_budget_s,
    )
    shown = views.products(facts)
    return product_answer(
        request,
        _encoder.encode(shown.body),
        max_age_s=settings.mobile_product_max_age_s,
        degraded=shown.degraded,
        tags=shown.tags,
    )


ROUTES = [
    order_routes(CHANNEL, views.VIEWS, revalidate=ORDERS_CACHE_CONTROL),
    Router(f"/{CHANNEL}/v1", route_handlers=[get_product, search_products]),
]
