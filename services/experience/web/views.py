"""How experience-web shows orders and products. Orders: the whole order (a web page has room for it), with links
to what the shopper may do next, and the tracking of each parcel once shipped. Products: the ERP's item with its price and its availability for delivery and
for pickup (the nearest stores with stock for a postal code); a catalogue search lists each hit with its price and
a summary of its availability. Each product answer says what the gateway's cache needs to know of it (whether it
is whole, its tags: common/views.py's ``Shown``). Pure functions over the layer below's canonical answers (read by
common/products.py); no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from services.experience.common.products import PageFacts, ProductFacts, Stocked, Unavailable
from services.experience.common.views import Priced, Shown, Tracking, Views, priced, shown_page, tracking
from shared.caching import location_tag, sku_tag
from shared.models.common import Currency, LocationId, MinorUnits, Model, Page, Sku
from shared.models.orders import Customer, Fulfilment, Order, OrderLine, OrderState, TimelineEntry

BASE = "/web/v1"


class WebLinks(Model, kw_only=True):
    """Paths (under the gateway's origin) of the order and of what can be done with it."""

    order: str
    timeline: str
    cancel: str


class WebTracking(Tracking, kw_only=True):
    """One parcel of the order on its way, as the shopper follows it."""


class WebOrder(Priced, kw_only=True):
    """The whole order as the web shop shows it (its owner aside), with links and, once it ships, ``tracking``:
    one entry per parcel (a split order ships as several), in the order they left."""

    id: str
    state: OrderState
    customer: Customer
    fulfilment: Fulfilment
    lines: list[OrderLine]
    tracking: Annotated[
        list[WebTracking], Meta(description="The parcels shipped so far, in the order they left; empty before.")
    ]
    links: WebLinks


def order(found: Order) -> WebOrder:
    path = f"{BASE}/orders/{found.id}"
    return WebOrder(
        id=found.id,
        state=found.state,
        customer=found.customer,
        fulfilment=found.fulfilment,
        lines=found.lines,
        tracking=tracking(found, WebTracking),
        **priced(found),
        links=WebLinks(order=path, timeline=f"{path}/timeline", cancel=f"{path}/cancel"),
    )


def entry(found: TimelineEntry) -> TimelineEntry:
    """A web timeline shows every transition as it is: time, state, system, document id, correlation id, detail
    (``shipped``: ``shipment.dispatched: <carrier> <tracking number>``)."""
    return found


VIEWS = Views(order=order, order_type=WebOrder, entry=entry, entry_type=TimelineEntry)


# --- products ------------------------------------------------------------------------------------------------


class ProductPrice(Model, kw_only=True, omit_defaults=True):
    """The price the web shop sells at, from process-availability's price projection (synced from the ERP, DESIGN
    §4). ``status``: ``priced`` (``amount`` in minor units of ``currency``, ``tax_included``, ``as_of`` UTC RFC
    3339), ``unpriced`` (the projection holds no price for this SKU: not for sale), or ``unknown`` (it could not be
    read just now: ``reason`` says why; only this one makes the answer degraded)."""

    status: Annotated[
        Literal["priced", "unpriced", "unknown"],
        Meta(
            description="`priced`: amount, currency, tax_included and as_of are given; `unpriced`: no price in "
            "the price projection (not for sale); `unknown`: the price could not be read now (see `reason`)."
        ),
    ]
    amount: MinorUnits | None = None
    currency: Currency | None = None
    tax_included: bool | None = None
    as_of: datetime | None = None
    reason: Annotated[str | None, Meta(description="Only when `unknown`: why the price could not be read.")] = None


class ShipToHome(Model, kw_only=True):
    """What can be promised for delivery: ATP summed over the DCs, which ship orders come from;
    ``incoming`` (in transit) is shown apart and not promised. ``as_of`` is the last change of those figures,
    null when the stock projection never held the SKU."""

    available: Annotated[int, Meta(ge=0, description="Units that can be promised for delivery now.")]
    incoming: Annotated[int, Meta(ge=0, description="Units in transit to those locations (not promised).")]
    as_of: Annotated[
        datetime | None, Meta(description="Last change of these figures (UTC); null if the SKU was never stocked.")
    ]


class PickupStore(Model, kw_only=True):
    """A store with the SKU on its shelf for pickup: ``available`` units. ``name``, ``city`` and ``distance_km``
    (great-circle, from the postal code given) come with a postal code; without one they are null."""

    store: LocationId
    name: Annotated[str | None, Meta(description="The store's name; null without a postal code.")]
    city: Annotated[str | None, Meta(description="The store's city; null without a postal code.")]
    distance_km: Annotated[
        float | None, Meta(description="Kilometres from the postal code given (great-circle); null without one.")
    ]
    available: Annotated[int, Meta(ge=0, description="Units on the shelf for pickup now.")]


class Pickup(Model, kw_only=True):
    """Pickup in store: how many stores have the SKU, and some of them: with a postal code the nearest ones
    (nearest first, among the 100 pickup stores nearest to it), without one those with the most (most first)."""

    stores_with_stock: Annotated[int, Meta(ge=0, description="How many stores have the SKU for pickup now.")]
    stores: Annotated[
        list[PickupStore],
        Meta(description="Nearest first with a postal code (among the 100 nearest stores), else most first."),
    ]


class ProductAvailability(Model, kw_only=True, omit_defaults=True):
    """``status``: ``in_stock`` (it can be delivered), ``store_only`` (only picked up in a store),
    ``out_of_stock``, or ``unknown``: process-availability could not be read just now, ``reason`` says why, and
    neither ``ship_to_home`` nor ``pickup`` is given (the answer is degraded)."""

    status: Annotated[
        Literal["in_stock", "store_only", "out_of_stock", "unknown"],
        Meta(
            description="`in_stock`: can be delivered; `store_only`: can only be picked up in a store; "
            "`out_of_stock`; `unknown`: availability could not be read now (see `reason`; no other field)."
        ),
    ]
    ship_to_home: ShipToHome | None = None
    pickup: Pickup | None = None
    reason: Annotated[str | None, Meta(description="Only when `unknown`: why availability could not be read.")] = None


class WebProduct(Model, kw_only=True):
    """One product as the web shop shows it: the ERP's item (name, category, barcode, unit of measure, weight in
    grams, whether it is active) with its price and its availability."""

    sku: Sku
    name: str
    category: str | None
    barcode: str | None
    uom: Annotated[str, Meta(description="Unit of measure the quantities count (`unit` by default).")]
    weight_grams: Annotated[int | None, Meta(description="Weight of one unit in grams, if the ERP has it.")]
    active: Annotated[bool, Meta(description="Whether the ERP has the item active (false: archived).")]
    price: ProductPrice
    availability: ProductAvailability


def _price(facts: ProductFacts) -> ProductPrice:
    found = facts.price()
    if isinstance(found, Unavailable):
        return ProductPrice(status="unknown", reason=found.reason)
    if found is None:
        return ProductPrice(status="unpriced")
    return ProductPrice(
        status="priced",
        amount=found.amount,
        currency=found.currency,
        tax_included=found.tax_included,
        as_of=found.as_of,
    )


def _ship(stocked: Stocked) -> ShipToHome:
    ship = stocked.ship
    if ship is None:
        return ShipToHome(available=0, incoming=0, as_of=None)
    return ShipToHome(available=ship.available, incoming=ship.incoming, as_of=ship.as_of)


def _availability(facts: ProductFacts, stores_shown: int) -> tuple[ProductAvailability, list[str]]:
    """The availability part and the locations it shows (the DCs behind ship-to-home, the stores listed)."""
    stocked = facts.stocked()
    if isinstance(stocked, Unavailable):
        return ProductAvailability(status="unknown", reason=stocked.reason), []
    if stocked.near is not None:
        near = [
            PickupStore(
                store=n.store.id, name=n.store.name, city=n.store.city, distance_km=n.distance_km, available=n.available
            )
            for n in stocked.near
        ]
    else:
        most = sorted(stocked.on_shelf.items(), key=lambda held: (-held[1], held[0]))
        near = [PickupStore(store=store, name=None, city=None, distance_km=None, available=qty) for store, qty in most]
    shown = near[:stores_shown]
    return (
        ProductAvailability(
            status=stocked.status,
            ship_to_home=_ship(stocked),
            pickup=Pickup(stores_with_stock=len(stocked.on_shelf), stores=shown),
        ),
        [*stocked.dcs, *(s.store for s in shown)],
    )


def _degraded(price: ProductPrice, status: str) -> list[str]:
    return [part for part, said in (("price", price.status), ("availability", status)) if said == "unknown"]


def product(facts: ProductFacts, *, stores_shown: int) -> Shown[WebProduct]:
    """The web shop's product from what the layer below said (common/products.py), listing at most
    ``stores_shown`` pickup stores; tagged by its SKU and every location it shows."""
    item = facts.item
    price = _price(facts)
    availability, locations = _availability(facts, stores_shown)
    shown = WebProduct(
        sku=item.sku,
        name=item.name,
        category=item.category,
        barcode=item.barcode,
        uom=item.uom,
        weight_grams=item.weight_grams,
        active=item.active,
        price=price,
        availability=availability,
    )
    tags = [sku_tag(item.sku), *(location_tag(loc) for loc in locations)]
    return Shown(shown, _degraded(price, availability.status), tags)


# --- catalogue search -----------------------------------------------------------------------------------------


class AvailabilitySummary(Model, kw_only=True, omit_defaults=True):
    """A search hit's availability, as a list of results shows it: ``status`` as on the product's page
    (``unknown``: process-availability could not be read just now, ``reason`` says why, and no figure is given);
    ``ship_to_home`` as there; ``stores_with_stock``: how many stores have it for pickup (the product's page lists
    them)."""

    status: Annotated[
        Literal["in_stock", "store_only", "out_of_stock", "unknown"],
        Meta(
            description="`in_stock`: can be delivered; `store_only`: can only be picked up in a store; "
            "`out_of_stock`; `unknown`: availability could not be read now (see `reason`; no other field)."
        ),
    ]
    ship_to_home: ShipToHome | None = None
    stores_with_stock: (
        Annotated[int, Meta(ge=0, description="How many stores have the SKU for pickup now (absent when unknown).")]
        | None
    ) = None
    reason: Annotated[str | None, Meta(description="Only when `unknown`: why availability could not be read.")] = None


class WebProductHit(Model, kw_only=True):
    """One product of a catalogue search as the web shop lists it: the ERP's item (name, category, whether it is
    active: the ERP's search finds archived items too) with its price and a summary of its availability."""

    sku: Sku
    name: str
    category: str | None
    active: Annotated[bool, Meta(description="Whether the ERP has the item active (false: archived).")]
    price: ProductPrice
    availability: AvailabilitySummary


class WebProductPage(Page[WebProductHit], kw_only=True):
    """A page of a catalogue search: ``items`` in the ERP's order, ``next_cursor`` (pass it back as ``cursor``)
    null on the last page."""


def hit(facts: ProductFacts) -> Shown[WebProductHit]:
    """One search hit from what the layer below said; tagged by its SKU."""
    item = facts.item
    price = _price(facts)
    stocked = facts.stocked()
    if isinstance(stocked, Unavailable):
        availability = AvailabilitySummary(status="unknown", reason=stocked.reason)
    else:
        availability = AvailabilitySummary(
            status=stocked.status, ship_to_home=_ship(stocked), stores_with_stock=len(stocked.on_shelf)
        )
    shown = WebProductHit(
        sku=item.sku, name=item.name, category=item.category, active=item.active, price=price, availability=availability
    )
    return Shown(shown, _degraded(price, availability.status), [sku_tag(item.sku)])


def hits(facts: PageFacts) -> Shown[Page[WebProductHit]]:
    """A page of a catalogue search, in the ERP's order, with the next page's cursor; tagged by every SKU on it,
    degraded in the parts any hit lacks."""
    return shown_page([hit(one) for one in facts.products()], facts.next_cursor)
