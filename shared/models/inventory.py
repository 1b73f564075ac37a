"""Locations, stock positions, availability and reservations (DESIGN §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import Count, CountryCode, LocationId, Model, Qty, Sku

LocationType = Literal["dc", "store"]


class Location(Model, kw_only=True):
    id: LocationId
    type: LocationType
    name: str
    country: CountryCode
    postal_code: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    ship_from_store: bool = False
    pickup: bool = False
    source: str
    source_id: str


class StockPosition(Model, kw_only=True):
    sku: Sku
    location: LocationId
    on_hand: Count
    in_transit: Count = 0
    safety_stock: Count = 0
    as_of: datetime
    source: str


class AvailabilityTerm(Model, kw_only=True):
    name: str
    value: int
    source: str
    as_of: datetime


class Availability(Model, kw_only=True):
    sku: Sku
    location: str
    available: Count
    incoming: Count = 0
    as_of: datetime
    staleness_ms: Annotated[int, Meta(ge=0)]
    explain: list[AvailabilityTerm] | None = None


ReservationState = Literal["held", "allocated", "released", "consumed", "expired"]


class Reservation(Model, kw_only=True):
    id: str
    order_id: str
    line_id: str
    sku: Sku
    location: LocationId
    qty: Qty
    state: ReservationState
    expires_at: datetime | None = None
