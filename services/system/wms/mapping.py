"""The WMS's documented shapes and their pure conversions to and from the canonical model.

Vendor *responses* are decoded leniently (a field the 3PL adds must not take us down); vendor *webhooks* are
an input to us and are decoded strictly (``Webhook*`` subclasses forbid unknown fields), as every input is.
Warehouse codes map to canonical locations by rule ("TLB" <-> ``dc-tlb``), so no lookup table is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.models.common import SKU_PATTERN, to_utc
from shared.models.events import (
    DeliveryCompleted,
    Event,
    InventoryCounted,
    ReceiptReceived,
    ShipmentDispatched,
    event_payload,
)
from shared.models.fulfilment import (
    FulfilmentLine,
    FulfilmentOrder,
    FulfilmentOrderRequest,
    Receipt,
    ReceiptRequest,
    Shipment,
)
from shared.models.inventory import StockPosition
from shared.problems import invalid

SOURCE = "wms"
WarehouseCode = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,10}$")]
VendorSku = Annotated[str, Meta(pattern=SKU_PATTERN)]
EventId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]


# --- locations -----------------------------------------------------------------------------------------------


def location_for(warehouse: str) -> str:
    return f"dc-{warehouse.lower()}"


def warehouse_for(location: str) -> str:
    """Only DCs live in the WMS; a store location is a caller's mistake, not an upstream failure."""
    if not location.startswith("dc-"):
        raise invalid(f"location {location} is not a DC; the WMS holds DC stock only")
    return location[3:].upper()


# --- vendor shapes (README.md of sandbox-wms) ------------------------------------------------------------------


class _Vendor(msgspec.Struct, kw_only=True):
    pass


class WmsError(_Vendor, kw_only=True):
    code: str
    message: str
    details: dict[str, Any] | None = None


class WmsErrorEnvelope(_Vendor, kw_only=True):
    error: WmsError


class WmsStock(_Vendor, kw_only=True):
    sku: str
    warehouse: str
    on_hand: int
    allocated: int = 0
    in_transit: int = 0
    updated_at: datetime


class WmsStockPage(_Vendor, kw_only=True):
    items: list[WmsStock]
    next_page_token: str | None = None


class WmsSkuStock(_Vendor, kw_only=True):
    sku: str
    items: list[WmsStock]


class WmsLine(_Vendor, kw_only=True):
    sku: VendorSku
    quantity: Annotated[int, Meta(ge=1)]


class WmsOrderLine(WmsLine, kw_only=True):
    backordered: int = 0


class WmsOrder(_Vendor, kw_only=True):
    id: str
    order_reference: str
    warehouse: str
    status: Literal["received", "picking", "packed", "shipped", "delivered", "cancelled"]
    lines: list[WmsOrderLine]
    shipment_ids: list[str] = []


class WmsOrderList(_Vendor, kw_only=True):
    items: list[WmsOrder]
    next_page_token: str | None = None


class WmsShipment(_Vendor, kw_only=True):
    id: EventId
    order_id: str
    order_reference: str
    warehouse: WarehouseCode
    status: str
    carrier: str
    tracking_number: str
    lines: Sequence[WmsLine]
    dispatched_at: datetime
    delivered_at: datetime | None = None


class WmsReceiptLine(WmsLine, kw_only=True):
    received_quantity: Annotated[int, Meta(ge=0)] = 0


class WmsReceipt(_Vendor, kw_only=True):
    id: str
    reference: str
    warehouse: WarehouseCode
    type: str
    status: Literal["expected", "received", "cancelled"]
    notes: str | None = None
    lines: Sequence[WmsReceiptLine]
    created_at: datetime
    received_at: datetime | None = None


class WmsReceiptList(_Vendor, kw_only=True):
    items: list[WmsReceipt]
    next_page_token: str | None = None


# --- webhooks: strict, because they are inputs ------------------------------------------------------------------


