"""The sandbox WMS's vendor API (``/api/v1``), exactly as README.md documents it.

This is a 3PL's API, not an Omnigate one: errors use the vendor's ``{"error": {code, message, details}}``
envelope rather than problem+json, authentication is an ``X-Api-Key`` header, and listings page with
``page_token``/``next_page_token``. The connector in system-wms is written against README.md only.
"""

from __future__ import annotations

import hmac
import sqlite3
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, Parameter
from msgspec import Meta

from services.sandbox.common.db import Transaction
from services.sandbox.common.deps import settings_of
from services.sandbox.wms import db
from services.sandbox.wms.settings import SandboxWmsSettings
from shared import params
from shared.models.common import Ref, Sku

# The WMS's formats (README.md). Its SKUs and references are documented as exactly ours, so they are the kernel's
# types (``params`` for paths and query strings); what is the WMS's own is declared here, once, for bodies (msgspec)
# and for query strings (Litestar reads only ``Parameter`` from a handler). A bad value is refused before a
# handler runs, in the WMS's envelope (``_on_http_error`` below renders the framework's 400).
WAREHOUSE_PATTERN = r"^[A-Z0-9]{2,10}$"
WarehouseCode = Annotated[str, Meta(pattern=WAREHOUSE_PATTERN)]
WarehouseFilter = Annotated[str | None, Parameter(pattern=WAREHOUSE_PATTERN)]
Quantity = Annotated[int, Meta(ge=1, le=10_000)]
Text = Annotated[str, Meta(min_length=1, max_length=200)]
MAX_LINES = 500
MAX_STOCK_PAGE = 1000
MAX_ORDER_PAGE = 100
PageToken = Annotated[str | None, Parameter(max_length=200)]
StockPageSize = Annotated[int, Parameter(ge=1, le=MAX_STOCK_PAGE)]
OrderPageSize = Annotated[int, Parameter(ge=1, le=MAX_ORDER_PAGE)]

_encoder = msgspec.json.Encoder()


# --- the vendor's error envelope -----------------------------------------------------------------------------


