"""Canonical HTTP routes of ``system-erp`` (DESIGN §10): items, prices, financial stock, sales orders, credit memos.

What the path and query carry (SKU and ref patterns, limits, cursors) is typed with the kernel's parameter types
(``shared.params``), so the framework refuses a bad value before anything reaches the ERP; handlers leave every
vendor detail to the connector.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from services.system.erp.connector import OdooConnector
from shared import params
from shared.models.catalog import Item, Price
from shared.models.common import Page
from shared.models.inventory import StockPosition
from shared.models.orders import SalesOrder, SalesOrderRequest
from shared.models.returns import CreditMemo, CreditMemoRequest

Limit = Annotated[int, Parameter(ge=1, le=500, description="Page size, 1-500")]


@get("/items/{sku:str}", tags=["catalog"], summary="One item by SKU")
async def get_item(erp: NamedDependency[OdooConnector], sku: params.Sku) -> Item:
    return await erp.item(sku)


@get("/items", tags=["catalog"], summary="Every item, or the items matching `q`, cursor-paged")
async def list_items(
    erp: NamedDependency[OdooConnector],
    q: params.SearchText = None,
    cursor: params.Cursor = None,
    limit: Limit = 100,
) -> Page[Item]:
    """Items in the ERP's order (archived ones too, ``active: false``), ``limit`` per page (1-500) with
    ``next_cursor`` until the last page.

    With ``q`` only the items whose name, SKU, barcode or category (its full path, "All / Saleable / Footwear")
    contains it, case-insensitively and literally (``%`` and ``_`` are plain characters); ``q`` is trimmed and
    NFC-normalised. The ERP matches it: Odoo's ``search_read`` with ``ilike`` terms joined by ``|``.
    A cursor continues only the listing or search it came from.

    Errors: 400 ``invalid-request`` for a ``q`` that is empty, blank, longer than 100 characters or holds a
    control character, a bad ``limit``, or a cursor this listing did not issue; 502/503/504 naming ``erp``
    when the ERP fails or is away (503 with ``Retry-After`` while its breaker is open)."""
    return await erp.items(cursor, limit, search=params.search_text(q))


@get("/prices/{sku:str}", tags=["catalog"], summary="The ERP's sales price of one SKU")
async def get_price(erp: NamedDependency[OdooConnector], sku: params.Sku) -> Price:
    return await erp.price(sku)


@get("/prices", tags=["catalog"], summary="Every price, cursor-paged (what the price projection syncs from)")
async def list_prices(
    erp: NamedDependency[OdooConnector], cursor: params.Cursor = None, limit: Limit = 100
) -> Page[Price]:
    return await erp.prices(cursor, limit)


@get("/stock", tags=["stock"], summary="ERP financial stock, per DC or for every DC, cursor-paged")
async def list_stock(
    erp: NamedDependency[OdooConnector],
    location: params.OptionalLocationId = None,
    cursor: params.Cursor = None,
    limit: Limit = 100,
) -> Page[StockPosition]:
    return await erp.stock(location, cursor, limit)


@get("/stock/{sku:str}", tags=["stock"], summary="ERP financial stock of one SKU in every DC")
async def stock_for_sku(erp: NamedDependency[OdooConnector], sku: params.Sku) -> list[StockPosition]:
    return await erp.stock_for(sku)


@post("/sales-orders", tags=["orders"], summary="Create the ERP sales order for our order ref (idempotent)")
async def create_sales_order(
    erp: NamedDependency[OdooConnector], data: JSONBody[SalesOrderRequest]
) -> Response[SalesOrder]:
    """201 when this call created it, 200 with ``created: false`` when the ERP already had it."""
    order = await erp.create_sales_order(data)
    return Response(order, status_code=201 if order.created else 200)


@get("/sales-orders/{ref:str}", tags=["orders"], summary="The ERP sales order of our order ref")
async def get_sales_order(erp: NamedDependency[OdooConnector], ref: params.Ref) -> SalesOrder:
    return await erp.sales_order(ref)


@get("/sales-orders", tags=["orders"], summary="Every ERP sales order carrying our order ref (duplicates included)")
async def list_sales_orders(
    erp: NamedDependency[OdooConnector],
    ref: params.Ref,
) -> list[SalesOrder]:
    """Odoo does not stop two sales orders from carrying one ref; the document sweep lists them all here."""
    return await erp.sales_orders(ref)


@post("/sales-orders/{ref:str}/confirm", status_code=200, tags=["orders"], summary="Confirm (idempotent)")
async def confirm_sales_order(erp: NamedDependency[OdooConnector], ref: params.Ref) -> SalesOrder:
    return await erp.transition_sales_order(ref, "action_confirm")


@post("/sales-orders/{ref:str}/cancel", status_code=200, tags=["orders"], summary="Cancel (idempotent)")
async def cancel_sales_order(
    erp: NamedDependency[OdooConnector],
    ref: params.Ref,
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
        return await erp.cancel_sales_order(ref, erp_id)
    return await erp.transition_sales_order(ref, "action_cancel")


@post("/credit-memos", tags=["returns"], summary="Create and post the ERP credit memo for our return ref")
async def create_credit_memo(
    erp: NamedDependency[OdooConnector], data: JSONBody[CreditMemoRequest]
) -> Response[CreditMemo]:
    memo = await erp.create_credit_memo(data)
    return Response(memo, status_code=201 if memo.created else 200)


@get("/credit-memos/{ref:str}", tags=["returns"], summary="The ERP credit memo of our return ref")
async def get_credit_memo(erp: NamedDependency[OdooConnector], ref: params.Ref) -> CreditMemo:
    return await erp.credit_memo(ref)


@get("/credit-memos", tags=["returns"], summary="Every ERP credit memo carrying our return ref")
async def list_credit_memos(
    erp: NamedDependency[OdooConnector],
    ref: params.Ref,
) -> list[CreditMemo]:
    return await erp.credit_memos(ref)


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
