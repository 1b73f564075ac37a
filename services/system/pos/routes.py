"""system-pos HTTP: stores, store stock, pickup tasks, counter returns and Square's webhooks (DESIGN §10).

Pickup tasks and the hold on their units live in pickups.py; the handlers here validate and delegate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from redis.asyncio import Redis

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, task_lines
from shared import context
from shared.events import EventBus
from shared.models.common import LOCATION_PATTERN, SKU_PATTERN, Page, REF_PATTERN
from shared.models.fulfilment import PickupTask, PickupTaskRequest
from shared.models.inventory import Location, StockPosition
from shared.models.returns import StoreReturn, StoreReturnRequest
from shared.problems import ProblemError, invalid, not_found

log = logging.getLogger("omnigate.system.pos")
_encoder = msgspec.json.Encoder()
_SKU = re.compile(SKU_PATTERN)
_LOCATION = re.compile(LOCATION_PATTERN)
_REF = re.compile(REF_PATTERN)
_CURSOR = re.compile(r"^[A-Za-z0-9+/=_.:-]{1,512}$")
SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def _pos(request: Request[Any, Any, Any]) -> SquareConnector:
    return request.app.state.pos  # type: ignore[no-any-return]


def _pickups(request: Request[Any, Any, Any]) -> Pickups:
    state = request.app.state
    return Pickups(state.pos, state.redis, state.bus, state.settings)


def _redis_key(request: Request[Any, Any, Any], kind: str, ref: str) -> str:
    return f"{request.app.state.settings.key_prefix}omnigate.pos:{kind}:{ref}"


def _digest(value: msgspec.Struct) -> str:
    return hashlib.sha256(_encoder.encode(value)).hexdigest()


def _check_sku(sku: str) -> None:
    if not _SKU.match(sku):
        raise invalid("sku must match [A-Za-z0-9._-]{1,64}", errors=[{"field": "sku", "value": sku[:80]}])


async def _store_location(pos: SquareConnector, store: str, field: str) -> str:
    if not _LOCATION.match(store):
        raise invalid(f"{field} must be a canonical location id", errors=[{"field": field, "value": store[:80]}])
    if not store.startswith(mapping.STORE_PREFIX):
        raise not_found(f"store {store} (the POS holds stores only)")
    location_id = await pos.location_id(store)
    if location_id is None:
        raise not_found(f"store {store}")
    return location_id


async def _variation_ids(pos: SquareConnector, lines: list[Any]) -> list[str]:
    ids: list[str] = []
    missing: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        vid = await pos.variation_id(line.sku)
        if vid is None:
            missing.append({"field": f"lines[{i}].sku", "value": line.sku})
        else:
            ids.append(vid)
    if missing:
        raise ProblemError("unprocessable", "the POS has no item for some SKUs", errors=missing)
    return ids


async def _claim(redis: Redis, key: str, digest: str) -> None:
    """Remember which request a ref stands for; the same ref with another request is a conflict."""
    await redis.hsetnx(key, "digest", digest)
    stored = await redis.hget(key, "digest")
    if stored is not None and stored.decode() != digest:
        raise ProblemError("conflict", "this ref was already used for a different request")


# --- stores and stock --------------------------------------------------------------------------------------------


@get("/stores", summary="Stores (Square locations) as canonical locations")
async def list_stores(request: Request[Any, Any, Any]) -> list[Location]:
    locations = await _pos(request).refresh_locations()
    return [mapping.location(loc) for loc in locations if (loc.status or "ACTIVE") == "ACTIVE"]


@get("/stock", summary="Stock on hand at one store, a page at a time")
async def store_stock(
    request: Request[Any, Any, Any],
    location: FromQuery[str],
    cursor: Annotated[str | None, Parameter(max_length=512)] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> Page[StockPosition]:
    pos = _pos(request)
    if cursor is not None and not _CURSOR.match(cursor):
        raise invalid("cursor is not one this API gave out", errors=[{"field": "cursor"}])
    location_id = await _store_location(pos, location, "location")
    page = await pos.retrieve_counts(location_ids=[location_id], cursor=cursor, limit=limit)
    counts = [c for c in page.counts if mapping.is_stock(c) and c.location_id == location_id]
    skus = await pos.skus([c.catalog_object_id for c in counts])
    items = [mapping.stock_position(sku, location, c) for sku, c in zip(skus, counts) if sku is not None]
    return Page(items=items, next_cursor=page.cursor or None)


@get("/stock/{sku:str}", summary="Stock on hand of one SKU in every store that carries it")
async def sku_stock(request: Request[Any, Any, Any], sku: FromPath[str]) -> list[StockPosition]:
    _check_sku(sku)
    pos = _pos(request)
    variation_id = await pos.variation_id(sku)
    if variation_id is None:
        raise not_found(f"sku {sku} at the POS")
    positions: list[StockPosition] = []
    cursor: str | None = None
    while True:
        page = await pos.retrieve_counts(catalog_object_ids=[variation_id], cursor=cursor)
        for count in page.counts:
            if mapping.is_stock(count) and count.catalog_object_id == variation_id:
                positions.append(mapping.stock_position(sku, mapping.store_id(count.location_id), count))
        cursor = page.cursor
        if not cursor:
            return positions


# --- pickup tasks ------------------------------------------------------------------------------------------------


def _check_ref(ref: str) -> None:
    if not _REF.match(ref):
        raise invalid("ref must match [A-Za-z0-9._:-]{1,64}")


@post("/pickup-tasks", summary="Ask a store to prepare a pickup (a Square order with a PICKUP fulfillment) and take "
      "its units off the till")
async def create_pickup_task(
    request: Request[Any, Any, Any], data: JSONBody[PickupTaskRequest]
) -> Response[PickupTask]:
    """Idempotent by ``ref``: a repeat answers 200 with the same task. The units leave the store's sellable
    stock (Square ``IN_STOCK -> SOLD``) and ``pickup.held`` is published with the counts the POS reported.
    409 ``conflict`` (with Retry-After) while another request on the same ref runs or its outcome is unknown."""
    pos = _pos(request)
    location_id = await _store_location(pos, data.store, "store")
    # Resolve every SKU before claiming the ref, so a request refused for a bad SKU can be corrected.
    variation_ids = await _variation_ids(pos, data.lines)
    task, created = await _pickups(request).create(data, _digest(data), location_id, variation_ids)
    return Response(task, status_code=201 if created else 200)


@get("/pickup-tasks/{ref:str}", summary="A pickup task and its state at the store")
async def get_pickup_task(request: Request[Any, Any, Any], ref: FromPath[str]) -> PickupTask:
    _check_ref(ref)
    return await _pickups(request).task(ref)


@post("/pickup-tasks/{ref:str}/cancel", summary="Cancel a pickup task by its ref and give its units back to the till",
      status_code=200)
async def cancel_pickup_task(request: Request[Any, Any, Any], ref: FromPath[str]) -> PickupTask:
    """Sets the order's PICKUP fulfillment to CANCELED at the POS and gives the held units back. Idempotent: a
    cancelled task answers 200 with status ``canceled``. 404 when no order exists for the ref (a create of that
    ref is refused afterwards), 409 when the task was already collected, or (with Retry-After) while another
    request on the ref runs or its outcome is unknown."""
    _check_ref(ref)
    return await _pickups(request).cancel(ref)


# --- counter returns ----------------------------------------------------------------------------------------------


@post("/returns", summary="Record a return taken back at a store counter and put the units back in stock")
async def create_store_return(
    request: Request[Any, Any, Any], data: JSONBody[StoreReturnRequest]
) -> Response[StoreReturn]:
    pos = _pos(request)
    redis: Redis = request.app.state.redis
    key = _redis_key(request, "return", data.ref)
    location_id = await _store_location(pos, data.store, "store")
    variation_ids = await _variation_ids(pos, data.lines)
    await _claim(redis, key, _digest(data))
    await redis.hsetnx(key, "occurred_at", datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    occurred_at = (await redis.hget(key, "occurred_at") or b"").decode()
    order = await pos.create_order(mapping.return_order(data, location_id, variation_ids))
    await pos.change_inventory(mapping.restock_changes(data, location_id, variation_ids, occurred_at))
    created = bool(await redis.hsetnx(key, "order_id", order.id))
    return Response(mapping.store_return(data, order, created), status_code=201 if created else 200)


# --- Square webhooks ----------------------------------------------------------------------------------------------


def verify_signature(signature_key: str, url: str, body: bytes, presented: str | None) -> bool:
    """Square's scheme: base64(HMAC-SHA256(signature key, notification URL + raw body)), compared in
    constant time. No key configured means nothing can be verified, so nothing is accepted."""
    if not signature_key or not presented:
        return False
    expected = base64.b64encode(hmac.new(signature_key.encode(), url.encode() + body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, presented.strip().encode())


class WebhookAck(msgspec.Struct):
    status: str
    published: int = 0


def _decode(raw: msgspec.Raw, type_: type[Any], what: str) -> Any:
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"{what}: {exc}") from None


async def _on_counts(request: Request[Any, Any, Any], event: mapping.SqWebhook) -> int:
    pos = _pos(request)
    bus: EventBus = request.app.state.bus
    data: mapping.SqCountsData = _decode(event.data, mapping.SqCountsData, "inventory.count.updated data")
    counts = [c for c in data.object.inventory_counts if mapping.is_stock(c)]
    try:
        for c in counts:
            mapping.quantity(c.quantity)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    skus = await pos.skus([c.catalog_object_id for c in counts])
    published = 0
    for sku, count in zip(skus, counts):
        if sku is None:
            log.warning("inventory.count.updated %s: catalog object %s has no SKU at the POS; skipped",
                        event.event_id, count.catalog_object_id)
            continue
        store = mapping.store_id(count.location_id)
        await pos.locations.put_many({count.location_id: store})
        ev = mapping.counted_event(event.event_id, sku, store, count, context.request_id_var.get())
        if await bus.publish("inventory", ev):
            published += 1
    return published


async def _on_fulfillment(request: Request[Any, Any, Any], event: mapping.SqWebhook) -> int:
    """PREPARED and COMPLETED pickups become canonical events; a pickup that is over (collected, cancelled or
    failed at the store) gives its hold back. A redelivery publishes nothing twice and gives back nothing twice."""
    pos = _pos(request)
    bus: EventBus = request.app.state.bus
    data: mapping.SqFulfillmentData = _decode(event.data, mapping.SqFulfillmentData, "order.fulfillment.updated data")
    updated = data.object.order_fulfillment_updated
    updates = [u for u in updated.fulfillment_update
               if u.new_state in mapping.PICKUP_EVENTS or u.new_state in mapping.PICKUP_OVER]
    if not updates:
        return 0
    order = await pos.retrieve_order(updated.order_id)
    if order is None:
        raise ProblemError("upstream-error", f"pos: order {updated.order_id} of a fulfillment update is unknown",
                           upstream="pos")
    pickups = {f.uid for f in order.fulfillments if f.type == "PICKUP"}
    updates = [u for u in updates if u.fulfillment_uid in pickups]
    lines = await task_lines(pos, order)
    store = mapping.store_id(order.location_id)
    task_ref = order.reference_id or order.id
    occurred_at = event.created_at or datetime.now(timezone.utc)
    published = 0
    for update in updates:
        if update.new_state not in mapping.PICKUP_EVENTS:
            continue
        ev = mapping.pickup_event(event.event_id, update, task_ref, store, lines, occurred_at,
                                  context.request_id_var.get())
        if await bus.publish("fulfilment", ev):
            published += 1
    if any(u.new_state in mapping.PICKUP_OVER for u in updates):
        await _pickups(request).fulfillment_over(order)
    return published


@post("/webhooks/pos", summary="Square notifications (signed): inventory counts, pickup fulfillment updates",
      status_code=200)
async def square_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
    settings = request.app.state.settings
    body = await request.body()
    if not verify_signature(settings.pos_webhook_signature_key, settings.pos_webhook_url, body,
                            request.headers.get(SIGNATURE_HEADER)):
        raise ProblemError("invalid-signature", f"{SIGNATURE_HEADER} is missing or does not match the body")
    try:
        event = msgspec.json.decode(body, type=mapping.SqWebhook)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"not a Square notification: {exc}") from None
    if event.type == "inventory.count.updated":
        return WebhookAck(status="accepted", published=await _on_counts(request, event))
    if event.type == "order.fulfillment.updated":
        return WebhookAck(status="accepted", published=await _on_fulfillment(request, event))
    log.info("square notification %s of type %s ignored", event.event_id, event.type)
    return WebhookAck(status="ignored")


ROUTES = [list_stores, store_stock, sku_stock, create_pickup_task, get_pickup_task, cancel_pickup_task,
          create_store_return, square_webhook]
