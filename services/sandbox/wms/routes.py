"""The ShipBob developer API subset (dated version ``2026-01``) the sandbox WMS serves.

``Authorization: Bearer <personal access token>`` on every call; the writes ShipBob documents with a
``shipbob_channel_id`` header (create order, create return) refuse a request without one. Errors leave in the
shapes the 2026-01 OpenAPI document gives each endpoint: the orders endpoints' model-state object
(``{"<field>": ["<message>", ...]}``, ``Orders.Post.Api.Order.Unprocessable.Entity.Object``), RFC 9457-style
``ProblemDetails`` for inventory and receiving, ``Returns.ApiError`` (``{message, errors, details}``) for a
refused return, an empty body for 401 and for an order or shipment that does not exist.

Reference: https://developer.shipbob.com/2026-01/api (OpenAPI ``api-2026-01``); the sandbox enforces nothing
ShipBob does not: a ``reference_id`` is unique per channel for orders ("must be unique within your ShipBob
account", https://developer.shipbob.com/guides/orders) and for returns ("Client-defined external unique
identifier for the return order").
"""

from __future__ import annotations

import base64
import hmac
import os
import sqlite3
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, QueryParameter
from msgspec import Meta

from services.sandbox.common.db import Transaction
from services.sandbox.common.deps import settings_of
from services.sandbox.common.errors import VendorError
from services.sandbox.wms import db
from services.sandbox.wms.deps import WmsSandbox
from services.sandbox.wms.settings import SandboxWmsSettings
from services.system.wms.settings import WHSEC_PATTERN
from shared.models.common import Ref, Sku

_encoder = msgspec.json.Encoder()
MAX_PAGE = 250
TOPICS = (
    "order.shipped",
    "order.shipment.delivered",
    "order.shipment.exception",
    "order.shipment.on_hold",
    "order.shipment.cancelled",
    "return.created",
    "return.updated",
    "return.completed",
    "billing.charge.created",
    "billing.refund.created",
    "billing.credit.created",
)


# --- ShipBob's error shapes -------------------------------------------------------------------------------------


class ShipBobError(Exception):
    """An error as ShipBob answers it: a status and a JSON body (None: an empty body)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def model_state(status: int, field: str, message: str) -> ShipBobError:
    """The orders endpoints' 400/422 body: ``{"<field>": ["<message>"]}``."""
    return ShipBobError(status, {field: [message]})


def problem(status: int, title: str, detail: str | None = None) -> ShipBobError:
    """``Inventory.ProblemDetails`` / ``Receiving.ValidationProblemDetails``."""
    return ShipBobError(status, problem_body(status, title, detail))


