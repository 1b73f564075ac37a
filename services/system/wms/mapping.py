"""ShipBob's documented shapes (developer API ``2026-01``) and their pure conversions to and from the canonical model.

Vendor answers and webhook payloads are decoded leniently as to fields we do not read (ShipBob adds fields within
a dated version), strictly as to the ones we do: their types and constraints are declared here. Fulfilment
centres map to canonical DCs by their ``abbreviation`` (``"TLB"`` <-> ``dc-tlb``); ``Locations`` holds the map
the connector reads from ``GET /2026-01/location``.

Reference: https://developer.shipbob.com/2026-01/api (OpenAPI ``api-2026-01``: ``Orders.OrderViewModel``,
``Orders.ShipmentViewModel``, ``Inventory.InventoryQuantityFcResponse``, ``Returns.PublicReturnDto``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.models.common import SKU_PATTERN, to_utc
from shared.models.events import DeliveryCompleted, Event, ReceiptReceived, ShipmentDispatched, event_payload
from shared.models.fulfilment import (
    FulfilmentLine,
    FulfilmentOrder,
    FulfilmentOrderRequest,
    FulfilmentOrderStatus,
    Receipt,
    ReceiptRequest,
    ReceiptStatus,
    Shipment,
)
from shared.models.inventory import StockPosition
from shared.problems import ProblemError, invalid

SOURCE = "wms"
API_VERSION = "2026-01"
VendorSku = Annotated[str, Meta(pattern=SKU_PATTERN)]
# The 2026-01 topics system-wms subscribes to (``Webhooks.Topics``); 2026-01 has no receiving topic, so supplier
# deliveries reach the projection through the inventory poll (``inventory_feed.py``).
TOPICS = ("order.shipped", "order.shipment.delivered", "order.shipment.exception", "return.completed")


# --- locations -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Locations:
    """Fulfilment centre ids <-> canonical DC locations, by abbreviation."""

    by_id: dict[int, str]

    @classmethod
    def of(cls, centres: Sequence[SbLocation]) -> Locations:
        return cls({c.id: f"dc-{c.abbreviation.lower()}" for c in centres if c.abbreviation})

    def location(self, centre_id: int) -> str:
        found = self.by_id.get(centre_id)
        if found is None:
            raise ProblemError("upstream-error", f"wms: fulfillment center {centre_id} is not known", upstream="wms")
        return found

    def centre(self, location: str) -> int:
        """Only DCs live in the WMS; a store location is a caller's mistake, not an upstream failure."""
        if not location.startswith("dc-"):
            raise invalid(f"location {location} is not a DC; the WMS holds DC stock only")
        for centre_id, known in self.by_id.items():
            if known == location:
                return centre_id
        raise ProblemError("not-found", f"location {location} is not a fulfillment center of the WMS")


def is_dc(location: str) -> None:
    if not location.startswith("dc-"):
        raise invalid(f"location {location} is not a DC; the WMS holds DC stock only")


# --- vendor shapes --------------------------------------------------------------------------------------------


class _Vendor(msgspec.Struct, kw_only=True):
    pass


class SbChannel(_Vendor, kw_only=True):
    id: int
    name: str | None = None
    scopes: list[str] | None = None


class SbChannels(_Vendor, kw_only=True):
    items: list[SbChannel] | None = None


class SbLocation(_Vendor, kw_only=True):
    id: int
    name: str | None = None
    abbreviation: str | None = None


class SbFcQuantity(_Vendor, kw_only=True):
    location_id: int
    on_hand_quantity: int = 0
    committed_quantity: int = 0
    awaiting_quantity: int = 0


class SbFcLevels(_Vendor, kw_only=True):
    inventory_id: int
    sku: str | None = None
    locations: list[SbFcQuantity] | None = None


class SbFcLevelsPage(_Vendor, kw_only=True):
    items: list[SbFcLevels] | None = None
    next: str | None = None


class SbHistoryEvent(_Vendor, kw_only=True):
    inventory_audit_event_id: int
    inventory_id: int
    event_category: str | None = None
    event_datetime: datetime


class SbHistoryPage(_Vendor, kw_only=True):
    data: list[SbHistoryEvent] | None = None
    next: str | None = None


class SbOrderProduct(_Vendor, kw_only=True):
    reference_id: str | None = None
    sku: str | None = None
    quantity: int


