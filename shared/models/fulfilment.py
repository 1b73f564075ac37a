"""Fulfilment documents: WMS fulfilment orders and shipments, store pickup tasks, receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import MAX_LINES, Address, LocationId, Model, Qty, Ref, Sku


class FulfilmentLine(Model, kw_only=True):
    sku: Sku
    qty: Qty


class FulfilmentOrderRequest(Model, kw_only=True):
    ref: Ref
    location: LocationId
    ship_to: Address
    lines: Annotated[list[FulfilmentLine], Meta(min_length=1, max_length=MAX_LINES)]


FulfilmentOrderStatus = Literal["received", "picking", "packed", "shipped", "delivered", "cancelled"]


class FulfilmentOrder(Model, kw_only=True):
    ref: Ref
    location: LocationId
    wms_id: str
    status: FulfilmentOrderStatus
    lines: list[FulfilmentLine]
    created: bool = False
    shipment_refs: list[str] = []


class Shipment(Model, kw_only=True):
    ref: str
    order_ref: str
    location: LocationId
    carrier: str
    tracking_number: str
    lines: list[FulfilmentLine]
    dispatched_at: datetime
    delivered_at: datetime | None = None


class PickupTaskRequest(Model, kw_only=True):
    ref: Ref
    store: LocationId
    customer_name: Annotated[str, Meta(min_length=1, max_length=200)]
    lines: Annotated[list[FulfilmentLine], Meta(min_length=1, max_length=MAX_LINES)]


PickupTaskStatus = Literal["proposed", "reserved", "prepared", "completed", "canceled"]


class PickupTask(Model, kw_only=True):
    ref: Ref
    store: LocationId
    pos_id: str
    status: PickupTaskStatus
    lines: list[FulfilmentLine]
    created: bool = False


class ReceiptRequest(Model, kw_only=True):
    """Announce an expected return receipt at a DC (the WMS reports it received by webhook)."""

    ref: Ref
    location: LocationId
    lines: Annotated[list[FulfilmentLine], Meta(min_length=1, max_length=MAX_LINES)]
    reason: Annotated[str, Meta(max_length=200)] | None = None


ReceiptStatus = Literal["expected", "received", "cancelled"]


class Receipt(Model, kw_only=True):
    ref: Ref
    location: LocationId
    wms_id: str
    status: ReceiptStatus
    lines: list[FulfilmentLine]
    received_at: datetime | None = None
    created: bool = False
