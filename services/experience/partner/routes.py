"""HTTP routes of ``experience-partner`` (DESIGN §10): the experience kit's order and return routes under
``/partner/v1``, in the partners' shapes (views.py), and bulk availability. Every route takes the caller's verified
identity and needs the ``partner`` channel (the kit's guard, common/deps.py).

``POST /partner/v1/availability`` answers up to 500 SKUs in one hop to process-availability (``POST
/availability/query`` with prices, on the caller's identity). Unlike a shopper's product page, a partner's bulk
answer is whole or not given: a partner's integration stores what it reads, so process-availability away is the
kernel's 503 with ``Retry-After`` (its timeout a 504), never a partial answer. Input is checked before the hop:
the SKUs and location ids by their patterns and counts (the body's Struct), and each one once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Final

from litestar import Router, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body

from services.experience.common.backends import AvailabilityClient
from services.experience.common.deps import AVAILABILITY
from services.experience.common.routes import order_routes, problem_specs
from services.experience.partner import views
from shared.identity import CarriedIdentity, Channel
from shared.models.availability import MAX_QUERY_SKUS
from shared.problems import invalid

CHANNEL: Final[Channel] = "partner"

# SKUs and a store of the default sandbox seed, so the example works as written against `make run`.
_EXAMPLE = {"skus": ["OG-1000-BLK-XS-000000", "OG-1233-BEI-L-003741"], "locations": ["dc-tlb", "store-kfr9qs7nff0n5"]}


def _once(field: str, values: Sequence[str]) -> None:
    """A 400 naming every value of ``field`` given more than once."""
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        raise invalid(
            f"each of {field} once: {len(repeated)} given more than once",
            errors=[{"field": field, "value": value} for value in repeated[:20]],
        )


@post(
    "/availability",
    tags=["availability"],
    summary=f"Availability and price of up to {MAX_QUERY_SKUS} SKUs (availability:read)",
    opt={"scope": AVAILABILITY},
    status_code=200,
    response_description="One entry per SKU asked, in the order asked; a SKU the stock projection never held is "
    "`status: unknown` there (not a 404)",
    responses=problem_specs(
        {
            400: f"the body is not valid: more than {MAX_QUERY_SKUS} SKUs or none, a SKU or location id that does "
            "not fit its pattern, a SKU or location given twice, an unknown field",
            401: "no valid identity token (X-Omnigate-Identity)",
            403: "the identity is of another channel, or lacks availability:read",
            422: "a location that does not exist (named in `errors`)",
            502: "process-availability answered with an error",
            503: "process-availability is away: retry after Retry-After (a bulk answer is never partial)",
            504: "process-availability did not answer in time",
        }
    ),
)
async def query_availability(
    data: Annotated[
        views.AvailabilityRequest, Body(examples=[Example(summary="two SKUs at a DC and a store", value=_EXAMPLE)])
    ],
    allowed: NamedDependency[CarriedIdentity],
    availability: NamedDependency[AvailabilityClient],
) -> views.PartnerAvailability:
    """Per SKU: ship-to-home available-to-promise (every DC: ship orders come from DCs), available-to-promise at
    each location that stocks it (only the `locations` asked for, if given), and its price (minor units), from
    process-availability's projections."""
    _once("skus", data.skus)
    if data.locations is not None:
        _once("locations", data.locations)
    found = await availability.query(data.skus, data.locations, token=allowed.token)
    return views.availability(data.skus, found)


ROUTES = [order_routes(CHANNEL, views.VIEWS), Router(f"/{CHANNEL}/v1", route_handlers=[query_availability])]
