"""Pure conversions between Square's v2 shapes and Omnigate's canonical model (no I/O here).

Choices made where Square and the canonical model do not line up:

- **Store ids.** A Square location has no merchant code, so a store's canonical id is ``store-`` + its
  location id lower-cased (``L1A2B3`` -> ``store-l1a2b3``); the id map in Redis still records the pair.
- **Ship from store.** Square has no such flag. A location ships from store when its ``description``
  (the free-text field a merchant edits in the Square Dashboard) contains the marker ``#ship-from-store``.
  Every active Square location takes pickups.
- **Counts.** Only ``IN_STOCK`` counts of ``ITEM_VARIATION`` objects are stock on hand. Square quantities are
  decimal strings and may be negative (Square lets a sale overdraw); the canonical on-hand is a whole,
  non-negative count, so fractions are truncated and a negative count is reported as 0.
- **Pickup holds.** A pickup's units leave the till's sellable stock with an ADJUSTMENT ``IN_STOCK -> SOLD``
  (Square's InventoryState docs: RESERVED_FOR_SALE cannot be written through the API) carrying the task ref
  as ``reference_id``; since SOLD is not tracked, they come back with ``NONE -> IN_STOCK``, the documented way
  to introduce stock. Both bodies are built from the Square order's own line items and a timestamp fixed at
  the first attempt, so a retry is byte for byte the request Square remembers under its idempotency key.
- **Vendor shapes are read tolerantly**: the Structs below ignore fields they do not name, so a Square
  release that adds fields does not break the connector; what they do name is type-checked.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import msgspec

from shared.models.common import to_utc
from shared.models.events import Event, InventoryCounted, PickupCompleted, PickupHeld, PickupReady, event_payload
from shared.models.fulfilment import FulfilmentLine, PickupTask, PickupTaskRequest, PickupTaskStatus
from shared.models.inventory import Location, StockPosition
from shared.models.returns import StoreReturn, StoreReturnRequest

SOURCE = "pos"
SHIP_FROM_STORE_MARKER = "#ship-from-store"
STORE_PREFIX = "store-"
FULFILLMENT_STATUS: dict[str, PickupTaskStatus] = {
    "PROPOSED": "proposed",
    "RESERVED": "reserved",
    "PREPARED": "prepared",
    "COMPLETED": "completed",
    "CANCELED": "canceled",
    "FAILED": "canceled",
}
PICKUP_EVENTS = {"PREPARED": "pickup.ready", "COMPLETED": "pickup.completed"}
# Fulfillment states after which a pickup's units no longer wait on the shelf for the customer.
PICKUP_OVER = frozenset({"COMPLETED", "CANCELED", "FAILED"})


# --- Square shapes as we read them -----------------------------------------------------------------------------


class SqMoney(msgspec.Struct):
    amount: int
    currency: str


class SqAddress(msgspec.Struct):
    address_line_1: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None


class SqCoordinates(msgspec.Struct):
    latitude: float | None = None
    longitude: float | None = None


class SqLocation(msgspec.Struct):
    id: str
    name: str | None = None
    status: str | None = None
    country: str | None = None
    description: str | None = None
    address: SqAddress | None = None
    coordinates: SqCoordinates | None = None


class SqListLocations(msgspec.Struct):
    locations: list[SqLocation] = []


class SqItemVariationData(msgspec.Struct):
    item_id: str | None = None
    name: str | None = None
    sku: str | None = None
    price_money: SqMoney | None = None


class SqCatalogObject(msgspec.Struct):
    type: str
    id: str
    is_deleted: bool = False
    item_variation_data: SqItemVariationData | None = None


class SqSearchCatalog(msgspec.Struct):
    objects: list[SqCatalogObject] = []
    cursor: str | None = None


class SqError(msgspec.Struct):
    category: str
    code: str
    detail: str | None = None
    field: str | None = None


class SqErrors(msgspec.Struct):
    errors: list[SqError] = []


class SqCount(msgspec.Struct):
    catalog_object_id: str
    location_id: str
    quantity: str
    calculated_at: datetime
    state: str = "IN_STOCK"
    catalog_object_type: str = "ITEM_VARIATION"


class SqCounts(msgspec.Struct):
    counts: list[SqCount] = []
    cursor: str | None = None
    errors: list[SqError] = []


class SqLineItem(msgspec.Struct):
    quantity: str
    uid: str | None = None
    catalog_object_id: str | None = None
    name: str | None = None


class SqFulfillment(msgspec.Struct):
    type: str | None = None
    state: str | None = None
    uid: str | None = None


class SqReturn(msgspec.Struct):
    return_line_items: list[SqLineItem] = []


class SqOrder(msgspec.Struct):
    id: str
    location_id: str
    reference_id: str | None = None
    state: str | None = None
    version: int | None = None
    line_items: list[SqLineItem] = []
    fulfillments: list[SqFulfillment] = []
    returns: list[SqReturn] = []


class SqOrderResponse(msgspec.Struct):
    order: SqOrder


class SqSearchOrders(msgspec.Struct):
    orders: list[SqOrder] = []
    cursor: str | None = None


class SqWebhook(msgspec.Struct):
    """Envelope of every Square notification; ``data`` is decoded once the type is known."""

    type: str
    event_id: str
    created_at: datetime | None = None
    merchant_id: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class SqCountsObject(msgspec.Struct):
    inventory_counts: list[SqCount] = []


class SqCountsData(msgspec.Struct):
    object: SqCountsObject


class SqFulfillmentUpdate(msgspec.Struct):
    fulfillment_uid: str
    new_state: str
    old_state: str | None = None


class SqOrderFulfillmentUpdated(msgspec.Struct):
    order_id: str
    location_id: str | None = None
    fulfillment_update: list[SqFulfillmentUpdate] = []


class SqFulfillmentObject(msgspec.Struct):
    order_fulfillment_updated: SqOrderFulfillmentUpdated


class SqFulfillmentData(msgspec.Struct):
    object: SqFulfillmentObject


# --- conversions -------------------------------------------------------------------------------------------------


def store_id(location_id: str) -> str:
    return STORE_PREFIX + location_id.lower()


def location(loc: SqLocation) -> Location:
    address = loc.address or SqAddress()
    coords = loc.coordinates or SqCoordinates()
    return Location(
        id=store_id(loc.id),
        type="store",
        name=loc.name or loc.id,
        country=address.country or loc.country or "NL",
        postal_code=address.postal_code,
        city=address.locality,
        latitude=coords.latitude,
        longitude=coords.longitude,
        ship_from_store=SHIP_FROM_STORE_MARKER in (loc.description or ""),
        pickup=True,
        source=SOURCE,
        source_id=loc.id,
    )


def quantity(value: str) -> int:
    """A Square decimal-string quantity as whole units; raises ValueError when it is not a number."""
    try:
        return int(Decimal(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal quantity: {value!r}") from None


def on_hand(count: SqCount) -> int:
    return max(0, quantity(count.quantity))


def is_stock(count: SqCount) -> bool:
    return count.state == "IN_STOCK" and count.catalog_object_type == "ITEM_VARIATION"


def stock_position(sku: str, store: str, count: SqCount) -> StockPosition:
    return StockPosition(
        sku=sku, location=store, on_hand=on_hand(count), as_of=to_utc(count.calculated_at), source=SOURCE
    )


def counted_event(event_id: str, sku: str, store: str, count: SqCount, correlation_id: str | None) -> Event:
    """One canonical count per Square count; the id is made of Square's own ids, so a redelivery dedupes."""
    as_of = to_utc(count.calculated_at)
    payload = InventoryCounted(sku=sku, location=store, on_hand=on_hand(count), as_of=as_of)
    return Event(
        id=f"pos:{event_id}:{count.catalog_object_id}:{count.location_id}",
        type="inventory.counted",
        occurred_at=as_of,
        source=SOURCE,
        correlation_id=correlation_id,
        key=f"{sku}@{store}",
        payload=event_payload(payload),
    )


