"""Canonical HTTP routes of ``system-erp`` (DESIGN §10): items, prices, financial stock, sales orders, credit memos.

Handlers validate what the path and query carry (SKU and ref patterns, limits, cursors) before anything reaches
the ERP, and leave every vendor detail to the connector.
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from services.system.erp.connector import OdooConnector
from shared.models.catalog import Item, Price
from shared.models.common import LOCATION_PATTERN, REF_PATTERN, SKU_PATTERN, Page
from shared.models.inventory import StockPosition
from shared.models.orders import SalesOrder, SalesOrderRequest
from shared.models.returns import CreditMemo, CreditMemoRequest
from shared.problems import invalid

_SKU = re.compile(SKU_PATTERN)
_REF = re.compile(REF_PATTERN)
_LOCATION = re.compile(LOCATION_PATTERN)
Limit = Annotated[int, Parameter(ge=1, le=500, description="Page size, 1-500")]
Cursor = Annotated[str | None, Parameter(max_length=64, description="Opaque cursor from a previous page")]


def _sku(value: str) -> str:
    if not _SKU.match(value):
        raise invalid("a SKU matches [A-Za-z0-9._-]{1,64}", errors=[{"field": "sku", "value": value[:80]}])
    return value


def _ref(value: str) -> str:
    if not _REF.match(value):
        raise invalid("a ref matches [A-Za-z0-9._:-]{1,64}", errors=[{"field": "ref", "value": value[:80]}])
    return value


@get("/items/{sku:str}", tags=["catalog"], summary="One item by SKU")
async def get_item(erp: NamedDependency[OdooConnector], sku: FromPath[str]) -> Item:
    return await erp.item(_sku(sku))


@get("/items", tags=["catalog"], summary="Every item, cursor-paged")
async def list_items(erp: NamedDependency[OdooConnector], cursor: Cursor = None, limit: Limit = 100) -> Page[Item]:
    return await erp.items(cursor, limit)


@get("/prices/{sku:str}", tags=["catalog"], summary="The ERP's sales price of one SKU")
async def get_price(erp: NamedDependency[OdooConnector], sku: FromPath[str]) -> Price:
    return await erp.price(_sku(sku))


@get("/prices", tags=["catalog"], summary="Every price, cursor-paged (what the price projection syncs from)")
async def list_prices(erp: NamedDependency[OdooConnector], cursor: Cursor = None, limit: Limit = 100) -> Page[Price]:
    return await erp.prices(cursor, limit)


@get("/stock", tags=["stock"], summary="ERP financial stock, per DC or for every DC, cursor-paged")
async def list_stock(
    erp: NamedDependency[OdooConnector],
    location: Annotated[str | None, Parameter(max_length=64, description="`dc-<code>`")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[StockPosition]:
    if location is not None and not _LOCATION.match(location):
        raise invalid("location is `dc-<code>` or `store-<code>`", errors=[{"field": "location"}])
    return await erp.stock(location, cursor, limit)


@get("/stock/{sku:str}", tags=["stock"], summary="ERP financial stock of one SKU in every DC")
async def stock_for_sku(erp: NamedDependency[OdooConnector], sku: FromPath[str]) -> list[StockPosition]:
    return await erp.stock_for(_sku(sku))


@post("/sales-orders", tags=["orders"], summary="Create the ERP sales order for our order ref (idempotent)")
async def create_sales_order(
    erp: NamedDependency[OdooConnector], data: JSONBody[SalesOrderRequest]
) -> Response[SalesOrder]:
    """201 when this call created it, 200 with ``created: false`` when the ERP already had it."""
    order = await erp.create_sales_order(data)
    return Response(order, status_code=201 if order.created else 200)


@get("/sales-orders/{ref:str}", tags=["orders"], summary="The ERP sales order of our order ref")
async def get_sales_order(erp: NamedDependency[OdooConnector], ref: FromPath[str]) -> SalesOrder:
    return await erp.sales_order(_ref(ref))


@get("/sales-orders", tags=["orders"], summary="Every ERP sales order carrying our order ref (duplicates included)")
async def list_sales_orders(
    erp: NamedDependency[OdooConnector],
    ref: Annotated[str, Parameter(max_length=64, description="Our order ref (`client_order_ref`)")],
) -> list[SalesOrder]:
    """Odoo does not stop two sales orders from carrying one ref; the document sweep lists them all here."""
    return await erp.sales_orders(_ref(ref))


@post("/sales-orders/{ref:str}/confirm", status_code=200, tags=["orders"], summary="Confirm (idempotent)")
async def confirm_sales_order(erp: NamedDependency[OdooConnector], ref: FromPath[str]) -> SalesOrder:
    return await erp.transition_sales_order(_ref(ref), "action_confirm")


@post("/sales-orders/{ref:str}/cancel", status_code=200, tags=["orders"], summary="Cancel (idempotent)")
async def cancel_sales_order(
    erp: NamedDependency[OdooConnector],
    ref: FromPath[str],
    erp_id: Annotated[
        int | None,
        Parameter(
            ge=1,
            le=2**53,
            description="Cancel only this sales order of the ref "
            "(a duplicate); without it, every sales order of the ref",
        ),
    ] = None,
) -> SalesOrder:
    """By reference: every sales order carrying the ref is cancelled, duplicates included. A create of this ref
    whose outcome is still unknown is waited out first (409 with Retry-After while it is)."""
    if erp_id is not None:
        return await erp.cancel_sales_order(_ref(ref), erp_id)
    return await erp.transition_sales_order(_ref(ref), "action_cancel")


@post("/credit-memos", tags=["returns"], summary="Create and post the ERP credit memo for our return ref")
async def create_credit_memo(
    erp: NamedDependency[OdooConnector], data: JSONBody[CreditMemoRequest]
) -> Response[CreditMemo]:
    memo = await erp.create_credit_memo(data)
    return Response(memo, status_code=201 if memo.created else 200)


@get("/credit-memos/{ref:str}", tags=["returns"], summary="The ERP credit memo of our return ref")
async def get_credit_memo(erp: NamedDependency[OdooConnector], ref: FromPath[str]) -> CreditMemo:
    return await erp.credit_memo(_ref(ref))


@get("/credit-memos", tags=["returns"], summary="Every ERP credit memo carrying our return ref")
async def list_credit_memos(
    erp: NamedDependency[OdooConnector],
    ref: Annotated[str, Parameter(max_length=64, description="Our return ref (`account.move.ref`)")],
) -> list[CreditMemo]:
    return await erp.credit_memos(_ref(ref))


ROUTES = [
    get_item,
    list_items,
    get_price,
    list_prices,
    list_stock,
    stock_for_sku,
    create_sales_order,
    get_sales_order,
    list_sales_orders,
    confirm_sales_order,
    cancel_sales_order,
    create_credit_memo,
    get_credit_memo,
    list_credit_memos,
]
