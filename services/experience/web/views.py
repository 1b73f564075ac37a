"""How experience-web shows orders and products. Orders: the whole order (a web page has room for it), with links
to what the shopper may do next and the tracking of each parcel once shipped. Products: the ERP's item with its price and its availability for delivery and
for pickup (the nearest stores with stock for a postal code), and what the gateway's cache needs to know of the
answer (whether it is whole, its tags). Pure functions over the layer below's canonical answers; no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from services.experience.common.backends import AVAILABILITY
from services.experience.common.products import ProductFacts, Unavailable
from services.experience.common.views import Priced, Views, priced
from shared.caching import location_tag, sku_tag
from shared.models.availability import AvailabilityQueryResult, StoreAvailability
from shared.models.common import Currency, LocationId, MinorUnits, Model, Sku
from shared.models.orders import Customer, Fulfilment, Order, OrderLine, OrderState, TimelineEntry
from shared.problems import ProblemError

BASE = "/web/v1"


class WebLinks(Model, kw_only=True):
    """Paths (under the gateway's origin) of the order and of what can be done with it."""

    order: str
    timeline: str
    cancel: str


class WebTracking(Model, kw_only=True):
    """One parcel of the order on its way, as the shopper follows it."""

    carrier: Annotated[str, Meta(description="The carrier, as the warehouse names it (`PostNL`, `DHL Parcel`...).")]
    tracking_number: Annotated[str, Meta(description="The carrier's tracking number of the parcel.")]
    url: Annotated[
        str | None,
        Meta(description="The carrier's track-and-trace page of the parcel; null for a carrier without a known one."),
    ]
    shipped_at: Annotated[datetime, Meta(description="When the parcel left the warehouse (UTC).")]


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
        tracking=[
            WebTracking(
                carrier=s.carrier, tracking_number=s.tracking_number, url=s.tracking_url, shipped_at=s.shipped_at
            )
            for s in found.shipments
        ],
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
    """What can be promised for delivery: ATP summed over the DCs and the ship-from-store stores (DESIGN §4);
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


@dataclass(frozen=True, slots=True)
class ShownProduct:
    """A product answer and what the cache contract needs to know of it: the parts that could not be read
    (``degraded``; none: the answer is whole, so a shared cache may keep it) and the tags naming what it depends on
    (``sku:<SKU>``, ``location:<id>``)."""

    product: WebProduct
    degraded: list[str]
    tags: list[str]

    @property
    def whole(self) -> bool:
        return not self.degraded


def _price(sku: str, stock: AvailabilityQueryResult | Unavailable) -> ProductPrice:
    if isinstance(stock, Unavailable):
        return ProductPrice(status="unknown", reason=stock.reason)
    if stock.prices is None:
        # Asked with prices: true; an answer without them breaks process-availability's own contract.
        raise ProblemError(
            "upstream-error", f"{AVAILABILITY}: answered a query with prices without prices", upstream=AVAILABILITY
        )
    found = next((p for p in stock.prices.prices if p.sku == sku), None)
    if found is None:
        return ProductPrice(status="unpriced")
    return ProductPrice(
        status="priced",
        amount=found.amount,
        currency=found.currency,
        tax_included=found.tax_included,
        as_of=found.as_of,
    )


def _near(sku: str, stores: list[StoreAvailability]) -> list[PickupStore]:
    """The stores with ``sku`` on the shelf, in process-availability's order (nearest first)."""
    shown = []
    for near in stores:
        available = sum(line.available for line in near.lines if line.sku == sku)
        if available > 0:
            distance = near.distance_km if math.isfinite(near.distance_km) else None
            shown.append(
                PickupStore(
                    store=near.store.id,
                    name=near.store.name,
                    city=near.store.city,
                    distance_km=distance,
                    available=available,
                )
            )
    return shown


def _availability(facts: ProductFacts, stores_shown: int) -> tuple[ProductAvailability, list[str]]:
    """The availability part and the locations it shows (the DCs behind ship-to-home, the stores listed)."""
    stock, stores = facts.stock, facts.stores
    for part in (stock, stores):
        if isinstance(part, Unavailable):
            return ProductAvailability(status="unknown", reason=part.reason), []
    assert not isinstance(stock, Unavailable)  # for the type checker: the loop returned on it
    found = next((a for a in stock.items if a.sku == facts.item.sku), None)
    positions = found.locations if found is not None else []
    on_shelf = {a.location: a.available for a in positions if a.location.startswith("store-") and a.available > 0}
    if facts.postal is not None:
        near = _near(facts.item.sku, stores) if isinstance(stores, list) else []
    else:
        most = sorted(on_shelf.items(), key=lambda held: (-held[1], held[0]))
        near = [PickupStore(store=store, name=None, city=None, distance_km=None, available=qty) for store, qty in most]
    ship = (
        ShipToHome(available=found.ship.available, incoming=found.ship.incoming, as_of=found.ship.as_of)
        if found is not None
        else ShipToHome(available=0, incoming=0, as_of=None)
    )
    status: Literal["in_stock", "store_only", "out_of_stock"] = (
        "in_stock" if ship.available > 0 else "store_only" if on_shelf else "out_of_stock"
    )
    shown = near[:stores_shown]
    dcs = [a.location for a in positions if a.location.startswith("dc-")]
    return (
        ProductAvailability(
            status=status,
            ship_to_home=ship,
            pickup=Pickup(stores_with_stock=len(on_shelf), stores=shown),
        ),
        [*dcs, *(s.store for s in shown)],
    )


def product(facts: ProductFacts, *, stores_shown: int) -> ShownProduct:
    """The web shop's product from what the layer below said (common/products.py), listing at most
    ``stores_shown`` pickup stores; tagged by its SKU and every location it shows."""
    item = facts.item
    price = _price(item.sku, facts.stock)
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
    degraded = [
        part for part, status in (("price", price.status), ("availability", availability.status)) if status == "unknown"
    ]
    return ShownProduct(shown, degraded, [sku_tag(item.sku), *(location_tag(loc) for loc in locations)])
