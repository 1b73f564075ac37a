"""How experience-partner shows orders, returns and bulk availability: the stable ``/partner/v1`` contract, its own
Structs (not the canonical model, so the process layer can change without breaking a partner's integration; a
change here is a new version). Field names are snake_case; money is integer minor units of ``currency``; times
are UTC RFC 3339.

A partner knows its order by the id process-orders gave it and by its own customer reference (``customer_id``,
the ``customer.id`` it submitted); process-orders carries no other partner reference today. Internal detail (the
owner, the back-ends' document ids, correlation ids, the projection's terms) stays out. Pure functions; no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from services.experience.common.backends import AVAILABILITY
from services.experience.common.views import Priced, Tracking, Views, priced, tracking
from shared.models.availability import MAX_QUERY_SKUS, AvailabilityQueryResult
from shared.models.common import Count, Currency, LocationId, MinorUnits, Model, Qty, Sku
from shared.models.orders import FulfilmentMode, Order, OrderState, TimelineEntry
from shared.models.returns import Return, ReturnState
from shared.problems import ProblemError


class PartnerLine(Model, kw_only=True):
    """A line: ``unit_price`` in minor units, as priced when the order was placed; ``location`` once sourced."""

    line_id: str
    sku: str
    qty: Qty
    unit_price: MinorUnits
    location: LocationId | None = None


class PartnerTracking(Tracking, kw_only=True):
    """One parcel of the order on its way."""


class PartnerOrder(Priced, kw_only=True):
    """An order in the ``/partner/v1`` contract; ``tracking`` lists its parcels once shipped (a split order ships
    as several), in the order they left."""

    id: str
    status: OrderState
    customer_id: str
    fulfilment: FulfilmentMode
    store: LocationId | None = None
    lines: list[PartnerLine]
    tracking: Annotated[
        list[PartnerTracking],
        Meta(description="The parcels shipped so far, in the order they left; empty before."),
    ]


class PartnerEvent(Model, kw_only=True):
    """One transition of an order, for a partner's status sync."""

    at: datetime
    status: str
    detail: str | None = None


def order(found: Order) -> PartnerOrder:
    return PartnerOrder(
        id=found.id,
        status=found.state,
        customer_id=found.customer.id,
        fulfilment=found.fulfilment.mode,
        store=found.fulfilment.store,
        lines=[
            PartnerLine(line_id=x.line_id, sku=x.sku, qty=x.qty, unit_price=x.unit_price, location=x.location)
            for x in found.lines
        ],
        tracking=tracking(found, PartnerTracking),
        **priced(found),
    )


def entry(found: TimelineEntry) -> PartnerEvent:
    return PartnerEvent(at=found.at, status=found.state, detail=found.detail)


# --- returns ---------------------------------------------------------------------------------------------------


class PartnerReturnLine(Model, kw_only=True):
    """Units of one SKU being returned, at the ``unit_price`` (minor units) the order was priced at."""

    sku: Sku
    qty: Annotated[int, Meta(ge=1, description="Units of this SKU being returned.")]
    unit_price: Annotated[int, Meta(ge=0, description="Price of one unit in minor units, as the order was priced.")]


class PartnerReceived(Model, kw_only=True):
    """Units of one SKU the DC or store observed arriving (the refund follows these, not the request)."""

    sku: Sku
    qty: Annotated[int, Meta(ge=0, description="Units received.")]


class PartnerReturn(Model, kw_only=True):
    """A return of one of the partner's orders in the ``/partner/v1`` contract (each field says what it holds)."""

    id: Annotated[str, Meta(description="The return's id (Location of its creation: `/partner/v1/returns/{id}`).")]
    order_id: Annotated[str, Meta(description="The order the lines are returned from.")]
    status: Annotated[
        ReturnState,
        Meta(
            description="`return_requested` (announced to the DC), `partially_received` or `return_received`, "
            "`restocked`, `refunded`, `closed` (a partial return closed short), or `rejected` (a back-end refused "
            "it; its units may be returned again)."
        ),
    ]
    location: Annotated[LocationId, Meta(description="The DC or store taking the goods back.")]
    lines: Annotated[list[PartnerReturnLine], Meta(description="What is being returned, per SKU.")]
    received: Annotated[
        list[PartnerReceived] | None,
        Meta(description="What arrived, per SKU, once the DC or store observed it; null until then."),
    ]
    created_at: Annotated[datetime, Meta(description="When the return was opened (UTC).")]
    updated_at: Annotated[datetime, Meta(description="Its last change (UTC).")]


def ret(found: Return) -> PartnerReturn:
    received = (
        [PartnerReceived(sku=sku, qty=qty) for sku, qty in sorted(found.received.items())]
        if found.received is not None
        else None
    )
    return PartnerReturn(
        id=found.id,
        order_id=found.order_id,
        status=found.state,
        location=found.location,
        lines=[PartnerReturnLine(sku=x.sku, qty=x.qty, unit_price=x.unit_price) for x in found.lines],
        received=received,
        created_at=found.created_at,
        updated_at=found.updated_at,
    )


VIEWS = Views(
    order=order, order_type=PartnerOrder, entry=entry, entry_type=PartnerEvent, ret=ret, return_type=PartnerReturn
)


# --- bulk availability --------------------------------------------------------------------------------------------

