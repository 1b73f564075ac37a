"""Returns and the documents they produce: store returns at the POS, credit memos in the ERP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import MAX_LINES, Currency, LocationId, MinorUnits, Model, Qty, Ref, Sku

ReturnState = Literal[
    "return_requested",
    "partially_received",
    "return_received",
    "refunded",
    "restocked",
    "closed",
    "rejected",
]


class ReturnLine(Model, kw_only=True):
    sku: Sku
    qty: Qty
    unit_price: MinorUnits


class CreditMemoRequest(Model, kw_only=True):
    """A credit memo (Odoo ``account.move`` of type ``out_refund``) for our return ``ref``, to the ERP customer
    of ``customer_id`` (never found by name)."""

    ref: Ref
    order_ref: Ref
    customer_id: Ref
    customer_name: Annotated[str, Meta(min_length=1, max_length=200)]
    currency: Currency
    lines: Annotated[list[ReturnLine], Meta(min_length=1, max_length=MAX_LINES)]
    reason: Annotated[str, Meta(max_length=200)] | None = None


class CreditMemo(Model, kw_only=True):
    ref: Ref
    order_ref: str
    erp_id: str
    name: str
    state: str
    currency: Currency
    amount_total: MinorUnits
    created: bool = False


class StoreReturnRequest(Model, kw_only=True):
    """A return taken back at a store counter (a Square return order)."""

    ref: Ref
    store: LocationId
    order_ref: Ref
    lines: Annotated[list[ReturnLine], Meta(min_length=1, max_length=MAX_LINES)]
    currency: Currency


class StoreReturn(Model, kw_only=True):
    ref: Ref
    store: LocationId
    pos_id: str
    order_ref: str
    lines: list[ReturnLine]
    created: bool = False


class Return(Model, kw_only=True):
    id: str
    order_id: str
    owner: str
    state: ReturnState
    lines: list[ReturnLine]
    location: LocationId
    created_at: datetime
    updated_at: datetime
    # Units the DC or store observed arriving, per SKU, once they have: refunds follow these, not the request.
    received: dict[str, int] | None = None