def pickup_event(
    event_id: str,
    update: SqFulfillmentUpdate,
    task_ref: str,
    store: str,
    lines: list[FulfilmentLine],
    occurred_at: datetime,
    correlation_id: str | None,
) -> Event:
    event_type = PICKUP_EVENTS[update.new_state]
    model = PickupReady if update.new_state == "PREPARED" else PickupCompleted
    payload = model(task_ref=task_ref, store=store, lines=lines)
    return Event(
        id=f"pos:{event_id}:{update.fulfillment_uid}:{update.new_state}",
        type=event_type,
        occurred_at=to_utc(occurred_at),
        source=SOURCE,
        correlation_id=correlation_id,
        key=task_ref,
        payload=event_payload(payload),
    )


def held_event(
    task_ref: str,
    store: str,
    lines: list[FulfilmentLine],
    counts: list[tuple[str, SqCount]],
    occurred_at: datetime,
    correlation_id: str | None,
) -> Event:
    """``pickup.held``: the task's units left the till; ``counts`` are the absolute IN_STOCK figures Square
    answered the hold with. One id per task, so a retried create publishes it once."""
    held = [
        InventoryCounted(sku=sku, location=store, on_hand=on_hand(c), as_of=to_utc(c.calculated_at))
        for sku, c in counts
    ]
    payload = PickupHeld(task_ref=task_ref, store=store, lines=lines, counts=held)
    return Event(
        id=f"pos:hold:{task_ref}",
        type="pickup.held",
        occurred_at=to_utc(occurred_at),
        source=SOURCE,
        correlation_id=correlation_id,
        key=task_ref,
        payload=event_payload(payload),
    )