MAX_LOCATIONS = 1000


class AvailabilityRequest(Model, kw_only=True):
    """What a partner asks ``POST /partner/v1/availability`` about: 1-500 SKUs, each once, and optionally the
    locations whose figures it wants (each once; every location that stocks a SKU without it)."""

    skus: Annotated[
        list[Sku],
        Meta(
            min_length=1,
            max_length=MAX_QUERY_SKUS,
            description=f"1-{MAX_QUERY_SKUS} canonical SKUs (the ERP's internal reference), each once.",
            extra_json_schema={"uniqueItems": True},
        ),
    ]
    locations: (
        Annotated[
            list[LocationId],
            Meta(
                min_length=1,
                max_length=MAX_LOCATIONS,
                description=f"1-{MAX_LOCATIONS} location ids (`dc-<code>`, `store-<code>`), each once: only their "
                "figures are listed per SKU. Ship-to-home is always over every DC.",
                extra_json_schema={"uniqueItems": True},
            ),
        ]
        | None
    ) = None


class ShipToHome(Model, kw_only=True):
    """What can be promised for delivery: available-to-promise summed over the DCs (ship orders come from DCs)
    (DESIGN §4: on hand - reserved - safety stock, never below 0); ``incoming`` (in transit) is shown apart and
    not promised."""

    available: Annotated[Count, Meta(description="Units that can be promised for delivery now.")]
    incoming: Annotated[Count, Meta(description="Units in transit to those locations (not promised).")]
    as_of: Annotated[datetime, Meta(description="Last change of these figures (UTC).")]


class LocationStock(Model, kw_only=True):
    """Available-to-promise at one location that stocks the SKU (a DC, or a store for pickup)."""

    location: LocationId
    available: Annotated[Count, Meta(description="Units that can be promised from this location now.")]
    incoming: Annotated[Count, Meta(description="Units in transit to it (not promised).")]
    as_of: Annotated[datetime, Meta(description="Last change of these figures (UTC).")]


class PartnerPrice(Model, kw_only=True):
    """The price an order placed now is priced at (the price projection, synced from the ERP)."""

    amount: Annotated[int, Meta(ge=0, description="Price of one unit in minor units of `currency`.")]
    currency: Currency
    tax_included: Annotated[bool, Meta(description="Whether `amount` includes tax.")]
    as_of: Annotated[datetime, Meta(description="When the ERP set this price (UTC).")]


class SkuStock(Model, kw_only=True):
    """One SKU asked about. ``status``: ``known`` (the stock projection holds it: ``ship_to_home`` and
    ``locations`` are given, 0 when nothing is left) or ``unknown`` (the projection has never held stock of
    it, at any location: not one of our SKUs, or never stocked; ``ship_to_home`` is null and ``locations``
    empty). ``price`` is null when the price projection has no price for it (not for sale)."""

    sku: Sku
    status: Annotated[
        Literal["known", "unknown"],
        Meta(description="`known`: figures follow; `unknown`: the stock projection never held this SKU."),
    ]
    ship_to_home: Annotated[ShipToHome | None, Meta(description="Delivery figures; null when `status` is `unknown`.")]
    locations: Annotated[
        list[LocationStock],
        Meta(
            description="Every location that stocks the SKU (or, if the request named locations, those of them "
            "that do), by id; a location that never stocked it is not listed."
        ),
    ]
    price: Annotated[PartnerPrice | None, Meta(description="Its price now; null when it has none (not for sale).")]


class PartnerAvailability(Model, kw_only=True):
    """The answer to a bulk availability request: one entry per SKU asked, in the order asked."""

    items: Annotated[list[SkuStock], Meta(description="One entry per SKU asked, in the order asked.")]
    staleness_ms: Annotated[
        int,
        Meta(ge=0, description="How far behind the back-ends' stock events the figures may be, in milliseconds."),
    ]


def availability(asked: list[str], found: AvailabilityQueryResult) -> PartnerAvailability:
    """process-availability's answer for the SKUs ``asked``, one entry each, in the order asked."""
    if found.prices is None:
        # Asked with prices: true; an answer without them breaks process-availability's own contract.
        raise ProblemError(
            "upstream-error", f"{AVAILABILITY}: answered a query with prices without prices", upstream=AVAILABILITY
        )
    stocked = {item.sku: item for item in found.items}
    prices = {price.sku: price for price in found.prices.prices}
    items = []
    for sku in asked:
        price = prices.get(sku)
        shown = (
            PartnerPrice(
                amount=price.amount, currency=price.currency, tax_included=price.tax_included, as_of=price.as_of
            )
            if price is not None
            else None
        )
        held = stocked.get(sku)
        if held is None:
            items.append(SkuStock(sku=sku, status="unknown", ship_to_home=None, locations=[], price=shown))
            continue
        items.append(
            SkuStock(
                sku=sku,
                status="known",
                ship_to_home=ShipToHome(
                    available=held.ship.available, incoming=held.ship.incoming, as_of=held.ship.as_of
                ),
                locations=[
                    LocationStock(location=a.location, available=a.available, incoming=a.incoming, as_of=a.as_of)
                    for a in held.locations
                ],
                price=shown,
            )
        )
    staleness = max((item.ship.staleness_ms for item in found.items), default=0)
    return PartnerAvailability(items=items, staleness_ms=staleness)