class SbInventoryItem(_Vendor, kw_only=True):
    id: int
    quantity: int


class SbShipmentProduct(_Vendor, kw_only=True):
    reference_id: str | None = None
    sku: str | None = None
    inventory_items: list[SbInventoryItem] | None = None


class SbCentre(_Vendor, kw_only=True):
    id: int
    name: str | None = None


class SbTracking(_Vendor, kw_only=True):
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


class SbStatusDetail(_Vendor, kw_only=True):
    """One of a shipment's ``status_details`` (``Orders.StatusDetailViewModel``): why it is held or in exception."""

    name: str | None = None
    description: str | None = None
    inventory_id: int | None = None


class SbShipment(_Vendor, kw_only=True):
    id: int
    order_id: int
    reference_id: str | None = None
    status: str
    status_details: list[SbStatusDetail] | None = None
    location: SbCentre | None = None
    products: list[SbShipmentProduct] | None = None
    tracking: SbTracking | None = None
    created_date: datetime | None = None
    actual_fulfillment_date: datetime | None = None
    delivery_date: datetime | None = None
    last_update_at: datetime | None = None


class SbOrder(_Vendor, kw_only=True):
    id: int
    reference_id: str | None = None
    status: Literal["Processing", "Exception", "PartiallyFulfilled", "Fulfilled", "Cancelled", "ImportReview"]
    products: list[SbOrderProduct] | None = None
    shipments: list[SbShipment] | None = None


class SbCancelResult(_Vendor, kw_only=True):
    shipment_id: int
    is_success: bool
    reason: str | None = None


class SbCanceledOrder(_Vendor, kw_only=True):
    order_id: int
    status: Literal["Success", "Failure", "PartialSuccess"]
    order: SbOrder | None = None
    canceled_shipment_results: list[SbCancelResult] | None = None


class SbActionTaken(_Vendor, kw_only=True):
    quantity_processed: int = 0


class SbReturnItem(_Vendor, kw_only=True):
    id: int
    sku: str | None = None
    quantity: int
    action_taken: list[SbActionTaken] | None = None


class SbReturn(_Vendor, kw_only=True):
    id: int
    reference_id: str | None = None
    status: str | None = None
    fulfillment_center: SbCentre | None = None
    inventory: list[SbReturnItem] | None = None
    completed_date: datetime | None = None


class SbReturnPage(_Vendor, kw_only=True):
    items: list[SbReturn] | None = None


class SbSubscription(_Vendor, kw_only=True):
    id: str
    url: str
    topics: list[str]


class SbSubscriptions(_Vendor, kw_only=True):
    items: list[SbSubscription] | None = None


# --- vendor -> canonical ---------------------------------------------------------------------------------------


def stock_positions(
    levels: SbFcLevels, locations: Locations, as_of: datetime, only: int | None = None
) -> list[StockPosition]:
    """One position per fulfilment centre holding a level; ``as_of`` = when the levels were read (ShipBob's
    levels carry no time of their own)."""
    if not levels.sku:
        return []
    return [
        StockPosition(
            sku=levels.sku,
            location=locations.location(q.location_id),
            on_hand=max(0, q.on_hand_quantity),
            in_transit=max(0, q.awaiting_quantity),
            as_of=as_of,
            source=SOURCE,
        )
        for q in levels.locations or []
        if (only is None or q.location_id == only) and q.location_id in locations.by_id
    ]


def _sku(product: SbOrderProduct | SbShipmentProduct | SbReturnItem) -> str:
    sku = getattr(product, "reference_id", None) or product.sku
    if not sku:
        raise ProblemError("upstream-error", "wms: a product without a SKU", upstream="wms")
    return sku


def _merge(lines: Sequence[tuple[str, int]]) -> list[FulfilmentLine]:
    totals = Counter[str]()
    for sku, qty in lines:
        totals[sku] += qty
    return [FulfilmentLine(sku=sku, qty=qty) for sku, qty in totals.items() if qty > 0]


def shipment_lines(shipment: SbShipment) -> list[FulfilmentLine]:
    return _merge([(_sku(p), sum(i.quantity for i in p.inventory_items or [])) for p in shipment.products or []])


