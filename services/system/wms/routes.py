"""system-wms HTTP: DC stock, fulfilment orders, shipments and return receipts (canonical), WMS webhooks.

Every path parameter and query value is checked here, before it reaches a WMS URL; bodies are canonical
Structs that refuse unknown fields. Webhooks are verified on the raw bytes, then become canonical events.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody, Parameter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.system.wms import mapping
from services.system.wms.connector import SIGNATURE_HEADER, WmsConnector, verify_signature
from shared import context
from shared.events import EventBus
from shared.locks import Locks
from shared.models.common import LOCATION_PATTERN, REF_PATTERN, SKU_PATTERN, Page
from shared.models.fulfilment import FulfilmentOrder, FulfilmentOrderRequest, Receipt, ReceiptRequest, Shipment
from shared.models.inventory import StockPosition
from shared.problems import ProblemError, invalid

log = logging.getLogger("omnigate.system.wms")
_SKU = re.compile(SKU_PATTERN)
_REF = re.compile(REF_PATTERN)
MAX_LIMIT = 1000


class WebhookResult(msgspec.Struct, kw_only=True):
    webhook_id: str
    type: str
    published: list[str]
    duplicates: list[str]
    ignored: bool = False


def connector(request: Request[Any, Any, Any]) -> WmsConnector:
    settings = request.app.state.settings
    return WmsConnector(request.app.state.http["wms"], settings.wms_api_key, Locks(request.app.state.redis,
                        prefix=settings.key_prefix), settings.upstream_commit_limit_s, settings.http_timeout_s / 3)


def check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise invalid(f"{what} must match {pattern.pattern}")
    return value


def decode(body: bytes, type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"invalid body: {exc}") from None


@get("/stock", summary="DC stock positions, cursor-paged")
async def list_stock(
    request: Request[Any, Any, Any],
    location: Annotated[str | None, Parameter(pattern=LOCATION_PATTERN)] = None,
    cursor: Annotated[str | None, Parameter(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[StockPosition]:
    return await connector(request).stock_page(location, cursor, limit)


@get("/stock/{sku:str}", summary="Stock positions of one SKU in every DC")
async def get_stock(request: Request[Any, Any, Any], sku: FromPath[str]) -> list[StockPosition]:
    return await connector(request).stock_for_sku(check(sku, _SKU, "sku"))


@post("/fulfilment-orders", summary="Create a fulfilment order (idempotent by ref: 201 new, 200 existing)",
      response_description="The fulfilment order; `created` says whether this call made it")
async def create_fulfilment_order(
    request: Request[Any, Any, Any], data: JSONBody[FulfilmentOrderRequest]
) -> Response[FulfilmentOrder]:
    mapping.warehouse_for(data.location)
    order = await connector(request).create_fulfilment_order(data)
    return Response(order, status_code=201 if order.created else 200)


@get("/fulfilment-orders/{ref:str}", summary="A fulfilment order by our ref")
async def get_fulfilment_order(request: Request[Any, Any, Any], ref: FromPath[str]) -> FulfilmentOrder:
    return await connector(request).fulfilment_order(check(ref, _REF, "ref"))


@post("/fulfilment-orders/{ref:str}/cancel", summary="Cancel a fulfilment order that has not shipped", status_code=200)
async def cancel_fulfilment_order(request: Request[Any, Any, Any], ref: FromPath[str]) -> FulfilmentOrder:
    return await connector(request).cancel_fulfilment_order(check(ref, _REF, "ref"))


@get("/shipments/{ref:str}", summary="A shipment by its ref (the WMS shipment id, as in shipment.dispatched)")
async def get_shipment(request: Request[Any, Any, Any], ref: FromPath[str]) -> Shipment:
    return await connector(request).shipment(check(ref, _REF, "ref"))


@post("/receipts", summary="Announce an expected return receipt at a DC (idempotent by ref)")
async def create_receipt(request: Request[Any, Any, Any], data: JSONBody[ReceiptRequest]) -> Response[Receipt]:
    mapping.warehouse_for(data.location)
    receipt = await connector(request).create_receipt(data)
    return Response(receipt, status_code=201 if receipt.created else 200)


@get("/receipts/{ref:str}", summary="A receipt by our ref")
async def get_receipt(request: Request[Any, Any, Any], ref: FromPath[str]) -> Receipt:
    return await connector(request).receipt(check(ref, _REF, "ref"))


@post("/webhooks/wms", summary="WMS webhooks (X-WMS-Signature) -> canonical events", status_code=200)
async def wms_webhook(request: Request[Any, Any, Any]) -> WebhookResult:
    body = await request.body()
    verify_signature(request.app.state.settings.wms_webhook_secret, request.headers.get(SIGNATURE_HEADER), body)
    envelope: mapping.WebhookEnvelope = decode(body, mapping.WebhookEnvelope)
    try:
        events = mapping.events_for(envelope, correlation_id=context.request_id_var.get())
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"invalid {envelope.type} data: {exc}") from None
    if not events:
        log.info("ignoring WMS webhook %s of type %s", envelope.id, envelope.type)
        return WebhookResult(webhook_id=envelope.id, type=envelope.type, published=[], duplicates=[], ignored=True)
    bus: EventBus = request.app.state.bus
    published: list[str] = []
    duplicates: list[str] = []
    try:
        for domain, event in events:
            (published if await bus.publish(domain, event) else duplicates).append(event.id)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # Not acknowledged, so the WMS retries; the ids already published dedupe on the retry.
        raise ProblemError("service-unavailable", f"event bus unavailable: {type(exc).__name__}", retry_after=5) from exc
    return WebhookResult(webhook_id=envelope.id, type=envelope.type, published=published, duplicates=duplicates)


ROUTES = [
    list_stock, get_stock, create_fulfilment_order, get_fulfilment_order, cancel_fulfilment_order, get_shipment,
    create_receipt, get_receipt, wms_webhook,
]
