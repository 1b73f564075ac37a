"""system-wms HTTP: DC stock, fulfilment orders, shipments and return receipts (canonical); the WMS's webhooks
are in webhooks.py.

Every path parameter and query value is typed (the kernel's ``shared.params``, or the WMS's page token), so the
framework refuses a bad one before it reaches a WMS URL; bodies are canonical Structs that refuse unknown fields.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from services.system.wms import mapping
from services.system.wms.connector import WmsConnector
from shared import params
from shared.models.common import Page
from shared.models.fulfilment import FulfilmentOrder, FulfilmentOrderRequest, Receipt, ReceiptRequest, Shipment
from shared.models.inventory import StockPosition

MAX_LIMIT = 1000
# The WMS's own page token, passed through: opaque, but checked for shape before it goes into a WMS URL.
PageToken = Annotated[
    str | None, Parameter(pattern=r"^[A-Za-z0-9_-]{1,200}$", description="Opaque cursor from a previous page")
]
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT}")]


@get("/stock", summary="DC stock positions, cursor-paged")
async def list_stock(
    wms: NamedDependency[WmsConnector],
    location: params.OptionalLocationId = None,
    cursor: PageToken = None,
    limit: Limit = 100,
) -> Page[StockPosition]:
    return await wms.stock_page(location, cursor, limit)


@get("/stock/{sku:str}", summary="Stock positions of one SKU in every DC")
async def get_stock(wms: NamedDependency[WmsConnector], sku: params.Sku) -> list[StockPosition]:
    return await wms.stock_for_sku(sku)


@post(
    "/fulfilment-orders",
    summary="Create a fulfilment order (idempotent by ref: 201 new, 200 existing)",
    response_description="The fulfilment order; `created` says whether this call made it",
)
async def create_fulfilment_order(
    wms: NamedDependency[WmsConnector], data: JSONBody[FulfilmentOrderRequest]
) -> Response[FulfilmentOrder]:
    mapping.is_dc(data.location)
    order = await wms.create_fulfilment_order(data)
    return Response(order, status_code=201 if order.created else 200)


@get("/fulfilment-orders/{ref:str}", summary="A fulfilment order by our ref")
async def get_fulfilment_order(wms: NamedDependency[WmsConnector], ref: params.Ref) -> FulfilmentOrder:
    return await wms.fulfilment_order(ref)


@post("/fulfilment-orders/{ref:str}/cancel", summary="Cancel a fulfilment order that has not shipped", status_code=200)
async def cancel_fulfilment_order(wms: NamedDependency[WmsConnector], ref: params.Ref) -> FulfilmentOrder:
    return await wms.cancel_fulfilment_order(ref)


@get("/shipments/{ref:str}", summary="A shipment by its ref (the WMS shipment id, as in shipment.dispatched)")
async def get_shipment(wms: NamedDependency[WmsConnector], ref: params.Ref) -> Shipment:
    return await wms.shipment(ref)


@post("/receipts", summary="Announce an expected return receipt at a DC (idempotent by ref)")
async def create_receipt(wms: NamedDependency[WmsConnector], data: JSONBody[ReceiptRequest]) -> Response[Receipt]:
    mapping.is_dc(data.location)
    receipt = await wms.create_receipt(data)
    return Response(receipt, status_code=201 if receipt.created else 200)


@get("/receipts/{ref:str}", summary="A receipt by our ref")
async def get_receipt(wms: NamedDependency[WmsConnector], ref: params.Ref) -> Receipt:
    return await wms.receipt(ref)


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
