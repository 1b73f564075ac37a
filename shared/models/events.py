"""The event envelope and the payloads of the facts the system layer publishes (DESIGN §4)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.models.common import Count, LocationId, Model, Sku
from shared.models.fulfilment import FulfilmentLine

SCHEMA_VERSION = 1


class Event(msgspec.Struct, kw_only=True, frozen=True):
    """Envelope on every stream. ``id`` comes from the source system's own event or document id, so a
    re-delivered webhook maps to the same id and is published once."""

    id: str
    type: str
    occurred_at: datetime
    source: str
    correlation_id: str | None = None
    key: str
    schema_version: int = SCHEMA_VERSION
    payload: dict[str, object]


class InventoryCounted(Model, kw_only=True):
    """An absolute count: applies only if newer (``as_of``) than what a projection holds."""

    sku: Sku
    location: LocationId
    on_hand: Count
    as_of: datetime


class InventoryAdjusted(Model, kw_only=True):
    """A delta: applies once, by event id."""

    sku: Sku
    location: LocationId
    delta: int
    reason: str
    as_of: datetime


class ShipmentDispatched(Model, kw_only=True):
    """A parcel left a DC: its carrier and tracking number, and the vendor's own tracking link when the back-end
    gives one (``tracking_url``; absent in facts published before it existed)."""

    shipment_ref: str
    order_ref: str
    location: LocationId
    carrier: str
    tracking_number: str
    lines: list[FulfilmentLine]
    tracking_url: str | None = None


class DeliveryCompleted(Model, kw_only=True):
    shipment_ref: str
    order_ref: str
    location: LocationId


class PickupReady(Model, kw_only=True):
    task_ref: str
    store: LocationId
    lines: list[FulfilmentLine]


class PickupCompleted(Model, kw_only=True):
    task_ref: str
    store: LocationId
    lines: list[FulfilmentLine]


class PickupHeld(Model, kw_only=True):
    """A pickup's units left the till's sellable stock at the store (DESIGN §4, "Store stock promised to
    pickups"). ``counts`` are the absolute on-hand figures the POS reported for the change (each applies only
    if newer); a projection applies them and releases the task's allocation for ``lines`` in one update."""

    task_ref: str
    store: LocationId
    lines: list[FulfilmentLine]
    counts: list[InventoryCounted]


class ReceiptReceived(Model, kw_only=True):
    receipt_ref: str
    location: LocationId
    lines: list[FulfilmentLine]


def event_payload(model: msgspec.Struct) -> dict[str, object]:
    payload: dict[str, object] = msgspec.to_builtins(model)
    return payload