def problem_body(status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    return {
        "type": f"https://tools.ietf.org/html/rfc9110#section-15.{5 if status < 500 else 6}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": None,
    }


def render_error(error: VendorError) -> tuple[bytes, str]:
    """Every error of the ShipBob API as ShipBob answers it (services/sandbox/common/errors.py): a 5xx is its
    gateway's problem document; 401, 403 and a path it does not serve (404) have an empty body; any other refusal
    (a value that does not validate, a body it cannot read, a method the path does not take) is the orders
    endpoints' model state, ``{"<field>": ["<message>"]}``."""
    if error.status >= 500:
        titles = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return _encoder.encode(problem_body(error.status, titles.get(error.status, "Error"))), "application/json"
    if error.status in (401, 403) or error.reason == "not_found":
        return b"", "application/json"
    return _encoder.encode({error.field or "request": [error.message]}), "application/json"


def _respond(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    content = b"" if body is None else _encoder.encode(body)
    return Response(content=content, status_code=status, media_type="application/json", headers=headers)


def _on_shipbob_error(_: Request[Any, Any, Any], exc: ShipBobError) -> Response[bytes]:
    return _respond(exc.status, exc.body, exc.headers)


def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A personal access token (or OAuth token) as a bearer token; ShipBob answers 401 with no body."""
    expected = settings_of(connection, SandboxWmsSettings).wms_access_token
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    # No token configured means nobody gets in: an open WMS would hide a missing secret.
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ShipBobError(401, None, {"WWW-Authenticate": "Bearer"})


def channel_of(request: Request[Any, Any, Any], conn: sqlite3.Connection) -> int:
    """The ``shipbob_channel_id`` header of a write: required, and a channel of this account."""
    raw = request.headers.get("shipbob_channel_id", "")
    if not raw.isdigit() or conn.execute("SELECT 1 FROM channels WHERE id = ?", (int(raw),)).fetchone() is None:
        raise model_state(400, "shipbob_channel_id", "A valid shipbob_channel_id header is required")
    return int(raw)


# --- request bodies -------------------------------------------------------------------------------------------


class _Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


Text = Annotated[str, Meta(min_length=1, max_length=200)]
Quantity = Annotated[int, Meta(ge=1, le=100_000)]


class Address(_Input, kw_only=True):
    address1: Text
    address2: Annotated[str, Meta(max_length=200)] | None = None
    city: Text
    company_name: Annotated[str, Meta(max_length=200)] | None = None
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
    state: Annotated[str, Meta(max_length=100)] | None = None
    zip_code: Annotated[str, Meta(max_length=20)] | None = None


class Recipient(_Input, kw_only=True):
    address: Address
    email: Annotated[str, Meta(max_length=200)] | None = None
    name: Text
    phone_number: Annotated[str, Meta(max_length=40)] | None = None


class ProductByReference(_Input, kw_only=True):
    reference_id: Sku
    quantity: Quantity
    name: Text | None = None
    external_line_id: int | None = None


class Tag(_Input, kw_only=True):
    name: Text
    value: Annotated[str, Meta(max_length=500)]


class CreateOrder(_Input, kw_only=True):
    """``Orders.CreateOrderModel`` (products by ``reference_id``, the model ShipBob recommends)."""

    reference_id: Ref
    shipping_method: Text
    type: Literal["DTC", "DropShip", "B2B"]
    recipient: Recipient
    products: Annotated[list[ProductByReference], Meta(min_length=1, max_length=500)]
    order_number: Text | None = None
    location_id: int | None = None
    tags: list[Tag] | None = None
    gift_message: Annotated[str, Meta(max_length=500)] | None = None
    purchase_date: str | None = None


class FacilityRef(_Input, kw_only=True):
    id: int
    name: str | None = None


class ReturnInventory(_Input, kw_only=True):
    id: int
    quantity: Quantity
    requested_action: Literal["Default", "Restock", "Quarantine", "Dispose"]
    lot_date: str | None = None
    lot_number: str | None = None


class CreateReturn(_Input, kw_only=True):
    """``Returns.CreateReturnRequest``."""

    reference_id: Ref
    fulfillment_center: FacilityRef
    inventory: Annotated[list[ReturnInventory], Meta(min_length=1, max_length=500)]
    original_shipment_id: int | None = None
    tracking_number: Annotated[str, Meta(max_length=100)] | None = None


class BoxItem(_Input, kw_only=True):
    inventory_id: int
    quantity: Quantity
    lot_date: str | None = None
    lot_number: str | None = None


class Box(_Input, kw_only=True):
    box_items: Annotated[list[BoxItem], Meta(min_length=1)]
    tracking_number: Annotated[str, Meta(max_length=100)]


class CreateReceivingOrder(_Input, kw_only=True):
    """``Receiving.CreateReceivingOrderModel``."""

    box_packaging_type: Literal["EverythingInOneBox", "OneSkuPerBox", "MultipleSkuPerBox"]
    boxes: Annotated[list[Box], Meta(min_length=1)]
    expected_arrival_date: str
    fulfillment_center: FacilityRef
    package_type: Literal["Package", "Pallet", "FloorLoadedContainer"]
    purchase_order_number: Annotated[str, Meta(max_length=100)] | None = None


class CreateSubscription(_Input, kw_only=True):
    """``Webhooks.V2.CreateSubscriptionRequest``."""

    topics: Annotated[list[Literal[TOPICS]], Meta(min_length=1)]  # type: ignore[valid-type]
    url: Annotated[str, Meta(pattern=r"^https?://", max_length=2000)]
    description: Annotated[str, Meta(max_length=500)] | None = None
    secret: Annotated[str, Meta(pattern=WHSEC_PATTERN)] | None = None  # the format ShipBob documents for it


class InventoryHistoryQuery(_Input, kw_only=True):
    """``FulfillmentCenterInventoryService.MerchantHistoryRequest``."""

    facility_id: int
    cursor: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    event_category: str | None = None
    inventory_ids: list[int] | None = None
    merchant_user_id: int | None = None  # the account's user; a token sees one account here, so it filters nothing


async def decode_body(request: Request[Any, Any, Any], type_: type[Any]) -> Any:
    """A body ShipBob would refuse is a 400 with the field named, as ASP.NET's model binding answers.

    A number may come as a string of digits (``"original_shipment_id": "104458283"`` in ShipBob's returns guide):
    ASP.NET Core's web defaults read numbers from JSON strings (``JsonNumberHandling.AllowReadingFromString``).
    msgspec's non-strict mode does that; it also reads ``"true"``/``"false"`` as booleans, which ASP.NET would
    refuse, the one leniency beyond ShipBob's.
    """
    try:
        return msgspec.json.decode(await request.body(), type=type_, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.rpartition("`$.")[2].rstrip("`") if "`$." in message else "request"
        raise model_state(400, field or "request", message) from None
    except msgspec.DecodeError as exc:
        raise model_state(400, "request", f"Invalid JSON: {exc}") from None


def _json(content: Any, status: int = 200) -> Response[bytes]:
    return _respond(status, content)


def _int_path(raw: str, suffix: str = "") -> int:
    """ShipBob ids are integers; ``<id>:<action>`` paths carry the action after a colon."""
    value = raw[: -len(suffix)] if suffix and raw.endswith(suffix) else raw
    if not value.isdigit() or len(value) > 12:
        raise ShipBobError(404)
    return int(value)


def _id_list(raw: str | None) -> list[str]:
    return [part for part in (raw or "").split(",") if part][:250]


# --- channels, locations, inventory ---------------------------------------------------------------------------------


@get("/channel", summary="Get Channels")
async def get_channels(conn: NamedDependency[sqlite3.Connection]) -> Response[bytes]:
    rows = conn.execute("SELECT * FROM channels ORDER BY id").fetchall()
    items = [
        {"application_name": "API", "id": r["id"], "name": r["name"], "scopes": r["scopes"].split(",")} for r in rows
    ]
    return _json({"items": items, "next": None, "prev": None})


@get("/location", summary="Get Locations")
async def get_locations(conn: NamedDependency[sqlite3.Connection]) -> Response[bytes]:
    return _json([db.location_json(r) for r in conn.execute("SELECT * FROM locations ORDER BY id")])


PageSize = Annotated[int, QueryParameter(name="PageSize", ge=1, le=MAX_PAGE)]


@get("/inventory-level/locations", summary="Get All Inventory Levels Grouped By Fulfillment Center")
async def inventory_levels_by_fc(
    conn: NamedDependency[sqlite3.Connection],
    location_id: Annotated[int | None, QueryParameter(name="LocationId")] = None,
    search_by: Annotated[str | None, QueryParameter(name="SearchBy", max_length=100)] = None,
    inventory_ids: Annotated[str | None, QueryParameter(name="InventoryIds", max_length=3000)] = None,
    page_size: PageSize = 50,
    cursor: Annotated[str | None, QueryParameter(name="Cursor", max_length=200)] = None,
) -> Response[bytes]:
    """Paged by ``next`` (a URL carrying ``Cursor``); items ordered by inventory id. ``SearchBy`` matches an
    inventory id exactly or a name or SKU in part (case-insensitive), as documented."""
    clauses: list[str] = []
    args: list[Any] = []
    if location_id is not None:
        if db.location(conn, location_id) is None:
            raise problem(400, "Bad Request", f"LocationId {location_id} is not a fulfillment center of this account")
        clauses.append("id IN (SELECT inventory_id FROM inventory_levels WHERE location_id = ?)")
        args.append(location_id)
    if search_by:
        clauses.append("(CAST(id AS TEXT) = ? OR instr(lower(sku), lower(?)) > 0 OR instr(lower(name), lower(?)) > 0)")
        args.extend([search_by, search_by, search_by])
    ids = _id_list(inventory_ids)
    if ids:
        if not all(i.isdigit() for i in ids):
            raise problem(400, "Bad Request", "InventoryIds must be a comma-separated list of integers")
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        args.extend(int(i) for i in ids)
    if cursor:
        after = db.decode_cursor(cursor)
        if after is None or not after.isdigit():
            raise problem(400, "Bad Request", "Cursor is not valid")
        clauses.append("id > ?")
        args.append(int(after))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM inventory {where} ORDER BY id LIMIT ?", (*args, page_size + 1)).fetchall()  # noqa: S608
    page = rows[:page_size]
    next_url = None
    if len(rows) > page_size:
        query = f"Cursor={db.encode_cursor(str(page[-1]['id']))}&PageSize={page_size}"
        if location_id is not None:
            query += f"&LocationId={location_id}"
        next_url = f"/{db.API_VERSION}/inventory-level/locations?{query}"
    return _json(
        {
            "first": None,
            "items": [db.fc_levels_json(conn, r, location_id) for r in page],
            "last": None,
            "next": next_url,
            "prev": None,
        }
    )


@get("/inventory-level/{inventory_id:str}/locations", summary="Get Inventory Levels Grouped By Fulfillment Center")
async def inventory_level_by_fc(
    conn: NamedDependency[sqlite3.Connection], inventory_id: FromPath[str]
) -> Response[bytes]:
    item = db.inventory_item(conn, _int_path(inventory_id)) if inventory_id.isdigit() else None
    if item is None:
        raise problem(404, "Not Found", f"Inventory {inventory_id} was not found")
    return _json(db.fc_levels_json(conn, item, None))


@post("/inventory/history:query", summary="Query Inventory History Events", status_code=200)
async def inventory_history(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]
) -> Response[bytes]:
    """Events after ``cursor`` (an ``inventory_audit_event_id``) at one facility, oldest first, 100 a page."""
    query: InventoryHistoryQuery = await decode_body(request, InventoryHistoryQuery)
    if db.location(conn, query.facility_id) is None:
        raise problem(400, "Bad Request", f"facility_id {query.facility_id} is not a fulfillment center")
    clauses = ["h.location_id = ?", "h.id > ?"]
    args: list[Any] = [query.facility_id, query.cursor or 0]
    if query.start_date:
        clauses.append("h.at >= ?")
        args.append(query.start_date)
    if query.event_category:
        clauses.append("h.category = ?")
        args.append(query.event_category)
    if query.inventory_ids:
        clauses.append(f"h.inventory_id IN ({','.join('?' * len(query.inventory_ids))})")
        args.extend(query.inventory_ids)
    rows = conn.execute(
        "SELECT h.*, i.sku FROM inventory_history h JOIN inventory i ON i.id = h.inventory_id "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} ORDER BY h.id LIMIT 101",
        args,
    ).fetchall()
    page = rows[:100]

    def details(r: sqlite3.Row) -> dict[str, Any]:
        return {
            "committed_quantity_change": r["committed_change"],
            "expiration_date": None,
            "facility_id": r["location_id"],
            "inventory_status": "Available",
            "location_id": 0,
            "lot_number": None,
            "operational_stage": {"description": "Available", "id": 1},
            "pack_description_id": None,
            "quantity_change": r["quantity_change"],
            "sku": r["sku"],
            "yuki_id": None,
        }

    data = [
        {
            "additional_reference": [],
            "decrement": details(r) if r["quantity_change"] < 0 else None,
            "event_category": r["category"],
            "event_datetime": r["at"],
            "increment": details(r) if r["quantity_change"] >= 0 else None,
            "inventory_audit_event_id": r["id"],
            "inventory_id": r["inventory_id"],
            "shipbob_order_id": r["order_id"],
        }
        for r in page
    ]
    next_url = f"/{db.API_VERSION}/inventory/history:query?cursor={page[-1]['id']}" if len(rows) > 100 else None
    return _json({"data": data, "first": None, "last": None, "next": next_url, "prev": None})


# --- orders -----------------------------------------------------------------------------------------------------


def _check_order(conn: sqlite3.Connection, channel_id: int, body: CreateOrder) -> dict[str, sqlite3.Row]:
    """What ShipBob refuses (422): an unknown product without a name, a reference_id the channel already used."""
    known = db.inventory_by_sku(conn, [p.reference_id for p in body.products])
    for n, product in enumerate(body.products):
        if product.reference_id not in known and product.name is None:
            # ShipBob creates a product for an unknown reference_id only if the order names it.
            raise model_state(
                422, f"products[{n}].name", f"Name is required: no product matches reference_id {product.reference_id}"
            )
    existing = conn.execute(
        "SELECT id FROM orders WHERE channel_id = ? AND reference_id = ?", (channel_id, body.reference_id)
    ).fetchone()
    if existing is not None:
        raise model_state(
            422, "reference_id", f"An order with reference_id {body.reference_id} already exists for this channel"
        )
    return known


@post("/order", summary="Create Order")
async def create_order(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> Response[bytes]:
    conn = sandbox.db
    channel_id = channel_of(request, conn)
    body: CreateOrder = await decode_body(request, CreateOrder)
    if body.location_id is not None:
        fc = db.location(conn, body.location_id)
        if fc is None:
            raise model_state(422, "location_id", f"Location {body.location_id} is not a valid fulfillment center")
        location_id = body.location_id
    else:
        location_id = conn.execute("SELECT min(id) FROM locations").fetchone()[0]
    known = _check_order(conn, channel_id, body)
    stamp = db.now()
    with Transaction(conn):
        for product in body.products:
            if product.reference_id not in known:
                conn.execute(
                    "INSERT INTO inventory(id, sku, name) VALUES (?, ?, ?)",
                    (db.next_id(conn, "inventory", 30_000_000), product.reference_id, product.name),
                )
        known = db.inventory_by_sku(conn, [p.reference_id for p in body.products])
        order_id = db.next_id(conn, "orders", db.FIRST_ORDER_ID)
        shipment_id = db.next_id(conn, "shipments", db.FIRST_SHIPMENT_ID)
        conn.execute(
            "INSERT INTO orders(id, channel_id, reference_id, order_number, status, type, shipping_method, recipient, "
            "tags, created_date) VALUES (?, ?, ?, ?, 'Processing', ?, ?, ?, ?, ?)",
            (
                order_id,
                channel_id,
                body.reference_id,
                body.order_number or body.reference_id,
                body.type,
                body.shipping_method,
                db.encode_json(body.recipient),
                db.encode_json(body.tags or []),
                stamp,
            ),
        )
        conn.execute(
            "INSERT INTO shipments(id, order_id, location_id, status, created_date, last_update_at) "
            "VALUES (?, ?, ?, 'Processing', ?, ?)",
            (shipment_id, order_id, location_id, stamp, stamp),
        )
        needed: dict[int, int] = {}
        for n, product in enumerate(body.products, start=1):
            inventory_id = known[product.reference_id]["id"]
            conn.execute(
                "INSERT INTO order_products(order_id, line_no, inventory_id, quantity) VALUES (?, ?, ?, ?)",
                (order_id, n, inventory_id, product.quantity),
            )
            needed[inventory_id] = needed.get(inventory_id, 0) + product.quantity
        short = False
        for inventory_id, qty in needed.items():
            db.ensure_level(conn, location_id, inventory_id)
            on_hand, committed = conn.execute(
                "SELECT on_hand, committed FROM inventory_levels WHERE location_id = ? AND inventory_id = ?",
                (location_id, inventory_id),
            ).fetchone()
            take = min(qty, max(0, on_hand - committed))
            short = short or take < qty
            conn.execute(
                "UPDATE inventory_levels SET committed = committed + ? WHERE location_id = ? AND inventory_id = ?",
                (take, location_id, inventory_id),
            )
            conn.execute(
                "INSERT INTO shipment_products(shipment_id, inventory_id, quantity, quantity_committed) "
                "VALUES (?, ?, ?, ?)",
                (shipment_id, inventory_id, qty, take),
            )
        if short:
            # Out of stock at the assigned centre: ShipBob keeps the order, its shipment waits in Exception.
            conn.execute("UPDATE shipments SET status = 'Exception' WHERE id = ?", (shipment_id,))
            db.refresh_order_status(conn, order_id)
    row = db.find_order(conn, order_id=order_id)
    assert row is not None
    if short:
        shipment = conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone()
        emit(sandbox, "order.shipment.exception", db.shipment_json(conn, shipment))
    return _json(db.order_json(conn, row), 201)


@get("/order", summary="Get Orders")
async def get_orders(
    conn: NamedDependency[sqlite3.Connection],
    reference_ids: Annotated[str | None, QueryParameter(name="ReferenceIds", max_length=5000)] = None,
    ids: Annotated[str | None, QueryParameter(name="IDs", max_length=5000)] = None,
    page: Annotated[int, QueryParameter(name="Page", ge=1, le=100_000)] = 1,
    limit: Annotated[int, QueryParameter(name="Limit", ge=1, le=MAX_PAGE)] = 50,
) -> Response[bytes]:
    """A JSON array of orders (paged by ``Page``/``Limit``), filtered by reference ids and ids (AND)."""
    clauses: list[str] = []
    args: list[Any] = []
    refs = _id_list(reference_ids)
    if refs:
        clauses.append(f"reference_id IN ({','.join('?' * len(refs))})")
        args.extend(refs)
    wanted = _id_list(ids)
    if wanted:
        if not all(i.isdigit() for i in wanted):
            raise model_state(400, "IDs", "IDs must be a comma-separated list of integers")
        clauses.append(f"id IN ({','.join('?' * len(wanted))})")
        args.extend(int(i) for i in wanted)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM orders {where} ORDER BY id LIMIT ? OFFSET ?",
        (*args, limit, (page - 1) * limit),  # noqa: S608
    ).fetchall()
    return _json([db.order_json(conn, r) for r in rows])


@get("/order/{order_id:str}", summary="Get Order")
async def get_order(conn: NamedDependency[sqlite3.Connection], order_id: FromPath[str]) -> Response[bytes]:
    row = db.find_order(conn, order_id=_int_path(order_id))
    if row is None:
        raise ShipBobError(404)
    return _json(db.order_json(conn, row))


@post("/order/{order_action:str}", summary="Cancel Order (POST /order/{orderId}:cancel)", status_code=200)
async def cancel_order(sandbox: NamedDependency[WmsSandbox], order_action: FromPath[str]) -> Response[bytes]:
    """Cancels every shipment that has not shipped and releases what it committed. ``status`` is ``Success``
    when nothing is left live (cancelling a cancelled order again is a success), ``PartialSuccess`` when some
    shipments had shipped, ``Failure`` when all had; ``canceled_shipment_results`` says which."""
    if not order_action.endswith(":cancel"):
        raise ShipBobError(404)
    conn = sandbox.db
    order_id = _int_path(order_action, ":cancel")
    row = db.find_order(conn, order_id=order_id)
    if row is None:
        raise ShipBobError(404)
    results: list[dict[str, Any]] = []
    cancelled_now: list[int] = []
    stamp = db.now()
    with Transaction(conn):
        for shipment in conn.execute("SELECT * FROM shipments WHERE order_id = ? ORDER BY id", (order_id,)).fetchall():
            if shipment["status"] == "Cancelled":
                results.append(_cancel_result(shipment["id"], True, "Shipment is already cancelled"))
            elif shipment["tracking_number"] is not None:
                results.append(_cancel_result(shipment["id"], False, "Shipment has already shipped"))
            else:
                for product in conn.execute(
                    "SELECT * FROM shipment_products WHERE shipment_id = ?", (shipment["id"],)
                ).fetchall():
                    conn.execute(
                        "UPDATE inventory_levels SET committed = max(0, committed - ?) "
                        "WHERE location_id = ? AND inventory_id = ?",
                        (product["quantity_committed"], shipment["location_id"], product["inventory_id"]),
                    )
                conn.execute(
                    "UPDATE shipments SET status = 'Cancelled', last_update_at = ? WHERE id = ?",
                    (stamp, shipment["id"]),
                )
                cancelled_now.append(shipment["id"])
                results.append(_cancel_result(shipment["id"], True, None))
        db.refresh_order_status(conn, order_id)
    ok = [r for r in results if r["is_success"]]
    status = "Success" if len(ok) == len(results) else ("PartialSuccess" if ok else "Failure")
    row = db.find_order(conn, order_id=order_id)
    assert row is not None
    for shipment_id in cancelled_now:
        shipment = conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone()
        emit(sandbox, "order.shipment.cancelled", db.shipment_json(conn, shipment))
    return _json(
        {
            "canceled_shipment_results": results,
            "order": db.order_json(conn, row),
            "order_id": order_id,
            "status": status,
        }
    )


def _cancel_result(shipment_id: int, ok: bool, reason: str | None) -> dict[str, Any]:
    return {"action": "Cancel", "is_success": ok, "reason": reason, "shipment_id": shipment_id}


@get("/shipment/{shipment_id:str}", summary="Get Shipment")
async def get_shipment(conn: NamedDependency[sqlite3.Connection], shipment_id: FromPath[str]) -> Response[bytes]:
    row = conn.execute("SELECT * FROM shipments WHERE id = ?", (_int_path(shipment_id),)).fetchone()
    if row is None:
        raise ShipBobError(404)
    return _json(db.shipment_json(conn, row))


# --- returns -----------------------------------------------------------------------------------------------------


def _return_error(message: str, errors: list[str]) -> ShipBobError:
    """``Returns.ApiError``."""
    return ShipBobError(422, {"details": None, "errors": errors, "message": message, "stackTrace": None})


@post("/return", summary="Create Return Order")
async def create_return(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> Response[bytes]:
    conn = sandbox.db
    channel_id = channel_of(request, conn)
    body: CreateReturn = await decode_body(request, CreateReturn)
    if db.location(conn, body.fulfillment_center.id) is None:
        raise _return_error(
            "Invalid fulfillment center", [f"Fulfillment center {body.fulfillment_center.id} not found"]
        )
    unknown = [line.id for line in body.inventory if db.inventory_item(conn, line.id) is None]
    if unknown:
        raise _return_error("Invalid inventory", [f"Inventory {i} not found" for i in unknown])
    existing = conn.execute(
        "SELECT id FROM returns WHERE channel_id = ? AND reference_id = ?", (channel_id, body.reference_id)
    ).fetchone()
    if existing is not None:
        raise _return_error(
            "Duplicate reference id", [f"A return with reference_id {body.reference_id} already exists"]
        )
    stamp = db.now()
    with Transaction(conn):
        return_id = db.next_id(conn, "returns", db.FIRST_RETURN_ID)
        conn.execute(
            "INSERT INTO returns(id, channel_id, reference_id, location_id, status, original_shipment_id, "
            "tracking_number, insert_date) VALUES (?, ?, ?, ?, 'AwaitingArrival', ?, ?, ?)",
            (
                return_id,
                channel_id,
                body.reference_id,
                body.fulfillment_center.id,
                body.original_shipment_id,
                body.tracking_number,
                stamp,
            ),
        )
        conn.executemany(
            "INSERT INTO return_inventory(return_id, line_no, inventory_id, quantity, requested_action) "
            "VALUES (?, ?, ?, ?, ?)",
            [(return_id, n, line.id, line.quantity, line.requested_action) for n, line in enumerate(body.inventory, 1)],
        )
    row = db.find_return(conn, return_id=return_id)
    assert row is not None
    full = db.return_json(conn, row)
    # The create answers the V1 shape: the same return without SKUs, status history or arrival dates.
    v1 = {
        k: full[k]
        for k in (
            "channel",
            "completed_date",
            "customer_name",
            "fulfillment_center",
            "id",
            "insert_date",
            "original_shipment_id",
            "reference_id",
            "return_type",
            "status",
            "store_order_id",
            "tracking_number",
            "transactions",
        )
    }
    v1["inventory"] = [
        {k: item[k] for k in ("action_requested", "action_taken", "id", "name", "quantity")}
        for item in full["inventory"]
    ]
    v1["invoice_amount"] = None
    emit(sandbox, "return.created", full)
    return _json(v1, 201)


@get("/return", summary="Get Return Orders")
async def get_returns(
    conn: NamedDependency[sqlite3.Connection],
    reference_ids: Annotated[str | None, QueryParameter(name="ReferenceIds", max_length=5000)] = None,
    ids: Annotated[str | None, QueryParameter(name="Ids", max_length=5000)] = None,
    limit: Annotated[int, QueryParameter(name="Limit", ge=1, le=MAX_PAGE)] = 50,
) -> Response[bytes]:
    clauses: list[str] = []
    args: list[Any] = []
    refs = _id_list(reference_ids)
    if refs:
        clauses.append(f"reference_id IN ({','.join('?' * len(refs))})")
        args.extend(refs)
    wanted = [i for i in _id_list(ids) if i.isdigit()]
    if wanted:
        clauses.append(f"id IN ({','.join('?' * len(wanted))})")
        args.extend(int(i) for i in wanted)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM returns {where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()  # noqa: S608
    return _json(
        {"first": None, "items": [db.return_json(conn, r) for r in rows], "last": None, "next": None, "prev": None}
    )


@get("/return/{return_id:str}", summary="Get Return Order")
async def get_return(conn: NamedDependency[sqlite3.Connection], return_id: FromPath[str]) -> Response[bytes]:
    row = db.find_return(conn, return_id=_int_path(return_id))
    if row is None:
        raise problem(404, "Not Found", f"Return {return_id} was not found")
    return _json(db.return_json(conn, row))


# --- warehouse receiving orders ---------------------------------------------------------------------------------


@post("/receiving", summary="Create Warehouse Receiving Order")
async def create_receiving(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]
) -> Response[bytes]:
    body: CreateReceivingOrder = await decode_body(request, CreateReceivingOrder)
    if db.location(conn, body.fulfillment_center.id) is None:
        raise problem(404, "Not Found", f"Fulfillment center {body.fulfillment_center.id} was not found")
    expected: dict[int, int] = {}
    for box in body.boxes:
        for item in box.box_items:
            if db.inventory_item(conn, item.inventory_id) is None:
                raise problem(404, "Not Found", f"Inventory {item.inventory_id} was not found")
            expected[item.inventory_id] = expected.get(item.inventory_id, 0) + item.quantity
    stamp = db.now()
    with Transaction(conn):
        wro_id = insert_receiving(conn, body.fulfillment_center.id, expected, body.purchase_order_number, stamp)
        conn.execute(
            "UPDATE receiving_orders SET expected_arrival_date = ? WHERE id = ?", (body.expected_arrival_date, wro_id)
        )
    row = conn.execute("SELECT * FROM receiving_orders WHERE id = ?", (wro_id,)).fetchone()
    return _json(db.receiving_json(conn, row), 201)


def insert_receiving(
    conn: sqlite3.Connection, location_id: int, expected: dict[int, int], po_number: str | None, stamp: str
) -> int:
    """A WRO ``Awaiting`` arrival: its quantities count as ``awaiting`` at the centre until received."""
    wro_id = db.next_id(conn, "receiving_orders", db.FIRST_WRO_ID)
    conn.execute(
        "INSERT INTO receiving_orders(id, purchase_order_number, location_id, status, expected_arrival_date, "
        "insert_date, last_updated_date) VALUES (?, ?, ?, 'Awaiting', ?, ?, ?)",
        (wro_id, po_number, location_id, stamp, stamp, stamp),
    )
    for inventory_id, qty in expected.items():
        conn.execute(
            "INSERT INTO receiving_items(wro_id, inventory_id, expected_quantity) VALUES (?, ?, ?)",
            (wro_id, inventory_id, qty),
        )
        db.ensure_level(conn, location_id, inventory_id)
        conn.execute(
            "UPDATE inventory_levels SET awaiting = awaiting + ? WHERE location_id = ? AND inventory_id = ?",
            (qty, location_id, inventory_id),
        )
    return wro_id


@get("/receiving", summary="Get Multiple Warehouse Receiving Orders")
async def get_receivings(
    conn: NamedDependency[sqlite3.Connection],
    purchase_order_numbers: Annotated[str | None, QueryParameter(name="PurchaseOrderNumbers", max_length=5000)] = None,
    statuses: Annotated[str | None, QueryParameter(name="Statuses", max_length=500)] = None,
    limit: Annotated[int, QueryParameter(name="Limit", ge=1, le=MAX_PAGE)] = 50,
) -> Response[bytes]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, raw in (("purchase_order_number", purchase_order_numbers), ("status", statuses)):
        values = _id_list(raw)
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM receiving_orders {where} ORDER BY id LIMIT ?", (*args, limit)).fetchall()  # noqa: S608
    return _json([db.receiving_json(conn, r) for r in rows])


@get("/receiving/{wro_id:str}", summary="Get Warehouse Receiving Order")
async def get_receiving(conn: NamedDependency[sqlite3.Connection], wro_id: FromPath[str]) -> Response[bytes]:
    row = conn.execute("SELECT * FROM receiving_orders WHERE id = ?", (_int_path(wro_id),)).fetchone()
    if row is None:
        raise problem(404, "Not Found", f"Receiving order {wro_id} was not found")
    return _json(db.receiving_json(conn, row))


# --- webhook subscriptions ---------------------------------------------------------------------------------------


def _subscription_json(row: sqlite3.Row, *, with_secret: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "created_at": row["created_at"],
        "description": row["description"],
        "id": row["id"],
        "topics": msgspec.json.decode(row["topics"]),
        "url": row["url"],
    }
    if with_secret:
        body["secret"] = row["secret"]
    else:
        body["enabled"] = True
    return body


@post("/webhook", summary="Create Subscription", status_code=200)
async def create_subscription(
    request: Request[Any, Any, Any], conn: NamedDependency[sqlite3.Connection]
) -> Response[bytes]:
    """A subscription signs its deliveries (Standard Webhooks) with the ``secret`` given, or one made here."""
    body: CreateSubscription = await decode_body(request, CreateSubscription)
    secret = body.secret or "whsec_" + base64.b64encode(os.urandom(24)).decode()
    subscription_id = str(int.from_bytes(os.urandom(3), "big"))
    conn.execute(
        "INSERT INTO webhook_subscriptions(id, url, topics, secret, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (subscription_id, body.url, db.encode_json(sorted(set(body.topics))), secret, body.description, db.now()),
    )
    row = conn.execute("SELECT * FROM webhook_subscriptions WHERE id = ?", (subscription_id,)).fetchone()
    return _json(_subscription_json(row, with_secret=True))


@get("/webhook", summary="Get Subscriptions")
async def get_subscriptions(conn: NamedDependency[sqlite3.Connection]) -> Response[bytes]:
    rows = conn.execute("SELECT * FROM webhook_subscriptions ORDER BY created_at, id").fetchall()
    return _json({"items": [_subscription_json(r, with_secret=False) for r in rows], "next": None, "prev": None})


@delete("/webhook/{subscription_id:str}", summary="Delete Subscription", status_code=204)
async def delete_subscription(conn: NamedDependency[sqlite3.Connection], subscription_id: FromPath[str]) -> None:
    conn.execute("DELETE FROM webhook_subscriptions WHERE id = ?", (subscription_id,))


# --- outgoing webhooks ---------------------------------------------------------------------------------------------


def emit(sandbox: WmsSandbox, topic: str, payload: dict[str, Any]) -> list[str]:
    """Queue ``payload`` for every subscription to ``topic``: one delivery (``webhook-id``) per subscription,
    stable across its retries, signed at each attempt (``webhooks.sign``). Returns the delivery ids."""
    body = _encoder.encode(payload)
    ids: list[str] = []
    for row in sandbox.db.execute("SELECT id, url, topics FROM webhook_subscriptions ORDER BY id").fetchall():
        if topic not in msgspec.json.decode(row["topics"]):
            continue
        delivery_id = "msg_" + os.urandom(12).hex()
        sandbox.sender().enqueue(delivery_id, row["url"], body, {"webhook-id": delivery_id, "x-webhook-topic": topic})
        ids.append(delivery_id)
    return ids


api = Router(
    path=f"/{db.API_VERSION}",
    route_handlers=[
        get_channels,
        get_locations,
        inventory_levels_by_fc,
        inventory_level_by_fc,
        inventory_history,
        create_order,
        get_orders,
        get_order,
        cancel_order,
        get_shipment,
        create_return,
        get_returns,
        get_return,
        create_receiving,
        get_receivings,
        get_receiving,
        create_subscription,
        get_subscriptions,
        delete_subscription,
    ],
    guards=[require_token],
    exception_handlers={ShipBobError: _on_shipbob_error},
    tags=["shipbob"],
)
