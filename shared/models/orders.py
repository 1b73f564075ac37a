"""Orders and the ERP sales-order documents the order saga creates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import (
    MAX_LINES,
    Address,
    Currency,
    LocationId,
    MinorUnits,
    Model,
    Qty,
    Ref,
    Sku,
    duplicate_line_ids,
)
from shared.models.fulfilment import FulfilmentLine

OrderState = Literal[
    "received",
    "reserved",
    "accepted",
    "pending_backend",
    "confirmed",
    "released",
    "shipped",
    "ready_for_pickup",
    "delivered",
    "picked_up",
    "rejected",
    "cancelled",
    "failed",
    "return_requested",
    "return_received",
    "refunded",
    "restocked",
]

FulfilmentMode = Literal["ship", "pickup"]


class OrderLine(Model, kw_only=True):
    line_id: Ref
    sku: Sku
    qty: Qty
    unit_price: MinorUnits
    location: LocationId | None = None


class Fulfilment(Model, kw_only=True):
    """How an order is fulfilled, as stored on it: ``ship`` to ``ship_to``, or ``pickup`` at ``store``."""

    mode: FulfilmentMode
    ship_to: Address | None = None
    store: LocationId | None = None
    allow_partial: bool = False


class ShipToAddress(Model, kw_only=True, tag="ship", tag_field="mode"):
    """A request to deliver the order to ``ship_to`` (``"mode": "ship"``)."""

    ship_to: Address
    allow_partial: bool = False

    def canonical(self) -> Fulfilment:
        return Fulfilment(mode="ship", ship_to=self.ship_to, allow_partial=self.allow_partial)


class PickupInStore(Model, kw_only=True, tag="pickup", tag_field="mode"):
    """A request to have the order picked up at ``store`` (``"mode": "pickup"``)."""

    store: LocationId
    allow_partial: bool = False

    def canonical(self) -> Fulfilment:
        return Fulfilment(mode="pickup", store=self.store, allow_partial=self.allow_partial)


# What a channel asks for, told apart by ``mode``: each mode with exactly the fields it needs (so the schema
# says what a valid request is, and a generator or a client can build one from it alone).
FulfilmentRequest = ShipToAddress | PickupInStore


def requested(fulfilment: Fulfilment) -> FulfilmentRequest:
    """The request a stored fulfilment was made from."""
    if fulfilment.mode == "ship":
        if fulfilment.ship_to is None:
            raise ValueError("a ship fulfilment without ship_to")
        return ShipToAddress(ship_to=fulfilment.ship_to, allow_partial=fulfilment.allow_partial)
    if fulfilment.store is None:
        raise ValueError("a pickup fulfilment without store")
    return PickupInStore(store=fulfilment.store, allow_partial=fulfilment.allow_partial)


class Customer(Model, kw_only=True):
    id: Ref
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(max_length=200)] | None = None


class OrderShipment(Model, kw_only=True):
    """One parcel of the order on its way: what a ``shipment.dispatched`` fact said about it (DESIGN §4). A split
    order ships as several parcels, each its own. ``shipment_ref`` is the back-end's shipment id (the WMS's; one
    parcel is recorded once, however often its fact is delivered); ``tracking_url`` is the vendor's own link if it
    gave one, else the carrier's public track-and-trace page (process-orders' carrier table), null for a carrier
    that table does not know; ``shipped_at`` is when it left ``location`` (UTC); ``lines`` are the units in it, per
    SKU, as the fact lists them."""

    shipment_ref: Annotated[str, Meta(description="The back-end's shipment id (the WMS's `shp_...`).")]
    carrier: Annotated[str, Meta(description="The carrier, as the warehouse names it (`PostNL`, `DHL Parcel`...).")]
    tracking_number: Annotated[str, Meta(description="The carrier's tracking number (barcode) of the parcel.")]
    tracking_url: Annotated[
        str | None,
        Meta(
            description="Where the customer follows the parcel: the vendor's link, else the carrier's public "
            "track-and-trace page; null for a carrier without a known page."
        ),
    ] = None
    shipped_at: Annotated[datetime, Meta(description="When the parcel left the DC (UTC).")]
    location: LocationId
    lines: Annotated[list[FulfilmentLine], Meta(description="The units in the parcel, per SKU.")] = []


class Order(Model, kw_only=True):
    id: Ref
    owner: str
    state: OrderState
    customer: Customer
    fulfilment: Fulfilment
    lines: Annotated[list[OrderLine], Meta(min_length=1, max_length=MAX_LINES)]
    currency: Currency
    subtotal: MinorUnits
    tax: MinorUnits
    total: MinorUnits
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    # Why the order is rejected, failed, cancelled or waiting (pending_backend); absent otherwise.
    reason: str | None = None
    # The parcels shipped so far, in the order their facts were applied (empty before the DC ships; an answer
    # stored before shipments were kept decodes with none).
    shipments: list[OrderShipment] = []


class TimelineEntry(Model, kw_only=True):
    at: datetime
    state: str
    system: str
    document_id: str | None = None
    correlation_id: str | None = None
    detail: str | None = None


# --- the process-orders contract ----------------------------------------------------------------------------


class OrderLineRequest(Model, kw_only=True):
    line_id: Ref
    sku: Sku
    qty: Qty


class OrderRequest(Model, kw_only=True):
    """What a channel submits. Unit prices come from the price projection, not from the caller."""

    customer: Customer
    fulfilment: FulfilmentRequest
    lines: Annotated[list[OrderLineRequest], Meta(min_length=1, max_length=MAX_LINES)]
    currency: Currency
    payment_reference: Annotated[str, Meta(min_length=1, max_length=200)]

    def duplicate_line_ids(self) -> list[str]:
        """Line ids given to more than one line (422 ``unprocessable``, not 400: see :func:`duplicate_line_ids`)."""
        return duplicate_line_ids(self.lines)


class CancelRequest(Model, kw_only=True):
    reason: Annotated[str, Meta(max_length=500)] | None = None


class ReturnLineRequest(Model, kw_only=True):
    line_id: Ref
    qty: Qty


class ReturnRequest(Model, kw_only=True):
    lines: Annotated[list[ReturnLineRequest], Meta(min_length=1, max_length=MAX_LINES)]
    location: LocationId
    reason: Annotated[str, Meta(max_length=500)] | None = None

    def duplicate_line_ids(self) -> list[str]:
        """Order lines named more than once (422, as in an order: one return line per order line)."""
        return duplicate_line_ids(self.lines)


# --- ERP sales orders (system-erp) -------------------------------------------------------------------------


class SalesOrderLine(Model, kw_only=True):
    sku: Sku
    qty: Qty
    unit_price: MinorUnits


class SalesOrderRequest(Model, kw_only=True):
    """Create a sales order for our order ``ref``; the ref is the ERP's ``client_order_ref`` (dedup key). The
    ERP customer is found (or created) by ``customer_id`` (Odoo ``res.partner.ref``), never by the name."""

    ref: Ref
    customer_id: Ref
    customer_name: Annotated[str, Meta(min_length=1, max_length=200)]
    currency: Currency
    lines: Annotated[list[SalesOrderLine], Meta(min_length=1, max_length=MAX_LINES)]
    note: Annotated[str, Meta(max_length=1000)] | None = None


SalesOrderState = Literal["draft", "sent", "sale", "done", "cancel"]


class SalesOrder(Model, kw_only=True):
    ref: Ref
    erp_id: str
    name: str
    state: SalesOrderState
    currency: Currency
    amount_total: MinorUnits
    lines: list[SalesOrderLine]
    created: bool = False


# --- the document sweep (process-orders) ---------------------------------------------------------------------


class DocumentReconciliationRequest(Model, kw_only=True):
    """Which orders to compare with the back-ends' documents: these ids, or every order created in the last
    ``days`` (default: the deployable's sweep window)."""

    order_ids: Annotated[list[Ref], Meta(max_length=1000)] | None = None
    days: Annotated[float, Meta(gt=0, le=366)] | None = None


DocumentSystem = Literal["erp", "wms", "pos"]
MismatchKind = Literal["duplicate", "orphan", "missing", "not_cancellable", "unexpected_state"]


class DocumentMismatch(Model, kw_only=True):
    """One difference between an order (or return) and the documents a back-end holds for it."""

    order_id: str
    return_id: str | None = None
    system: DocumentSystem
    document: str | None = None
    kind: MismatchKind
    detail: str
    repaired: bool = False


class DocumentReconciliation(Model, kw_only=True):
    id: str
    state: Literal["running", "done", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    orders_checked: int = 0
    mismatches: list[DocumentMismatch] = []
    repaired: int = 0
    error: str | None = None