def order_status(order: SbOrder) -> FulfilmentOrderStatus:
    """ShipBob's order status in canonical terms: shipped once any parcel left (``PartiallyFulfilled`` included:
    the rest is still on its way out), delivered once every live parcel was."""
    if order.status == "Cancelled":
        return "cancelled"
    if order.status in ("Fulfilled", "PartiallyFulfilled"):
        live = [s for s in order.shipments or [] if s.status != "Cancelled"]
        if order.status == "Fulfilled" and live and all(s.delivery_date is not None for s in live):
            return "delivered"
        return "shipped"
    return "received"


def fulfilment_order(order: SbOrder, locations: Locations, *, created: bool = False) -> FulfilmentOrder:
    shipments = order.shipments or []
    centre = next((s.location.id for s in shipments if s.location is not None), None)
    if centre is None or not order.reference_id:
        raise ProblemError("upstream-error", f"wms: order {order.id} has no fulfillment center", upstream="wms")
    return FulfilmentOrder(
        ref=order.reference_id,
        location=locations.location(centre),
        wms_id=str(order.id),
        status=order_status(order),
        lines=_merge([(_sku(p), p.quantity) for p in order.products or []]),
        created=created,
        # Parcels in the order they left (a split-off parcel may carry a higher id than the rest of the order).
        shipment_refs=[
            str(s.id)
            for s in sorted(shipments, key=lambda s: (s.actual_fulfillment_date or s.created_date or 0, s.id))
            if s.tracking is not None and s.tracking.tracking_number
        ],
    )


def shipment(row: SbShipment, locations: Locations) -> Shipment:
    if row.tracking is None or not row.tracking.tracking_number or row.location is None:
        raise ProblemError("not-found", f"shipment {row.id} has not shipped")
    return Shipment(
        ref=str(row.id),
        order_ref=row.reference_id or str(row.order_id),
        location=locations.location(row.location.id),
        carrier=row.tracking.carrier or "unknown",
        tracking_number=row.tracking.tracking_number,
        lines=shipment_lines(row),
        dispatched_at=to_utc(row.actual_fulfillment_date or row.last_update_at or row.created_date),  # type: ignore[arg-type]
        delivered_at=to_utc(row.delivery_date) if row.delivery_date else None,
    )


RETURN_STATUS: dict[str, ReceiptStatus] = {"Completed": "received", "Cancelled": "cancelled"}


def returned_lines(row: SbReturn) -> list[FulfilmentLine]:
    """What the warehouse processed (``action_taken[].quantity_processed``): facts, not what was announced."""
    return _merge([(_sku(i), sum(a.quantity_processed for a in i.action_taken or [])) for i in row.inventory or []])


def receipt(row: SbReturn, locations: Locations, *, created: bool = False) -> Receipt:
    if row.fulfillment_center is None or not row.reference_id:
        raise ProblemError("upstream-error", f"wms: return {row.id} has no fulfillment center", upstream="wms")
    return Receipt(
        ref=row.reference_id,
        location=locations.location(row.fulfillment_center.id),
        wms_id=str(row.id),
        status=RETURN_STATUS.get(row.status or "", "expected"),
        lines=_merge([(_sku(i), i.quantity) for i in row.inventory or []]),
        received_at=to_utc(row.completed_date) if row.completed_date else None,
        created=created,
    )


# --- canonical -> vendor --------------------------------------------------------------------------------------------


def order_body(req: FulfilmentOrderRequest, centre_id: int, shipping_method: str) -> dict[str, Any]:
    """``Orders.CreateOrderModel``: our ref is ``reference_id`` (unique per channel at ShipBob), products by
    ``reference_id`` (the SKU) without a name, so an unknown SKU is refused rather than created."""
    ship_to = req.ship_to
    return {
        "reference_id": req.ref,
        "order_number": req.ref,
        "type": "DTC",
        "shipping_method": shipping_method,
        "location_id": centre_id,
        "recipient": {
            "name": ship_to.name,
            "address": {
                "address1": ship_to.line1,
                "address2": ship_to.line2,
                "city": ship_to.city,
                "country": ship_to.country,
                "zip_code": ship_to.postal_code,
            },
            "email": ship_to.email,
            "phone_number": ship_to.phone,
        },
        "products": [{"reference_id": line.sku, "quantity": line.qty} for line in req.lines],
    }


