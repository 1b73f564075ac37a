"""Orders and the ERP sales-order documents the order saga creates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import MAX_LINES, Address, Currency, LocationId, MinorUnits, Model, Qty, Ref, Sku

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
    mode: FulfilmentMode
    ship_to: Address | None = None
    store: LocationId | None = None
    allow_partial: bool = False


class Customer(Model, kw_only=True):
    id: Ref
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(max_length=200)] | None = None


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
    fulfilment: Fulfilment
    lines: Annotated[list[OrderLineRequest], Meta(min_length=1, max_length=MAX_LINES)]
    currency: Currency
    payment_reference: Annotated[str, Meta(min_length=1, max_length=200)]

    def __post_init__(self) -> None:
        """Rules across fields, checked wherever a request is decoded (msgspec turns the ValueError into a
        validation error: the same 400 as a field that breaks its own rule)."""
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("line ids must be unique within an order (duplicate line_id)")
        if self.fulfilment.mode == "ship" and self.fulfilment.ship_to is None:
            raise ValueError("a ship order needs fulfilment.ship_to")
        if self.fulfilment.mode == "pickup" and self.fulfilment.store is None:
            raise ValueError("a pickup order needs fulfilment.store")


class CancelRequest(Model, kw_only=True):
    reason: Annotated[str, Meta(max_length=500)] | None = None


class ReturnLineRequest(Model, kw_only=True):
    line_id: Ref
    qty: Qty


class ReturnRequest(Model, kw_only=True):
    lines: Annotated[list[ReturnLineRequest], Meta(min_length=1, max_length=MAX_LINES)]
    location: LocationId
    reason: Annotated[str, Meta(max_length=500)] | None = None


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