class WebhookEnvelope(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: EventId
    type: Annotated[str, Meta(min_length=1, max_length=100)]
    created_at: datetime
    data: msgspec.Raw


class WebhookLine(WmsLine, kw_only=True, forbid_unknown_fields=True):
    pass


class WebhookReceiptLine(WmsReceiptLine, kw_only=True, forbid_unknown_fields=True):
    pass


class WebhookShipment(WmsShipment, kw_only=True, forbid_unknown_fields=True):
    lines: Sequence[WebhookLine]


class WebhookReceipt(WmsReceipt, kw_only=True, forbid_unknown_fields=True):
    lines: Sequence[WebhookReceiptLine]


class WebhookCount(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: VendorSku
    on_hand: Annotated[int, Meta(ge=0)]


class WebhookStockCounted(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    warehouse: WarehouseCode
    counted_at: datetime
    counts: Annotated[list[WebhookCount], Meta(min_length=1, max_length=1000)]


# --- vendor -> canonical ------------------------------------------------------------------------------------------


def stock_position(row: WmsStock) -> StockPosition:
    return StockPosition(
        sku=row.sku,
        location=location_for(row.warehouse),
        on_hand=max(0, row.on_hand),
        in_transit=max(0, row.in_transit),
        as_of=to_utc(row.updated_at),
        source=SOURCE,
    )


def _lines(lines: Sequence[WmsLine]) -> list[FulfilmentLine]:
    return [FulfilmentLine(sku=line.sku, qty=line.quantity) for line in lines]


def fulfilment_order(order: WmsOrder, *, created: bool = False) -> FulfilmentOrder:
    return FulfilmentOrder(
        ref=order.order_reference,
        location=location_for(order.warehouse),
        wms_id=order.id,
        status=order.status,
        lines=_lines(order.lines),
        created=created,
        shipment_refs=list(order.shipment_ids),
    )


def shipment(row: WmsShipment) -> Shipment:
    return Shipment(
        ref=row.id,
        order_ref=row.order_reference,
        location=location_for(row.warehouse),
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        lines=_lines(row.lines),
        dispatched_at=to_utc(row.dispatched_at),
        delivered_at=to_utc(row.delivered_at) if row.delivered_at else None,
    )


def receipt(row: WmsReceipt, *, created: bool = False) -> Receipt:
    return Receipt(
        ref=row.reference,
        location=location_for(row.warehouse),
        wms_id=row.id,
        status=row.status,
        lines=_lines(row.lines),
        received_at=to_utc(row.received_at) if row.received_at else None,
        created=created,
    )


# --- canonical -> vendor --------------------------------------------------------------------------------------------


def order_body(req: FulfilmentOrderRequest) -> dict[str, Any]:
    ship_to = req.ship_to
    return {
        "order_reference": req.ref,
        "warehouse": warehouse_for(req.location),
        "ship_to": {
            "name": ship_to.name,
            "address1": ship_to.line1,
            "address2": ship_to.line2,
            "city": ship_to.city,
            "postal_code": ship_to.postal_code,
            "country_code": ship_to.country,
            "phone": ship_to.phone,
            "email": ship_to.email,
        },
        "lines": [{"sku": line.sku, "quantity": line.qty} for line in req.lines],
    }


def receipt_body(req: ReceiptRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": req.ref,
        "warehouse": warehouse_for(req.location),
        "type": "return",
        "lines": [{"sku": line.sku, "quantity": line.qty} for line in req.lines],
    }
    if req.reason:
        body["notes"] = req.reason
    return body


def same_lines(a: list[FulfilmentLine], b: list[FulfilmentLine]) -> bool:
    """Same document content regardless of line order: what makes a repeated create a true replay."""
    return Counter((line.sku, line.qty) for line in a) == Counter((line.sku, line.qty) for line in b)


# --- webhooks -> canonical events ----------------------------------------------------------------------------------------


def events_for(envelope: WebhookEnvelope, correlation_id: str | None = None) -> list[tuple[str, Event]]:
    """(domain, event) pairs for one webhook; ids derive from the webhook id so a redelivery dedupes.

    Shipments and receipts become fulfilment facts only: the availability projection applies the stock they
    move from these events, so no ``inventory.adjusted`` is published for them (it would count twice).
    Unknown types yield nothing.
    """
    base = f"{SOURCE}:{envelope.id}"
    if envelope.type in ("shipment.dispatched", "shipment.delivered"):
        row = msgspec.json.decode(envelope.data, type=WebhookShipment)
        location = location_for(row.warehouse)
        if envelope.type == "shipment.dispatched":
            payload = event_payload(
                ShipmentDispatched(
                    shipment_ref=row.id,
                    order_ref=row.order_reference,
                    location=location,
                    carrier=row.carrier,
                    tracking_number=row.tracking_number,
                    lines=_lines(row.lines),
                )
            )
            return [
                (
                    "fulfilment",
                    Event(
                        id=base,
                        type="shipment.dispatched",
                        occurred_at=to_utc(row.dispatched_at),
                        source=SOURCE,
                        correlation_id=correlation_id,
                        key=row.order_reference,
                        payload=payload,
                    ),
                )
            ]
        if row.delivered_at is None:
            raise msgspec.ValidationError("shipment.delivered without delivered_at - at `$.data.delivered_at`")
        payload = event_payload(
            DeliveryCompleted(shipment_ref=row.id, order_ref=row.order_reference, location=location)
        )
        return [
            (
                "fulfilment",
                Event(
                    id=base,
                    type="delivery.completed",
                    occurred_at=to_utc(row.delivered_at),
                    source=SOURCE,
                    correlation_id=correlation_id,
                    key=row.order_reference,
                    payload=payload,
                ),
            )
        ]
    if envelope.type == "receipt.received":
        rec = msgspec.json.decode(envelope.data, type=WebhookReceipt)
        lines = [
            FulfilmentLine(sku=line.sku, qty=line.received_quantity) for line in rec.lines if line.received_quantity > 0
        ]
        payload = event_payload(
            ReceiptReceived(receipt_ref=rec.reference, location=location_for(rec.warehouse), lines=lines)
        )
        return [
            (
                "fulfilment",
                Event(
                    id=base,
                    type="receipt.received",
                    occurred_at=to_utc(rec.received_at or envelope.created_at),
                    source=SOURCE,
                    correlation_id=correlation_id,
                    key=rec.reference,
                    payload=payload,
                ),
            )
        ]
    if envelope.type == "stock.counted":
        counted = msgspec.json.decode(envelope.data, type=WebhookStockCounted)
        location = location_for(counted.warehouse)
        as_of = to_utc(counted.counted_at)
        return [
            (
                "inventory",
                Event(
                    id=f"{base}:{count.sku}",
                    type="inventory.counted",
                    occurred_at=as_of,
                    source=SOURCE,
                    correlation_id=correlation_id,
                    key=f"{count.sku}@{location}",
                    payload=event_payload(
                        InventoryCounted(sku=count.sku, location=location, on_hand=count.on_hand, as_of=as_of)
                    ),
                ),
            )
            for count in counted.counts
        ]
    return []