def return_body(req: ReceiptRequest, centre_id: int, inventory_ids: dict[str, int]) -> dict[str, Any]:
    """``Returns.CreateReturnRequest``: our ref is the RMA ``reference_id``; units go back to stock."""
    return {
        "reference_id": req.ref,
        "fulfillment_center": {"id": centre_id},
        "inventory": [
            {"id": inventory_ids[line.sku], "quantity": line.qty, "requested_action": "Restock"} for line in req.lines
        ],
    }


def same_lines(a: list[FulfilmentLine], b: list[FulfilmentLine]) -> bool:
    """Same document content regardless of line order: what makes a repeated create a true replay."""
    return Counter((line.sku, line.qty) for line in a) == Counter((line.sku, line.qty) for line in b)


def exception_summary(body: bytes) -> str:
    """What an ``order.shipment.exception`` delivery says, for the operator's log: our order reference, the
    shipment, its centre and ShipBob's reasons (``status_details``: name and description, e.g. ``OutOfStock``).
    Raises ``msgspec`` errors on a payload that is not a shipment."""
    row = msgspec.json.decode(body, type=SbShipment)
    reasons = "; ".join(
        f"{d.name or 'unnamed'} ({d.description})" if d.description else (d.name or "unnamed")
        for d in row.status_details or []
    )
    centre = (row.location.name or row.location.id) if row.location else "unknown centre"
    return (
        f"order {row.reference_id or '?'} shipment {row.id} at {centre} is in exception: {reasons or 'no reason given'}"
    )


# --- webhooks -> canonical events ----------------------------------------------------------------------------------------


def events_for(
    topic: str, delivery_id: str, body: bytes, locations: Locations, correlation_id: str | None = None
) -> list[tuple[str, Event]]:
    """(domain, event) pairs for one delivery; ids derive from ``webhook-id`` (stable across ShipBob's retries),
    so a redelivery dedupes. ShipBob fires ``order.shipped`` once per shipment, so an order split into parcels
    gives one ``shipment.dispatched`` per parcel, each with its own lines. ``order.shipment.exception`` (and any
    topic not handled) yields nothing: the canonical model has no fact for it (the webhook logs it for operators,
    ``exception_summary``). Raises ``msgspec`` errors on a payload that lacks what the topic needs."""
    base = f"{SOURCE}:{delivery_id}"
    if topic in ("order.shipped", "order.shipment.delivered"):
        row = msgspec.json.decode(body, type=SbShipment)
        if row.location is None or not row.reference_id:
            raise msgspec.ValidationError(f"{topic} without location or reference_id")
        location = locations.location(row.location.id)
        if topic == "order.shipped":
            if row.tracking is None or not row.tracking.tracking_number:
                raise msgspec.ValidationError("order.shipped without tracking - at `$.tracking`")
            payload = event_payload(
                ShipmentDispatched(
                    shipment_ref=str(row.id),
                    order_ref=row.reference_id,
                    location=location,
                    carrier=row.tracking.carrier or "unknown",
                    tracking_number=row.tracking.tracking_number,
                    lines=shipment_lines(row),
                    tracking_url=row.tracking.tracking_url,
                )
            )
            at = row.actual_fulfillment_date or row.last_update_at
            kind = "shipment.dispatched"
        else:
            payload = event_payload(
                DeliveryCompleted(shipment_ref=str(row.id), order_ref=row.reference_id, location=location)
            )
            at = row.delivery_date
            kind = "delivery.completed"
        if at is None:
            raise msgspec.ValidationError(f"{topic} without its date")
        event = Event(
            id=base,
            type=kind,
            occurred_at=to_utc(at),
            source=SOURCE,
            correlation_id=correlation_id,
            key=row.reference_id,
            payload=payload,
        )
        return [("fulfilment", event)]
    if topic == "return.completed":
        ret = msgspec.json.decode(body, type=SbReturn)
        if ret.fulfillment_center is None or not ret.reference_id or ret.completed_date is None:
            raise msgspec.ValidationError("return.completed without fulfillment_center, reference_id or completed_date")
        payload = event_payload(
            ReceiptReceived(
                receipt_ref=ret.reference_id,
                location=locations.location(ret.fulfillment_center.id),
                lines=returned_lines(ret),
            )
        )
        event = Event(
            id=base,
            type="receipt.received",
            occurred_at=to_utc(ret.completed_date),
            source=SOURCE,
            correlation_id=correlation_id,
            key=ret.reference_id,
            payload=payload,
        )
        return [("fulfilment", event)]
    return []
