"""Square's v2 wire shapes, ids, timestamps, errors and webhook signing, as the sandbox speaks them.

Field names, quantities as decimal strings and RFC 3339 timestamps with milliseconds follow Square's API
reference (api.json of square/connect-api-specification, Release 2025-08-20) and the examples copied into
``tests/contract/fixtures/square/``. Request Structs do not forbid unknown fields: Square accepts the whole of
its documented objects (discounts, taxes, team members...), of which this sandbox implements a subset, and a
reference back-end must not refuse what the real one takes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

from services.sandbox.common.errors import VendorError

SQUARE_VERSION = "2025-08-20"
CURRENCY = "EUR"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_UID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_QUANTITY = re.compile(r"^-?\d{1,9}(\.0{1,5})?$")
# Square's idempotency keys are 1 to 192 characters; a bad one is refused while decoding, as 400 INVALID_VALUE
# naming the field (routes.decode).
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=192)]

# Square's InventoryState values (api.json #/components/schemas/InventoryState).
INVENTORY_STATES = frozenset(
    {
        "CUSTOM",
        "IN_STOCK",
        "SOLD",
        "RETURNED_BY_CUSTOMER",
        "RESERVED_FOR_SALE",
        "SOLD_ONLINE",
        "ORDERED_FROM_VENDOR",
        "RECEIVED_FROM_VENDOR",
        "IN_TRANSIT_TO",
        "NONE",
        "WASTE",
        "UNLINKED_RETURN",
        "COMPOSED",
        "DECOMPOSED",
        "SUPPORTED_BY_NEWER_VERSION",
        "IN_TRANSIT",
    }
)
FULFILLMENT_STATES = ("PROPOSED", "RESERVED", "PREPARED", "COMPLETED", "CANCELED", "FAILED")
# A fulfillment in one of these states is over: Square does not move it again.
FINAL_FULFILLMENT_STATES = frozenset({"COMPLETED", "CANCELED", "FAILED"})
ORDER_STATES = ("OPEN", "COMPLETED", "CANCELED", "DRAFT")


# --- errors ------------------------------------------------------------------------------------------------


class SquareError(Exception):
    """An error Square would answer with its ``{"errors": [...]}`` envelope."""

    def __init__(self, status: int, category: str, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = Error(category=category, code=code, detail=detail, field=field)


def bad_request(detail: str, *, code: str = "BAD_REQUEST", field: str | None = None) -> SquareError:
    return SquareError(400, "INVALID_REQUEST_ERROR", code, detail, field)


def not_found(detail: str, field: str | None = None) -> SquareError:
    return SquareError(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", detail, field)


class Error(msgspec.Struct, omit_defaults=True, kw_only=True):
    category: str
    code: str
    detail: str | None = None
    field: str | None = None


class ErrorResponse(msgspec.Struct):
    errors: list[Error]


# Square's code and category for each kind of error the framework or the fault injector raises (Square's ErrorCode
# and ErrorCategory enums, api.json #/components/schemas/ErrorCode and ErrorCategory).
_CODES: dict[str, tuple[str, str]] = {
    "not_found": ("INVALID_REQUEST_ERROR", "NOT_FOUND"),
    "method_not_allowed": ("INVALID_REQUEST_ERROR", "METHOD_NOT_ALLOWED"),
    "unreadable_body": ("INVALID_REQUEST_ERROR", "BAD_REQUEST"),
    "invalid_value": ("INVALID_REQUEST_ERROR", "INVALID_VALUE"),
    "too_large": ("INVALID_REQUEST_ERROR", "REQUEST_ENTITY_TOO_LARGE"),
    "unsupported_media_type": ("INVALID_REQUEST_ERROR", "UNSUPPORTED_MEDIA_TYPE"),
    "unauthorized": ("AUTHENTICATION_ERROR", "UNAUTHORIZED"),
    "forbidden": ("AUTHENTICATION_ERROR", "FORBIDDEN"),
    "rejected": ("INVALID_REQUEST_ERROR", "BAD_REQUEST"),
    "internal": ("API_ERROR", "INTERNAL_SERVER_ERROR"),
    "unavailable": ("API_ERROR", "SERVICE_UNAVAILABLE"),
    "timeout": ("API_ERROR", "GATEWAY_TIMEOUT"),
}


def render_error(error: VendorError) -> tuple[bytes, str]:
    """Square's envelope ``{"errors": [{category, code, detail, field?}]}`` (developer.squareup.com, "Handling
    errors"; api.json #/components/schemas/Error) for every error the framework or the fault injector raises."""
    category, code = _CODES[error.reason]
    body = ErrorResponse([Error(category=category, code=code, detail=error.message, field=error.field)])
    return msgspec.json.encode(body), "application/json"