class WmsError(Exception):
    """An error the WMS documents: rendered as ``{"error": {"code", "message", "details"?}}``."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_body(
    status: int,
    code: str = "internal_error",
    message: str = "Internal server error",
    details: dict[str, Any] | None = None,
) -> tuple[bytes, str]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return _encoder.encode({"error": error}), "application/json"


def _on_wms_error(_: Request[Any, Any, Any], exc: WmsError) -> Response[bytes]:
    body, media_type = error_body(exc.status, exc.code, exc.message, exc.details)
    return Response(content=body, status_code=exc.status, media_type=media_type)


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def _on_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    # Framework errors inside /api/v1 (bad query parameters, oversized bodies) in the vendor's envelope too.
    status = exc.status_code
    code = _HTTP_CODES.get(status, "invalid_request" if status < 500 else "internal_error")
    details = {"errors": exc.extra} if isinstance(exc.extra, list) and exc.extra else None
    body, media_type = error_body(status, code, str(exc.detail or code), details)
    return Response(content=body, status_code=status, media_type=media_type, headers=dict(exc.headers or {}))


def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    expected = settings_of(connection, SandboxWmsSettings).wms_api_key
    given = connection.headers.get("x-api-key", "")
    # No key configured means nobody gets in: an open WMS would hide a missing secret.
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise WmsError(401, "unauthorized", "Missing or invalid X-Api-Key header")


# --- request bodies --------------------------------------------------------------------------------------------


class _Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Line(_Input, kw_only=True):
    sku: Sku
    quantity: Quantity


class ShipTo(_Input, kw_only=True):
    name: Text
    address1: Text
    address2: Annotated[str, Meta(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[str, Meta(min_length=1, max_length=20)]
    country_code: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
    phone: Annotated[str, Meta(max_length=40)] | None = None
    email: Annotated[str, Meta(max_length=200)] | None = None


class FulfillmentOrderCreate(_Input, kw_only=True):
    order_reference: Ref
    warehouse: WarehouseCode
    ship_to: ShipTo
    lines: Annotated[list[Line], Meta(min_length=1, max_length=MAX_LINES)]


class ReceiptCreate(_Input, kw_only=True):
    reference: Ref
    warehouse: WarehouseCode
    type: Literal["return"]
    lines: Annotated[list[Line], Meta(min_length=1, max_length=MAX_LINES)]
    notes: Annotated[str, Meta(max_length=500)] | None = None


async def decode_body(request: Request[Any, Any, Any], type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WmsError(400, "invalid_request", str(exc)) from None


def _json(content: Any, status: int = 200) -> Response[bytes]:
    return Response(content=_encoder.encode(content), status_code=status, media_type="application/json")


def check_catalogue(conn: sqlite3.Connection, warehouse: str, skus: list[str]) -> None:
    if not db.warehouse_exists(conn, warehouse):
        raise WmsError(422, "unknown_warehouse", f"Warehouse {warehouse} does not exist", {"warehouse": warehouse})
    unknown = db.unknown_skus(conn, skus)
    if unknown:
        raise WmsError(422, "unknown_sku", f"{len(unknown)} SKU(s) are not known to the WMS", {"skus": unknown})


# --- warehouses and stock ------------------------------------------------------------------------------------------


@get("/warehouses", summary="List warehouses")
async def list_warehouses(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]
) -> Response[bytes]:
    rows = conn.execute("SELECT * FROM warehouses ORDER BY code").fetchall()
    items = [
        {
            "code": r["code"],
            "name": r["name"],
            "address": {
                "line1": r["line1"],
                "city": r["city"],
                "postal_code": r["postal_code"],
                "country_code": r["country"],
            },
        }
        for r in rows
    ]
    return _json({"items": items})


@get("/stock", summary="Stock snapshot, paged")
async def list_stock(
    request: Request[Any, Any, Any],
    conn: NamedDependency[sqlite3.Connection],
    warehouse: WarehouseFilter = None,
    page_token: PageToken = None,
    page_size: StockPageSize = 100,
) -> Response[bytes]:
    if warehouse is not None and not db.warehouse_exists(conn, warehouse):
        raise WmsError(404, "not_found", f"Warehouse {warehouse} does not exist", {"warehouse": warehouse})
    after = None
    if page_token:
        after = db.decode_page_token(page_token)
        if after is None or (warehouse is not None and after[0] != warehouse):
            raise WmsError(400, "invalid_request", "page_token is not valid for this listing")
    rows, token = db.stock_page(conn, warehouse, after, page_size)
    return _json({"items": [db.stock_json(r) for r in rows], "next_page_token": token})


@get("/stock/{sku:str}", summary="Stock of one SKU in every warehouse")
async def get_stock(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection], sku: params.Sku
) -> Response[bytes]:
    if db.unknown_skus(conn, [sku]):
        raise WmsError(404, "not_found", f"SKU {sku} is not known to the WMS", {"sku": sku})
    rows = conn.execute("SELECT * FROM stock WHERE sku = ? ORDER BY warehouse", (sku,)).fetchall()
    return _json({"sku": sku, "items": [db.stock_json(r) for r in rows]})


# --- fulfillment orders ------------------------------------------------------------------------------------------------


@post("/fulfillment-orders", summary="Create a fulfillment order")
async def create_order(request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]) -> Response[bytes]:
    body: FulfillmentOrderCreate = await decode_body(request, FulfillmentOrderCreate)
    check_catalogue(conn, body.warehouse, [line.sku for line in body.lines])
    existing = db.find_order(conn, reference=body.order_reference)
    if existing is not None:
        raise WmsError(
            409,
            "duplicate_order_reference",
            f"A fulfillment order with order_reference {body.order_reference} already exists",
            {"id": existing["id"], "order_reference": body.order_reference},
        )
    order_id = db.new_id("fo")
    stamp = db.now()
    with Transaction(conn):
        conn.execute(
            "INSERT INTO fulfillment_orders(id, order_reference, warehouse, status, ship_to, created_at, updated_at) "
            "VALUES (?, ?, ?, 'received', ?, ?, ?)",
            (order_id, body.order_reference, body.warehouse, _encoder.encode(body.ship_to).decode(), stamp, stamp),
        )
        for n, line in enumerate(body.lines, start=1):
            db.ensure_stock_row(conn, body.warehouse, line.sku)
            on_hand, allocated = conn.execute(
                "SELECT on_hand, allocated FROM stock WHERE warehouse = ? AND sku = ?", (body.warehouse, line.sku)
            ).fetchone()
            backordered = max(0, line.quantity - max(0, on_hand - allocated))
            conn.execute(
                "UPDATE stock SET allocated = allocated + ?, updated_at = ? WHERE warehouse = ? AND sku = ?",
                (line.quantity, stamp, body.warehouse, line.sku),
            )
            conn.execute(
                "INSERT INTO fulfillment_order_lines(order_id, line_no, sku, quantity, backordered) VALUES (?, ?, ?, ?, ?)",
                (order_id, n, line.sku, line.quantity, backordered),
            )
    row = db.find_order(conn, order_id=order_id)
    assert row is not None
    return _json(db.order_json(conn, row), 201)


@get("/fulfillment-orders", summary="List fulfillment orders, optionally by order_reference")
async def list_orders(
    request: Request[Any, Any, Any],
    conn: NamedDependency[sqlite3.Connection],
    order_reference: params.OptionalRef = None,
    page_token: PageToken = None,
    page_size: OrderPageSize = 50,
) -> Response[bytes]:
    clauses: list[str] = []
    args: list[str] = []
    if order_reference is not None:
        clauses.append("order_reference = ?")
        args.append(order_reference)
    if page_token:
        after = db.decode_page_token(page_token)
        if after is None or after[0] != "fo":
            raise WmsError(400, "invalid_request", "page_token is not valid for this listing")
        clauses.append("id > ?")
        args.append(after[1])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM fulfillment_orders {where} ORDER BY id LIMIT ?", (*args, page_size + 1)
    ).fetchall()
    token = db.encode_page_token("fo", rows[page_size - 1]["id"]) if len(rows) > page_size else None
    return _json({"items": [db.order_json(conn, r) for r in rows[:page_size]], "next_page_token": token})


def _order_or_404(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row:
    row = db.find_order(conn, order_id=order_id)
    if row is None:
        raise WmsError(404, "not_found", f"Fulfillment order {order_id} does not exist", {"id": order_id})
    return row


@get("/fulfillment-orders/{order_id:str}", summary="Get a fulfillment order")
async def get_order(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection], order_id: FromPath[str]
) -> Response[bytes]:
    return _json(db.order_json(conn, _order_or_404(conn, order_id)))


CANCELLABLE = ("received", "picking", "packed")


@post("/fulfillment-orders/{order_id:str}/cancel", summary="Cancel a fulfillment order before it ships")
async def cancel_order(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection], order_id: FromPath[str]
) -> Response[bytes]:
    row = _order_or_404(conn, order_id)
    if row["status"] not in (*CANCELLABLE, "cancelled"):
        raise WmsError(
            409,
            "order_not_cancellable",
            f"Fulfillment order {order_id} is {row['status']} and can no longer be cancelled",
            {"id": order_id, "status": row["status"]},
        )
    if row["status"] != "cancelled":
        stamp = db.now()
        with Transaction(conn):
            for line in conn.execute(
                "SELECT sku, quantity FROM fulfillment_order_lines WHERE order_id = ?", (order_id,)
            ).fetchall():
                conn.execute(
                    "UPDATE stock SET allocated = max(0, allocated - ?), updated_at = ? WHERE warehouse = ? AND sku = ?",
                    (line["quantity"], stamp, row["warehouse"], line["sku"]),
                )
            conn.execute(
                "UPDATE fulfillment_orders SET status = 'cancelled', cancelled_at = ?, updated_at = ? WHERE id = ?",
                (stamp, stamp, order_id),
            )
        row = _order_or_404(conn, order_id)
    return _json(db.order_json(conn, row))


# --- shipments and receipts ---------------------------------------------------------------------------------------------


@get("/shipments/{shipment_id:str}", summary="Get a shipment")
async def get_shipment(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection], shipment_id: FromPath[str]
) -> Response[bytes]:
    row = conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone()
    if row is None:
        raise WmsError(404, "not_found", f"Shipment {shipment_id} does not exist", {"id": shipment_id})
    return _json(db.shipment_json(conn, row))


@post("/receipts", summary="Announce an expected (return) receipt")
async def create_receipt(request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]) -> Response[bytes]:
    body: ReceiptCreate = await decode_body(request, ReceiptCreate)
    check_catalogue(conn, body.warehouse, [line.sku for line in body.lines])
    existing = db.find_receipt(conn, reference=body.reference)
    if existing is not None:
        raise WmsError(
            409,
            "duplicate_receipt_reference",
            f"A receipt with reference {body.reference} already exists",
            {"id": existing["id"], "reference": body.reference},
        )
    with Transaction(conn):
        receipt_id = db.insert_receipt(
            conn,
            reference=body.reference,
            warehouse=body.warehouse,
            type_=body.type,
            status="expected",
            lines=[(line.sku, line.quantity) for line in body.lines],
            notes=body.notes,
        )
    row = db.find_receipt(conn, receipt_id=receipt_id)
    assert row is not None
    return _json(db.receipt_json(conn, row), 201)


@get("/receipts", summary="Find receipts by reference")
async def list_receipts(
    request: Request[Any, Any, Any],
    conn: NamedDependency[sqlite3.Connection],
    reference: params.Ref,
) -> Response[bytes]:
    row = db.find_receipt(conn, reference=reference)
    return _json({"items": [db.receipt_json(conn, row)] if row is not None else [], "next_page_token": None})


@get("/receipts/{receipt_id:str}", summary="Get a receipt")
async def get_receipt(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection], receipt_id: FromPath[str]
) -> Response[bytes]:
    row = db.find_receipt(conn, receipt_id=receipt_id)
    if row is None:
        raise WmsError(404, "not_found", f"Receipt {receipt_id} does not exist", {"id": receipt_id})
    return _json(db.receipt_json(conn, row))


api = Router(
    path="/api/v1",
    route_handlers=[
        list_warehouses,
        list_stock,
        get_stock,
        create_order,
        list_orders,
        get_order,
        cancel_order,
        get_shipment,
        create_receipt,
        list_receipts,
        get_receipt,
    ],
    guards=[require_api_key],
    exception_handlers={WmsError: _on_wms_error, HTTPException: _on_http_error},
    tags=["wms"],
)