def pickup_order(req: PickupTaskRequest, location_id: str, variation_ids: list[str]) -> dict[str, object]:
    """Square CreateOrder body for a pickup task: catalog lines, one PICKUP fulfillment, ref as reference_id."""
    return {
        "idempotency_key": req.ref,
        "order": {
            "location_id": location_id,
            "reference_id": req.ref,
            "line_items": [
                {"catalog_object_id": vid, "quantity": str(line.qty)}
                for vid, line in zip(variation_ids, req.lines, strict=True)
            ],
            "fulfillments": [
                {
                    "type": "PICKUP",
                    "state": "PROPOSED",
                    "pickup_details": {"recipient": {"display_name": req.customer_name}, "schedule_type": "ASAP"},
                }
            ],
        },
    }


def return_order(req: StoreReturnRequest, location_id: str, variation_ids: list[str]) -> dict[str, object]:
    """Square CreateOrder body for a counter return: an unlinked return (no Square sale order to point at,
    the sale was ours), priced at the unit prices the customer paid."""
    return {
        "idempotency_key": f"return:{req.ref}",
        "order": {
            "location_id": location_id,
            "reference_id": req.ref,
            "returns": [
                {
                    "return_line_items": [
                        {
                            "catalog_object_id": vid,
                            "quantity": str(line.qty),
                            "base_price_money": {"amount": line.unit_price, "currency": req.currency},
                        }
                        for vid, line in zip(variation_ids, req.lines, strict=True)
                    ],
                }
            ],
        },
    }


def restock_changes(
    req: StoreReturnRequest, location_id: str, variation_ids: list[str], occurred_at: str
) -> dict[str, object]:
    """Square BatchChangeInventory body putting the returned units back on the shelf (UNLINKED_RETURN ->
    IN_STOCK); ``occurred_at`` is fixed at the first attempt so a retry is the same request to Square."""
    return {
        "idempotency_key": f"restock:{req.ref}",
        "changes": [
            {
                "type": "ADJUSTMENT",
                "adjustment": {
                    "catalog_object_id": vid,
                    "location_id": location_id,
                    "quantity": str(line.qty),
                    "from_state": "UNLINKED_RETURN",
                    "to_state": "IN_STOCK",
                    "occurred_at": occurred_at,
                    "reference_id": req.ref,
                },
            }
            for vid, line in zip(variation_ids, req.lines, strict=True)
        ],
    }


