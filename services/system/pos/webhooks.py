"""Square's webhooks: signatures checked as Square signs them (HMAC-SHA256 of notification URL + raw body,
``x-square-hmacsha256-signature``), then translated into canonical events: ``inventory.count.updated`` into
``inventory.counted``, pickup fulfillment updates into ``pickup.ready`` / ``pickup.completed`` (a pickup that is
over gives its till hold back)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, task_lines
from services.system.pos.settings import PosSettings
from shared import context
from shared.events import EventBus
from shared.problems import ProblemError, invalid

log = logging.getLogger("omnigate.system.pos")
SIGNATURE_HEADER = "x-square-hmacsha256-signature"


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


async def _on_counts(pos: SquareConnector, bus: EventBus, event: mapping.SqWebhook) -> int:
    data: mapping.SqCountsData = _decode(event.data, mapping.SqCountsData, "inventory.count.updated data")
    counts = [c for c in data.object.inventory_counts if mapping.is_stock(c)]
    try:
        for c in counts:
            mapping.quantity(c.quantity)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    skus = await pos.skus([c.catalog_object_id for c in counts])
    published = 0
    for sku, count in zip(skus, counts, strict=True):
        if sku is None:
            log.warning(
                "inventory.count.updated %s: catalog object %s has no SKU at the POS; skipped",
                event.event_id,
                count.catalog_object_id,
            )
            continue
        store = mapping.store_id(count.location_id)
        await pos.locations.put_many({count.location_id: store})
        ev = mapping.counted_event(event.event_id, sku, store, count, context.request_id_var.get())
        if await bus.publish("inventory", ev):
            published += 1
    return published


async def _on_fulfillment(pos: SquareConnector, bus: EventBus, pickups: Pickups, event: mapping.SqWebhook) -> int:
    """PREPARED and COMPLETED pickups become canonical events; a pickup that is over (collected, cancelled or
    failed at the store) gives its hold back. A redelivery publishes nothing twice and gives back nothing twice."""
    data: mapping.SqFulfillmentData = _decode(event.data, mapping.SqFulfillmentData, "order.fulfillment.updated data")
    updated = data.object.order_fulfillment_updated
    updates = [
        u
        for u in updated.fulfillment_update
        if u.new_state in mapping.PICKUP_EVENTS or u.new_state in mapping.PICKUP_OVER
    ]
    if not updates:
        return 0
    order = await pos.retrieve_order(updated.order_id)
    if order is None:
        raise ProblemError(
            "upstream-error", f"pos: order {updated.order_id} of a fulfillment update is unknown", upstream="pos"
        )
    pickup_uids = {f.uid for f in order.fulfillments if f.type == "PICKUP"}
    updates = [u for u in updates if u.fulfillment_uid in pickup_uids]
    lines = await task_lines(pos, order)
    store = mapping.store_id(order.location_id)
    task_ref = order.reference_id or order.id
    occurred_at = event.created_at or datetime.now(UTC)
    published = 0
    for update in updates:
        if update.new_state not in mapping.PICKUP_EVENTS:
            continue
        ev = mapping.pickup_event(
            event.event_id, update, task_ref, store, lines, occurred_at, context.request_id_var.get()
        )
        if await bus.publish("fulfilment", ev):
            published += 1
    if any(u.new_state in mapping.PICKUP_OVER for u in updates):
        await pickups.fulfillment_over(order)
    return published


@post(
    "/webhooks/pos",
    summary="Square notifications (signed): inventory counts, pickup fulfillment updates",
    status_code=200,
)
async def square_webhook(
    request: Request[Any, Any, Any],
    settings: NamedDependency[PosSettings],
    pos: NamedDependency[SquareConnector],
    bus: NamedDependency[EventBus],
    pickups: NamedDependency[Pickups],
) -> WebhookAck:
    body = await request.body()
    if not verify_signature(
        settings.pos_webhook_signature_key, settings.pos_webhook_url, body, request.headers.get(SIGNATURE_HEADER)
    ):
        raise ProblemError("invalid-signature", f"{SIGNATURE_HEADER} is missing or does not match the body")
    try:
        event = msgspec.json.decode(body, type=mapping.SqWebhook)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"not a Square notification: {exc}") from None
    if event.type == "inventory.count.updated":
        return WebhookAck(status="accepted", published=await _on_counts(pos, bus, event))
    if event.type == "order.fulfillment.updated":
        return WebhookAck(status="accepted", published=await _on_fulfillment(pos, bus, pickups, event))
    log.info("square notification %s of type %s ignored", event.event_id, event.type)
    return WebhookAck(status="ignored")
