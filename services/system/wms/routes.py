"""system-wms HTTP: DC stock, fulfilment orders, shipments and return receipts (canonical); the WMS's webhooks
are in webhooks.py.

Every path parameter and query value is checked here, before it reaches a WMS URL; bodies are canonical
Structs that refuse unknown fields.
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from services.system.wms import mapping
from services.system.wms.connector import WmsConnector
from shared.models.common import LOCATION_PATTERN, REF_PATTERN, SKU_PATTERN, Page
from shared.models.fulfilment import FulfilmentOrder, FulfilmentOrderRequest, Receipt, ReceiptRequest, Shipment
from shared.models.inventory import StockPosition
from shared.problems import invalid

_SKU = re.compile(SKU_PATTERN)
_REF = re.compile(REF_PATTERN)
MAX_LIMIT = 1000


def check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise invalid(f"{what} must match {pattern.pattern}")
    return value


@get("/stock", summary="DC stock positions, cursor-paged")
async def list_stock(
    wms: NamedDependency[WmsConnector],
    location: Annotated[str | None, Parameter(pattern=LOCATION_PATTERN)] = None,
    cursor: Annotated[str | None, Parameter(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[StockPosition]:
    return await wms.stock_page(location, cursor, limit)


@get("/stock/{sku:str}", summary="Stock positions of one SKU in every DC")
async def get_stock(wms: NamedDependency[WmsConnector], sku: FromPath[str]) -> list[StockPosition]:
    return await wms.stock_for_sku(check(sku, _SKU, "sku"))


@post(
    "/fulfilment-orders",
    summary="Create a fulfilment order (idempotent by ref: 201 new, 200 existing)",
    response_description="The fulfilment order; `created` says whether this call made it",
)
async def create_fulfilment_order(
    wms: NamedDependency[WmsConnector], data: JSONBody[FulfilmentOrderRequest]
) -> Response[FulfilmentOrder]:
    mapping.warehouse_for(data.location)
    order = await wms.create_fulfilment_order(data)
    return Response(order, status_code=201 if order.created else 200)


@get("/fulfilment-orders/{ref:str}", summary="A fulfilment order by our ref")
async def get_fulfilment_order(wms: NamedDependency[WmsConnector], ref: FromPath[str]) -> FulfilmentOrder:
    return await wms.fulfilment_order(check(ref, _REF, "ref"))


@post("/fulfilment-orders/{ref:str}/cancel", summary="Cancel a fulfilment order that has not shipped", status_code=200)
async def cancel_fulfilment_order(wms: NamedDependency[WmsConnector], ref: FromPath[str]) -> FulfilmentOrder:
    return await wms.cancel_fulfilment_order(check(ref, _REF, "ref"))


@get("/shipments/{ref:str}", summary="A shipment by its ref (the WMS shipment id, as in shipment.dispatched)")
async def get_shipment(wms: NamedDependency[WmsConnector], ref: FromPath[str]) -> Shipment:
    return await wms.shipment(check(ref, _REF, "ref"))


@post("/receipts", summary="Announce an expected return receipt at a DC (idempotent by ref)")
async def create_receipt(wms: NamedDependency[WmsConnector], data: JSONBody[ReceiptRequest]) -> Response[Receipt]:
    mapping.warehouse_for(data.location)
    receipt = await wms.create_receipt(data)
    return Response(receipt, status_code=201 if receipt.created else 200)


@get("/receipts/{ref:str}", summary="A receipt by our ref")
async def get_receipt(wms: NamedDependency[WmsConnector], ref: FromPath[str]) -> Receipt:
    return await wms.receipt(check(ref, _REF, "ref"))


ROUTES = [
    list_stock,
    get_stock,
    create_fulfilment_order,
    get_fulfilment_order,
    cancel_fulfilment_order,
    get_shipment,
    create_receipt,
    get_receipt,
]
