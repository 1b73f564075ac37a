"""HTTP routes of ``experience-web`` (DESIGN §10): the experience kit's order routes under ``/web/v1``, in the web shop's
shapes (views.py), and the product detail. Every route takes the caller's verified identity and needs the ``web``
channel (the kit's guard, common/deps.py).

``GET /web/v1/products/{sku}`` composes, concurrently, system-erp's item and process-availability's ATP and price
(and with ``postal`` its nearest stores) on the caller's identity (common/products.py), and answers under the
cache contract the gateway's cache follows (shared/caching.py): a whole answer is ``public, max-age`` with a
strong ETag and its tags; a degraded one (availability or price unreadable) is ``no-store``; ``If-None-Match``
answers 304.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter

from services.experience.common.backends import AvailabilityClient, CatalogClient
from services.experience.common.deps import AVAILABILITY, CATALOG
from services.experience.common.products import read_product
from services.experience.common.routes import order_routes, problem_specs
from services.experience.web import views
from services.experience.web.settings import WebSettings
from shared import caching, params
from shared.identity import CarriedIdentity, Channel

CHANNEL: Final[Channel] = "web"
_encoder = msgspec.json.Encoder()

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        required=False,
        description="ETags of answers the client holds (RFC 9110 §13.1.2, weak comparison, or `*`): 304 when the "
        "current answer's is among them.",
    ),
]

_CACHE_HEADERS = [
    ResponseHeader(
        name="ETag",
        documentation_only=True,
        description="Strong ETag of the body bytes, the same from every worker and replica.",
    ),
    ResponseHeader(
        name="Cache-Control",
        documentation_only=True,
        description="`public, max-age=30` (OMNIGATE_WEB_PRODUCT_MAX_AGE_S) when every part was read; `no-store` "
        "when availability or price could not be (a degraded answer: never kept, never served as fresh).",
    ),
    ResponseHeader(
        name=caching.TAGS_HEADER,
        documentation_only=True,
        description="On a cacheable answer: space-separated tags naming what may alter it, `sku:<SKU>` and "
        "`location:<location id>` for each location shown (the DCs behind ship-to-home, the stores listed); "
        "the gateway purges by them.",
    ),
]


@get(
    "/products/{sku:str}",
    tags=["products"],
    summary="One product with its price and its availability (catalog:read and availability:read)",
    opt={"scope": (CATALOG, AVAILABILITY)},
    response_headers=_CACHE_HEADERS,
    response_description="The product; `availability` and `price` say `unknown` (with a `reason`) when they could "
    "not be read now, and the answer is then `no-store`",
    responses={
        304: ResponseSpec(
            data_container=None, description="Not modified: If-None-Match holds the current ETag (no body)"
        ),
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
    return caching.conditional(
        _encoder.encode(shown.product),
        request.headers.getall("if-none-match", []),
        cache_control=caching.max_age(settings.web_product_max_age_s) if shown.whole else caching.NO_STORE,
        tags=shown.tags if shown.whole else None,
        degraded=shown.degraded,
    )


ROUTES = [order_routes(CHANNEL, views.VIEWS), Router(f"/{CHANNEL}/v1", route_handlers=[get_product])]
