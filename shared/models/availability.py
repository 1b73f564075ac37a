"""The process-availability contract: ATP reads, reservations, prices, reconciliation (DESIGN §4, §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.catalog import Price
from shared.models.common import MAX_LINES, Count, Currency, LocationId, MinorUnits, Model, Qty, Ref, Sku
from shared.models.inventory import Availability, Location, Reservation

MAX_QUERY_SKUS = 500
OWNER_PATTERN = r"^(web|mobile|partner|ops):[A-Za-z0-9._:-]{1,64}$"
Owner = Annotated[str, Meta(pattern=OWNER_PATTERN, description="`<channel>:<customer or partner id>`")]


class SkuAvailability(Model, kw_only=True):
    """ATP of one SKU: ship-to-home (DCs + ship-from-store stores) and per location."""

    sku: Sku
    ship: Availability
    locations: list[Availability]
    as_of: datetime


class AvailabilityQuery(Model, kw_only=True):
    skus: Annotated[list[Sku], Meta(min_length=1, max_length=MAX_QUERY_SKUS)]
    locations: Annotated[list[LocationId], Meta(max_length=1000)] | None = None
    explain: bool = False
    # True: answer the SKUs' prices from the price projection too (as POST /prices/query would), so a
    # checkout needs one hop for stock and prices.
    prices: bool = False


class AvailabilityQueryResult(Model, kw_only=True):
    items: list[SkuAvailability]
    unknown: list[str] = []
    # Only when the query asked for prices.
    prices: PriceQueryResult | None = None


class BasketLine(Model, kw_only=True):
    sku: Sku
    qty: Qty


class StoreLineAvailability(Model, kw_only=True):
    sku: Sku
    available: Count


class StoreAvailability(Model, kw_only=True):
    store: Location
    distance_km: float
    complete: bool
    lines: list[StoreLineAvailability]


# --- reservations ---------------------------------------------------------------------------------------------


class ReservationLineRequest(Model, kw_only=True):
    line_id: Ref
    sku: Sku
    location: LocationId
    qty: Qty


class ReservationRequest(Model, kw_only=True):
    """Hold stock for an order's lines, all or nothing. Idempotent by (order_id, line_id)."""

    order_id: Ref
    owner: Owner
    lines: Annotated[list[ReservationLineRequest], Meta(min_length=1, max_length=MAX_LINES)]
    ttl_s: Annotated[int, Meta(ge=10, le=86_400)] = 900
    # True: held -> allocated in the same atomic update (a reserve and a commit in one call, one hop fewer
    # for a caller that accepts the order at once). A replay promotes a set still held; an expired or
    # released set answers as a commit would (410 / 409).
    allocate: bool = False
    # Which placement attempt of the order this is. A released or expired set is "gone" to a replay of its own
    # attempt (a late retry must not hold stock again), but a later attempt of the same order (an order that
    # was not accepted and is placed again under the same Idempotency-Key) starts a fresh set.
    attempt: Annotated[int, Meta(ge=1, le=1_000)] = 1


ReservationSetState = Literal["held", "allocated", "released", "expired", "consumed"]


class ReservationSet(Model, kw_only=True):
    """All reservations of one order; the path id of /reservations/{id}/… is the order id."""

    order_id: Ref
    owner: str
    state: ReservationSetState
    lines: list[Reservation]
    expires_at: datetime | None = None


class ExtendRequest(Model, kw_only=True):
    ttl_s: Annotated[int, Meta(ge=10, le=86_400)]


# --- prices ---------------------------------------------------------------------------------------------------


class PriceQuery(Model, kw_only=True):
    skus: Annotated[list[Sku], Meta(min_length=1, max_length=MAX_QUERY_SKUS)]


class PriceQueryResult(Model, kw_only=True):
    prices: list[Price]
    missing: list[str] = []


# --- reconciliation -------------------------------------------------------------------------------------------


class ReconciliationRequest(Model, kw_only=True):
    locations: Annotated[list[LocationId], Meta(max_length=1000)] | None = None


class DriftRow(Model, kw_only=True):
    sku: Sku
    location: LocationId
    projected: int
    actual: int
    source: str


class Reconciliation(Model, kw_only=True):
    id: str
    state: Literal["running", "done", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    drift: list[DriftRow] = []
    repaired: int = 0
    erp_drift: list[DriftRow] = []
    error: str | None = None


# --- events ---------------------------------------------------------------------------------------------------


class LocationAtp(Model, kw_only=True):
    location: str
    available: Count


class AvailabilityChanged(Model, kw_only=True):
    """Payload of ``availability.changed`` (domain ``availability``): the new ATP of every location the change
    touched and the SKU's new ship-to-home ATP. Published after every applied change, reservations included."""

    sku: Sku
    locations: list[LocationAtp]
    ship: Count
    as_of: datetime


class PriceApplied(Model, kw_only=True):
    """Payload of ``price.applied`` (domain ``catalog``, key = SKU): the price projection now holds a different
    price for ``sku`` (amount, currency or tax inclusion changed, or a SKU new to a synced projection). Published
    in the same atomic update as the projection write, from a ``price.changed`` event or a full sync alike; a
    price applied again unchanged (a re-delivery, a re-sync, a newer ``as_of`` with the same figures) publishes
    nothing. Caches of answers that carry a price purge on it (DESIGN §5), never on the ERP's raw events.

    ``amount`` is in minor units of ``currency``; ``as_of`` is the ERP's time of the price (Odoo ``write_date``);
    ``previous_amount`` is what the projection held before, in minor units of the previous price's currency
    (``currency`` unless the currency changed), or null for a SKU that had no price in the projection."""

    sku: Sku
    amount: MinorUnits
    currency: Currency
    tax_included: bool
    as_of: datetime
    previous_amount: MinorUnits | None


class ReservationExpiredLine(Model, kw_only=True):
    line_id: str
    sku: Sku
    location: str
    qty: Qty


class ReservationExpired(Model, kw_only=True):
    """Payload of ``reservation.expired`` (domain ``availability``, key = order id): a held set timed out and
    its stock went back to ATP."""

    order_id: str
    owner: str
    lines: list[ReservationExpiredLine]