# --- ids, timestamps, quantities ------------------------------------------------------------------------------


def object_id(kind: str, key: str) -> str:
    """A deterministic 24-character Square-style catalog id: the same product gets the same id every seed."""
    digest = hashlib.sha256(f"square:{kind}:{key}".encode()).digest()
    return base64.b32encode(digest).decode()[:24]


def random_id(length: int = 24) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def order_id() -> str:
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(27))


def uid() -> str:
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(22))


def format_ts(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now_ts() -> str:
    return format_ts(datetime.now(UTC))


def parse_ts(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"`{value}` is not a valid RFC 3339 timestamp", code="INVALID_TIME", field=field) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def after(previous: str | None, candidate: str) -> str:
    """``candidate``, or 1 ms past ``previous`` if not later: successive counts of one item at one location
    carry strictly increasing ``calculated_at`` so that "apply only if newer" never drops a real change."""
    if previous is None or candidate > previous:
        return candidate
    return format_ts(parse_ts(previous, "calculated_at") + timedelta(milliseconds=1))


def parse_quantity(value: str, field: str) -> int:
    """Square quantities are decimal strings; our catalogue sells whole units (precision 0)."""
    if not _QUANTITY.match(value):
        raise bad_request(f"`{value}` is not a valid whole-unit quantity", code="INVALID_VALUE", field=field)
    return int(value.split(".")[0])


# --- requests (subset of Square's documented fields; unknown fields are accepted, as Square does) --------------


class Money(msgspec.Struct, omit_defaults=True):
    amount: int
    currency: str


class CatalogQueryExact(msgspec.Struct):
    attribute_name: str
    attribute_value: str


class CatalogQuery(msgspec.Struct, omit_defaults=True):
    exact_query: CatalogQueryExact | None = None


class SearchCatalogObjectsRequest(msgspec.Struct, omit_defaults=True):
    object_types: list[str] | None = None
    query: CatalogQuery | None = None
    cursor: str | None = None
    limit: int | None = None
    include_deleted_objects: bool | None = None


class SearchCatalogItemsRequest(msgspec.Struct, omit_defaults=True):
    """SearchCatalogItems (api.json #/components/schemas/SearchCatalogItemsRequest): every documented field."""

    text_filter: str | None = None
    category_ids: list[str] | None = None
    stock_levels: list[str] | None = None
    enabled_location_ids: list[str] | None = None
    cursor: str | None = None
    limit: int | None = None
    sort_order: str | None = None
    product_types: list[str] | None = None
    custom_attribute_filters: list[msgspec.Raw] | None = None
    archived_state: str | None = None
    include_options: msgspec.Raw | None = None


class BatchRetrieveInventoryCountsRequest(msgspec.Struct, omit_defaults=True):
    catalog_object_ids: list[str] | None = None
    location_ids: list[str] | None = None
    updated_after: str | None = None
    cursor: str | None = None
    states: list[str] | None = None
    limit: int | None = None


class InventoryPhysicalCount(msgspec.Struct, omit_defaults=True):
    catalog_object_id: str
    location_id: str
    quantity: str
    state: str
    occurred_at: str
    id: str | None = None
    reference_id: str | None = None
    catalog_object_type: str | None = None
    team_member_id: str | None = None
    created_at: str | None = None


class InventoryAdjustment(msgspec.Struct, omit_defaults=True):
    catalog_object_id: str
    location_id: str
    quantity: str
    from_state: str
    to_state: str
    occurred_at: str
    id: str | None = None
    reference_id: str | None = None
    catalog_object_type: str | None = None
    team_member_id: str | None = None
    created_at: str | None = None


class InventoryChange(msgspec.Struct, omit_defaults=True):
    type: str
    physical_count: InventoryPhysicalCount | None = None
    adjustment: InventoryAdjustment | None = None


class BatchChangeInventoryRequest(msgspec.Struct, omit_defaults=True):
    idempotency_key: IdempotencyKey
    changes: list[InventoryChange] | None = None
    ignore_unchanged_counts: bool | None = None


class OrderLineItem(msgspec.Struct, omit_defaults=True):
    quantity: str
    uid: str | None = None
    name: str | None = None
    catalog_object_id: str | None = None
    variation_name: str | None = None
    note: str | None = None
    base_price_money: Money | None = None
    gross_sales_money: Money | None = None
    total_tax_money: Money | None = None
    total_discount_money: Money | None = None
    total_money: Money | None = None


class Recipient(msgspec.Struct, omit_defaults=True):
    display_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None


class PickupDetails(msgspec.Struct, omit_defaults=True):
    recipient: Recipient | None = None
    schedule_type: str | None = None
    pickup_at: str | None = None
    note: str | None = None
    placed_at: str | None = None
    accepted_at: str | None = None
    rejected_at: str | None = None
    ready_at: str | None = None
    picked_up_at: str | None = None
    canceled_at: str | None = None
    cancel_reason: str | None = None


class Fulfillment(msgspec.Struct, omit_defaults=True):
    type: str | None = None
    state: str | None = None
    uid: str | None = None
    pickup_details: PickupDetails | None = None


class OrderReturnLineItem(msgspec.Struct, omit_defaults=True):
    quantity: str
    uid: str | None = None
    source_line_item_uid: str | None = None
    name: str | None = None
    catalog_object_id: str | None = None
    base_price_money: Money | None = None
    gross_return_money: Money | None = None
    total_money: Money | None = None


class OrderReturn(msgspec.Struct, omit_defaults=True):
    uid: str | None = None
    source_order_id: str | None = None
    return_line_items: list[OrderReturnLineItem] | None = None


class OrderSource(msgspec.Struct, omit_defaults=True):
    name: str | None = None


class MoneyAmounts(msgspec.Struct, omit_defaults=True):
    total_money: Money | None = None
    tax_money: Money | None = None
    discount_money: Money | None = None
    tip_money: Money | None = None
    service_charge_money: Money | None = None


class Order(msgspec.Struct, omit_defaults=True):
    """Square's Order: the create request's ``order`` and, filled in, the stored and returned one."""

    location_id: str
    id: str | None = None
    reference_id: str | None = None
    source: OrderSource | None = None
    customer_id: str | None = None
    line_items: list[OrderLineItem] | None = None
    fulfillments: list[Fulfillment] | None = None
    returns: list[OrderReturn] | None = None
    return_amounts: MoneyAmounts | None = None
    net_amounts: MoneyAmounts | None = None
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None
    state: str | None = None
    version: int | None = None
    total_money: Money | None = None
    total_tax_money: Money | None = None
    total_discount_money: Money | None = None
    total_tip_money: Money | None = None
    total_service_charge_money: Money | None = None


class CreateOrderRequest(msgspec.Struct, omit_defaults=True):
    order: Order
    idempotency_key: IdempotencyKey | None = None


# UpdateOrder takes a *sparse* order. Unlike the other request Structs these forbid unknown fields: the sandbox
# applies fulfillment state changes only, and an update it cannot apply must be refused, never answered 200 as
# if it had been made.


class SparseFulfillment(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    uid: str | None = None
    type: str | None = None
    state: str | None = None


class SparseOrder(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    version: int | None = None
    location_id: str | None = None
    state: str | None = None
    fulfillments: list[SparseFulfillment] | None = None


class UpdateOrderRequest(msgspec.Struct, omit_defaults=True):
    order: SparseOrder
    fields_to_clear: list[str] | None = None
    idempotency_key: IdempotencyKey | None = None


class TimeRange(msgspec.Struct, omit_defaults=True):
    start_at: str | None = None
    end_at: str | None = None


class SearchOrdersDateTimeFilter(msgspec.Struct, omit_defaults=True):
    created_at: TimeRange | None = None
    updated_at: TimeRange | None = None
    closed_at: TimeRange | None = None


class SearchOrdersStateFilter(msgspec.Struct):
    states: list[str]


class SearchOrdersFilter(msgspec.Struct, omit_defaults=True):
    state_filter: SearchOrdersStateFilter | None = None
    date_time_filter: SearchOrdersDateTimeFilter | None = None
    # Documented filters the sandbox does not implement: named, so that using one is refused, not ignored.
    fulfillment_filter: msgspec.Raw | None = None
    source_filter: msgspec.Raw | None = None
    customer_filter: msgspec.Raw | None = None


class SearchOrdersSort(msgspec.Struct, omit_defaults=True):
    sort_field: str
    sort_order: str | None = None


class SearchOrdersQuery(msgspec.Struct, omit_defaults=True):
    filter: SearchOrdersFilter | None = None
    sort: SearchOrdersSort | None = None


class SearchOrdersRequest(msgspec.Struct, omit_defaults=True):
    location_ids: list[str] | None = None
    cursor: str | None = None
    query: SearchOrdersQuery | None = None
    limit: int | None = None
    return_entries: bool | None = None


# --- responses ------------------------------------------------------------------------------------------------


class Address(msgspec.Struct, omit_defaults=True):
    address_line_1: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Coordinates(msgspec.Struct):
    latitude: float
    longitude: float


class Location(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    address: Address
    timezone: str
    capabilities: list[str]
    status: str
    created_at: str
    merchant_id: str
    country: str
    language_code: str
    currency: str
    business_name: str
    type: str
    coordinates: Coordinates
    description: str | None = None


class ListLocationsResponse(msgspec.Struct):
    locations: list[Location]


class ItemVariationData(msgspec.Struct, omit_defaults=True):
    item_id: str
    name: str
    sku: str
    ordinal: int
    pricing_type: str
    price_money: Money
    # Stock is tracked, with a low-stock alert at ``inventory_alert_threshold`` units (what SearchCatalogItems'
    # LOW stock level means).
    track_inventory: bool | None = None
    inventory_alert_type: str | None = None
    inventory_alert_threshold: int | None = None


class CatalogObject(msgspec.Struct, omit_defaults=True):
    type: str
    id: str
    updated_at: str
    version: int
    is_deleted: bool
    present_at_all_locations: bool
    item_variation_data: ItemVariationData


class CatalogObjectCategory(msgspec.Struct, omit_defaults=True):
    id: str
    ordinal: int | None = None


class ItemData(msgspec.Struct, omit_defaults=True):
    """CatalogItem (api.json #/components/schemas/CatalogItem), the subset the sandbox's items carry."""

    name: str
    product_type: str
    is_archived: bool
    categories: list[CatalogObjectCategory]
    reporting_category: CatalogObjectCategory
    variations: list[CatalogObject]


class CatalogItemObject(msgspec.Struct, omit_defaults=True):
    type: str
    id: str
    updated_at: str
    version: int
    is_deleted: bool
    present_at_all_locations: bool
    item_data: ItemData


class SearchCatalogItemsResponse(msgspec.Struct, omit_defaults=True):
    items: list[CatalogItemObject] | None = None
    cursor: str | None = None
    matched_variation_ids: list[str] | None = None


class SearchCatalogObjectsResponse(msgspec.Struct, omit_defaults=True):
    objects: list[CatalogObject] | None = None
    cursor: str | None = None
    latest_time: str | None = None


class InventoryCount(msgspec.Struct):
    catalog_object_id: str
    catalog_object_type: str
    state: str
    location_id: str
    quantity: str
    calculated_at: str


class InventoryCountsResponse(msgspec.Struct, omit_defaults=True):
    # errors and counts are always present (as in Square's examples); cursor only when there is a next page.
    errors: list[Error]
    counts: list[InventoryCount]
    cursor: str | None = None


class OrderResponse(msgspec.Struct):
    order: Order


class OrderEntry(msgspec.Struct):
    order_id: str
    version: int
    location_id: str


class SearchOrdersResponse(msgspec.Struct, omit_defaults=True):
    order_entries: list[OrderEntry] | None = None
    orders: list[Order] | None = None
    cursor: str | None = None


# --- webhooks -------------------------------------------------------------------------------------------------


class InventoryCountsObject(msgspec.Struct):
    inventory_counts: list[InventoryCount]


class FulfillmentUpdate(msgspec.Struct):
    fulfillment_uid: str
    old_state: str
    new_state: str


class OrderFulfillmentUpdated(msgspec.Struct):
    order_id: str
    version: int
    location_id: str
    state: str
    created_at: str
    updated_at: str
    fulfillment_update: list[FulfillmentUpdate]


class OrderFulfillmentUpdatedObject(msgspec.Struct):
    order_fulfillment_updated: OrderFulfillmentUpdated


class EventData(msgspec.Struct):
    type: str
    id: str
    object: InventoryCountsObject | OrderFulfillmentUpdatedObject


class WebhookEvent(msgspec.Struct):
    merchant_id: str
    type: str
    event_id: str
    created_at: str
    data: EventData


def sign(signature_key: str, url: str, body: bytes) -> str:
    """Square's scheme: base64(HMAC-SHA256(key, notification URL + raw body))."""
    digest = hmac.new(signature_key.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