def catalog_lines(order: SqOrder) -> list[tuple[str, int]]:
    """(catalog object id, units) of the order's catalog line items, in the order's own sequence."""
    return [(li.catalog_object_id, quantity(li.quantity)) for li in order.line_items if li.catalog_object_id]


def _adjustments(
    key: str, ref: str, order: SqOrder, from_state: str, to_state: str, occurred_at: str
) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "changes": [
            {
                "type": "ADJUSTMENT",
                "adjustment": {
                    "catalog_object_id": vid,
                    "location_id": order.location_id,
                    "quantity": str(qty),
                    "from_state": from_state,
                    "to_state": to_state,
                    "occurred_at": occurred_at,
                    "reference_id": ref,
                },
            }
            for vid, qty in catalog_lines(order)
        ],
    }


def hold_changes(ref: str, order: SqOrder, occurred_at: str) -> dict[str, object]:
    """BatchChangeInventory body taking a pickup's units off the till (IN_STOCK -> SOLD)."""
    return _adjustments(f"hold:{ref}", ref, order, "IN_STOCK", "SOLD", occurred_at)


def unhold_changes(ref: str, order: SqOrder, occurred_at: str) -> dict[str, object]:
    """BatchChangeInventory body giving a hold back (NONE -> IN_STOCK: SOLD is not tracked, so the units are
    introduced again, as Square documents for the NONE state)."""
    return _adjustments(f"unhold:{ref}", ref, order, "NONE", "IN_STOCK", occurred_at)


def pickup_fulfillment(order: SqOrder) -> SqFulfillment | None:
    return next((f for f in order.fulfillments if f.type == "PICKUP"), None)


def cancel_update(ref: str, order: SqOrder, fulfillment_uid: str) -> dict[str, object]:
    """Square UpdateOrder body cancelling the pickup fulfillment: a sparse order with the version it applies to.
    The idempotency key names the task and that version: a retry of a lost answer repeats it (Square answers
    with the order as it is), and a retry after VERSION_MISMATCH is a new request, never a replayed refusal."""
    return {
        "idempotency_key": f"cancel:{ref}:{order.version}",
        "order": {
            "location_id": order.location_id,
            "version": order.version,
            "fulfillments": [{"uid": fulfillment_uid, "state": "CANCELED"}],
        },
    }


def search_orders_body(location_id: str, created_from: datetime, cursor: str | None) -> dict[str, object]:
    """Square SearchOrders body: one location's orders created since ``created_from``, oldest first (a
    created_at filter must sort by CREATED_AT)."""
    start = to_utc(created_from).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body: dict[str, object] = {
        "location_ids": [location_id],
        "query": {
            "filter": {"date_time_filter": {"created_at": {"start_at": start}}},
            "sort": {"sort_field": "CREATED_AT", "sort_order": "ASC"},
        },
    }
    if cursor is not None:
        body["cursor"] = cursor
    return body


def pickup_status(order: SqOrder) -> PickupTaskStatus:
    for f in order.fulfillments:
        if f.type == "PICKUP" and f.state:
            return FULFILLMENT_STATUS.get(f.state, "proposed")
    return "completed" if order.state == "COMPLETED" else "proposed"


def pickup_task(order: SqOrder, ref: str, lines: list[FulfilmentLine], created: bool) -> PickupTask:
    return PickupTask(
        ref=ref,
        store=store_id(order.location_id),
        pos_id=order.id,
        status=pickup_status(order),
        lines=lines,
        created=created,
    )


def store_return(req: StoreReturnRequest, order: SqOrder, created: bool) -> StoreReturn:
    return StoreReturn(
        ref=req.ref, store=req.store, pos_id=order.id, order_ref=req.order_ref, lines=req.lines, created=created
    )
