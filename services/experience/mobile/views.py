"""How experience-mobile shows orders and products: compact, only what a phone's screens show, so payloads stay
small on a mobile network. An order: id, status, total, how many lines and a one-line summary, when it was placed.
A product (on its own screen and in a list of search results alike): SKU, name, price, an availability status with
a count, and the nearest store with it for a postal code. Pure functions over the layer below's canonical answers
(read by common/products.py); no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from services.experience.common.products import PageFacts, ProductFacts, Stocked, Unavailable
from services.experience.common.views import Shown, Views, shown_page
from shared.caching import location_tag, sku_tag
from shared.models.common import Currency, LocationId, MinorUnits, Model, Page, Sku
from shared.models.orders import Order, OrderState, TimelineEntry

SUMMARY_SKUS = 2  # SKUs a summary names before "+N more"


class MobileOrder(Model, kw_only=True):
    """An order on a phone: ``total`` in minor units of ``currency``; ``summary`` like ``2× SKU-A, 1× SKU-B +3``."""

    id: str
    status: OrderState
    total: MinorUnits
    currency: Currency
    line_count: int
    summary: str
    created_at: datetime


class MobileStep(Model, kw_only=True):
    """One step of an order's progress, as a phone's tracking screen lists it."""

    at: datetime
    status: str


def summary(found: Order) -> str:
    shown = ", ".join(f"{line.qty}× {line.sku}" for line in found.lines[:SUMMARY_SKUS])
    more = len(found.lines) - SUMMARY_SKUS
    return f"{shown} +{more}" if more > 0 else shown


def order(found: Order) -> MobileOrder:
    return MobileOrder(
        id=found.id,
        status=found.state,
        total=found.total,
        currency=found.currency,
        line_count=len(found.lines),
        summary=summary(found),
        created_at=found.created_at,
    )


def entry(found: TimelineEntry) -> MobileStep:
    return MobileStep(at=found.at, status=found.state)


class MobileOrderPage(Page[MobileOrder], kw_only=True):
    """A page of the caller's orders, newest first; ``next_cursor`` (pass it back as ``cursor``) null on the last
    page."""


VIEWS = Views(order=order, order_type=MobileOrder, entry=entry, entry_type=MobileStep, page_shape=MobileOrderPage)


# --- products -------------------------------------------------------------------------------------------------


class MobilePrice(Model, kw_only=True):
    """The price the app sells at, from the price projection: ``amount`` in minor units of ``currency``."""

    amount: MinorUnits
    currency: Currency


class MobileStore(Model, kw_only=True):
    """The store nearest to the postal code given that has the SKU on its shelf: ``available`` units there."""

    id: LocationId
    name: str
    distance_km: Annotated[
        float | None, Meta(description="Kilometres from the postal code (great-circle); null if not placed.")
    ]
    available: Annotated[int, Meta(ge=0)]


Part = Literal["price", "availability"]


class MobileProduct(Model, kw_only=True, omit_defaults=True):
    """A product on a phone, on its screen and in a list of search results alike."""

    sku: Sku
    name: str
    price: Annotated[
        MobilePrice | None,
        Meta(
            description="Null when the product has no price (not for sale) or when it could not be read now "
            "(then `unknown` names `price`)."
        ),
    ]
    status: Annotated[
        Literal["in_stock", "store_only", "out_of_stock", "unknown"],
        Meta(
            description="`in_stock`: can be delivered; `store_only`: can only be picked up in a store; "
            "`out_of_stock`; `unknown`: availability could not be read now."
        ),
    ]
    count: (
        Annotated[
            int,
            Meta(
                ge=0,
                description="Units: for `in_stock` those that can be delivered, for `store_only` those on store "
                "shelves for pickup, 0 for `out_of_stock`; null for `unknown`.",
            ),
        ]
        | None
    )
    nearest_store: Annotated[
        MobileStore | None,
        Meta(
            description="Only with a postal code: the store nearest to it with the product on its shelf (among the "
            "100 pickup stores nearest to it); absent when none of them has it or availability is unknown."
        ),
    ] = None
    unknown: Annotated[
        list[Part],
        Meta(description="The parts that could not be read now; absent when every part was read."),
    ] = []


class MobileProductPage(Page[MobileProduct], kw_only=True):
    """A page of a catalogue search: ``items`` in the ERP's order, ``next_cursor`` (pass it back as ``cursor``)
    null on the last page."""


def _price(facts: ProductFacts) -> MobilePrice | Unavailable | None:
    found = facts.price()
    if found is None or isinstance(found, Unavailable):
        return found
    return MobilePrice(amount=found.amount, currency=found.currency)


def _count(stocked: Stocked) -> int:
    status = stocked.status
    if status == "in_stock":
        assert stocked.ship is not None  # in stock: ship-to-home has units
        return stocked.ship.available
    return sum(stocked.on_shelf.values()) if status == "store_only" else 0


def product(facts: ProductFacts) -> Shown[MobileProduct]:
    """A phone's product from what the layer below said; tagged by its SKU and the store it shows."""
    item = facts.item
    price = _price(facts)
    stocked = facts.stocked()
    unknown: list[Part] = []
    if isinstance(price, Unavailable):
        unknown.append("price")
    if isinstance(stocked, Unavailable):
        unknown.append("availability")
        shown = MobileProduct(
            sku=item.sku,
            name=item.name,
            price=price if isinstance(price, MobilePrice) else None,
            status="unknown",
            count=None,
            unknown=unknown,
        )
        return Shown(shown, list(unknown), [sku_tag(item.sku)])
    near = stocked.near[0] if stocked.near else None
    shown = MobileProduct(
        sku=item.sku,
        name=item.name,
        price=price if isinstance(price, MobilePrice) else None,
        status=stocked.status,
        count=_count(stocked),
        nearest_store=MobileStore(
            id=near.store.id, name=near.store.name, distance_km=near.distance_km, available=near.available
        )
        if near is not None
        else None,
        unknown=unknown,
    )
    tags = [sku_tag(item.sku), *([location_tag(near.store.id)] if near is not None else [])]
    return Shown(shown, list(unknown), tags)


def products(facts: PageFacts) -> Shown[Page[MobileProduct]]:
    """A page of a catalogue search in the ERP's order, each product as on its own screen, with the next page's
    cursor; tagged by every SKU (and store) on it, degraded in the parts any product lacks."""
    return shown_page([product(one) for one in facts.products()], facts.next_cursor)
