"""HTTP routes of ``experience-web`` (DESIGN §10): the experience kit's order routes under ``/web/v1``, in the web shop's
shapes (views.py), the product detail and the catalogue search. Every route takes the caller's verified identity and
needs the ``web`` channel (the kit's guard, common/deps.py).

``GET /web/v1/products/{sku}`` composes, concurrently, system-erp's item and process-availability's ATP and price
(and with ``postal`` its nearest stores) on the caller's identity (common/products.py). ``GET /web/v1/products``
is a page of system-erp's catalogue search with the price and availability of every SKU on it, read in one
process-availability query. Both answer under the cache contract the gateway's cache follows (shared/caching.py,
common/routes.py ``product_answer``): a whole answer is ``public, max-age`` with a strong ETag and its tags; a
degraded one (availability or price unreadable) is ``no-store``; ``If-None-Match`` answers 304.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Response, Router, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from services.experience.common.backends import AvailabilityClient, CatalogClient
from services.experience.common.deps import AVAILABILITY, CATALOG
from services.experience.common.products import PAGE_MAX, read_page, read_product
from services.experience.common.routes import (
    NOT_MODIFIED,
    IfNoneMatch,
    cache_headers,
    order_routes,
    problem_specs,
    product_answer,
)
from services.experience.web import views
from services.experience.web.settings import WebSettings
from shared import params
from shared.identity import CarriedIdentity, Channel

CHANNEL: Final[Channel] = "web"
_encoder = msgspec.json.Encoder()

SEARCH_PAGE = 20
SearchLimit = Annotated[
    int, Parameter(ge=1, le=PAGE_MAX, description=f"Products per page, 1-{PAGE_MAX} (default {SEARCH_PAGE})")
]

_CACHE_CONTROL = (
    "`public, max-age=30` (OMNIGATE_WEB_PRODUCT_MAX_AGE_S) when every part was read; `no-store` when "
    "availability or price could not be (a degraded answer: never kept, never served as fresh)."
)


@get(
    "/products/{sku:str}",
    tags=["products"],
    summary="One product with its price and its availability (catalog:read and availability:read)",
    opt={"scope": (CATALOG, AVAILABILITY)},
    response_headers=cache_headers(
        _CACHE_CONTROL,
        tags="On a cacheable answer: space-separated tags naming what may alter it, `sku:<SKU>` and "
        "`location:<location id>` for each location shown (the DCs behind ship-to-home, the stores listed); "
        "the gateway purges by them.",
    ),
    response_description="The product; `availability` and `price` say `unknown` (with a `reason`) when they could "
    "not be read now, and the answer is then `no-store`",
    responses={
        **NOT_MODIFIED,
        **problem_specs(
            {
                400: "the SKU or the postal code is not valid",
                401: "no valid identity token (X-Omnigate-Identity)",
                403: "the identity is of another channel, or lacks catalog:read or availability:read",
                404: "the ERP has no item with this SKU",
                422: "the postal code cannot be placed near any store",
                503: "system-erp is away (the product itself is unknown): retry after Retry-After",
                504: "system-erp did not answer in time",
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
    settings: NamedDependency[WebSettings],
    postal: params.OptionalPostal = None,
    if_none_match: IfNoneMatch = None,
) -> Response[views.WebProduct]:
    """Name and catalogue fields from the ERP; price (minor units, currency, tax included) from the price
    projection; ship-to-home ATP and pickup stores with stock (with `postal`: the nearest, with distance in km)."""
    facts = await read_product(
        catalog, availability, sku, postal, token=allowed.token, budget_s=settings.web_product_budget_s
    )
    shown = views.product(facts, stores_shown=settings.web_pickup_stores)
    return product_answer(
        request,
        _encoder.encode(shown.body),
        max_age_s=settings.web_product_max_age_s,
        degraded=shown.degraded,
        tags=shown.tags,
    )


@get(
    "/products",
    tags=["products"],
    summary="Search the catalogue: products with their price and availability, cursor-paged (catalog:read and "
    "availability:read)",
    opt={"scope": (CATALOG, AVAILABILITY)},
    response_headers=cache_headers(
        _CACHE_CONTROL,
        tags="On a cacheable answer: `sku:<SKU>` for every product of the page (space-separated; absent on an "
        "empty page); the gateway purges by them.",
    ),
    response_description="A page of products in the ERP's order; `next_cursor` is null on the last page. When "
    "process-availability could not be read now, every product's `availability` and `price` say `unknown` (with "
    "a `reason`) and the page is `no-store`",
    responses={
        **NOT_MODIFIED,
        **problem_specs(
            {
                400: "`q` is empty, blank, longer than 100 characters or holds a control character; `limit` is out "
                "of range; the cursor is not one this search issued",
                401: "no valid identity token (X-Omnigate-Identity)",
                403: "the identity is of another channel, or lacks catalog:read or availability:read",
                503: "system-erp is away (the catalogue cannot be searched): retry after Retry-After",
                504: "system-erp did not answer in time",
            }
        ),
    },
)
async def search_products(
    request: Request[Any, Any, Any],
    allowed: NamedDependency[CarriedIdentity],
    catalog: NamedDependency[CatalogClient],
    availability: NamedDependency[AvailabilityClient],
    settings: NamedDependency[WebSettings],
    q: params.SearchText = None,
    cursor: params.Cursor = None,
    limit: SearchLimit = SEARCH_PAGE,
    if_none_match: IfNoneMatch = None,
) -> Response[views.WebProductPage]:
    """The products whose name, SKU, barcode or category contains `q` (case-insensitively, literally; trimmed
    and NFC-normalised), or every product without it, in the ERP's order (archived ones too: `active: false`).
    Each with its price (minor units of its currency) and a summary of its availability: the units that can be
    delivered and how many stores have it for pickup (the product's own page lists them). Pass `next_cursor` back
    as `cursor`, with the same `q`, for the next page."""
    facts = await read_page(
        catalog,
        availability,
        params.search_text(q),
        cursor,
        limit,
        None,
        token=allowed.token,
        budget_s=settings.web_product_budget_s,
    )
    shown = views.hits(facts)
    return product_answer(
        request,
        _encoder.encode(shown.body),
        max_age_s=settings.web_product_max_age_s,
        degraded=shown.degraded,
        tags=shown.tags,
    )


ROUTES = [order_routes(CHANNEL, views.VIEWS), Router(f"/{CHANNEL}/v1", route_handlers=[get_product, search_products])]
